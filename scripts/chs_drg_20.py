"""Build ``groupers/chs-drg-2.0`` from the public CHS-DRG 2.0 sources in ``shared/data/raw``.

What the sources give (see ``shared/data/raw/SOURCES.md`` sections 3 and 5): the MDC principal-diagnosis tables
and the ADRG entry rules parsed from the NHSA 2.0 document (qweaszxcdf ``mdc_rules.json``, ``adrg_rules.json``), the
DRG list, the CC/MCC lists and exclusion tables (extracted from OpenDRG's demo site) and the 医保版 2.0 code lists
(OpenDRG/DRG_Datas). The rule readings are in ``adrg_json.py``; every finding of the build goes to
``BUILD_REPORT.md`` in the folder.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adrg_json import (
    AdrgRule,
    add_name_conditions,
    adrg_kind,
    infant_principal_codes,
    parse_rules,
    rule_tables,
)
from build_common import (
    ALGORITHM_DEFAULTS,
    build_main,
    normalize_code,
    operating_room_set,
    read_code_list,
    read_csv,
    read_lines,
    scheme_tables,
    short,
    write_grouper,
)
from dip_20 import Categories

QWEASZ = "qweaszxcdf_chs_drg/src/data/drg-common/chs-2.0/generated"
WEB = "opendrg_web_chs_drg_20"
ICD = "opendrg_drg_datas/ICD/dataset"
RULES_11 = "opendrg_drg_rules/CHS_DRG_11"
MDCP_11 = "MDCP_新生儿及其他围产期新生儿疾病.dat"
DRG_RULES = "qweaszxcdf_chs_drg/src/data/versions/chs-drg-2.0/generated/drg_rules.json"

#: Sex-restricted MDCs (by title: 男性 / 女性生殖系统, 妊娠、分娩及产褥期).
MDC_SEX = {"MDCM": "M", "MDCN": "F", "MDCO": "F"}

#: Split digit → the name suffixes the DRG list uses for it (two wordings occur for 3 and for 5).
SPLIT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "1": ("，伴严重合并症或并发症",),
    "3": ("，伴一般合并症或并发症", "，伴合并症或并发症"),
    "5": ("，不伴严重合并症或并发症", "，不伴合并症或并发症"),
}

#: A diagnosis code starts with a chapter letter and two digits; other tokens in a list are artefacts.
_DX_START = re.compile(r"[A-Z][0-9]{2}")

GROUPER = {
    "id": "chs-drg-2.0",
    "scheme": "chs-drg",
    "version": "2.0",
    "title": "CHS-DRG 2.0 (国家医疗保障局, 2024)",
    "status": "complete",
    "status_note": "",
    "effective_from": "2024-07-23",
    "dx_code_system": "ICD-10 医保版 2.0",
    "proc_code_system": "ICD-9-CM-3 医保版 2.0",
    "extends": "",
}
COUNTS = {"mdc": 26, "adrg": 409, "drg": 634, "note": ""}
#: Scheme constants and the documented choices where the NHSA text leaves room (docs/algorithm.md).
ALGORITHM = ALGORITHM_DEFAULTS
SOURCES: list[dict[str, object]] = [
    {
        "name": "CHS-DRG 2.0 MDC principal-diagnosis tables and ADRG entry rules, parsed from the NHSA 2.0 document",
        "repository": "qweaszxcdf/CHS-DRG-Grouper",
        "commit": "0fb16d4ac29a101ecf42728392034e5a4e93979e",
        "paths": [
            "src/data/drg-common/chs-2.0/generated/mdc_rules.json",
            "src/data/drg-common/chs-2.0/generated/adrg_rules.json",
            "src/data/versions/chs-drg-2.0/generated/drg_rules.json",
        ],
        "licence": "Apache-2.0",
    },
    {
        "name": "CHS-DRG 2.0 DRG list, CC/MCC lists and exclusion tables (extracted from the site's bundles)",
        "repository": "OpenDRG/OpenDRG.github.io",
        "commit": "e0d74f2d3e8810d1fed0a6cee2fc0377504fffb7",
        "paths": ["1735.d134c66b.js", "5386.f6b02551.js", "1781.6b00be63.js"],
        "licence": "none stated (public, terms unclear)",
    },
    {
        "name": "ICD-10 / ICD-9-CM-3 医保版 2.0 code lists and grey list",
        "repository": "OpenDRG/DRG_Datas",
        "commit": "164c3f6cf898c2a5a2950513a5a7f658fe23f932",
        "paths": [
            "ICD/dataset/ICD10医保版v2.0.dat",
            "ICD/dataset/ICD10医保版v2.0灰码.dat",
            "ICD/dataset/ICD9CM3医保版v2.0.dat",
        ],
        "licence": "Apache-2.0",
    },
    {
        "name": "CHS-DRG 1.1 DRG list and MDCP table (cross-checks in BUILD_REPORT.md only)",
        "repository": "OpenDRG/DRG_Rules",
        "commit": "ab57a5bda301dab8d3a3d3a956b8e9ac6fa9f061",
        "paths": ["CHS_DRG_11/3_DRG.txt", f"CHS_DRG_11/MDC/{MDCP_11}"],
        "licence": "Apache-2.0",
    },
]

Row = tuple[str, ...]


# -- readers ---------------------------------------------------------------------------------------


# -- MDCs --------------------------------------------------------------------------------------------


@dataclass
class Mdcs:
    """``mdc.csv`` and ``mdc_dx.csv`` rows, with what the report needs."""

    rows: list[Row] = field(default_factory=list)
    dx_rows: list[Row] = field(default_factory=list)
    artefacts: list[str] = field(default_factory=list)
    dx_mdcs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dx_regions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def read_mdcs(path: Path) -> Mdcs:
    """MDCs in the JSON order and their principal-diagnosis lists (MDCZ: by body region)."""
    result = Mdcs()
    seen: set[Row] = set()
    for entry in json.loads(path.read_text(encoding="utf-8-sig")):
        mdc = str(entry["code"])
        result.rows.append((mdc, str(entry["name"]).strip(), MDC_SEX.get(mdc, "")))
        if "mdczCategories" in entry:
            lists = [(str(region), codes) for region, codes in entry["mdczCategories"].items()]
        else:
            lists = [("", entry["identifyingDiagnoses"])]
        for region, codes in lists:
            for raw_code in codes:
                code = normalize_code(raw_code)
                if not _DX_START.match(code):
                    result.artefacts.append(f"{mdc}:{raw_code}")
                    continue
                seen.add((mdc, code, region))
                result.dx_mdcs[code].add(mdc)
                if region:
                    result.dx_regions[code].add(region)
    result.dx_rows = sorted(seen)
    return result


# -- DRGs and ADRGs ------------------------------------------------------------------------------------


def name_stem(drg: str, name: str) -> str:
    """The DRG name without its split suffix; a split DRG without a known suffix is a source error."""
    split = drg[3]
    if split == "9":
        return name
    for suffix in SPLIT_SUFFIXES.get(split, ()):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"{drg}: name {name!r} lacks a split-{split} suffix")


@dataclass
class Drgs:
    """``drg.csv``, ``ambiguous.csv`` and ``adrg.csv`` rows, with what the report needs."""

    drg_rows: list[Row] = field(default_factory=list)
    qy_rows: list[Row] = field(default_factory=list)
    adrg_rows: list[Row] = field(default_factory=list)
    stem_conflicts: list[str] = field(default_factory=list)
    suffixes: Counter[str] = field(default_factory=Counter)
    patterns: Counter[str] = field(default_factory=Counter)


def read_drgs(path: Path) -> Drgs:
    """DRGs and 歧义组 in the list's order; ADRGs in order of first appearance, named by their stem."""
    result = Drgs()
    by_adrg: dict[str, list[Row]] = defaultdict(list)
    for rec in read_csv(path):
        code, name = rec["DRG编码"], rec["DRG名称"]
        if code[1:] == "QY":
            result.qy_rows.append((f"MDC{code[0]}", code, name))
            continue
        row = (code, code[:3], name, code[3])
        result.drg_rows.append(row)
        by_adrg[row[1]].append(row)
    for adrg, rows in by_adrg.items():  # dicts keep insertion order: first appearance in the list
        stems = [name_stem(drg, name) for drg, _, name, _ in rows]
        for (_, _, name, split), stem in zip(rows, stems, strict=True):
            if split != "9":
                result.suffixes[f"{split}{name[len(stem) :]}"] += 1
        if len(set(stems)) > 1:
            result.stem_conflicts.append(f"{adrg}: " + " / ".join(dict.fromkeys(stems)))
        result.adrg_rows.append((adrg, f"MDC{adrg[0]}", stems[0], adrg_kind(adrg)))
        result.patterns["".join(sorted(r[3] for r in rows))] += 1
    return result


