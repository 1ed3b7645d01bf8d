"""Table schemas of each scheme and the checks a definition must pass at load.

Each check reports the first problem with file, line (header = line 1) and column, so a person can open the file
and fix it. Cross-reference checks run on the merged tables (after a variant's overrides).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import pandas as pd

from drgpay.definitions.errors import DefinitionError

__all__ = [
    "CROSS_CHECKS",
    "LEGACY_SPLITS",
    "SPLIT_CONDITIONS",
    "TABLE_SPECS",
    "TableSpec",
    "check_table",
    "parse_split",
]

DX_CODE = re.compile(r"^[A-Z]\d{2}[0-9A-Za-z.+*]*$")
PROC_CODE = re.compile(r"^\d{2}\.?[0-9A-Za-z.]*$")
CODE_PATTERNS = {"dx": DX_CODE, "proc": PROC_CODE}
CLAUSE_ROLES = (
    "principal_dx",
    "any_dx",
    "secondary_dx",
    "principal_proc",
    "any_proc",
    "secondary_proc",
    "or_procedure",
    "no_or_procedure",
    "birth_weight",
    "age_days",
    "ventilation_hours",
)
LIST_ROLES = {
    "principal_dx": "dx",
    "any_dx": "dx",
    "secondary_dx": "dx",
    "principal_proc": "proc",
    "any_proc": "proc",
    "secondary_proc": "proc",
}
#: The DRG split vocabulary (``drg.csv`` column ``split``): each condition and the argument it takes: nothing,
#: a whole number of years, or the name of a list in ``drg_list.csv`` read as diagnosis or procedure codes.
SPLIT_CONDITIONS: dict[str, str] = {
    "mcc": "",
    "cc": "",
    "no_cc": "",
    "always": "",
    "death": "",
    "age_ge": "number",
    "age_lt": "number",
    "new_technique": "proc",
    "dx_prefix": "dx",
    "proc_prefix": "proc",
    "dx_code": "dx",
    "proc_code": "proc",
}
#: The 4th-character split codes of the 1.1 / 2.0 tables, each one condition of the vocabulary (tried in the
#: order 1, 3, 5, 9 within an ADRG, so ``5`` and ``9`` take whatever an earlier split left).
LEGACY_SPLITS = {"1": "mcc", "3": "cc", "5": "always", "9": "always"}
SPLIT_SEPARATOR = "&"


def parse_split(text: str) -> tuple[tuple[str, str], ...]:
    """The conditions of one ``split`` cell as ``(name, argument)`` pairs, all of which must hold.

    A legacy code (``1``, ``3``, ``5``, ``9``) is one condition; otherwise conditions are joined by ``&``, each a
    vocabulary name followed by its argument (``age_ge 70 & cc``). Raises ValueError naming what is wrong."""
    if text in LEGACY_SPLITS:
        return ((LEGACY_SPLITS[text], ""),)
    out: list[tuple[str, str]] = []
    for part in text.split(SPLIT_SEPARATOR):
        name, _, argument = part.strip().partition(" ")
        argument = argument.strip()
        if name not in SPLIT_CONDITIONS:
            raise ValueError(f"unknown split condition {name!r} (known: {', '.join(SPLIT_CONDITIONS)})")
        kind = SPLIT_CONDITIONS[name]
        if not kind and argument:
            raise ValueError(f"split condition {name!r} takes no argument")
        if kind and not argument:
            raise ValueError(f"split condition {name!r} needs an argument")
        if kind == "number" and not argument.isdigit():
            raise ValueError(f"split condition {name!r} needs a whole number of years")
        out.append((name, argument))
    return tuple(out)


#: DIP: the procedure categories (国临版手术操作分类) and the auxiliary-condition roles.
DIP_CATEGORIES = ("手术", "介入治疗", "治疗性操作", "诊断性操作")
DIP_AUX_CODE_ROLES = {"principal_dx": "dx", "any_secondary_dx": "dx", "any_procedure": "proc"}
DIP_AUX_ROLES = ("age", "age_days", "discharge_type", "secondary_severity", *DIP_AUX_CODE_ROLES)
#: One item of an auxiliary code list: a code prefix, or (diagnoses) a range of 类目 such as C00-C97.
DIP_AUX_ITEM = {
    "dx": re.compile(r"^[A-Z]\d{2}(-[A-Z]\d{2}|[0-9A-Za-z.+*]*)$"),
    "proc": re.compile(r"^\d{2}[0-9A-Za-z.]*$"),
}


@attrs.frozen
class TableSpec:
    """Columns, key and value rules of one table."""

    columns: tuple[str, ...]
    key: tuple[str, ...] = ()
    codes: dict[str, str] = attrs.field(factory=dict)  # column → "dx" | "proc"
    choices: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    integers: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    not_empty: tuple[str, ...] = ()
    additive: bool = False
    optional: bool = False  # a folder may leave it out: it is then empty


#: Tables both schemes have in the same form: the diagnosis code list and the CC / MCC tables.
_DX_CODES = TableSpec(("dx", "name"), key=("dx",), codes={"dx": "dx"}, additive=True)
_CC_TABLES = {
    "cc.csv": TableSpec(
        ("dx", "level", "exclusion_table"),
        key=("dx",),
        codes={"dx": "dx"},
        choices={"level": ("cc", "mcc")},
        additive=True,
    ),
    "cc_exclusion.csv": TableSpec(
        ("exclusion_table", "principal_dx"),
        key=("exclusion_table", "principal_dx"),
        codes={"principal_dx": "dx"},
        not_empty=("exclusion_table",),
        additive=True,
    ),
}

TABLE_SPECS: dict[str, dict[str, TableSpec]] = {
    "chs-drg": {
        "mdc.csv": TableSpec(
            ("mdc", "name", "sex"), key=("mdc",), choices={"sex": ("", "M", "F")}, not_empty=("mdc",)
        ),
        "mdc_dx.csv": TableSpec(("mdc", "dx", "region"), key=("mdc", "dx", "region"), codes={"dx": "dx"}),
        "adrg.csv": TableSpec(
            ("adrg", "mdc", "name", "kind"),
            key=("adrg",),
            choices={"kind": ("surgical", "operative", "medical")},
            not_empty=("adrg", "mdc"),
        ),
        "adrg_clause.csv": TableSpec(
            ("adrg", "alt", "role", "section", "low", "high"),
            choices={"role": CLAUSE_ROLES},
            integers=("alt",),
            numbers=("low", "high"),
            not_empty=("adrg", "alt", "role"),
        ),
        "adrg_code.csv": TableSpec(
            ("adrg", "section", "code"), key=("adrg", "section", "code"), not_empty=("code",)
        ),
        "drg.csv": TableSpec(("drg", "adrg", "name", "split"), key=("drg",), not_empty=("drg", "split")),
        # a row with an empty code declares a list the source names without codes (it holds nothing)
        "drg_list.csv": TableSpec(
            ("list", "code"), key=("list", "code"), not_empty=("list",), additive=True, optional=True
        ),
        "ambiguous.csv": TableSpec(("mdc", "drg", "name"), key=("mdc",), not_empty=("drg",)),
        **_CC_TABLES,
        "dx_codes.csv": _DX_CODES,
        "proc_codes.csv": TableSpec(
            ("proc", "name", "operating_room"),
            key=("proc",),
            codes={"proc": "proc"},
            choices={"operating_room": ("0", "1")},
            additive=True,
        ),
        "grey_dx.csv": TableSpec(("dx",), key=("dx",), codes={"dx": "dx"}, additive=True),
    },
    "dip": {
        "dx_codes.csv": _DX_CODES,
        "proc_codes.csv": TableSpec(("proc", "name"), key=("proc",), codes={"proc": "proc"}, additive=True),
        "procedure_category.csv": TableSpec(
            ("proc", "category", "source"),
            key=("proc",),
            codes={"proc": "proc"},
            choices={"category": DIP_CATEGORIES},
            not_empty=("proc",),
            additive=True,
        ),
        "treatment_order.csv": TableSpec(
            ("treatment", "rank", "code", "categories"),
            key=("treatment",),
            integers=("rank",),
            not_empty=("treatment", "code"),
        ),
        "auxiliary.csv": TableSpec(
            ("aux", "type", "rank", "name", "coefficient", "note"),
            key=("aux",),
            integers=("rank",),
            numbers=("coefficient",),
            not_empty=("aux", "type"),
        ),
        "auxiliary_clause.csv": TableSpec(
            ("aux", "alt", "role", "codes", "low", "high"),
            choices={"role": DIP_AUX_ROLES},
            integers=("alt",),
            numbers=("low", "high"),
            not_empty=("aux", "alt", "role"),
        ),
        **_CC_TABLES,
    },
}


def _fail(path: Path, frame: pd.DataFrame, mask: np.ndarray, column: str, what: str) -> None:
    """Raise for the first row in ``mask`` (and say how many there are)."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return
    first = int(rows[0])
    value = frame.iloc[first][column] if column in frame.columns else ""
    more = f" ({len(rows) - 1} more rows like it)" if len(rows) > 1 else ""
    raise DefinitionError(f"{what}: {value!r}{more}", file=path, line=first + 2, column=column)


