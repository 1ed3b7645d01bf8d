"""Build ``groupers/chs-drg-2.0`` from the public CHS-DRG 2.0 sources in ``shared/data/raw``.

What the sources give (see ``shared/data/raw/SOURCES.md``): the MDC principal-diagnosis tables
(qweaszxcdf ``mdc_rules.json``), the DRG list, the CC/MCC lists and exclusion tables (extracted from
OpenDRG's demo site) and the 医保版 2.0 code lists (OpenDRG/DRG_Datas). What they do not give yet: the
ADRG entry rules (``adrg_rules.json``) and the official operating-room designation of procedures. The
grouper is therefore written with ``status = "incomplete"``, empty clause tables and ``operating_room = 0``
everywhere, so that the engine refuses to group with it rather than group wrongly. Every finding of the
build goes to ``BUILD_REPORT.md`` in the folder.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from build_common import (
    build_main,
    normalize_code,
    read_code_list,
    read_csv,
    read_lines,
    scheme_tables,
    short,
    write_grouper,
)

QWEASZ = "qweaszxcdf_chs_drg/src/data/drg-common/chs-2.0/generated"
WEB = "opendrg_web_chs_drg_20"
ICD = "opendrg_drg_datas/ICD/dataset"
RULES_11 = "opendrg_drg_rules/CHS_DRG_11"
MDCP_11 = "MDCP_新生儿及其他围产期新生儿疾病.dat"

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
    "status": "incomplete",
    "status_note": (
        "The CHS-DRG 2.0 ADRG entry rules (adrg_rules.json) are not yet available in the public sources "
        "used, so adrg_clause.csv and adrg_code.csv are empty and grouping with this grouper is refused. "
        "The official 2.0 operating-room procedure designation is not available either (operating_room "
        "is 0 for every procedure). The MDC, ADRG and DRG lists, CC/MCC lists, exclusion tables, code "
        "lists and grey codes are complete."
    ),
    "effective_from": "2024-07-23",
    "dx_code_system": "ICD-10 医保版 2.0",
    "proc_code_system": "ICD-9-CM-3 医保版 2.0",
    "extends": "",
}
COUNTS = {"mdc": 26, "adrg": 409, "drg": 634, "note": ""}
ALGORITHM = {
    "newborn_max_age_days": 28,
    "infant_max_age_days": 364,
    "mdcz_min_regions": 2,
    "premdc_order": ["MDCA", "MDCP", "MDCY", "MDCZ"],
}
SOURCES: list[dict[str, object]] = [
    {
        "name": "CHS-DRG 2.0 MDC principal-diagnosis tables, parsed from the NHSA 2.0 document",
        "repository": "qweaszxcdf/CHS-DRG-Grouper",
        "commit": "0fb16d4ac29a101ecf42728392034e5a4e93979e",
        "paths": ["src/data/drg-common/chs-2.0/generated/mdc_rules.json"],
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


def check_adrg_rules_absent(raw: Path) -> None:
    """Refuse to build a half-parsed grouper once the 2.0 ADRG rules appear in the raw folder."""
    if (raw / QWEASZ / "adrg_rules.json").exists():
        raise NotImplementedError(
            f"{QWEASZ}/adrg_rules.json is now present in the raw sources, but scripts/chs_drg_20.py "
            "has no converter for it yet: write the ADRG rule converter (adrg_clause.csv, "
            "adrg_code.csv, the operating-room flag, status complete) against the real file "
            "before rebuilding groupers/chs-drg-2.0."
        )


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


def adrg_kind(adrg: str) -> str:
    """``surgical`` (2nd letter A–J), ``operative`` (K–Q) or ``medical`` (R–Z)."""
    letter = adrg[1]
    if "A" <= letter <= "J":
        return "surgical"
    if "K" <= letter <= "Q":
        return "operative"
    return "medical"


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


def report_mdcs(raw: Path, mdcs: Mdcs) -> list[str]:
    """Empty principal lists (MDCP against 1.1), MDCZ regions and codes shared between MDCs."""
    mdcp_11 = sum(1 for line in read_lines(raw / RULES_11 / "MDC" / MDCP_11) if _DX_START.match(line))
    filled = {r[0] for r in mdcs.dx_rows}
    empty = [r[0] for r in mdcs.rows if r[0] not in filled]
    multi_region = sorted(c for c, r in mdcs.dx_regions.items() if len(r) > 1)
    multi = {c: m for c, m in mdcs.dx_mdcs.items() if len(m) > 1}
    by_sex = {c for c, m in multi.items() if sex_resolved(m)}
    with_z = {c for c, m in multi.items() if c not in by_sex and "MDCZ" in m and sex_resolved(m - {"MDCZ"})}
    other = sorted(set(multi) - by_sex - with_z)
    combos = Counter("+".join(sorted(m)) for m in multi.values())
    return [
        "### MDC principal-diagnosis tables",
        "",
        f"- MDCs with an empty principal-diagnosis list: {short(empty)}. MDCA is procedure-driven;",
        f"  MDCP is empty in `mdc_rules.json` although the CHS-DRG 1.1 MDCP table holds {mdcp_11} codes:",
        "  the 2.0 newborn principal-diagnosis table is missing from the source (not parsed upstream,",
        "  or held with the ADRG rules); this folder has no MDCP principal-diagnosis path.",
        f"- MDCZ body regions: {len({r[2] for r in mdcs.dx_rows if r[2]})}; "
        f"codes in more than one region: {short(multi_region)}",
        f"- Codes in several MDCs' lists: {len(multi)}",
        f"  - resolved by the sex restriction of MDCM/MDCN/MDCO: {len(by_sex)}",
        f"  - otherwise shared only with MDCZ (multiple trauma, a pre-MDC step): {len(with_z)}",
        f"  - neither: {len(other)}: {short(other)}",
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


# -- build -------------------------------------------------------------------------------------------------


def build(raw: Path, out: Path) -> None:
    """Write the (incomplete) CHS-DRG 2.0 grouper folder ``out`` from the raw sources in ``raw``."""
    check_adrg_rules_absent(raw)
    mdcs = read_mdcs(raw / QWEASZ / "mdc_rules.json")
    drgs = read_drgs(raw / WEB / "chs_drg_20_drg_list_ref_weight.csv")
    cc, mcc, cc_rows, cce_rows = read_cc(raw)
    cce_src = len(read_csv(raw / WEB / "cce_principal_dx_exclusion_table.csv"))
    dx_names = read_code_list(raw / ICD / "ICD10医保版v2.0.dat")
    proc_names = read_code_list(raw / ICD / "ICD9CM3医保版v2.0.dat")
    grey_lines = [
        normalize_code(line.partition(" ")[0]) for line in read_lines(raw / ICD / "ICD10医保版v2.0灰码.dat")
    ]
    grey = sorted(set(grey_lines))
    ss_valid = len(read_csv(raw / WEB / "ss_valid_procedures.csv"))

    tables = scheme_tables(
        "chs-drg",
        mdc=mdcs.rows,
        mdc_dx=mdcs.dx_rows,
        adrg=drgs.adrg_rows,
        adrg_clause=[],  # the ADRG entry rules are not in the public sources yet
        adrg_code=[],
        drg=drgs.drg_rows,
        ambiguous=drgs.qy_rows,
        cc=cc_rows,
        cc_exclusion=cce_rows,
        dx_codes=sorted(dx_names.items()),
        proc_codes=[(c, n, "0") for c, n in sorted(proc_names.items())],
        grey_dx=[(c,) for c in grey],
    )

    in_mdc = sum(1 for c in grey if c in mdcs.dx_mdcs)
    report = [
        "# CHS-DRG 2.0 build report",
        "",
        "Written by `scripts/chs_drg_20.py`; the same raw files give the same text.",
        "",
        "## Counts",
        "",
        *[f"- `{t.name}`: {len(t.rows)} rows" for t in tables],
        "",
        *report_drgs(raw, drgs, [r[0] for r in mdcs.rows]),
        "### Code lists",
        "",
        *report_codes(mdcs, cc, mcc, cce_rows, set(dx_names)),
        f"- Grey codes: {len(grey_lines)} lines, {len(grey)} distinct, "
        f"{sum(1 for c in grey if c not in dx_names)} not in the 医保版 2.0 list, {in_mdc} in an MDC list",
        "",
        *report_cc(cc, mcc, cce_src, cce_rows),
        *report_mdcs(raw, mdcs),
        *report_11(raw, drgs),
        "## Not available (why the grouper is incomplete)",
        "",
        "- ADRG entry rules: `adrg_clause.csv` and `adrg_code.csv` hold only their header. The 2.0 rules",
        f"  (`{QWEASZ}/adrg_rules.json`) are not in the raw sources yet;",
        "  once the file appears the builder stops with NotImplementedError until a converter is written.",
        "- Operating-room designation: `operating_room` is 0 for every procedure, as the official 2.0 list",
        f"  is not in the sources. OpenDRG's own `ss_valid_procedures.csv` ({ss_valid} codes) is its own",
        "  derivation, not an official table, and is not used.",
        "- MDCP principal-diagnosis table: empty in the source (see above).",
        "- Reference weights (`参考权重`) are not copied: weights are payment policy, not grouping.",
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