# -- CC / MCC / exclusion tables -------------------------------------------------------------------------


def read_cc(raw: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[Row], list[Row]]:
    """``(cc rows, mcc rows, cc.csv rows, cc_exclusion.csv rows)``; ids kept as the source's integers."""
    cc = [
        (normalize_code(r["dx_code"]), r["exclusion_table"])
        for r in read_csv(raw / WEB / "cc_exclusion_table.csv")
    ]
    mcc = [
        (normalize_code(r["dx_code"]), r["exclusion_table"])
        for r in read_csv(raw / WEB / "mcc_exclusion_table.csv")
    ]
    cce = [
        (r["exclusion_table"], normalize_code(r["principal_dx_code"]))
        for r in read_csv(raw / WEB / "cce_principal_dx_exclusion_table.csv")
    ]
    for table_id in [t for _, t in cc + mcc] + [t for t, _ in cce]:
        if not table_id.isdigit() or str(int(table_id)) != table_id:
            raise ValueError(f"exclusion table id {table_id!r} is not a plain integer")
    both = sorted({c for c, _ in cc} & {c for c, _ in mcc})
    if both:
        raise ValueError(f"codes listed as both CC and MCC (cc.csv would be ambiguous): {both[:10]}")
    cc_rows: list[Row] = sorted({(c, "cc", t) for c, t in cc} | {(c, "mcc", t) for c, t in mcc})
    if len({r[0] for r in cc_rows}) != len(cc_rows):
        raise ValueError("a CC/MCC code is listed with two exclusion tables")
    cce_rows: list[Row] = sorted(set(cce), key=lambda r: (int(r[0]), r[1]))
    return cc, mcc, cc_rows, cce_rows


