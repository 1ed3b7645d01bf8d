"""Build ``groupers/chs-drg-1.1`` from the CHS-DRG 1.1 rule text (OpenDRG/DRG_Rules, CHS_DRG_11).

The rule text ``4_ADRG_DETAIL.txt`` is the NHSA PDF turned into lines: an MDC heading, its principal-diagnosis table
(主诊表), then each ADRG heading followed by section headers and ``code name`` lines. This module turns it into the
clause tables of ``groupers/README.md``. Every interpretation the text needs is written down here, in one place
(``SECTION_ROLES``, ``NAME_CLAUSES``, ``MDC_SEX``), and repeated in the docs ("The algorithm").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from build_common import (
    ALGORITHM_DEFAULTS,
    normalize_code,
    operating_room_set,
    read_code_list,
    read_lines,
    scheme_tables,
    write_grouper,
)
from dip_20 import Categories

RULES = "opendrg_drg_rules/CHS_DRG_11"
ICD = "opendrg_drg_datas/ICD/dataset"

#: Section header → clause role. "主要诊断：" and "手术表 n：" belong to the formula form (JA1, JA2, NA1).
SECTION_ROLES = {
    "包含以下主要诊断：": "principal_dx",
    "包含以下主要手术或操作：": "principal_proc",
    "同时包含以下手术：": "any_proc",
    "和": "any_proc",
    "主要诊断或其他诊断中包含以下诊断：": "any_dx",
    "包含以下诊断：": "any_dx",
    "主要诊断：": "principal_dx",
}
#: Headers that stand for a condition without a code list.
CONDITION_HEADERS = {
    "全部手术": "or_procedure",
    "包含全部手术": "or_procedure",
    "符合 MDCZ 主诊表，且无手术": "no_or_procedure",
}
#: Conditions the ADRG *names* state but the section lists do not carry: (role, low, high), added to every alt.
NAME_CLAUSES: dict[str, list[tuple[str, str, str]]] = {
    "PB1": [("age_days", "0", "28")],  # 新生儿（出生年龄＜29 天）
    "PC1": [("age_days", "0", "28")],
    "PJ1": [("age_days", "0", "28")],
    # The other MDCP ADRGs are newborn ADRGs too (新生儿 / 早产儿 by birth weight / 足月儿); bounding them to the first
    # 28 days is what makes PV1 (29 天≤出生年龄＜1 周岁), whose list overlaps PU1's, reachable at all.
    "PK1": [("age_days", "0", "28")],
    "PR1": [("age_days", "0", "28")],
    "PU1": [("age_days", "0", "28")],
    "PV1": [("age_days", "29", "364")],  # 29 天≤出生年龄＜1 周岁
    "PS1": [("birth_weight", "", "1499"), ("age_days", "0", "28")],  # 出生体重＜1500g
    "PS2": [("birth_weight", "1500", "1999"), ("age_days", "0", "28")],
    "PS3": [("birth_weight", "2000", "2499"), ("age_days", "0", "28")],
    "PS4": [("birth_weight", "2500", ""), ("age_days", "0", "28")],  # 出生体重>2499g
    "YC1": [("or_procedure", "", "")],  # HIV 相关疾患的手术室手术
    "WJ1": [("or_procedure", "", "")],  # 烧伤伴除植皮之外的任何手术室手术 (the text has no list)
}
#: Extra alternatives the names state: AH1 is also entered by invasive ventilation ≥ 96 hours recorded as hours.
NAME_ALTERNATIVES: dict[str, list[list[tuple[str, str, str]]]] = {
    "AH1": [[("ventilation_hours", "96", "")]],
}
#: ADRGs whose 2nd letter says surgical (A–J) but which are treatment groups, not operations: MDCR's chemotherapy,
#: radiotherapy, interventional and targeted/immune therapy groups (their lists are 99.25 / 99.28 / 92.2x …). CHS-DRG
#: 2.0 recodes the same groups in the operative range (RK1, RK2, RL1/RL2, RM1, RN1, RN2), which settles the reading.
KIND_OVERRIDES = {
    "RB1": "operative",
    "RB2": "operative",
    "RC1": "operative",
    "RD1": "operative",
    "RE1": "operative",
    "RG1": "operative",
}
#: Sex-restricted MDCs (the national text names them by title: 男性 / 女性生殖系统, 妊娠、分娩及产褥期).
MDC_SEX = {"MDCM": "M", "MDCN": "F", "MDCO": "F"}

_ADRG_HEAD = re.compile(r"^([A-Z]{2}\d) (.+)$")
_MDC_HEAD = re.compile(r"^(MDC[A-Z]) (.+)$")
_CODE_LINE = re.compile(r"^([A-Z]\d{2}[0-9A-Za-z.+*]*|\d{2}\.[0-9A-Za-z.]+)(?:\s+(.*))?$")
_FORMULA = re.compile(r"^或?包含以下主要诊断\+(.+)$")
_TABLE_HEAD = re.compile(r"^手术(?:表)? ?(\d+)：$")


def clean_name(text: str) -> str:
    """Names wrap in the PDF; the text marks the wrap with ``~~``."""
    return text.replace("~~", "").strip()


@dataclass
class Section:
    header: str
    codes: list[str] = field(default_factory=list)


@dataclass
class AdrgText:
    code: str
    name: str
    mdc: str
    sections: list[Section] = field(default_factory=list)
    formulas: list[list[str]] = field(default_factory=list)


@dataclass
class MdcText:
    code: str
    name: str
    principal: list[tuple[str, str]] = field(default_factory=list)  # (code, region)
    adrgs: list[AdrgText] = field(default_factory=list)


def parse_detail(lines: list[str]) -> list[MdcText]:
    """Parse ``4_ADRG_DETAIL.txt`` into MDC blocks with their principal table and ADRG sections."""
    mdcs: list[MdcText] = []
    adrg: AdrgText | None = None
    in_main_table = False
    region = ""
    section: Section | None = None
    for line in lines:
        if m := _MDC_HEAD.match(line):
            if m.group(2).strip() == "主诊表":
                in_main_table, adrg, section, region = True, None, None, ""
                continue
            mdcs.append(MdcText(m.group(1), clean_name(m.group(2))))
            in_main_table, adrg, section, region = False, None, None, ""
            continue
        if m := _ADRG_HEAD.match(line):
            adrg = AdrgText(m.group(1), clean_name(m.group(2)), mdcs[-1].code)
            mdcs[-1].adrgs.append(adrg)
            in_main_table, section = False, None
            continue
        if in_main_table:
            if m := _CODE_LINE.match(line):
                mdcs[-1].principal.append((normalize_code(m.group(1)), region))
            elif line != "包含以下主要诊断：" and not line.startswith("#"):
                region = line  # MDCZ body-region heading (头颈部创伤 …)
            continue
        if adrg is None:
            continue
        if line in SECTION_ROLES or line in CONDITION_HEADERS or _TABLE_HEAD.match(line):
            section = Section(line)
            adrg.sections.append(section)
        elif m := _FORMULA.match(line):
            adrg.formulas.append([p.strip() for p in m.group(1).split("+")])
        elif (m := _CODE_LINE.match(line)) and section is not None:
            section.codes.append(normalize_code(m.group(1)))
        # anything else is the wrapped tail of a name
    return mdcs


def adrg_clauses(adrg: AdrgText) -> list[tuple[int, str, str, str, str]]:
    """Clauses ``(alt, role, section, low, high)`` of one ADRG, by the rules in this module's docstring."""
    named: dict[str, Section] = {}
    clauses: list[tuple[int, str, str, str, str]] = []
    if adrg.formulas:
        for s in adrg.sections:
            if m := _TABLE_HEAD.match(s.header):
                named[f"T{m.group(1)}"] = s
            elif s.header == "主要诊断：":
                named["DX"] = s
            else:
                raise ValueError(f"{adrg.code}: unexpected section {s.header!r} in formula form")
        for alt, parts in enumerate(adrg.formulas, start=1):
            clauses.append((alt, "principal_dx", "DX", "", ""))
            for part in parts:
                m = re.match(r"手术(?:表)? ?(\d+)", part)
                if not m:
                    raise ValueError(f"{adrg.code}: cannot read formula part {part!r}")
                clauses.append((alt, "any_proc", f"T{m.group(1)}", "", ""))
    else:
        for i, s in enumerate(adrg.sections, start=1):
            if s.header in CONDITION_HEADERS:
                clauses.append((1, CONDITION_HEADERS[s.header], "", "", ""))
                continue
            role = SECTION_ROLES[s.header]
            if adrg.mdc == "MDCA" and role == "principal_proc":
                role = "any_proc"  # pre-MDC procedures count wherever they stand on the record
            clauses.append((1, role, f"S{i}", "", ""))
    alts = sorted({c[0] for c in clauses}) or [1]
    extra = NAME_CLAUSES.get(adrg.code, [])
    clauses += [(alt, role, "", low, high) for alt in alts for role, low, high in extra]
    for k, alternative in enumerate(NAME_ALTERNATIVES.get(adrg.code, []), start=max(alts) + 1):
        clauses += [(k, role, "", low, high) for role, low, high in alternative]
    return clauses


