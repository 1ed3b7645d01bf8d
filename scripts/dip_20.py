"""Build ``groupers/dip-2.0`` (the DIP 2.0 grouping rules as data) from the public sources in ``shared/data/raw``.

What the folder holds: the ICD-10 / ICD-9-CM-3 医保版 2.0 code lists; the treatment category (手术 / 介入治疗 /
治疗性操作 / 诊断性操作) of every 医保版 2.0 procedure the sources allow, derived from ``国临版手术操作分类.dat``
through the 国临 3.0 → 医保 2.0 crosswalk; the treatment order used by the comprehensive groups (综合病种); the
auxiliary catalogue (辅助目录) as conditions without coefficients; and the CHS-DRG 2.0 CC/MCC lists that the
severity conditions read. What it does not hold: a DIP catalogue (病种目录库). The national one is not public in
machine-readable form here, so catalogues are supplied by the user or built from history
(``drgpay.dip.build_catalog``). Every finding of the build goes to ``BUILD_REPORT.md``; the folder's
``README.md`` documents the tables and the catalogue format.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from build_common import (
    Table,
    build_main,
    normalize_code,
    read_code_list,
    read_csv,
    scheme_tables,
    short,
    write_grouper,
)

ICD = "opendrg_drg_datas/ICD/dataset"
WEB = "opendrg_web_chs_drg_20"
GUOLIN_CATEGORY = "国临版手术操作分类.dat"
ZHONGSHAN_CATEGORY = "中山手术操作分类.dat"
CROSSWALK = "ICD9CM3国临版v3.0对照医保版v2.0.dat"
GUOLIN_PROCS = "ICD9CM3国临版v3.0.dat"
YIBAO_PROCS = "ICD9CM3医保版v2.0.dat"
YIBAO_DX = "ICD10医保版v2.0.dat"

#: The categories of the source file, highest treatment level first (the order that settles a conflict).
CATEGORIES = ("手术", "介入治疗", "治疗性操作", "诊断性操作")

#: Treatment levels of the comprehensive groups, lowest first: (name, code, categories that raise a case to it).
TREATMENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("保守治疗", "conservative", ()),
    ("诊断性操作", "diagnostic", ("诊断性操作",)),
    ("治疗性操作", "therapeutic", ("治疗性操作",)),
    ("相关手术", "surgical", ("手术", "介入治疗")),
)
LEVEL = {cat: rank for rank, (_, _, cats) in enumerate(TREATMENTS) for cat in cats}

GROUPER = {
    "id": "dip-2.0",
    "scheme": "dip",
    "version": "2.0",
    "title": "DIP 2.0 grouping rules (国家医疗保障局, 2024); the catalogue is supplied by the user or built from history",
    "status": "complete",
    "status_note": (
        "The grouping rules are complete: code lists, procedure treatment categories (gaps listed in "
        "BUILD_REPORT.md), treatment order and the auxiliary-catalogue conditions. The national DIP 2.0 "
        "catalogue (病种目录库) itself is not public in machine-readable form here: grouping needs a catalogue "
        "loaded with drgpay.dip.load_catalog (a city's) or built with drgpay.dip.build_catalog (from history). "
        "Auxiliary coefficients are local policy and are supplied with the catalogue."
    ),
    "effective_from": "2024-07-23",
    "dx_code_system": "ICD-10 医保版 2.0",
    "proc_code_system": "ICD-9-CM-3 医保版 2.0",
    "extends": "",
}
ALGORITHM: dict[str, object] = {
    # a conservative core group (empty procedure expression) admits cases whose treatment is at most this
    "conservative_max_treatment": "保守治疗",
}
SOURCES: list[dict[str, object]] = [
    {
        "name": "ICD-10 / ICD-9-CM-3 医保版 2.0 code lists, 国临 3.0 → 医保 2.0 crosswalk, procedure categories",
        "repository": "OpenDRG/DRG_Datas",
        "commit": "164c3f6cf898c2a5a2950513a5a7f658fe23f932",
        "paths": [
            f"ICD/dataset/{YIBAO_DX}",
            f"ICD/dataset/{YIBAO_PROCS}",
            f"ICD/dataset/{CROSSWALK}",
            f"ICD/dataset/{GUOLIN_CATEGORY}",
            f"ICD/dataset/{ZHONGSHAN_CATEGORY}",
            f"ICD/dataset/{GUOLIN_PROCS}",
        ],
        "licence": "Apache-2.0",
    },
    {
        "name": "CHS-DRG 2.0 CC/MCC lists and exclusion tables (the severity conditions of the auxiliary catalogue)",
        "repository": "OpenDRG/OpenDRG.github.io",
        "commit": "e0d74f2d3e8810d1fed0a6cee2fc0377504fffb7",
        "paths": ["1735.d134c66b.js"],
        "licence": "none stated (public, terms unclear)",
    },
]

#: The auxiliary catalogue: (aux, type, rank, name, note). Within a type the lowest rank that holds wins.
#: Coefficients are empty: they are local policy (see README.md, "Auxiliary catalogue").
AUXILIARY: tuple[tuple[str, str, int, str, str], ...] = (
    (
        "severity_mcc",
        "severity",
        1,
        "伴严重并发症或合并症 (MCC)",
        "structure: DIP 2.0; list: CHS-DRG 2.0 MCC",
    ),
    ("severity_cc", "severity", 2, "伴一般并发症或合并症 (CC)", "structure: DIP 2.0; list: CHS-DRG 2.0 CC"),
    ("age_0_28d", "age", 1, "0–28 天", "DIP 2.0 age band"),
    ("age_29d_1y", "age", 2, "29 天–1 岁", "DIP 2.0 age band; needs age_days"),
    ("age_1_6", "age", 3, "1–6 岁", "DIP 2.0 age band"),
    ("age_7_17", "age", 4, "7–17 岁", "DIP 2.0 age band"),
    ("age_65_plus", "age", 5, "65 岁及以上", "DIP 2.0 age band"),
    (
        "tumour_metastasis",
        "tumour",
        1,
        "恶性肿瘤伴转移",
        "structure: DIP 2.0; codes: drgpay (C00–C97 principal with C77–C79 secondary, or C77–C79 principal)",
    ),
    (
        "tumour_radiochemo",
        "tumour",
        2,
        "恶性肿瘤放疗或化疗",
        "structure: DIP 2.0; codes: drgpay (C00–C97 principal with 92.2/92.3 radiotherapy or 99.25 chemotherapy)",
    ),
    ("death", "death", 1, "死亡 (离院方式 5)", "structure: DIP 2.0; discharge_type 5"),
)
#: Conditions: (aux, alt, role, codes, low, high); clauses of one (aux, alt) must all hold, any alt admits.
AUXILIARY_CLAUSES: tuple[tuple[str, int, str, str, str, str], ...] = (
    ("severity_mcc", 1, "secondary_severity", "", "2", "2"),
    ("severity_cc", 1, "secondary_severity", "", "1", "1"),
    ("age_0_28d", 1, "age_days", "", "0", "28"),
    ("age_29d_1y", 1, "age_days", "", "29", "365"),
    ("age_1_6", 1, "age", "", "1", "6"),
    ("age_7_17", 1, "age", "", "7", "17"),
    ("age_65_plus", 1, "age", "", "65", ""),
    ("tumour_metastasis", 1, "principal_dx", "C00-C97", "", ""),
    ("tumour_metastasis", 1, "any_secondary_dx", "C77-C79", "", ""),
    ("tumour_metastasis", 2, "principal_dx", "C77-C79", "", ""),
    ("tumour_radiochemo", 1, "principal_dx", "C00-C97", "", ""),
    ("tumour_radiochemo", 1, "any_procedure", "92.2|92.3|99.25", "", ""),
    ("death", 1, "discharge_type", "", "5", "5"),
)


# -- readers ---------------------------------------------------------------------------------------------


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """``(first, rest)`` per line of a ``.dat`` source, split on the first space; lines kept in order."""
    out = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if not line.strip():
            continue
        first, _, rest = line.partition(" ")
        out.append((first.strip(), rest.strip()))
    return out


# -- procedure categories ----------------------------------------------------------------------------------


class Categories:
    """The category of each 医保版 2.0 procedure, and what the report needs to say about how it was found."""

    def __init__(self, raw: Path):
        icd = raw / ICD
        lines = read_pairs(icd / GUOLIN_CATEGORY)
        self.source_lines = len(lines)
        unknown = sorted({cat for _, cat in lines if cat not in CATEGORIES})
        if unknown:
            raise ValueError(f"{GUOLIN_CATEGORY}: unknown categories {unknown}")
        self.guolin: dict[str, str] = {}
        self.duplicates: list[str] = []
        blank_at: list[int] = []
        for i, (code, cat) in enumerate(lines):
            if not code:
                blank_at.append(i)
                continue
            code = normalize_code(code)
            if code in self.guolin and self.guolin[code] != cat:
                self.duplicates.append(code)
            self.guolin.setdefault(code, cat)
        self.crosswalk: dict[str, str] = {}
        self.crosswalk_multi: list[str] = []
        for src, dst in read_pairs(icd / CROSSWALK):
            src, dst = normalize_code(src), normalize_code(dst)
            if src in self.crosswalk and self.crosswalk[src] != dst:
                self.crosswalk_multi.append(src)
            self.crosswalk.setdefault(src, dst)
        self.recovered = self._recover_blank_lines(icd, lines, blank_at)
        self.blank_lines = len(blank_at)
        self.yibao = read_code_list(icd / YIBAO_PROCS)
        self.guolin_names = read_code_list(icd / GUOLIN_PROCS)
        self.no_category = sorted(
            c for c in self.crosswalk if c not in self.guolin and c not in self.recovered
        )
        self.not_in_crosswalk = sorted(c for c in self.guolin if c not in self.crosswalk)
        sources: dict[str, set[str]] = defaultdict(set)
        self.origin: dict[str, set[str]] = defaultdict(set)
        for src, dst in self.crosswalk.items():
            cat = self.guolin.get(src) or self.recovered.get(src)
            if cat is None:
                continue
            sources[dst].add(cat)
            self.origin[dst].add("recovered" if src in self.recovered else "guolin")
        self.targets_unknown = sorted(d for d in sources if d not in self.yibao)
        self.conflicts: dict[str, set[str]] = {d: c for d, c in sources.items() if len(c) > 1}
        self.category: dict[str, str] = {}
        for code, cats in sources.items():
            if code in self.yibao:
                # highest treatment level; within a level, the source order of CATEGORIES (手术 before 介入治疗)
                self.category[code] = min(cats, key=lambda c: (-LEVEL[c], CATEGORIES.index(c)))
        reached = set(self.crosswalk.values())
        self.gaps_unmapped = sorted(c for c in self.yibao if c not in reached)
        self.gaps_uncategorised = sorted(c for c in self.yibao if c in reached and c not in self.category)

    def _recover_blank_lines(
        self, icd: Path, lines: list[tuple[str, str]], blank_at: list[int]
    ) -> dict[str, str]:
        """Codes of the category lines that lost their code, where the evidence is unambiguous.

        ``中山手术操作分类.dat`` has as many lines as the 国临 file and mostly the same order. A blank line's code
        is taken from the 中山 line at the same position only when that 中山 code is one of the crosswalk's 国临
        codes that have no category line, and the 中山 line carries the same category as the blank line. Other
        blank lines are not recovered; their codes stay in the report's gaps.
        """
        zhongshan = read_pairs(icd / ZHONGSHAN_CATEGORY)
        self.unrecovered: list[str] = []
        if len(zhongshan) != len(lines):
            self.unrecovered = [f"line {i + 1}" for i in blank_at]
            return {}
        missing = {c for c in self.crosswalk if c not in self.guolin}
        found: dict[str, str] = {}
        for i in blank_at:
            code, cat = normalize_code(zhongshan[i][0]), zhongshan[i][1]
            if code in missing and cat == lines[i][1] and code not in found:
                found[code] = cat
            else:
                self.unrecovered.append(f"line {i + 1} ({lines[i][1]}; 中山 has {code} {cat} there)")
        return found

    def rows(self) -> list[tuple[str, str, str]]:
        """``procedure_category.csv`` rows: proc, category, source."""
        out = []
        for code in sorted(self.category):
            origin = self.origin[code]
            source = "guolin" if origin == {"guolin"} else "guolin_recovered"
            if code in self.conflicts:
                source = "guolin_conflict"
            out.append((code, self.category[code], source))
        return out


# -- CC / MCC -------------------------------------------------------------------------------------------------


def read_cc(raw: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """``cc.csv`` and ``cc_exclusion.csv`` rows from the CHS-DRG 2.0 lists (same format as the CHS-DRG folder)."""
    rows: dict[str, tuple[str, str, str]] = {}
    for level, name in (("cc", "cc_exclusion_table.csv"), ("mcc", "mcc_exclusion_table.csv")):
        for rec in read_csv(raw / WEB / name):
            code, table = normalize_code(rec["dx_code"]), rec["exclusion_table"]
            if code in rows:
                raise ValueError(f"{code} is listed twice in the CC/MCC lists")
            rows[code] = (code, level, table)
    cce = sorted(
        {
            (rec["exclusion_table"], normalize_code(rec["principal_dx_code"]))
            for rec in read_csv(raw / WEB / "cce_principal_dx_exclusion_table.csv")
        },
        key=lambda r: (int(r[0]), r[1]),
    )
    return sorted(rows.values()), cce


# -- report ---------------------------------------------------------------------------------------------------


def report(cats: Categories, tables: Sequence[Table]) -> list[str]:
    """The text of ``BUILD_REPORT.md``."""
    by_cat = Counter(cats.category.values())
    by_level = Counter(TREATMENTS[LEVEL[c]][0] for c in cats.category.values())
    conflicts = [
        f"{code} ({'/'.join(sorted(found, key=CATEGORIES.index))} → {cats.category[code]})"
        for code, found in sorted(cats.conflicts.items())
    ]
    same_code = [
        f"{c} {cats.yibao[c]} (the crosswalk sends 国临 {c} {cats.guolin_names.get(c, '?')} to {cats.crosswalk[c]})"
        for c in cats.gaps_unmapped
        if c in cats.guolin
    ]
    chapters = Counter(c[:2] for c in cats.gaps_unmapped)
    gaps = cats.gaps_unmapped + cats.gaps_uncategorised
    return [
        "# DIP 2.0 build report",
        "",
        "Written by `scripts/dip_20.py`; the same raw files give the same text.",
        "",
        "## Counts",
        "",
        *[f"- `{t.name}`: {len(t.rows)} rows" for t in tables],
        "",
        "## Procedure categories (`procedure_category.csv`)",
        "",
        f"Derived from `{GUOLIN_CATEGORY}` (国临 3.0 codes) through `{CROSSWALK}` to ICD-9-CM-3 医保版 2.0.",
        "",
        f"- Category file: {cats.source_lines} lines, {len(cats.guolin)} distinct codes; codes listed twice with "
        f"different categories: {short(cats.duplicates)}",
        f"- Crosswalk: {len(cats.crosswalk)} 国临 codes → {len(set(cats.crosswalk.values()))} 医保 2.0 codes; "
        f"国临 codes with more than one target: {short(cats.crosswalk_multi)}; targets not in the 医保 2.0 list: "
        f"{short(cats.targets_unknown)}",
        f"- Category lines whose code is missing (the line holds only a category): {cats.blank_lines}. "
        f"`{ZHONGSHAN_CATEGORY}` has the same number of lines in mostly the same order; a blank line's code is "
        "taken from the 中山 line at the same position when that code is one of the crosswalk's 国临 codes without "
        "a category line and the 中山 line has the same category. Recovered: "
        f"{len(cats.recovered)} (their 医保 2.0 targets carry `source = guolin_recovered`): "
        + short(sorted(f"{c} {cat}" for c, cat in cats.recovered.items()), 60),
        f"- Blank lines not recovered: {short(cats.unrecovered)}",
        f"- 国临 codes in the crosswalk without a category after that: {short(cats.no_category)}",
        f"- 国临 codes with a category but not in the crosswalk: {short(cats.not_in_crosswalk)}",
        f"- 医保 2.0 codes with a category: {len(cats.category)} of {len(cats.yibao)}",
        "  - by category: " + ", ".join(f"{c}: {by_cat[c]}" for c in CATEGORIES),
        "  - by treatment level: " + ", ".join(f"{t}: {by_level[t]}" for t, _, _ in TREATMENTS[1:]),
        "",
        "### Conflicts",
        "",
        "Several 国临 codes map to one 医保 2.0 code with different categories. The highest treatment level wins "
        "(相关手术 > 治疗性操作 > 诊断性操作); within 相关手术, 手术 is written before 介入治疗. These rows carry "
        "`source = guolin_conflict`.",
        "",
        f"- {len(conflicts)}: {short(conflicts, 100)}",
        "",
        "### Gaps: 医保 2.0 codes without a category",
        "",
        "These codes are absent from `procedure_category.csv`. A procedure without a category does not raise a "
        "case's treatment level (it counts as 保守治疗 for the comprehensive groups); it still matches catalogue "
        "procedure expressions. A local variant can add rows (the table is additive).",
        "",
        f"- Total: {len(gaps)}",
        f"- Not reached by the crosswalk (医保 2.0 codes with no 国临 3.0 origin): {len(cats.gaps_unmapped)}; "
        "by first two digits: " + ", ".join(f"{k}: {chapters[k]}" for k in sorted(chapters)),
        "  (90.xx and 91.xx are laboratory examinations of specimens.)",
        f"- Of these, codes that also exist in the 国临 category file, whose category is not used because the "
        f"crosswalk maps that 国临 code to another 医保 code: {short(same_code)}",
        f"- Reached by the crosswalk but the 国临 codes have no category: {short(cats.gaps_uncategorised)}",
        "",
        "Full list of the codes not reached by the crosswalk:",
        "",
        *[f"- {c} {cats.yibao[c]}" for c in cats.gaps_unmapped],
        "",
        "## Auxiliary catalogue (`auxiliary.csv`, `auxiliary_clause.csv`)",
        "",
        f"- {len(AUXILIARY)} items in {len({a[1] for a in AUXILIARY})} types "
        f"({', '.join(dict.fromkeys(a[1] for a in AUXILIARY))}); {len(AUXILIARY_CLAUSES)} clauses",
        "- `coefficient` is empty everywhere: coefficients are local policy, supplied with the catalogue.",
        "- Severity reads `cc.csv` / `cc_exclusion.csv`, the CHS-DRG 2.0 CC/MCC lists and exclusion tables "
        "(the same data as `groupers/chs-drg-2.0`). No DIP-specific severity list is in the public sources.",
        "",
        "## Not available",
        "",
        "- The national DIP 2.0 catalogue (病种目录库: core, basic and comprehensive groups with scores) is not in "
        "the sources. Load a city's catalogue or build one from history (see README.md).",
        "- Official auxiliary coefficients: local policy, never invented here.",
    ]


# -- build ----------------------------------------------------------------------------------------------------


def build(raw: Path, out: Path) -> None:
    """Write the DIP 2.0 rules folder ``out`` from the raw sources in ``raw``."""
    cats = Categories(raw)
    dx_names = read_code_list(raw / ICD / YIBAO_DX)
    cc_rows, cce_rows = read_cc(raw)
    tables = scheme_tables(
        "dip",
        dx_codes=sorted(dx_names.items()),
        proc_codes=sorted(cats.yibao.items()),
        procedure_category=cats.rows(),
        treatment_order=[(name, rank, code, "|".join(c)) for rank, (name, code, c) in enumerate(TREATMENTS)],
        auxiliary=[(aux, typ, rank, name, "", note) for aux, typ, rank, name, note in AUXILIARY],
        auxiliary_clause=AUXILIARY_CLAUSES,
        cc=cc_rows,
        cc_exclusion=cce_rows,
    )
    write_grouper(
        out,
        GROUPER,
        tables,
        algorithm=ALGORITHM,
        sources=SOURCES,
        extra_files={
            "BUILD_REPORT.md": "\n".join(report(cats, tables)) + "\n",
            "README.md": README,
        },
    )


README = """# DIP 2.0 (`dip-2.0`)