# -- report ------------------------------------------------------------------------------------------------


def counted(counter: Counter[str], sep: str = ", ") -> str:
    """``key: n`` pairs of a counter, keys sorted."""
    return sep.join(f"{k}: {counter[k]}" for k in sorted(counter))


def sex_resolved(mdcs: set[str]) -> bool:
    """At most one of ``mdcs`` is open to a male patient, and at most one to a female patient."""
    return all(sum(1 for m in mdcs if MDC_SEX.get(m, "") in ("", sex)) <= 1 for sex in ("M", "F"))


def report_drgs(raw: Path, drgs: Drgs, mdc_codes: list[str]) -> list[str]:
    """Counts of the DRG list and its checks against 铜川 2025 and the MDC list."""
    tc = {r["DRG编码"]: r["DRG名称"] for r in read_csv(raw / WEB / "tongchuan_2025_drg_weights.csv")}
    ours = {r[0]: r[2] for r in drgs.drg_rows}
    renamed = [f"{d} ({ours[d]} / 铜川: {tc[d]})" for d in sorted(set(ours) & set(tc)) if ours[d] != tc[d]]
    surgical = {r[1] for r in drgs.adrg_rows if r[3] == "surgical" and r[1] != "MDCA"}
    with_qy = {r[0] for r in drgs.qy_rows}
    same = set(ours) == set(tc)
    adrg_mdcs = {r[1] for r in drgs.adrg_rows}
    return [
        f"- MDC: {len(mdc_codes)}; ADRG: {len(drgs.adrg_rows)}; DRG: {len(drgs.drg_rows)}; "
        f"歧义组 (xQY): {len(drgs.qy_rows)}",
        "- DRG split digits: " + counted(Counter(r[3] for r in drgs.drg_rows)),
        f"- ADRGs by split pattern: {counted(drgs.patterns)} (total {sum(drgs.patterns.values())})",
        "- ADRGs by kind: " + counted(Counter(r[3] for r in drgs.adrg_rows)),
        "- Split-suffix wordings: " + counted(drgs.suffixes, "; "),
        "",
        "## Cross-checks",
        "",
        "### DRG list",
        "",
        f"- Against `tongchuan_2025_drg_weights.csv` ({len(tc)} codes): "
        + ("identical code set" if same else "codes differ")
        + f"; only in the national list: {short(sorted(set(ours) - set(tc)))}"
        + f"; only in 铜川: {short(sorted(set(tc) - set(ours)))}",
        f"- Same code, different name in 铜川 ({len(renamed)}): {short(renamed)}",
        f"- ADRGs whose MDC is not in mdc.csv: {short(sorted(adrg_mdcs - set(mdc_codes)))}",
        f"- ADRGs whose DRG names disagree on the name stem: {short(drgs.stem_conflicts)}",
        f"- MDCs with surgical ADRGs (MDCA aside) but no 歧义组: {short(sorted(surgical - with_qy))}",
        f"- 歧义组 of MDCs without surgical ADRGs: {short(sorted(with_qy - surgical))}",
        "- `ambiguous.csv` is the source's 歧义组 list as given, not derived from the ADRG kinds.",
        "",
    ]