def adrg_codes(adrg: AdrgText) -> list[tuple[str, str]]:
    """``(section, code)`` rows of one ADRG, with the section names :func:`adrg_clauses` uses."""
    rows: list[tuple[str, str]] = []
    for i, s in enumerate(adrg.sections, start=1):
        if adrg.formulas:
            m = _TABLE_HEAD.match(s.header)
            name = f"T{m.group(1)}" if m else "DX"
        else:
            name = f"S{i}"
        rows += [(name, code) for code in dict.fromkeys(s.codes)]
    return rows


_CC_RECORD = re.compile(r"([A-Z]\d{2}[0-9A-Za-z.+*]*) (.+?) 表 ?7-(\d+)")


def parse_cc(path: Path) -> list[tuple[str, str]]:
    """``(code, exclusion table)`` pairs of ``5_MCC.txt`` / ``6_CC.txt``.

    The PDF extraction wraps names and runs some pages into one line, with page numbers and the column header in
    between; the records are read from the joined text, each ending with its ``表 7-n``.
    """
    text = " ".join(read_lines(path))
    text = text.replace("疾病编码 疾病名称 排除内容", " ")
    text = re.sub(r"(^| )\d{3,4}(?= )", " ", text)
    return [(normalize_code(c), t) for c, _, t in _CC_RECORD.findall(text)]