def check_table(path: Path, frame: pd.DataFrame, spec: TableSpec) -> None:
    """Columns, codes, choices, numbers and key uniqueness of one table, as read (all values strings)."""
    if tuple(frame.columns) != spec.columns:
        raise DefinitionError(
            f"header must be {','.join(spec.columns)}, found {','.join(map(str, frame.columns))}",
            file=path,
            line=1,
        )
    for column in spec.not_empty:
        _fail(path, frame, (frame[column] == "").to_numpy(), column, "empty value")
    for column, kind in spec.codes.items():
        values = frame[column]
        bad = ~values.str.match(CODE_PATTERNS[kind].pattern) & (values != "")
        _fail(path, frame, bad.to_numpy(dtype=bool), column, f"not a normalised {kind} code")
    for column, allowed in spec.choices.items():
        _fail(
            path, frame, (~frame[column].isin(allowed)).to_numpy(), column, f"must be one of {list(allowed)}"
        )
    for column in spec.integers:
        _fail(
            path,
            frame,
            (~frame[column].str.fullmatch(r"\d+")).to_numpy(dtype=bool),
            column,
            "not a whole number",
        )
    for column in spec.numbers:
        values = frame[column]
        bad = (values != "") & pd.to_numeric(values.where(values != "", "0"), errors="coerce").isna()
        _fail(path, frame, bad.to_numpy(dtype=bool), column, "not a number")
    if spec.key:
        dup = frame.duplicated(list(spec.key), keep="first").to_numpy()
        _fail(path, frame, dup, spec.key[-1], f"duplicate key ({', '.join(spec.key)})")


