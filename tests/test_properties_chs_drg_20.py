"""Hypothesis properties for CHS-DRG 2.0, as tests/test_properties.py states them for 1.1: the compiled engine
equals the per-record reference grouper, every row comes back in order, chunking and row order change nothing.

The generated records draw their codes from the 2.0 tables and favour 2.0's special rules: secondary-only lists
(其他诊断: Z93.000, T31/T32, Z37, O26.9 weeks, P07), procedure pairs and logic lists (AC1, BB1, FB1, FF1, CB2/CB3,
IB1, JA1/JA2, NA1, AH2), MDCA, newborn, burn and multiple-trauma codes. The non-code fields (sex, age, age in
days, birth weight, ventilation hours, junk values) come from the 1.1 strategy of tests/test_properties.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

import drgpay
from grouping_results import comparable
from test_properties import JUNK, SETTINGS, _sample, assert_rows_returned_and_input_untouched
from test_properties import record as record_11

G = drgpay.load_grouper("chs-drg-2.0")
T = G.definition.tables
_pairs_rng = np.random.default_rng(20)

#: ADRGs whose rules need more than one list or a list of secondary diagnoses.
SPECIAL = (
    *("AA1", "AA2", "AC1", "AD1", "AE1", "AG1", "AH1", "AH2", "BB1", "CB2", "CB3", "FB1", "FF1", "IB1"),
    *("JA1", "JA2", "NA1", "OF1", "OR1", "PK1", "PS1", "WB1", "WB2", "WB3", "WR1", "WR2", "YR1", "YR2"),
)


def _section_codes(adrg: str, roles: Iterable[str]) -> dict[str, list[str]]:
    """The code lists the clauses of these roles read in one ADRG, by section."""
    clauses = T["adrg_clause.csv"]
    sections = set(clauses.loc[(clauses["adrg"] == adrg) & clauses["role"].isin(list(roles)), "section"])
    codes = T["adrg_code.csv"]
    mine = codes[(codes["adrg"] == adrg) & codes["section"].isin(sections)]
    return {s: sorted(c) for s, c in mine.groupby("section")["code"]}


def _pairs(adrg: str, k: int = 12) -> list[str]:
    """Records' procedure strings holding one code of each procedure list of ``adrg`` (pairs, triples)."""
    lists = list(_section_codes(adrg, ["any_proc", "principal_proc"]).values())
    return ["|".join(_pairs_rng.choice(codes) for codes in lists) for _ in range(k)]


PROC_ROLES = ("principal_proc", "any_proc")
DX_ROLES = ("principal_dx", "any_dx", "secondary_dx")
special_dx = {c for a in SPECIAL for codes in _section_codes(a, DX_ROLES).values() for c in codes[:40]}
special_proc = {c for a in SPECIAL for codes in _section_codes(a, PROC_ROLES).values() for c in codes[:20]}
secondary_only = T["adrg_code.csv"].merge(
    T["adrg_clause.csv"].query("role == 'secondary_dx'"), on=["adrg", "section"]
)
regions = T["mdc_dx.csv"].query("region != ''")["dx"]

PRINCIPAL = (
    _sample(T["mdc_dx.csv"]["dx"], 300)
    + _sample(T["grey_dx.csv"]["dx"], 10)
    + sorted(special_dx)
    + ["K80.101", "J18.900", "P07.200", "P59.901", "B20.001", "S06.500", "S72.000", "Z51.102", "Z51.801"]
)
SECONDARY = (
    _sample(T["cc.csv"]["dx"], 200)
    + _sample(regions, 80)
    + sorted(set(secondary_only["code"]))
    + ["I50.900", "E87.600", "J12.900", "P07.300", "Z93.000"]
)
clause_procs = T["adrg_code.csv"][T["adrg_code.csv"]["code"].str.match(r"^\d")]["code"]
PROCS = [
    *_sample(clause_procs, 300),
    *sorted(special_proc),
    *(
        pair
        for a in ("AC1", "AH2", "BB1", "CB2", "CB3", "FB1", "FF1", "IB1", "JA1", "JA2", "NA1")
        for pair in _pairs(a)
    ),
    *("96.7201", "51.2300", "99.2503", "99.2800x006", "39.9500", "93.9000", "32.4100"),
]