def report_codes(
    mdcs: Mdcs, cc: Sequence[Row], mcc: Sequence[Row], cce_rows: Sequence[Row], dx: set[str]
) -> list[str]:
    """Presence of every table diagnosis code in the 医保版 2.0 list."""
    lines = []
    for label, codes in (
        ("CC", sorted({c for c, _ in cc})),
        ("MCC", sorted({c for c, _ in mcc})),
        ("CCE principal", sorted({c for _, c in cce_rows})),
        ("mdc_dx", sorted({r[1] for r in mdcs.dx_rows})),
    ):
        missing = [c for c in codes if c not in dx]
        lines.append(
            f"- {label} codes not in ICD-10 医保版 2.0: {len(missing)} of {len(codes)}: {short(missing)}"
        )
    dagger = sum(1 for r in mdcs.dx_rows if "+" in r[1])
    return [
        *lines,
        f"- Tokens dropped from the MDC lists as parse artefacts (not codes): {short(mdcs.artefacts)}",
        f"- mdc_dx rows that are dagger–asterisk pairs (`A01.002+G01*`, spelt as in 医保版 2.0): {dagger}",
    ]


def report_cc(cc: Sequence[Row], mcc: Sequence[Row], cce_src: int, cce_rows: Sequence[Row]) -> list[str]:
    """CC/MCC overlap and the exclusion tables each kind refers to."""
    cc_t, mcc_t, cce_t = {t for _, t in cc}, {t for _, t in mcc}, {t for t, _ in cce_rows}
    multi = sorted(c for c, n in Counter(c for _, c in cce_rows).items() if n > 1)
    overlap = len({c for c, _ in cc} & {c for c, _ in mcc})
    return [
        "### CC / MCC / exclusion tables",
        "",
        f"- CC rows: {len(cc)}, MCC rows: {len(mcc)}, CC ∩ MCC: {overlap}",
        f"- Exclusion tables referenced by CC: {len(cc_t)}, by MCC: {len(mcc_t)}, by either: "
        f"{len(cc_t | mcc_t)}; defined in CCE: {len(cce_t)}",
        f"- CC table ids with no CCE table: {short(sorted(cc_t - cce_t, key=int))}",
        f"- MCC table ids with no CCE table: {short(sorted(mcc_t - cce_t, key=int))}",
        f"- CCE tables referenced by no CC/MCC: {short(sorted(cce_t - cc_t - mcc_t, key=int))}",
        f"- CCE rows: {cce_src} in the source, {len(cce_rows)} after removing duplicate rows; "
        f"principal codes in more than one table: {short(multi)}",
        "",
    ]