def _ref(
    tables: dict[str, pd.DataFrame],
    paths: dict[str, Path],
    table: str,
    column: str,
    target: str,
    target_column: str,
    *,
    allow_empty: bool = False,
) -> None:
    frame = tables[table]
    known = set(tables[target][target_column])
    bad = ~frame[column].isin(known)
    if allow_empty:
        bad &= frame[column] != ""
    _fail(paths[table], frame, bad.to_numpy(dtype=bool), column, f"not defined in {target}")


def _check_cc_exclusion(tables: dict[str, pd.DataFrame], paths: dict[str, Path]) -> None:
    """Every exclusion table a CC / MCC names is defined in ``cc_exclusion.csv``."""
    cc, cce = tables["cc.csv"], tables["cc_exclusion.csv"]
    _fail(
        paths["cc.csv"],
        cc,
        (~cc["exclusion_table"].isin(set(cce["exclusion_table"])) & (cc["exclusion_table"] != "")).to_numpy(),
        "exclusion_table",
        "exclusion table not defined in cc_exclusion.csv",
    )


def chs_drg_cross_checks(tables: dict[str, pd.DataFrame], paths: dict[str, Path], complete: bool) -> None:
    """References between CHS-DRG tables, and the rule tables' completeness."""
    _ref(tables, paths, "mdc_dx.csv", "mdc", "mdc.csv", "mdc")
    _ref(tables, paths, "adrg.csv", "mdc", "mdc.csv", "mdc")
    _ref(tables, paths, "drg.csv", "adrg", "adrg.csv", "adrg")
    _ref(tables, paths, "ambiguous.csv", "mdc", "mdc.csv", "mdc")
    _ref(tables, paths, "adrg_clause.csv", "adrg", "adrg.csv", "adrg")
    _ref(tables, paths, "adrg_code.csv", "adrg", "adrg.csv", "adrg")
    clauses, codes = tables["adrg_clause.csv"], tables["adrg_code.csv"]
    # list roles need a section that exists for that ADRG; the others need none
    needs_list = clauses["role"].isin(list(LIST_ROLES)).to_numpy()
    sections = set(zip(codes["adrg"], codes["section"], strict=True))
    missing = np.array(
        [(a, s) not in sections for a, s in zip(clauses["adrg"], clauses["section"], strict=True)], dtype=bool
    )
    _fail(
        paths["adrg_clause.csv"],
        clauses,
        needs_list & missing,
        "section",
        "section has no codes in adrg_code.csv",
    )
    # codes of a section must fit the role's code kind
    role_of = {
        (a, s): LIST_ROLES[r]
        for a, s, r in zip(clauses["adrg"], clauses["section"], clauses["role"], strict=True)
        if r in LIST_ROLES
    }
    kinds = np.array(
        [role_of.get((a, s), "") for a, s in zip(codes["adrg"], codes["section"], strict=True)], dtype=object
    )
    unused = kinds == ""
    _fail(paths["adrg_code.csv"], codes, unused, "section", "section is not used by any clause")
    for kind, pattern in CODE_PATTERNS.items():
        bad = (kinds == kind) & ~codes["code"].str.match(pattern.pattern).to_numpy(dtype=bool)
        _fail(paths["adrg_code.csv"], codes, bad, "code", f"not a normalised {kind} code")
    if complete:
        entered = set(clauses["adrg"])
        adrgs = tables["adrg.csv"]
        _fail(
            paths["adrg.csv"],
            adrgs,
            (~adrgs["adrg"].isin(entered)).to_numpy(),
            "adrg",
            "ADRG has no entry rule in adrg_clause.csv",
        )
        drgs = set(tables["drg.csv"]["adrg"])
        _fail(
            paths["adrg.csv"],
            adrgs,
            (~adrgs["adrg"].isin(drgs)).to_numpy(),
            "adrg",
            "ADRG has no DRG in drg.csv",
        )
    _check_splits(tables, paths)
    _check_cc_exclusion(tables, paths)