def parse_cce(path: Path) -> list[tuple[str, str]]:
    """``(exclusion table, principal dx)`` pairs of ``7_CCE.txt``."""
    rows: list[tuple[str, str]] = []
    table = ""
    for token in " ".join(read_lines(path)).split():
        if m := re.fullmatch(r"7-(\d+)", token):
            table = m.group(1)
        elif table and re.fullmatch(r"[A-Z]\d{2}(\.[0-9A-Za-z]+)?(\+[A-Z]\d{2}(\.[0-9A-Za-z]+)?\*)?", token):
            rows.append((table, normalize_code(token)))
    return rows


def build(raw: Path, out: Path) -> None:
    """Write the complete CHS-DRG 1.1 grouper folder ``out`` from ``raw``."""
    rules = raw / RULES
    mdcs = parse_detail(read_lines(rules / "4_ADRG_DETAIL.txt"))
    report: list[str] = ["# CHS-DRG 1.1 build report", ""]

    mdc_names = dict(line.split(" ", 1) for line in read_lines(rules / "1_MDC.txt"))
    adrg_names = dict(line.split(" ", 1) for line in read_lines(rules / "2_ADRG.txt"))
    drg_lines = [line.split(" ", 1) for line in read_lines(rules / "3_DRG.txt")]

    # -- MDC and principal-diagnosis tables, cross-checked with MDC/*.dat ------------------------------------
    mdc_rows = [(m.code, mdc_names.get(m.code, m.name), MDC_SEX.get(m.code, "")) for m in mdcs]
    mdc_dx_rows = sorted({(m.code, code, region) for m in mdcs for code, region in m.principal})
    report += ["## Counts", "", f"- MDC: {len(mdcs)} (1_MDC.txt: {len(mdc_names)})"]
    dat_diffs = []
    for m in mdcs:
        files = list((rules / "MDC").glob(f"{m.code}_*.dat"))
        dat_codes = set()
        for f in files:
            for line in read_lines(f):
                if cm := _CODE_LINE.match(line):
                    dat_codes.add(normalize_code(cm.group(1)))
        ours = {c for c, _ in m.principal}
        if dat_codes != ours:
            dat_diffs.append(f"{m.code}: detail {len(ours)}, MDC/*.dat {len(dat_codes)}")
    # -- ADRGs -----------------------------------------------------------------------------------------------
    adrgs = [a for m in mdcs for a in m.adrgs]
    kinds = {**dict.fromkeys("ABCDEFGHIJ", "surgical"), **dict.fromkeys("KLMNOPQ", "operative")}
    kind_of = {a.code: KIND_OVERRIDES.get(a.code, kinds.get(a.code[1], "medical")) for a in adrgs}
    adrg_rows = [(a.code, a.mdc, adrg_names.get(a.code, a.name), kind_of[a.code]) for a in adrgs]
    clause_rows = [(a.code, *c) for a in adrgs for c in adrg_clauses(a)]
    code_rows = [(a.code, s, c) for a in adrgs for s, c in adrg_codes(a)]
    missing_names = sorted(set(adrg_names) ^ {a.code for a in adrgs})
    report += [f"- ADRG: {len(adrgs)} (2_ADRG.txt: {len(adrg_names)})", f"- DRG: {len(drg_lines)}"]
    # -- DRGs and 歧义组 ----------------------------------------------------------------------------------------
    drg_rows = [(code, code[:3], name.strip(), code[3]) for code, name in drg_lines]
    orphan_drgs = sorted({r[1] for r in drg_rows} - {a.code for a in adrgs})
    qy_rows = [
        (m.code, f"{m.code[3]}QY", f"{m.name}歧义组")
        for m in mdcs
        if m.code != "MDCA" and any(kind_of[a.code] == "surgical" for a in m.adrgs)
    ]
    # -- CC / MCC / exclusion tables ---------------------------------------------------------------------------
    mcc = parse_cc(rules / "5_MCC.txt")
    cc = parse_cc(rules / "6_CC.txt")
    cce = sorted(set(parse_cce(rules / "7_CCE.txt")), key=lambda r: (int(r[0]), r[1]))
    cc_rows = sorted({(c, "mcc", t) for c, t in mcc} | {(c, "cc", t) for c, t in cc})
    both = sorted({c for c, _ in mcc} & {c for c, _ in cc})
    tables_used = {t for _, _, t in cc_rows}
    tables_defined = {t for t, _ in cce}
    # -- code lists: 医保版 1.0 and 2.0 are both accepted; names from 2.0 first ------------------------------------
    dx_names = read_code_list(raw / ICD / "ICD10医保版v2.0.dat")
    for code, name in read_code_list(raw / ICD / "ICD10医保版v1.0.dat").items():
        dx_names.setdefault(code, name)
    proc_names = read_code_list(raw / ICD / "ICD9CM3医保版v2.0.dat")
    for code, name in read_code_list(raw / ICD / "ICD9CM3医保版v1.0.dat").items():
        proc_names.setdefault(code, name)
    dx_roles = {"principal_dx", "any_dx"}
    table_dx = {c for _, c, _ in mdc_dx_rows} | {c for c, _, _ in cc_rows} | {c for _, c in cce}
    section_role = {(a, s): r for a, _, r, s, _, _ in clause_rows if s}
    table_dx |= {c for a, s, c in code_rows if section_role[(a, s)] in dx_roles}
    table_proc = {c for a, s, c in code_rows if section_role[(a, s)] not in dx_roles}
    dx_only_in_tables = sorted(table_dx - set(dx_names))
    proc_only_in_tables = sorted(table_proc - set(proc_names))
    for code in dx_only_in_tables:
        dx_names[code] = ""
    for code in proc_only_in_tables:
        proc_names[code] = ""
    proc_lists: dict[str, set[str]] = {a.code: set() for a in adrgs}
    for a, s, c in code_rows:
        if section_role[(a, s)] not in dx_roles:
            proc_lists[a].add(c)
    operating_room, or_lines = operating_room_set(
        ((kind_of[a.code], a.mdc, proc_lists[a.code]) for a in adrgs), Categories(raw).category
    )
    grey_20 = sorted(set(read_code_list(raw / ICD / "ICD10医保版v2.0灰码.dat")))
    principal_11 = {c for _, c, _ in mdc_dx_rows}
    grey = [c for c in grey_20 if c not in principal_11]
    grey_listed = [c for c in grey_20 if c in principal_11]

    report += [
        f"- ADRG clause rows: {len(clause_rows)}; ADRG code rows: {len(code_rows)}",
        f"- 歧义组 generated: {len(qy_rows)} ({', '.join(r[1] for r in qy_rows)})",
        f"- MCC rows: {len(mcc)}, CC rows: {len(cc)}, codes in both lists: {len(both)}",
        f"- exclusion tables defined: {len(tables_defined)}, referenced by CC/MCC: {len(tables_used)}",
        f"- accepted diagnosis codes: {len(dx_names)}; procedure codes: {len(proc_names)}",
        f"- grey principal-diagnosis codes (医保版 2.0 灰码 not listed as principal by a 1.1 MDC table): {len(grey)}",
        "",
        "## Reconciliation with the published 26 MDC / 376 ADRG / 628 DRG",
        "",
        f"The tables give {len(mdcs)} MDC, {len(adrgs)} ADRG and {len(drg_lines)} DRG: the published counts.",
        "The 歧义组 (xQY) and 0000 are outcomes of the algorithm, not counted among the 628.",
        "",
        "## Cross-checks",
        "",
        f"- ADRG codes in 2_ADRG.txt but not in the rule text, or the reverse: {missing_names or 'none'}",
        f"- DRGs whose ADRG has no rule: {orphan_drgs or 'none'}",
        f"- principal tables differing from MDC/*.dat: {dat_diffs or 'none'}",
        f"- CC/MCC codes listed as both: {both or 'none'}",
        f"- exclusion tables referenced but not defined: {sorted(tables_used - tables_defined, key=int) or 'none'}",
        f"- table diagnosis codes absent from 医保版 1.0 and 2.0 ({len(dx_only_in_tables)}): "
        + (", ".join(dx_only_in_tables[:40]) + (" …" if len(dx_only_in_tables) > 40 else "") or "none"),
        f"- table procedure codes absent from 医保版 1.0 and 2.0 ({len(proc_only_in_tables)}): "
        + (", ".join(proc_only_in_tables[:40]) + (" …" if len(proc_only_in_tables) > 40 else "") or "none"),
        "",
        "These codes are kept (accepted) because the official tables use them.",
        "",
        "## Grey codes",
        "",
        "The grey list is the 医保版 2.0 one (no 1.1-era list is public). A code the 1.1 MDC principal-diagnosis",
        "tables themselves list is a valid 1.1 principal diagnosis and is not refused as grey: "
        f"{len(grey_listed)} codes left out of `grey_dx.csv`: {', '.join(grey_listed[:40])}"
        + (" …" if len(grey_listed) > 40 else ""),
        "",
        "## Operating-room procedures (`proc_codes.operating_room`)",
        "",
        "Derived from the rules as for 2.0 (see `docs/algorithm.md`): the procedure lists of surgical ADRGs outside",
        "MDCA, minus what an operative ADRG lists and what the 国临 classification calls 治疗性操作 / 诊断性操作.",
        f"MDCR's {', '.join(KIND_OVERRIDES)} carry surgical letters but are chemotherapy, radiotherapy,",
        "interventional and targeted-therapy groups (2.0 recodes them RK1, RK2, RL1/RL2, RM1, RN1, RN2): they are",
        "operative here, so 99.25 / 99.28 / 92.2x never make a 歧义组.",
        "",
        *or_lines,
    ]
    assert not both, f"codes in both CC and MCC lists: {both[:5]}"

    tables = scheme_tables(
        "chs-drg",
        mdc=mdc_rows,
        mdc_dx=mdc_dx_rows,
        adrg=adrg_rows,
        adrg_clause=clause_rows,
        adrg_code=code_rows,
        drg=drg_rows,
        ambiguous=qy_rows,
        cc=cc_rows,
        cc_exclusion=cce,
        dx_codes=sorted(dx_names.items()),
        proc_codes=[(c, n, "1" if c in operating_room else "0") for c, n in sorted(proc_names.items())],
        grey_dx=[(c,) for c in grey],
    )
    write_grouper(
        out,
        {
            "id": "chs-drg-1.1",
            "scheme": "chs-drg",
            "version": "1.1",
            "title": "CHS-DRG 1.1 (国家医疗保障局, 2021)",
            "status": "complete",
            "status_note": "",
            "effective_from": "2021-05-01",
            "dx_code_system": "ICD-10 医保版 1.0 + 2.0",
            "proc_code_system": "ICD-9-CM-3 医保版 1.0 + 2.0",
            "extends": "",
        },
        tables,
        counts={"mdc": 26, "adrg": 376, "drg": 628, "note": ""},
        algorithm=ALGORITHM_DEFAULTS,
        sources=[
            {
                "name": "CHS-DRG 1.1 rule tables, structured from the NHSA PDF",
                "repository": "OpenDRG/DRG_Rules",
                "commit": "ab57a5bda301dab8d3a3d3a956b8e9ac6fa9f061",
                "paths": [f"CHS_DRG_11/{n}" for n in sorted(p.name for p in rules.glob("*.txt"))],
                "licence": "Apache-2.0",
            },
            {
                "name": "ICD-10 / ICD-9-CM-3 医保版 1.0 and 2.0 code lists and grey list",
                "repository": "OpenDRG/DRG_Datas",
                "commit": "164c3f6cf898c2a5a2950513a5a7f658fe23f932",
                "paths": [
                    "ICD/dataset/ICD10医保版v1.0.dat",
                    "ICD/dataset/ICD10医保版v2.0.dat",
                    "ICD/dataset/ICD10医保版v2.0灰码.dat",
                    "ICD/dataset/ICD9CM3医保版v1.0.dat",
                    "ICD/dataset/ICD9CM3医保版v2.0.dat",
                ],
                "licence": "Apache-2.0",
            },
        ],
        extra_files={"BUILD_REPORT.md": "\n".join(report) + "\n"},
    )