def report_mdcs(raw: Path, mdcs: Mdcs, infant_codes: int) -> list[str]:
    """MDCP's entry, the MDCZ body regions and codes shared between MDCs."""
    mdcp_11 = sum(1 for line in read_lines(raw / RULES_11 / "MDC" / MDCP_11) if _DX_START.match(line))
    filled = {r[0] for r in mdcs.dx_rows}
    empty = [r[0] for r in mdcs.rows if r[0] not in filled]
    regions = sorted({r[2] for r in mdcs.dx_rows if r[2]})
    multi_region = sorted(c for c, r in mdcs.dx_regions.items() if len(r) > 1)
    multi = {c: m for c, m in mdcs.dx_mdcs.items() if len(m) > 1}
    by_sex = {c for c, m in multi.items() if sex_resolved(m)}
    with_z = {c for c, m in multi.items() if c not in by_sex and "MDCZ" in m and sex_resolved(m - {"MDCZ"})}
    other = sorted(set(multi) - by_sex - with_z)
    combos = Counter("+".join(sorted(m)) for m in multi.values())
    return [
        "### MDC principal-diagnosis tables",
        "",
        f"- MDCs with an empty principal-diagnosis list in `mdc_rules.json`: {short(empty)}. MDCA is",
        "  procedure-driven. MDCP is entered by age: a newborn (age in days <= 28) enters it whatever the",
        "  principal diagnosis. An infant of 29–364 days enters it when the principal diagnosis is in the",
        f"  principal list of PV1 (源于新生儿（29天≤出生年龄＜1周岁）诊断的婴儿疾病): {infant_codes} codes, written",
        f"  to `mdc_dx.csv` as MDCP's table (CHS-DRG 1.1's MDCP table had {mdcp_11} codes).",
        f"- MDCZ body regions: {len(regions)}, from the `mdczCategories` of `mdc_rules.json` (the NHSA 2.0 MDCZ",
        f"  table by 部位): {', '.join(regions)}; codes in more than one region: {short(multi_region)}",
        f"- Codes in several MDCs' lists: {len(multi)}",
        f"  - resolved by the sex restriction of MDCM/MDCN/MDCO: {len(by_sex)}",
        f"  - otherwise shared only with MDCZ (multiple trauma, a pre-MDC step): {len(with_z)}",
        f"  - neither (the first MDC in table order takes them): {len(other)}: {short(other)}",
        "- Their MDC combinations: " + counted(combos),
        "",
    ]


def report_11(raw: Path, drgs: Drgs) -> list[str]:
    """ADRG and DRG codes kept, added and dropped since CHS-DRG 1.1 (codes only)."""
    drg_11 = {line.split(" ", 1)[0] for line in read_lines(raw / RULES_11 / "3_DRG.txt")}
    adrg_11 = {d[:3] for d in drg_11}
    drg_20 = {r[0] for r in drgs.drg_rows}
    adrg_20 = {r[0] for r in drgs.adrg_rows}
    return [
        "### Against CHS-DRG 1.1 (`3_DRG.txt`; codes only, a kept code may have changed meaning)",
        "",
        f"- 1.1: {len(drg_11)} DRGs in {len(adrg_11)} ADRGs; 2.0: {len(drg_20)} DRGs in {len(adrg_20)} ADRGs",
        f"- ADRG codes kept: {len(adrg_11 & adrg_20)}; added in 2.0: {len(adrg_20 - adrg_11)}; "
        f"dropped: {len(adrg_11 - adrg_20)}",
        f"- Added ADRGs: {short(sorted(adrg_20 - adrg_11), 100)}",
        f"- Dropped ADRGs: {short(sorted(adrg_11 - adrg_20), 100)}",
        f"- DRG codes kept: {len(drg_11 & drg_20)}; added: {len(drg_20 - drg_11)}; "
        f"dropped: {len(drg_11 - drg_20)}",
        "",
    ]


# -- ADRG rules --------------------------------------------------------------------------------------------


DRG_CONDITIONS = {"WITH_MCC": "1", "WITH_CC": "3", "NO_CC": "5", "ADRG_ONLY": "9"}