def _prototypes(per_rule: int = 2) -> list[dict[str, object]]:
    """Records built to meet each alternative of each 2.0 ADRG rule (``per_rule`` per alternative), codes drawn
    from the lists the rule reads: one code of each list, the principal diagnosis from the rule's diagnosis list
    or else from its MDC's table, the age, weight and ventilation bounds it states, the sex its MDC requires."""
    rng = np.random.default_rng(11)
    adrgs = T["adrg.csv"].set_index("adrg")
    sex_of = dict(zip(T["mdc.csv"]["mdc"], T["mdc.csv"]["sex"], strict=True))
    grey = set(T["grey_dx.csv"]["dx"])
    table = T["mdc_dx.csv"][~T["mdc_dx.csv"]["dx"].isin(grey)]
    procs = T["proc_codes.csv"]
    operating = procs.loc[procs["operating_room"] == "1", "proc"].to_numpy()
    codes = T["adrg_code.csv"].groupby(["adrg", "section"])["code"].agg(list).to_dict()
    trauma = table[table["region"] != ""]
    region_of = dict(zip(trauma["dx"], trauma["region"], strict=True))
    out = []
    for (adrg, _alt), clauses in T["adrg_clause.csv"].groupby(["adrg", "alt"]):
        mdc = adrgs.loc[adrg, "mdc"]
        for _ in range(per_rule):
            rec: dict[str, object] = {"sex": {"M": 1, "F": 2}.get(sex_of[mdc], int(rng.integers(1, 3)))}
            rec["age"] = int(rng.integers(1, 90))
            principal, secondary, first, later = None, [], [], []
            for role, section, low, high in clauses[["role", "section", "low", "high"]].itertuples(
                index=False
            ):
                lo = float(low) if low else 0.0
                hi = float(high) if high else lo + 3000
                pick = str(rng.choice(codes[(adrg, section)])) if section else ""
                if role == "principal_dx":
                    principal = pick
                elif role in ("any_dx", "secondary_dx"):
                    secondary.append(pick)
                elif role == "principal_proc":
                    first = [pick]
                elif role == "any_proc":
                    later.append(pick)
                elif role == "or_procedure":
                    later.append(str(rng.choice(operating)))
                elif role == "age_days":
                    rec["age"], rec["age_days"] = 0, int(rng.integers(int(lo), int(hi) + 1))
                elif role == "birth_weight":
                    rec["birth_weight"] = int(rng.integers(int(max(lo, 400)), int(min(hi, 5500)) + 1))
                elif role == "ventilation_hours":
                    rec["ventilation_hours"] = int(rng.integers(int(lo), int(lo) + 200))
            if principal is None:
                pool = table.loc[table["mdc"] == mdc, "dx"] if mdc != "MDCA" else table["dx"]
                principal = str(rng.choice(pool.to_numpy())) if len(pool) else (secondary or [""])[0]
            if mdc == "MDCZ":  # a second body region
                other = trauma.loc[trauma["region"] != region_of.get(principal), "dx"]
                secondary.append(str(rng.choice(other.to_numpy())))
            rec |= {"principal_dx": principal, "secondary_dx": secondary, "procedures": first + later}
            out.append({"adrg": adrg, **rec})
    return out


PROTOTYPES = _prototypes()
SPECIAL_PROTOTYPES = [r for r in PROTOTYPES if r["adrg"] in SPECIAL]

