"""Build ``groupers/chs-drg-3.0`` from the public CHS-DRG 3.0 sources in ``shared/data/raw``.

What the sources give (``shared/data/raw/SOURCES.md`` section 8): the MDC tables and the 488 ADRG entry rules
parsed from the NHSA 3.0 document (qweaszxcdf ``chs-3.0/generated``), the 3.0 CC / MCC lists and exclusion tables,
the 815 DRGs with their split conditions (``versions/chs-drg-3.0/generated/drg_rules.json``) and the robot-assisted
procedure list. The 3.0 configuration uses the 医保版 2.0 code lists, so the codes, grey list and operating-room
derivation are those of the 2.0 build. ADRG rules are read by ``adrg_json.py`` unchanged in its readings; every
finding of the build goes to ``BUILD_REPORT.md``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from adrg_json import add_name_conditions, infant_principal_codes, parse_rules, rule_tables
from build_common import (
    ALGORITHM_DEFAULTS,
    build_main,
    normalize_code,
    operating_room_set,
    read_code_list,
    read_lines,
    scheme_tables,
    short,
    write_grouper,
)
from chs_drg_20 import ICD, WEB, Row, counted, read_drgs, read_mdcs
from dip_20 import Categories

QWEASZ = "qweaszxcdf_chs_drg/src/data/drg-common/chs-3.0/generated"
VERSION = "qweaszxcdf_chs_drg/src/data/versions/chs-drg-3.0"

#: drg_rules.json condition → split condition (docs/definitions.md, "DRG splits"). ``NO_CC`` depends on the name:
#: see :func:`split_text`.
CONDITIONS = {
    "WITH_MCC": "mcc",
    "WITH_CC": "cc",
    "ADRG_ONLY": "always",
    "AGE_GE_70": "age_ge 70",
    "AGE_LT_6": "age_lt 6",
}
#: ``NEW_TECHNIQUE``: the DRG name says which technique; each has a list in ``drg_list.csv``.
TECHNIQUES = {"机器人辅助": "robot", "椎管内镇痛": "neuraxial_analgesia"}
#: 椎管内镇痛: the source has no list. ICD-9-CM-3 03.91 is "injection of anesthetic into spinal canal for
#: analgesia" (为镇痛的椎管麻醉药注射); its 医保版 2.0 codes are the list (BUILD_REPORT.md says why no others).
NEURAXIAL_ANALGESIA_PREFIX = "03.91"
#: 椎管内镇痛 codes must name analgesia (03.91 also holds 03.9102 脊神经根阻滞术, a nerve-root block).
ANALGESIA_WORDS = ("镇痛", "止痛")

GROUPER = {
    "id": "chs-drg-3.0",
    "scheme": "chs-drg",
    "version": "3.0",
    "title": "CHS-DRG 3.0 (国家医疗保障局)",
    "status": "complete",
    "status_note": "",
    "effective_from": "",  # the source states no date; drgpay does not invent one
    "dx_code_system": "ICD-10 医保版 2.0",
    "proc_code_system": "ICD-9-CM-3 医保版 2.0",
    "extends": "",
}
COUNTS = {"mdc": 26, "adrg": 488, "drg": 815, "note": ""}
ALGORITHM = ALGORITHM_DEFAULTS
SOURCES: list[dict[str, object]] = [
    {
        "name": "CHS-DRG 3.0 MDC tables, ADRG entry rules, CC/MCC/exclusion lists and DRG split rules",
        "repository": "qweaszxcdf/CHS-DRG-Grouper",
        "commit": "0fb16d4ac29a101ecf42728392034e5a4e93979e",
        "paths": [
            f"src/data/drg-common/chs-3.0/generated/{name}"
            for name in (
                "mdc_rules.json",
                "adrg_rules.json",
                "cc_codes.json",
                "mcc_codes.json",
                "cce_codes.json",
            )
        ]
        + [
            "src/data/versions/chs-drg-3.0/generated/drg_rules.json",
            "src/data/versions/chs-drg-3.0/raw/DRG.dat",
        ],
        "licence": "Apache-2.0",
    },
    {
        "name": "CHS-DRG 3.0 robot-assisted surgery list",
        "repository": "qweaszxcdf/CHS-DRG-Grouper",
        "commit": "6a83a031",
        "paths": ["src/data/versions/chs-drg-3.0/raw/ROBOT_ASSISTED_SURGERY.dat"],
        "licence": "Apache-2.0",
    },
    {
        "name": "CHS-DRG 2.0 歧义组 list (carried over, see BUILD_REPORT.md)",
        "repository": "OpenDRG/OpenDRG.github.io",
        "commit": "e0d74f2d3e8810d1fed0a6cee2fc0377504fffb7",
        "paths": ["1735.d134c66b.js"],
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
]


def _json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8-sig"))


def split_text(entry: dict[str, object], adrg_has_cc_drg: bool) -> str:
    """The ``split`` cell of one drg_rules.json entry: its conditions in the vocabulary, joined by ``&``.

    ``NO_CC`` is ``no_cc`` when the ADRG has a ``WITH_CC`` DRG; in an ADRG split only into MCC / not MCC it takes
    the records the MCC DRG leaves (``always``), as the 2.0 split ``5`` did and as most such names say
    (不伴严重合并症或并发症)."""
    name = str(entry["drgName"])
    parts = []
    for condition in entry["conditions"]:  # type: ignore[attr-defined]
        if condition == "NO_CC":
            parts.append("no_cc" if adrg_has_cc_drg else "always")
        elif condition == "NEW_TECHNIQUE":
            lists = [v for k, v in TECHNIQUES.items() if k in name]
            if len(lists) != 1:
                raise ValueError(f"{entry['drgCode']}: NEW_TECHNIQUE but the name names no known technique")
            parts.append(f"new_technique {lists[0]}")
        elif condition in CONDITIONS:
            parts.append(CONDITIONS[str(condition)])
        else:
            raise ValueError(f"{entry['drgCode']}: unknown condition {condition!r}")
    kept = [p for p in parts if p != "always"] or ["always"]
    return " & ".join(kept)


def read_cc(raw: Path) -> tuple[list[Row], list[Row]]:
    """``cc.csv`` and ``cc_exclusion.csv`` rows from the 3.0 JSON lists (code → exclusion table id)."""
    cc = _json(raw / QWEASZ / "cc_codes.json")
    mcc = _json(raw / QWEASZ / "mcc_codes.json")
    cce = _json(raw / QWEASZ / "cce_codes.json")
    assert isinstance(cc, dict) and isinstance(mcc, dict) and isinstance(cce, dict)
    both = sorted(set(cc) & set(mcc))
    if both:
        raise ValueError(f"codes listed as both CC and MCC: {both[:10]}")
    rows = {(normalize_code(c), "cc", str(t)) for c, t in cc.items()}
    rows |= {(normalize_code(c), "mcc", str(t)) for c, t in mcc.items()}
    cce_rows = {(str(t), normalize_code(c)) for c, t in cce.items()}
    for table in [r[2] for r in rows] + [r[0] for r in cce_rows]:
        if not table.isdigit():
            raise ValueError(f"exclusion table id {table!r} is not a plain integer")
    defined = {t for t, _ in cce_rows}
    # a table no principal diagnosis is in cancels nothing: such a CC / MCC has no exclusion table
    rows = {(c, level, t if t in defined else "") for c, level, t in rows}
    return sorted(rows), sorted(cce_rows, key=lambda r: (int(r[0]), r[1]))


def coverage_gaps(drg_rows: list[Row]) -> list[str]:
    """ADRGs whose split rules leave a record without a DRG, tried on each complication level and the ages 3, 40
    and 80 without a new technique (a check of the reading, written to the report)."""
    by_adrg: dict[str, list[str]] = defaultdict(list)
    for _, adrg, _, split in drg_rows:
        by_adrg[adrg].append(split)
    gaps = []
    for adrg, splits in by_adrg.items():
        for level in (0, 1, 2):
            for age in (3, 40, 80):
                if not any(_holds(split, level, age) for split in splits):
                    gaps.append(f"{adrg} (level {level}, age {age})")
    return gaps


def _holds(split: str, level: int, age: int) -> bool:
    for part in split.split(" & "):
        name, _, arg = part.partition(" ")
        ok = {
            "mcc": level == 2,
            "cc": level >= 1,
            "no_cc": level == 0,
            "always": True,
            "age_ge": arg.isdigit() and age >= int(arg or 0),
            "age_lt": arg.isdigit() and age < int(arg or 0),
            "new_technique": False,
        }[name]
        if not ok:
            return False
    return True


def build(raw: Path, out: Path) -> None:
    """Write the complete CHS-DRG 3.0 grouper folder ``out`` from the raw sources in ``raw``."""
    mdcs = read_mdcs(raw / QWEASZ / "mdc_rules.json")
    entries = _json(raw / QWEASZ / "adrg_rules.json")
    assert isinstance(entries, list)
    rules = parse_rules(entries)
    newborn_max = int(ALGORITHM["newborn_max_age_days"])  # type: ignore[call-overload]
    name_lines = add_name_conditions(rules, newborn_max_age_days=newborn_max)
    infant = infant_principal_codes(rules, newborn_max_age_days=newborn_max)

    drg_json = _json(raw / VERSION / "generated" / "drg_rules.json")
    assert isinstance(drg_json, list)
    with_cc = {str(e["adrgCode"]) for e in drg_json if "WITH_CC" in e["conditions"]}
    drg_rows: list[Row] = [
        (
            str(e["drgCode"]),
            str(e["adrgCode"]),
            str(e["drgName"]).strip(),
            split_text(e, e["adrgCode"] in with_cc),
        )
        for e in drg_json
    ]
    listed = dict(line.split("\t", 1) for line in read_lines(raw / VERSION / "raw" / "DRG.dat"))
    if set(listed) != {r[0] for r in drg_rows}:
        raise ValueError("DRG.dat and drg_rules.json list different DRGs")
    renamed = [f"{d}: {n} / DRG.dat: {listed[d]}" for d, _, n, _ in drg_rows if listed[d].strip() != n]
    rule_adrgs = [r.code for r in rules]
    if set(rule_adrgs) != {r[1] for r in drg_rows}:
        diff = sorted(set(rule_adrgs) ^ {r[1] for r in drg_rows})
        raise ValueError(f"adrg_rules.json and drg_rules.json name different ADRGs: {diff}")
    order = {a: i for i, a in enumerate(rule_adrgs)}
    drg_rows.sort(key=lambda r: order[r[1]])  # stable: each ADRG's DRGs keep the source's order

    robot = [
        normalize_code(line.split("\t")[0])
        for line in read_lines(raw / VERSION / "raw" / "ROBOT_ASSISTED_SURGERY.dat")
    ]
    proc_names = read_code_list(raw / ICD / "ICD9CM3医保版v2.0.dat")
    dx_names = read_code_list(raw / ICD / "ICD10医保版v2.0.dat")
    under_0391 = sorted(c for c in proc_names if c.startswith(NEURAXIAL_ANALGESIA_PREFIX))
    analgesia = [c for c in under_0391 if any(w in proc_names[c] for w in ANALGESIA_WORDS)]
    not_analgesia = [f"{c} {proc_names[c]}" for c in under_0391 if c not in analgesia]
    list_rows = sorted({("robot", c) for c in robot} | {("neuraxial_analgesia", c) for c in analgesia})

    mdcz = [r for r in mdcs.dx_rows if r[0] == "MDCZ"]
    mdc_dx = sorted({*mdcs.dx_rows, *(("MDCP", c, "") for c in infant)})
    cc_rows, cce_rows = read_cc(raw)
    grey_lines = [
        normalize_code(line.partition(" ")[0]) for line in read_lines(raw / ICD / "ICD10医保版v2.0灰码.dat")
    ]
    grey = sorted(set(grey_lines))

    other_dx = {r[1] for r in mdc_dx} | {r[0] for r in cc_rows} | {r[1] for r in cce_rows}
    coded = rule_tables(rules, dx_names, proc_names, other_dx=other_dx, other_proc=robot)
    operating, or_lines = operating_room_set(
        ((r.kind, r.mdc, r.procedure_codes()) for r in rules), Categories(raw).category
    )
    procedural_mdcs = {r.mdc for r in rules if r.kind != "medical" and r.mdc != "MDCA"}
    qy_20 = read_drgs(raw / WEB / "chs_drg_20_drg_list_ref_weight.csv").qy_rows
    qy_rows = [r for r in qy_20 if r[0] in procedural_mdcs]

    tables = scheme_tables(
        "chs-drg",
        mdc=mdcs.rows,
        mdc_dx=mdc_dx,
        adrg=[(r.code, r.mdc, r.name, r.kind) for r in rules],
        adrg_clause=coded.clause_rows,
        adrg_code=coded.code_rows,
        drg=drg_rows,
        drg_list=list_rows,
        ambiguous=qy_rows,
        cc=cc_rows,
        cc_exclusion=cce_rows,
        dx_codes=sorted(coded.dx.items()),
        proc_codes=[(c, n, "1" if c in operating else "0") for c, n in sorted(coded.proc.items())],
        grey_dx=[(c,) for c in grey],
    )
    conditions = Counter(str(c) for e in drg_json for c in e["conditions"])
    splits = Counter(part for r in drg_rows for part in r[3].split(" & "))
    rest = [
        f"{e['drgCode']} ({str(e['drgName']).split('，')[-1]})"
        for e in drg_json
        if "NO_CC" in e["conditions"] and e["adrgCode"] not in with_cc
    ]
    logic = [r.code for r in rules if r.form.startswith("logic")]
    forms = Counter(r.form for r in rules)
    gaps = coverage_gaps(drg_rows)
    report = [
        "# CHS-DRG 3.0 build report",
        "",
        "Written by `scripts/chs_drg_30.py` (ADRG rule readings in `scripts/adrg_json.py`, shared with 2.0); the",
        "same raw files give the same text.",
        "",
        "## Counts",
        "",
        *[f"- `{t.name}`: {len(t.rows)} rows" for t in tables],
        f"- MDC: {len(mdcs.rows)}; ADRG: {len(rules)}; DRG: {len(drg_rows)}; 歧义组: {len(qy_rows)}",
        "",
        "## ADRG entry rules (`adrg_rules.json`)",
        "",
        "- Rule forms: " + counted(forms),
        f"- ADRGs with AND/OR logic ({len(logic)}): {short(logic, 40)}",
        "- Alternatives of the logic that name an empty list of the source (they can admit no record, so they are",
        "  left out): " + short([f"{r.code}: {d}" for r in rules for d in r.dropped]),
        "- `其他手术或操作` (RL1, RM1: radiotherapy or intervention *combined with* chemotherapy / targeted /",
        "  immune therapy) is read as a procedure other than the principal one: the clause role `secondary_proc`.",
        "- `multiSite` (IC2 多部位髋、肩、膝、肘和踝关节置换术): besides a principal procedure of the IC2 list, another",
        "  procedure of the same list elsewhere on the record (a second joint replaced in the same stay): each",
        "  principal-procedure clause of IC2 gets a `secondary_proc` clause on the same list. The source gives no",
        "  joint per code, so two codes of the list count as two sites; no input column is needed.",
        "- Conditions read from ADRG names:",
        *[f"  - {line}" for line in name_lines],
        "",
        "## DRG splits (`versions/chs-drg-3.0/generated/drg_rules.json`)",
        "",
        "- Conditions in the source: " + counted(conditions),
        "- As split conditions: " + counted(splits),
        "- Each ADRG's DRGs keep the source's order, which is the order they are tried in (first match wins):",
        "  `age_ge 70 & cc` (HC4F) before `cc` (HC43), `age_lt 6 & no_cc` (BU2C) before `no_cc` (BU25).",
        "- `WITH_CC` is `cc` (a CC or an MCC: the 3.0 list has ADRGs split only into 伴合并症 / 不伴合并症);",
        "  `NO_CC` is `no_cc` in ADRGs that have a `WITH_CC` DRG. In the ADRGs split only into MCC / not MCC",
        "  it takes the records the MCC DRG leaves (`always`, or only the age), as the 2.0 split 5 did; the",
        "  names say so (不伴严重合并症或并发症) for all but ZZ15, whose 不伴合并症或并发症 would otherwise leave a",
        f"  CC record of ZZ1 without a DRG ({len(rest)}): " + short(rest, 30),
        f"- Split combinations that leave a record without a DRG (levels 0–2, ages 3/40/80): {short(gaps)}",
        f"- DRG names that differ between drg_rules.json and DRG.dat: {short(renamed)}",
        "",
        "## New-technique lists (`drg_list.csv`)",
        "",
        f"- `robot` ({len(robot)} codes, 机器人辅助手术: EB10, GB40, IB40, IC30, IE20, LA20, MB10, NA10, NC10): "
        f"`ROBOT_ASSISTED_SURGERY.dat` as given: {', '.join(robot)}.",
        f"- `neuraxial_analgesia` ({len(analgesia)} codes, 椎管内镇痛: OC10, OC20, OR10): the source has no list.",
        "  The NHSA 3.0 names say 椎管内镇痛 (neuraxial analgesia, in practice labour epidural analgesia). In",
        "  ICD-9-CM-3 that is 03.91 为镇痛的椎管麻醉药注射 (injection of anaesthetic into the spinal canal for",
        "  analgesia); the list is the 医保版 2.0 codes under 03.91 whose names say analgesia (镇痛 / 止痛):",
        f"  {', '.join(analgesia)}. Left out: {', '.join(not_analgesia)} (a nerve-root block, not neuraxial); 03.90",
        "  (03.9000x001 连续硬膜外阻滞术, catheter for infusion of therapeutic substances, not specific to",
        "  analgesia) and 03.92 (other injections into the spinal canal); a bureau that codes labour analgesia",
        "  as 03.9000x001 would add it in a variant's `drg_list.csv` (additive).",
        "",
        "## MDCs",
        "",
        f"- MDCZ body regions from the 3.0 `mdczCategories`: {len({r[2] for r in mdcz})} regions, {len(mdcz)}",
        "  rows. MDCA is procedure-driven; MDCP is entered by age in days (and PV1's principal diagnoses for",
        f"  infants of 29–364 days: {len(infant)} codes), as for 2.0.",
        "",
        "## The 歧义组 (carried over from 2.0: the 3.0 source lacks them)",
        "",
        "- 歧义组: the 3.0 DRG list (815 rows) lists none. The 2.0 歧义组 of the MDCs that have surgical or",
        f"  operative ADRGs in 3.0 are kept ({len(qy_rows)}): {', '.join(r[1] for r in qy_rows)}; without them an",
        "  operating-room procedure outside its MDC's surgical ADRGs would land in a medical group.",
        "",
        "## Operating-room procedures (`proc_codes.operating_room`)",
        "",
        "Derived as for 2.0 (see the 2.0 build report), from the 3.0 ADRG lists:",
        "",
        *or_lines,
        "",
        "## Code lists",
        "",
        f"- Rule diagnosis codes not in ICD-10 医保版 2.0 (accepted, name empty): {len(coded.dx_added)}: {short(coded.dx_added)}",
        f"- Rule procedure codes not in ICD-9-CM-3 医保版 2.0 (accepted, name empty): {len(coded.proc_added)}: "
        f"{short(coded.proc_added)}",
        f"- Grey codes (医保版 2.0 grey list): {len(grey)}",
        f"- CC: {sum(1 for r in cc_rows if r[1] == 'cc')}, MCC: {sum(1 for r in cc_rows if r[1] == 'mcc')}, "
        f"exclusion-table rows: {len(cce_rows)}",
        "- CC / MCC codes whose exclusion table holds no principal diagnosis in `cce_codes.json` (never",
        f"  cancelled; written with an empty exclusion table): {sum(1 for r in cc_rows if not r[2])}",
        "",
        "## Not copied",
        "",
        "- Reference weights and costs (section 7's `chs_drg_30_drg_weights.csv`): payment policy, not grouping.",
        "- `zd_invalid.json` / `ss_invalid.json`: that project's own readings, not NHSA tables.",
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
    build_main(build, "chs-drg-3.0")