def report_rules(raw: Path, rules: list[AdrgRule], drgs: Drgs, name_lines: list[str]) -> list[str]:
    """How each ADRG's rule was read, and the ADRG/DRG lists cross-checked."""
    forms = Counter(r.form for r in rules)
    multi = [f"{r.code} ({len(r.alternatives)})" for r in rules if len(r.alternatives) > 1]
    by_list = {r[0]: r for r in drgs.adrg_rows}
    renamed = [
        f"{r.code}: {r.name} / DRG list: {by_list[r.code][2]}" for r in rules if by_list[r.code][2] != r.name
    ]
    drg_json = json.loads((raw / DRG_RULES).read_text(encoding="utf-8-sig"))
    ours = {row[0]: row[3] for row in drgs.drg_rows}
    split_diff = []
    for entry in drg_json:
        conditions = entry.get("conditions") or []
        splits = {DRG_CONDITIONS.get(str(c), "?") for c in conditions} or {"?"}
        code = str(entry["drgCode"])
        if code not in ours or {ours[code]} != splits:
            split_diff.append(f"{code}: DRG list {ours.get(code, 'absent')}, drg_rules.json {sorted(splits)}")
    missing = sorted(set(ours) - {str(e["drgCode"]) for e in drg_json})
    return [
        "## ADRG entry rules (`adrg_rules.json`)",
        "",
        f"- ADRGs: {len(rules)}, in the order of the NHSA document (the evaluation order within each MDC)",
        "- Rule forms: " + counted(forms),
        f"- ADRGs with more than one alternative: {short(multi, 60)}",
        f"- ADRG names that differ from the DRG list's name stem: {short(renamed)}",
        "- Conditions read from ADRG names:",
        *[f"  - {line}" for line in name_lines],
        "",
        "### DRG splits against `versions/chs-drg-2.0/generated/drg_rules.json`",
        "",
        f"- DRGs in drg_rules.json: {len(drg_json)}; split rules that differ from the DRG list's 4th digit: "
        f"{short(split_diff)}; DRGs of the list absent there: {short(missing)}",
        "",
    ]


def report_operating_room(or_lines: list[str]) -> list[str]:
    """How the operating-room set was derived, and its size."""
    return [
        "## Operating-room procedures (`proc_codes.operating_room`)",
        "",
        "The NHSA 2.0 document has no separate operating-room list; it is derived from the rules (the",
        "`or_procedure` / `no_or_procedure` clauses of SB1, TB1, XJ1, YC1, WJ1, ZZ1 and the 歧义组 step read it).",
        "A procedure is an operating-room procedure when a procedure list (主要手术或操作, 手术或操作 N, the",
        "procedure groups, the lists CB2/CB3 refer to) of a surgical ADRG (2nd letter A–J, 外科部分) outside MDCA",
        "names it, unless an operative ADRG (K–Q, 非手术室操作: RK1/RN1 chemotherapy, RN2 targeted and immune",
        "therapy, RL1/RL2 radiotherapy, LL1 dialysis, PK1 newborn ventilation, GK1–GK3 endoscopic treatment …) also",
        "names it, or the national clinical classification (国临版手术操作分类, through the 国临 3.0 → 医保 2.0",
        "crosswalk, as for DIP) classes it as 治疗性操作 or 诊断性操作. So the catch-all lists of the 'other",
        "procedures' groups (KJ1, QJ1, VJ1, ZJ1), which also name dialysis 39.95 and immunotherapy 99.28, do not",
        "make those an operation. MDCA's lists are left out (AG1–AG3 stem-cell transplants, AH2's 96.7201",
        "ventilation are not operations; MDCA is decided before any MDC).",
        "",
        *or_lines,
        "",
    ]


# -- build -------------------------------------------------------------------------------------------------