codes = st.one_of(st.sampled_from(PRINCIPAL), st.sampled_from(JUNK))
#: records with 2.0 codes and the 1.1 strategy's values for the other fields, junk included (the 1.1 record's own
#: codes are replaced)
mixed_record = st.tuples(
    record_11,
    st.one_of(st.none(), codes),
    st.lists(st.one_of(st.sampled_from(SECONDARY), st.sampled_from(JUNK)), max_size=6).map("|".join),
    st.lists(st.one_of(st.sampled_from(PROCS), st.sampled_from(JUNK)), max_size=4).map("|".join),
).map(lambda r: {**r[0], "principal_dx": r[1], "secondary_dx": r[2], "procedures": r[3]})
#: records meeting an ADRG rule, with extra secondary diagnoses and procedures that may change the outcome
rule_record = st.tuples(
    st.one_of(st.sampled_from(SPECIAL_PROTOTYPES), st.sampled_from(PROTOTYPES)),
    st.lists(st.sampled_from(SECONDARY), max_size=3),
    st.lists(st.sampled_from(PROCS), max_size=2),
).map(
    lambda r: {
        **{k: v for k, v in r[0].items() if k != "adrg"},
        "secondary_dx": "|".join([*r[0]["secondary_dx"], *r[1]]),
        "procedures": "|".join([*r[0]["procedures"], *r[2]]),
    }
)
frames = st.lists(st.one_of(rule_record, mixed_record), min_size=1, max_size=40).map(pd.DataFrame)


def test_pools_reach_every_list_of_the_special_rules() -> None:
    """Each code list a special ADRG reads has a code in the pools the records are drawn from."""
    pooled = set(PRINCIPAL) | set(SECONDARY) | {c for p in PROCS for c in p.split("|")}
    for adrg in SPECIAL:
        for section, codes in _section_codes(adrg, DX_ROLES + PROC_ROLES).items():
            assert pooled & set(codes), (adrg, section)


def test_records_meeting_a_rule_get_that_adrg_or_an_earlier_one() -> None:
    """A record built to meet an ADRG's rule groups into that ADRG, or into one tried before it (pre-MDC in
    ``premdc_order``, then the order of adrg.csv): the engine never passes over a rule that holds."""
    protos = pd.DataFrame(PROTOTYPES)
    for column in ("secondary_dx", "procedures"):
        protos[column] = protos[column].map("|".join)
    out = G.group(protos.drop(columns="adrg"))
    premdc = G.definition.manifest.algorithm["premdc_order"]
    adrgs = T["adrg.csv"]
    rank = {
        a: (premdc.index(m) if m in premdc else len(premdc), i)
        for i, (a, m) in enumerate(zip(adrgs["adrg"], adrgs["mdc"], strict=True))
    }
    got = out["adrg"].astype(str)
    assert (out["status"] == "grouped").all(), out.loc[out["status"] != "grouped", "reason"].value_counts()
    later = [(w, g) for w, g in zip(protos["adrg"], got, strict=True) if rank[g] > rank[w]]
    assert not later, later
    assert (got == protos["adrg"]).mean() > 0.95
    pd.testing.assert_frame_equal(comparable(out), comparable(G.reference_group(protos)))


@SETTINGS
@given(frames)
def test_engine_equals_reference(df: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(comparable(G.group(df)), comparable(G.reference_group(df)))


@SETTINGS
@given(frames, st.randoms(use_true_random=False))
def test_row_order_invariance(df: pd.DataFrame, rnd: random.Random) -> None:
    order = list(range(len(df)))
    rnd.shuffle(order)
    shuffled = df.iloc[order]
    moved = G.group(shuffled)
    assert list(moved.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(comparable(moved.loc[df.index]), comparable(G.group(df)))


@SETTINGS
@given(frames, st.integers(1, 7))
def test_chunking_invariance(df: pd.DataFrame, size: int) -> None:
    parts = pd.concat([G.group(df.iloc[i : i + size]) for i in range(0, len(df), size)])
    pd.testing.assert_frame_equal(parts, G.group(df))


@SETTINGS
@given(frames)
def test_secondary_order_invariance(df: pd.DataFrame) -> None:
    reversed_sdx = df.assign(secondary_dx=df["secondary_dx"].map(lambda s: "|".join(reversed(s.split("|")))))
    pd.testing.assert_frame_equal(comparable(G.group(reversed_sdx)), comparable(G.group(df)))


@SETTINGS
@given(frames)
def test_every_row_returned_and_input_untouched(df: pd.DataFrame) -> None:
    assert_rows_returned_and_input_untouched(G, df)