def _check_splits(tables: dict[str, pd.DataFrame], paths: dict[str, Path]) -> None:
    """Every ``split`` cell reads in the vocabulary and names lists that ``drg_list.csv`` defines; an ADRG's
    legacy codes come in the order 1, 3, 5, 9 (the order they are tried in)."""
    drgs, path = tables["drg.csv"], paths["drg.csv"]
    lists = tables.get("drg_list.csv")
    known = set(lists["list"]) if lists is not None else set()
    last_legacy: dict[str, str] = {}
    for row, (adrg, split) in enumerate(zip(drgs["adrg"], drgs["split"], strict=True)):
        try:
            conditions = parse_split(split)
        except ValueError as exc:
            raise DefinitionError(str(exc), file=path, line=row + 2, column="split") from exc
        for name, argument in conditions:
            if SPLIT_CONDITIONS[name] in ("dx", "proc") and argument not in known:
                raise DefinitionError(
                    f"{name} names list {argument!r}, not defined in drg_list.csv",
                    file=path,
                    line=row + 2,
                    column="split",
                )
        if split in LEGACY_SPLITS:
            if split <= last_legacy.get(adrg, ""):
                raise DefinitionError(
                    f"split {split} of {adrg} after split {last_legacy[adrg]}: an ADRG's DRGs are tried in row "
                    "order, so its splits 1, 3, 5, 9 must come in that order",
                    file=path,
                    line=row + 2,
                    column="split",
                )
            last_legacy[adrg] = split


