"""Build ``groupers/shanghai-drg-2.0``: Shanghai DRG 2.0, a city variant that ``extends`` ``chs-drg-2.0``.

Shanghai keeps the national 2.0 MDCs, ADRG rules, CC / MCC tables and codes, and splits the 409 ADRGs into its own
1,534 DRGs (``shared/data/raw/SOURCES.md`` section 8: ``versions/shanghai-drg-2.0/generated/drg_rules.json``,
``raw/DRG.dat``, ``raw/subgroup_patches.json``). So the folder holds only ``drg.csv`` (replacing the national list
whole) and ``drg_list.csv`` (the code and prefix lists the splits name); everything else comes from the base.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from build_common import Table, build_main, normalize_code, read_lines, short, write_grouper
from drgpay.definitions.tables import TABLE_SPECS

VERSION = "qweaszxcdf_chs_drg/src/data/versions/shanghai-drg-2.0"
#: A list the source names without codes: Shanghai's 新技术新项目 (new technique / new project) catalogue.
NEW_TECHNIQUE_LIST = "shanghai_new_technique"
#: drg_rules.json condition → (split condition, the field of the entry holding its codes, list-name suffix).
LIST_CONDITIONS = {
    "SPECIFIC_DIAGNOSIS_PREFIX": ("dx_prefix", "diagnosisPrefixes", "dxp"),
    "SPECIFIC_PROCEDURE_PREFIX": ("proc_prefix", "procedurePrefixes", "procp"),
    "SPECIFIC_DIAGNOSIS": ("dx_code", "diagnosisCodes", "dx"),
    "SPECIFIC_PROCEDURE": ("proc_code", "procedureCodes", "proc"),
}
PLAIN = {
    "WITH_MCC": "mcc",
    "WITH_CC": "cc",
    "ADRG_ONLY": "always",
    "DEATH": "death",
    "AGE_LT_18": "age_lt 18",
    "AGE_GE_65": "age_ge 65",
    "NEW_TECHNIQUE": f"new_technique {NEW_TECHNIQUE_LIST}",
}
GROUPER = {
    "id": "shanghai-drg-2.0",
    "scheme": "chs-drg",
    "version": "2.0-shanghai",
    "title": "上海市 DRG 2.0 (on CHS-DRG 2.0)",
    "status": "complete",
    "status_note": "",
    "effective_from": "",
    "dx_code_system": "",
    "proc_code_system": "",
    "extends": "chs-drg-2.0",
}
COUNTS = {"mdc": 26, "adrg": 409, "drg": 1534, "note": ""}
SOURCES: list[dict[str, object]] = [
    {
        "name": "Shanghai DRG 2.0 DRG list and split rules",
        "repository": "qweaszxcdf/CHS-DRG-Grouper",
        "commit": "0fb16d4ac29a101ecf42728392034e5a4e93979e",
        "paths": [
            "src/data/versions/shanghai-drg-2.0/generated/drg_rules.json",
            "src/data/versions/shanghai-drg-2.0/raw/DRG.dat",
            "src/data/versions/shanghai-drg-2.0/raw/subgroup_patches.json",
        ],
        "licence": "Apache-2.0",
    }
]


def _codes(values: Sequence[object]) -> tuple[str, ...]:
    """Codes or prefixes of the source, normalised (a prefix such as ``00.6`` or ``G50.0`` stays as given)."""
    return tuple(dict.fromkeys(normalize_code(str(v)) for v in values))


def convert(
    entries: Sequence[dict[str, object]], shared: dict[str, list[str]]
) -> tuple[list[tuple[str, str, str, str]], dict[str, tuple[str, ...]]]:
    """``drg.csv`` rows and the named lists, from the source's entries in order.

    A DRG's codes become the list ``<DRG code>:<kind>``, or the shared list of ``subgroup_patches.json`` they equal.
    ``NO_CC`` is ``no_cc`` in an ADRG that has a ``WITH_CC`` DRG, else the rest after the MCC DRG (``always``), as
    for 3.0 (no Shanghai ADRG needs the second reading)."""
    by_content = {frozenset(_codes(codes)): name for name, codes in shared.items()}
    with_cc = {str(e["adrgCode"]) for e in entries if "WITH_CC" in e["conditions"]}  # type: ignore[operator]
    lists: dict[str, tuple[str, ...]] = {NEW_TECHNIQUE_LIST: ("",)}
    rows = []
    for entry in entries:
        drg, adrg = str(entry["drgCode"]), str(entry["adrgCode"])
        parts = []
        for condition in entry["conditions"]:  # type: ignore[attr-defined]
            if condition in LIST_CONDITIONS:
                name, field, suffix = LIST_CONDITIONS[condition]
                codes = _codes(entry[field])  # type: ignore[arg-type]
                if not codes:
                    raise ValueError(f"{drg}: {condition} without codes")
                list_name = by_content.get(frozenset(codes), f"{drg}:{suffix}")
                lists[list_name] = codes
                parts.append(f"{name} {list_name}")
            elif condition == "NO_CC":
                parts.append("no_cc" if adrg in with_cc else "always")
            elif condition in PLAIN:
                parts.append(PLAIN[str(condition)])
            else:
                raise ValueError(f"{drg}: unknown condition {condition!r}")
        kept = [p for p in parts if p != "always"] or ["always"]
        rows.append((drg, adrg, str(entry["drgName"]).strip(), " & ".join(kept)))
    return rows, lists


def build(raw: Path, out: Path) -> None:
    """Write the Shanghai DRG 2.0 variant folder ``out`` from the raw sources in ``raw``."""
    entries = json.loads((raw / VERSION / "generated" / "drg_rules.json").read_text(encoding="utf-8-sig"))
    patches = json.loads((raw / VERSION / "raw" / "subgroup_patches.json").read_text(encoding="utf-8-sig"))
    listed = dict(line.split("\t", 1) for line in read_lines(raw / VERSION / "raw" / "DRG.dat"))
    if set(listed) != {str(e["drgCode"]) for e in entries}:
        raise ValueError("DRG.dat and drg_rules.json list different DRGs")
    rows, lists = convert(entries, patches["shared"])
    specs = TABLE_SPECS["chs-drg"]
    list_rows = sorted((name, code) for name, codes in lists.items() for code in codes)
    tables = [
        Table("drg.csv", specs["drg.csv"].columns, rows),
        Table("drg_list.csv", specs["drg_list.csv"].columns, list_rows),
    ]
    conditions = Counter(str(c) for e in entries for c in e["conditions"])
    splits = Counter(part.split(" ")[0] for r in rows for part in r[3].split(" & "))
    per_adrg = Counter(r[1] for r in rows)
    renamed = [f"{d}: {n} / DRG.dat: {listed[d]}" for d, _, n, _ in rows if listed[d].strip() != n]
    shared_used = sorted(set(lists) & set(patches["shared"]))
    new_tech = [r[0] for r in rows if NEW_TECHNIQUE_LIST in r[3]]
    patch_names = sorted(patches["patches"])
    by_adrg: dict[str, list[str]] = defaultdict(list)
    for drg, adrg, _, _ in rows:
        by_adrg[adrg].append(drg)
    report = [
        "# Shanghai DRG 2.0 build report",
        "",
        'Written by `scripts/shanghai_drg_20.py`. The folder `extends = "chs-drg-2.0"`: the national MDCs, ADRG',
        "rules, CC / MCC / exclusion tables and code lists apply unchanged; `drg.csv` replaces the national DRG",
        "list whole and `drg_list.csv` adds the lists its splits name.",
        "",
        "## Counts",
        "",
        f"- DRGs: {len(rows)} in {len(per_adrg)} ADRGs (national 2.0: 634 in 409); most DRGs in one ADRG: "
        + ", ".join(f"{a} {n}" for a, n in per_adrg.most_common(5)),
        f"- Named lists: {len(lists)}; `drg_list.csv` rows: {len(list_rows)}",
        "- Conditions in the source: " + ", ".join(f"{k}: {conditions[k]}" for k in sorted(conditions)),
        "- As split conditions: " + ", ".join(f"{k}: {splits[k]}" for k in sorted(splits)),
        f"- DRG names that differ between drg_rules.json and DRG.dat: {short(renamed)}",
        "",
        "## Readings",
        "",
        "- Each ADRG's DRGs are tried in the source's order; the first whose conditions all hold is taken.",
        "- `SPECIFIC_DIAGNOSIS_PREFIX` / `SPECIFIC_DIAGNOSIS`: the principal diagnosis starts with a listed prefix",
        "  / is a listed code (`dx_prefix`, `dx_code`); `SPECIFIC_PROCEDURE_PREFIX` / `SPECIFIC_PROCEDURE`: a",
        "  procedure of the record starts with a listed prefix / is a listed code (`proc_prefix`, `proc_code`).",
        "  Both may stand together (the patched groups: prefix and code list).",
        "- `DEATH`: discharge_type 5 (死亡); `AGE_LT_18`: age < 18; `AGE_GE_65`: age ≥ 65 (whole years).",
        "- `WITH_MCC` `mcc`, `WITH_CC` `cc` (CC or MCC), `NO_CC` `no_cc` (every Shanghai ADRG with a `NO_CC` DRG",
        "  also has a `WITH_CC` one), `ADRG_ONLY` `always`.",
        f"- `NEW_TECHNIQUE` (使用新技术新项目, {len(new_tech)} DRGs): Shanghai's list of new techniques and projects",
        f"  is not in the source. The list `{NEW_TECHNIQUE_LIST}` is declared empty, so these DRGs take no",
        "  record until a variant of this folder adds the bureau's codes to `drg_list.csv` (additive):",
        "  " + short(new_tech, 30),
        f"- Shared lists of `subgroup_patches.json` named by the splits: {short(shared_used)}; the "
        f"{len(patch_names)} patches ({short(patch_names, 20)}) are already merged into `drg_rules.json`'s codes",
        "  (checked: every patched DRG carries the patch's codes there).",
    ]
    _check_patches(entries, patches["patches"])
    write_grouper(
        out,
        GROUPER,
        tables,
        counts=COUNTS,
        sources=SOURCES,
        extra_files={"BUILD_REPORT.md": "\n".join(report) + "\n"},
    )


def _check_patches(entries: Sequence[dict[str, object]], patches: dict[str, dict[str, list[str]]]) -> None:
    """Every patch's codes are in its DRG's entry (the generated rules include the patches)."""
    by_code = {str(e["drgCode"]): e for e in entries}
    for name, patch in patches.items():
        entry = by_code.get(name)
        if entry is None:
            raise ValueError(f"patch {name} names no DRG of drg_rules.json")
        for field in ("diagnosisCodes", "procedureCodes", "diagnosisPrefixes", "procedurePrefixes"):
            if not set(patch.get(field, [])) <= set(entry[field]):  # type: ignore[call-overload]
                raise ValueError(f"patch {name}: {field} not in drg_rules.json")


if __name__ == "__main__":
    build_main(build, "shanghai-drg-2.0")