def build(raw: Path, out: Path) -> None:
    """Write the complete CHS-DRG 2.0 grouper folder ``out`` from the raw sources in ``raw``."""
    mdcs = read_mdcs(raw / QWEASZ / "mdc_rules.json")
    drgs = read_drgs(raw / WEB / "chs_drg_20_drg_list_ref_weight.csv")
    rules = parse_rules(json.loads((raw / QWEASZ / "adrg_rules.json").read_text(encoding="utf-8-sig")))
    alg = ALGORITHM
    newborn_max = int(alg["newborn_max_age_days"])  # type: ignore[call-overload]
    name_lines = add_name_conditions(rules, newborn_max_age_days=newborn_max)
    if {r.code for r in rules} != {r[0] for r in drgs.adrg_rows}:
        diff = sorted({r.code for r in rules} ^ {r[0] for r in drgs.adrg_rows})
        raise ValueError(f"adrg_rules.json and the DRG list name different ADRGs: {diff}")
    infant = infant_principal_codes(rules, newborn_max_age_days=newborn_max)
    mdc_dx = sorted({*mdcs.dx_rows, *(("MDCP", c, "") for c in infant)})
    cc, mcc, cc_rows, cce_rows = read_cc(raw)
    cce_src = len(read_csv(raw / WEB / "cce_principal_dx_exclusion_table.csv"))
    dx_names = read_code_list(raw / ICD / "ICD10医保版v2.0.dat")
    proc_names = read_code_list(raw / ICD / "ICD9CM3医保版v2.0.dat")
    grey_lines = [
        normalize_code(line.partition(" ")[0]) for line in read_lines(raw / ICD / "ICD10医保版v2.0灰码.dat")
    ]
    grey = sorted(set(grey_lines))

    other_dx = {r[1] for r in mdc_dx} | {r[0] for r in cc_rows} | {r[1] for r in cce_rows}
    coded = rule_tables(rules, dx_names, proc_names, other_dx=other_dx)
    operating, or_lines = operating_room_set(
        ((r.kind, r.mdc, r.procedure_codes()) for r in rules), Categories(raw).category
    )

    tables = scheme_tables(
        "chs-drg",
        mdc=mdcs.rows,
        mdc_dx=mdc_dx,
        adrg=[(r.code, r.mdc, r.name, r.kind) for r in rules],
        adrg_clause=coded.clause_rows,
        adrg_code=coded.code_rows,
        drg=drgs.drg_rows,
        ambiguous=drgs.qy_rows,
        cc=cc_rows,
        cc_exclusion=cce_rows,
        dx_codes=sorted(coded.dx.items()),
        proc_codes=[(c, n, "1" if c in operating else "0") for c, n in sorted(coded.proc.items())],
        grey_dx=[(c,) for c in grey],
    )

    in_mdc = sorted(c for c in grey if c in mdcs.dx_mdcs)
    report = [
        "# CHS-DRG 2.0 build report",
        "",
        "Written by `scripts/chs_drg_20.py` (rule readings in `scripts/adrg_json.py`); the same raw files give the",
        "same text.",
        "",
        "## Counts",
        "",
        *[f"- `{t.name}`: {len(t.rows)} rows" for t in tables],
        "",
        *report_drgs(raw, drgs, [r[0] for r in mdcs.rows]),
        *report_rules(raw, rules, drgs, name_lines),
        *report_operating_room(or_lines),
        "### Code lists",
        "",
        *report_codes(mdcs, cc, mcc, cce_rows, set(dx_names)),
        f"- Rule diagnosis codes not in ICD-10 医保版 2.0 (accepted, name empty): {short(coded.dx_added)}",
        f"- Rule procedure codes not in ICD-9-CM-3 医保版 2.0 (accepted, name empty): {len(coded.proc_added)}: "
        f"{short(coded.proc_added)}",
        f"- Grey codes: {len(grey_lines)} lines, {len(grey)} distinct, "
        f"{sum(1 for c in grey if c not in dx_names)} not in the 医保版 2.0 list, {len(in_mdc)} in an MDC list: "
        f"{short(in_mdc)}. Under 2.0 the 医保版 2.0 grey list applies as published: a grey code is refused as",
        "  principal diagnosis even where an MDC table lists it (the grey list belongs to the same code version).",
        "",
        *report_cc(cc, mcc, cce_src, cce_rows),
        *report_mdcs(raw, mdcs, len(infant)),
        *report_11(raw, drgs),
        "## Not copied",
        "",
        "- Reference weights (`参考权重`) are not copied: weights are payment policy, not grouping.",
        "- `zd_invalid.json` / `ss_invalid.json` (that project's own reading of invalid codes, not an NHSA table) are",
        "  not used; the 医保版 2.0 grey list is.",
    ]
    write_grouper(
        out,
        GROUPER,
        tables,
        counts=COUNTS,
        algorithm=ALGORITHM,
        sources=SOURCES,
        extra_files={"BUILD_REPORT.md": "\n".join(report) + "\n"},
    )


if __name__ == "__main__":
    build_main(build, "chs-drg-2.0")
