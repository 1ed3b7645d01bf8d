"""Non-operating procedures never make a 歧义组 (issue 11), under CHS-DRG 2.0 and 1.1.

Realistic oncology, dialysis, rehabilitation and newborn records are drawn at random (fixed seed) from the code
lists of each grouper, not picked to pass. Every procedure on them is a *non-operating procedure*, defined here
without the grouper's own operating-room flag:

- its category in the national clinical classification (``groupers/dip-2.0/procedure_category.csv``, 国临版
  手术操作分类 mapped to 医保版 2.0) is 治疗性操作 or 诊断性操作, and
- a non-surgical ADRG of the version names it (chemotherapy, radiotherapy, targeted and immune therapy, dialysis,
  newborn ventilation: 非手术室操作 by the NHSA text itself), or no surgical ADRG does.

Surgical ADRGs are those with a 2nd letter A–J outside MDCA; in 1.1 MDCR's RB1, RB2, RC1, RD1, RE1 and RG1 are
chemotherapy / radiotherapy / interventional / targeted-therapy groups (recoded RK1, RK2, RL1, RM1, RN1, RN2 in
2.0) and count as non-surgical. Codes that a catch-all surgical list (QJ1, KJ1, VJ1, ZJ1) also names, such as
99.2800x006 targeted therapy or 39.9500 haemodialysis, stay in: they are the procedures the issue is about. (Had
every code of a surgical list counted as an operating-room procedure, 16 of the 240 2.0 records, 6.7 %, would be
xQY: Z51.8 and C-code principals with targeted or immune therapy, dialysis of N18 dagger–asterisk principals
that MDCB, MDCC, MDCF or MDCQ hold.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pytest

import drgpay

NON_OPERATING_CATEGORIES = {"治疗性操作", "诊断性操作"}
#: 1.1 ADRGs of MDCR with a B–G 2nd letter that are drug, radiation or interventional treatment, not surgery.
NON_SURGICAL_11 = {"RB1", "RB2", "RC1", "RD1", "RE1", "RG1"}
ONCOLOGY_ADRGS = {
    "chs-drg-2.0": ("RK1", "RK2", "RL1", "RL2", "RN1", "RN2", "RP1"),
    "chs-drg-1.1": ("RB1", "RB2", "RC1", "RE1", "RG1"),
}
#: Newborn procedures besides PK1's list: non-invasive and invasive ventilation, transfusion, parenteral
#: nutrition, phototherapy, vaccination.
NEWBORN_PREFIXES = ("93.90", "93.91", "96.7", "99.0", "99.15", "99.55", "99.83")
#: Z51 subcategory and the procedure family of its treatment: radiotherapy, chemotherapy, targeted / immune.
ONCOLOGY_FAMILIES = (("Z51.0", "92."), ("Z51.1", "99.25"), ("Z51.8", "99.28"))
#: Records per kind and version: 100 oncology, 40 dialysis, 40 rehabilitation, 60 newborn = 240.
SIZES = {"oncology": 100, "dialysis": 40, "rehabilitation": 40, "newborn": 60}
PROC_LISTS = ("principal_proc", "any_proc")


def _surgical(version: str, adrg: str) -> bool:
    return (
        adrg[0] != "A"
        and "A" <= adrg[1] <= "J"
        and not (version == "chs-drg-1.1" and adrg in NON_SURGICAL_11)
    )


class Lists:
    """The code lists of one grouper that the records are drawn from."""

    def __init__(self, grouper: drgpay.Grouper, categories: pd.Series):
        t = grouper.definition.tables
        self.version = grouper.id
        clauses = t["adrg_clause.csv"]
        codes = t["adrg_code.csv"]
        self._codes = codes.groupby(["adrg", "section"])["code"].agg(set).to_dict()
        self._clauses = clauses
        grey = set(t["grey_dx.csv"]["dx"])
        self.mdc_dx = t["mdc_dx.csv"][~t["mdc_dx.csv"]["dx"].isin(grey)]
        self.grey = grey
        surgical = {a for a in t["adrg.csv"]["adrg"] if _surgical(self.version, a)}
        in_surgical = self.listed(PROC_LISTS, surgical)
        in_other = self.listed(PROC_LISTS, set(t["adrg.csv"]["adrg"]) - surgical)
        mdc_of = dict(zip(t["adrg.csv"]["adrg"], t["adrg.csv"]["mdc"], strict=True))
        dx_lists = self._clauses[self._clauses["role"].isin(["principal_dx", "any_dx"])]
        listed_in: set[tuple[str, str]] = set()
        for adrg, section in zip(dx_lists["adrg"], dx_lists["section"], strict=True):
            listed_in |= {(mdc_of[adrg], dx) for dx in self._codes.get((adrg, section), set())}
        #: principal diagnoses an MDC table holds but no diagnosis list of that MDC's ADRGs names
        self.orphans = {
            dx
            for mdc, dx in zip(self.mdc_dx["mdc"], self.mdc_dx["dx"], strict=True)
            if (mdc, dx) not in listed_in
        }
        category = categories.to_dict()
        self.non_operating = {
            p
            for p in t["proc_codes.csv"]["proc"]
            if category.get(p) in NON_OPERATING_CATEGORIES and (p in in_other or p not in in_surgical)
        }

    def listed(self, roles: Iterable[str], adrgs: Iterable[str]) -> set[str]:
        """Every code of the lists that clauses of these roles read in these ADRGs."""
        rows = self._clauses[
            self._clauses["role"].isin(list(roles)) & self._clauses["adrg"].isin(list(adrgs))
        ]
        out: set[str] = set()
        for adrg, section in zip(rows["adrg"], rows["section"], strict=True):
            out |= self._codes.get((adrg, section), set())
        return out

    def principal(self, *adrgs: str) -> list[str]:
        return sorted(self.listed(["principal_dx"], adrgs) - self.grey)

    def table_codes(self, match: Callable[[pd.Series], pd.Series]) -> list[str]:
        return sorted(set(self.mdc_dx.loc[match(self.mdc_dx["dx"]), "dx"]))

    def procedures(self, pool: set[str]) -> list[str]:
        return sorted(pool & self.non_operating)


def _sex_for(dx: str, lists: Lists, rng: np.random.Generator) -> int:
    """The sex an MDCM / MDCN / MDCO principal diagnosis implies, else either."""
    mdcs = set(lists.mdc_dx.loc[lists.mdc_dx["dx"] == dx, "mdc"])
    if mdcs and mdcs <= {"MDCM"}:
        return 1
    if mdcs and mdcs <= {"MDCN", "MDCO"}:
        return 2
    return int(rng.integers(1, 3))


def _records(grouper: drgpay.Grouper, categories: pd.Series, seed: int) -> pd.DataFrame:
    """The test set of one grouper: SIZES records per kind, codes drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    lists = Lists(grouper, categories)
    onc_z51 = lists.table_codes(lambda dx: dx.str.match(r"Z51\.[018]"))
    onc_c = lists.table_codes(lambda dx: dx.str.startswith("C"))
    onc_proc = lists.procedures(lists.listed(PROC_LISTS, ONCOLOGY_ADRGS[lists.version]))
    dial_dx = lists.table_codes(lambda dx: dx.str.match(r"N1[78]|Z49"))
    dial_proc = lists.procedures(lists.listed(PROC_LISTS, ["LL1"]))
    rehab_dx = lists.principal("XR1", "XR2", "XR3")
    all_procs = set(grouper.definition.tables["proc_codes.csv"]["proc"])
    rehab_proc = lists.procedures({p for p in all_procs if p.startswith("93.")})
    newborn_dx = lists.principal("PR1", "PU1")
    newborn_proc = lists.procedures(
        lists.listed(PROC_LISTS, ["PK1"]) | {p for p in all_procs if p.startswith(NEWBORN_PREFIXES)}
    )
    for pool in (
        onc_z51,
        onc_c,
        onc_proc,
        dial_dx,
        dial_proc,
        rehab_dx,
        rehab_proc,
        newborn_dx,
        newborn_proc,
    ):
        assert len(pool) >= 3, pool

    def pick(pool: list[str], k: int = 1) -> list[str]:
        return [str(x) for x in rng.choice(pool, size=k)]

    rows = []
    for i in range(SIZES["oncology"]):
        # a treatment stay (Z51.0 radiotherapy, Z51.1 chemotherapy, Z51.8 targeted / immune / other therapy) whose
        # first procedure is of that treatment, or a stay coded by the tumour (C-code), every other record
        family = ONCOLOGY_FAMILIES[(i // 2) % 3] if i % 2 == 0 else None
        if family is None:
            dx, secondary, first = pick(onc_c)[0], [], pick(onc_proc)
        else:
            z51, proc_prefix = family
            dx = pick([c for c in onc_z51 if c.startswith(z51)])[0]
            secondary = pick(onc_c, int(rng.integers(0, 3)))
            first = pick([p for p in onc_proc if p.startswith(proc_prefix)])
        procs = first + pick(onc_proc, int(rng.integers(0, 3)))
        rows.append(("oncology", dx, secondary, procs, _sex_for(dx, lists, rng), int(rng.integers(25, 86))))
    for _ in range(SIZES["dialysis"]):
        dx = pick(dial_dx)[0]
        rows.append(
            ("dialysis", dx, [], pick(dial_proc, int(rng.integers(1, 3))), _sex_for(dx, lists, rng), 60)
        )
    for _ in range(SIZES["rehabilitation"]):
        dx = pick(rehab_dx)[0]
        procs = pick(rehab_proc, int(rng.integers(1, 4)))
        rows.append(("rehabilitation", dx, [], procs, _sex_for(dx, lists, rng), int(rng.integers(18, 91))))
    frame = pd.DataFrame(rows, columns=["kind", "principal_dx", "secondary_dx", "procedures", "sex", "age"])
    newborns = pd.DataFrame(
        {
            "kind": "newborn",
            "principal_dx": pick(newborn_dx, SIZES["newborn"]),
            "secondary_dx": [[] for _ in range(SIZES["newborn"])],
            "procedures": [pick(newborn_proc, int(rng.integers(0, 3))) for _ in range(SIZES["newborn"])],
            "sex": rng.integers(1, 3, SIZES["newborn"]),
            "age": 0,
            "age_days": rng.integers(0, 29, SIZES["newborn"]),
            "birth_weight": rng.integers(800, 4500, SIZES["newborn"]),
        }
    )
    frame = pd.concat([frame, newborns], ignore_index=True)
    for column in ("secondary_dx", "procedures"):
        frame[column] = frame[column].map("|".join)
    return frame


@pytest.fixture(scope="module")
def categories() -> pd.Series:
    table = drgpay.load_grouper("dip-2.0").definition.tables["procedure_category.csv"]
    return table.set_index("proc")["category"]


@pytest.fixture(scope="module", params=["chs-drg-2.0", "chs-drg-1.1"])
def grouped(request: pytest.FixtureRequest, categories: pd.Series) -> tuple[Lists, pd.DataFrame]:
    grouper = drgpay.load_grouper(request.param)
    records = _records(grouper, categories, seed=20)
    return Lists(grouper, categories), records.join(grouper.group(records.drop(columns="kind")))


def _counts(frame: pd.DataFrame, column: str = "drg") -> str:
    return frame[column].astype(str).value_counts().head(25).to_string()


def test_set_is_large_and_non_operating(grouped: tuple[Lists, pd.DataFrame]) -> None:
    lists, out = grouped
    assert len(out) >= 200
    assert set(out["kind"]) == set(SIZES)
    procedures = {p for codes in out["procedures"] for p in codes.split("|") if p}
    assert procedures <= lists.non_operating
    assert out["procedures"].str.len().gt(0).mean() > 0.9


def test_no_non_operating_procedure_makes_an_ambiguous_group(grouped: tuple[Lists, pd.DataFrame]) -> None:
    lists, out = grouped
    ambiguous = out[out["status"] == "ambiguous"]
    examples = ambiguous[["kind", "principal_dx", "procedures", "drg"]].head(10).to_string()
    assert ambiguous.empty, f"{lists.version}: {len(ambiguous)} xQY\n{_counts(ambiguous)}\n{examples}"


def test_records_group(grouped: tuple[Lists, pd.DataFrame]) -> None:
    """At least 98 % of the set groups (measured: 2.0 240 of 240; 1.1 238 of 240). Each principal diagnosis is
    drawn from an MDC table or an ADRG's principal list of the version, never a grey code; sexes follow
    MDCM/MDCN/MDCO; newborns carry age in days and birth weight. The only records left are 1.1 ``no_adrg`` cases
    whose principal diagnosis the MDC table lists but no ADRG of that MDC does (1.1's MDCR table holds
    Z51.800x092 介入治疗, Z51.800x097 射频治疗 and Z51.800x921 冷冻治疗, which no 1.1 MDCR ADRG names)."""
    lists, out = grouped
    not_grouped = out[out["status"] != "grouped"]
    detail = not_grouped[["kind", "principal_dx", "procedures", "reason"]].head(10).to_string()
    message = f"{lists.version}: {len(not_grouped)} not grouped\n{_counts(not_grouped, 'reason')}\n{detail}"
    assert (out["status"] == "grouped").mean() >= 0.98, message
    assert (not_grouped["reason"] == "no_adrg").all(), message
    assert not_grouped["principal_dx"].isin(lists.orphans).all(), message


def test_chemotherapy_groups_in_mdcr(grouped: tuple[Lists, pd.DataFrame]) -> None:
    """A chemotherapy stay (principal Z51.1xx) whose principal procedure is chemotherapy (99.25xx) is an
    MDCR medical or operative group (RN1/RU1/RP1… in 2.0, RE1/RW2/RD1… in 1.1), never RQY or a surgical group."""
    lists, out = grouped
    chemo = out[out["principal_dx"].str.startswith("Z51.1") & out["procedures"].str.startswith("99.25")]
    assert len(chemo) >= 10
    adrg = chemo["adrg"].astype(str)
    ok = adrg.map(lambda a: a.startswith("R") and not _surgical(lists.version, a))
    assert ok.all(), f"{lists.version}\n{_counts(chemo, 'adrg')}"