The DIP (按病种分值付费) grouping **rules** as data. Written by `scripts/dip_20.py` from the public sources in
`shared/data/raw` (see `grouper.toml`, `[[sources]]`); do not edit by hand. `BUILD_REPORT.md` lists what the build
found: the procedure-category gaps, the conflicts and how they were settled.

This folder holds **no catalogue** (病种目录库). The national DIP 2.0 catalogue is not public in machine-readable
form among the sources, so grouping needs a catalogue supplied by the user (a city's) or built from history
(`drgpay.dip.build_catalog`, `drgpay dip build-catalog`). Scores, point values and the auxiliary coefficients are
local policy; nothing here invents them.

## Tables

| file | columns |
|---|---|
| `dx_codes.csv` | `dx,name` (*additive*) |
| `proc_codes.csv` | `proc,name` (*additive*) |
| `procedure_category.csv` | `proc,category,source` (*additive*) |
| `treatment_order.csv` | `treatment,rank,code,categories` |
| `auxiliary.csv` | `aux,type,rank,name,coefficient,note` |
| `auxiliary_clause.csv` | `aux,alt,role,codes,low,high` |
| `cc.csv`, `cc_exclusion.csv` | as in CHS-DRG: `dx,level,exclusion_table`; `exclusion_table,principal_dx` (*additive*) |

- `dx_codes.csv`, `proc_codes.csv`: ICD-10 医保版 2.0 and ICD-9-CM-3 医保版 2.0. A principal diagnosis not in
  the list makes a case `ungroupable` (`unknown_principal_dx`); procedures not in the list are ignored.
- `procedure_category.csv`: the category of a procedure, 手术, 介入治疗, 治疗性操作 or 诊断性操作. `source` is
  `guolin` (国临版手术操作分类 through the 国临 3.0 → 医保 2.0 crosswalk), `guolin_recovered` (a category line
  that lost its code, recovered by position; see the report) or `guolin_conflict` (several 国临 codes with
  different categories: the highest treatment level wins). A procedure absent from the table has no category
  and does not raise a case's treatment level.
- `treatment_order.csv`: the treatment levels of the comprehensive groups, lowest first: 保守治疗 (rank 0, no
  category) < 诊断性操作 < 治疗性操作 < 相关手术 (手术 and 介入治疗). `categories` is `|`-separated.
- `auxiliary.csv`: the auxiliary catalogue (辅助目录), one item per row. Within a `type` the item of lowest
  `rank` that holds applies. `coefficient` is empty here (local policy): a local variant may fill it as a
  default, and a catalogue's coefficient table overrides it.
- `auxiliary_clause.csv`: the items' conditions. Clauses with the same `(aux, alt)` must all hold; any `alt`
  admits.
- `cc.csv`, `cc_exclusion.csv`: the CHS-DRG 2.0 CC/MCC lists and exclusion tables, read by the
  `secondary_severity` role.

`[algorithm] conservative_max_treatment` (a treatment name or code, nationally 保守治疗): a conservative core
group (empty procedure expression) admits a case only when its treatment level is at most this.

### Auxiliary-condition roles (`auxiliary_clause.role`)

| role | holds when |
|---|---|
| `age` | `low <= age <= high` (years) |
| `age_days` | `low <= age_days <= high` |
| `discharge_type` | `low <= discharge_type <= high` (5 = death) |
| `secondary_severity` | the case's severity level is in `[low, high]` (0 none, 1 CC, 2 MCC) |
| `principal_dx` | the principal diagnosis falls under an item of `codes` |
| `any_secondary_dx` | a known secondary diagnosis falls under an item |
| `any_procedure` | a known procedure falls under an item |

The severity level is that of the most severe secondary diagnosis on `cc.csv` whose exclusion table does not
hold the principal diagnosis. `codes` is `|`-separated: a code prefix (`C77`, `92.2`) or, for diagnoses, a
range of 类目 (`C00-C97`). Numeric roles use `low` / `high` (an empty bound is open); code roles use `codes`.

National structure and local numbers: the dimensions (severity by secondary diagnoses, the age bands 0–28 days,
29 days–1 year, 1–6, 7–17, ≥ 65, tumour severity, death) follow the DIP 2.0 technical specification; the code
lists for severity (the CHS-DRG 2.0 CC/MCC lists) and tumour severity (C00–C97 with C77–C79; radiotherapy 92.2/92.3
and chemotherapy 99.25) are drgpay's rendering, noted in `auxiliary.csv` `note`; the coefficients are local.

## Catalogue format

A catalogue is a CSV (UTF-8, BOM allowed, or GB18030), a Parquet file or a DataFrame, one row per group:

| column | required | content |
|---|---|---|
| `group` | yes | unique group id |
| `name` | | free text |
{dx_key_row}
| `procedures` | yes | procedure expression, see below; may be empty |
{kind_row}
| `treatment` | comprehensive, fallback | the treatment level the group takes |
| `score` | | 分值 |
| `mean_cost` | | 次均费用 (yuan) |
| `cases` | | number of cases behind the score |

Procedure expressions: `/` = or, `+` = and, a trailing `*` = prefix (`51.23*`); an empty expression is a
conservative-treatment group (core/basic) and the only one a comprehensive group takes. Kinds may be written
核心/基层/综合; treatments as 保守治疗, 诊断性操作, 治疗性操作, 相关手术 or `conservative`, `diagnostic`,
`therapeutic`, `surgical`.

Common Chinese headers are recognised (病种编码, 病种名称, 主要诊断编码, 手术操作编码, 病种类型, 治疗方式, 分值, 次均费用,
例数); other columns are ignored. Rejected with file, line and column: an empty or duplicate id, a key that is
not a 亚目 or 类目, an unknown kind or treatment, a comprehensive group without treatment or with procedures, a
treatment on a core/basic group, a malformed expression or one whose `+` components overlap (one procedure would
count twice), two rows with the same rule, a negative or non-numeric score, cost or case count, fallback groups
whose 类目 ranges overlap at one treatment level.

A city's published catalogue in its own layout (the Pingdingshan 2025 workbook, for instance) is read as it is
through a declarative layout and `drgpay dip import-catalog`: see `docs/dip.md`, section 2.1.

An optional TOML file beside the CSV (`CAT.toml` for `CAT.csv`) carries provenance and the auxiliary coefficients:

```toml
[catalog]
id = "city-2024"
title = "…"
table = "CAT.csv"          # needed when the TOML is the file passed to load_catalog

[auxiliary]
file = "CAT.aux.csv"       # columns aux, coefficient and optionally dip_group (empty = every group)
combine = "product"        # product | sum (1 + Σ(c − 1)) | max
```

### Matching and tie-breaks

A case's candidates are the catalogue rows under its principal diagnosis's 亚目 and 类目: core/basic groups whose
every `+` component is matched by one of its procedures; conservative core/basic groups when its treatment level
is at most `conservative_max_treatment`; the comprehensive group at exactly its treatment level (the highest
level among its procedures). The best candidate has, in this order: more `+` components; more matched procedures
(distinct codes matching any item); kind core > basic > comprehensive; a 亚目 key over a 类目 key; the smaller
group id. No candidate: `ungroupable` (`dx_not_in_catalog` or `no_matching_group`). See `docs/dip.md`.
""".format(
    dx_key_row="| `dx_key` | yes | diagnosis 亚目 (`K80.1`) or 类目 (`K80`); `K801` is read as `K80.1`; for a `fallback`"
    " group a list of 类目 ranges (`A00-B99`) |",
    kind_row="| `kind` | yes | `core` (核心病种), `basic` (基层病种), `comprehensive` (综合病种) or "
    "`fallback` (未入组病例的分组: takes a case only when no other group does) |",
)


if __name__ == "__main__":
    build_main(build, "dip-2.0")