def dip_cross_checks(tables: dict[str, pd.DataFrame], paths: dict[str, Path], complete: bool) -> None:
    """References between the DIP tables: categories, treatment order, auxiliary items and their clauses."""
    _ref(tables, paths, "procedure_category.csv", "proc", "proc_codes.csv", "proc")
    order = tables["treatment_order.csv"]
    path = paths["treatment_order.csv"]
    ranks = order["rank"].astype(int).to_numpy()
    _fail(path, order, ranks != np.arange(len(order)), "rank", "ranks must be 0, 1, 2, … in row order")
    listed = [c for cell in order["categories"] for c in cell.split("|") if c]
    dup = [c for c in set(listed) if listed.count(c) > 1]
    if dup:
        raise DefinitionError(f"listed under two treatments: {sorted(dup)}", file=path, column="categories")
    unknown = sorted(set(listed) - set(DIP_CATEGORIES))
    if unknown:
        raise DefinitionError(f"unknown categories {unknown}", file=path, column="categories")
    if len(order) and order["categories"].iloc[0] != "":
        raise DefinitionError("rank 0 is conservative treatment and takes no category", file=path, line=2)
    cats = tables["procedure_category.csv"]
    _fail(
        paths["procedure_category.csv"],
        cats,
        (~cats["category"].isin(set(listed))).to_numpy(),
        "category",
        "category not placed in treatment_order.csv",
    )
    aux, clauses = tables["auxiliary.csv"], tables["auxiliary_clause.csv"]
    _ref(tables, paths, "auxiliary_clause.csv", "aux", "auxiliary.csv", "aux")
    _fail(
        paths["auxiliary.csv"],
        aux,
        aux.duplicated(["type", "rank"]).to_numpy(),
        "rank",
        "two items of one type share a rank",
    )
    coef = aux["coefficient"]
    bad_coef = (coef != "") & (pd.to_numeric(coef.where(coef != "", "1"), errors="coerce") <= 0)
    _fail(paths["auxiliary.csv"], aux, bad_coef.to_numpy(dtype=bool), "coefficient", "must be positive")
    cpath = paths["auxiliary_clause.csv"]
    kinds = clauses["role"].map(DIP_AUX_CODE_ROLES).fillna("")
    needs = (kinds != "").to_numpy()
    _fail(cpath, clauses, needs & (clauses["codes"] == "").to_numpy(), "codes", "this role needs codes")
    _fail(cpath, clauses, ~needs & (clauses["codes"] != "").to_numpy(), "codes", "this role takes no codes")
    for kind, pattern in DIP_AUX_ITEM.items():
        bad = [
            k == kind and any(not pattern.match(item) for item in cell.split("|"))
            for k, cell in zip(kinds, clauses["codes"], strict=True)
        ]
        _fail(cpath, clauses, np.array(bad, dtype=bool), "codes", f"not a list of {kind} prefixes or ranges")
    low = pd.to_numeric(clauses["low"].where(clauses["low"] != "", "-inf"), errors="coerce")
    high = pd.to_numeric(clauses["high"].where(clauses["high"] != "", "inf"), errors="coerce")
    bounded = needs & ((clauses["low"] != "") | (clauses["high"] != "")).to_numpy()
    _fail(cpath, clauses, bounded, "low", "code roles take no bounds")
    _fail(cpath, clauses, (low > high).to_numpy(dtype=bool), "high", "high is below low")
    if complete:
        _fail(
            paths["auxiliary.csv"],
            aux,
            (~aux["aux"].isin(set(clauses["aux"]))).to_numpy(),
            "aux",
            "item has no condition in auxiliary_clause.csv",
        )
    _check_cc_exclusion(tables, paths)


CrossCheck = Callable[[dict[str, pd.DataFrame], dict[str, Path], bool], None]
CROSS_CHECKS: dict[str, list[CrossCheck]] = {"chs-drg": [chs_drg_cross_checks], "dip": [dip_cross_checks]}
