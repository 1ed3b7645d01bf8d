"""Catalogue layouts: how a city publishes its DIP catalogue, described as data, and the import that reads it.

Cities publish their 病种目录库 as an Excel workbook (or a CSV of it) in their own layout: their own headers, kind
codes, treatment codes and group-id grammar. A :class:`Layout` (a TOML file, see ``docs/dip.md``) names the
columns by role, maps the codes, gives the separators of the id grammar and, optionally, a statistics sheet
(mean cost, region mean, case counts; fallback groups). :func:`import_catalog` reads a published file through a
layout into a :class:`~drgpay.dip.DipCatalog` and an :class:`ImportReport`: rows read, kept, refused with the
reason (never dropped silently), duplicates, codes unknown to the grouper, and how the published scores compare
with the formula. Layouts shipped with drgpay (``drgpay/dip/layouts/*.toml``) are found by name and recognised
from the catalogue sheet's header.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from drgpay.dip.catalog import (
    CATALOG_COLUMNS,
    KIND_ALIASES,
    TREATMENT_KINDS,
    TREATMENTS,
    CatalogError,
    DipCatalog,
    _read_text_table,
    _Reporter,
    _validate,
    load_catalog,
    normalize_dx_key,
    parse_expression,
)
from drgpay.dip.scores import score_agreement
from drgpay.money import to_decimal

__all__ = [
    "CATALOG_ROLES",
    "STATISTICS_ROLES",
    "ImportReport",
    "ImportResult",
    "Layout",
    "Refusal",
    "builtin_layouts",
    "detect_layout",
    "import_catalog",
    "load_layout",
    "read_statistics",
]

#: Column roles of a catalogue sheet. ``group`` is required; the others may come from the group id.
CATALOG_ROLES = (
    "group",
    "kind",
    "dx_key",
    "main_procedure",
    "other_procedures",
    "procedures",
    "treatment",
    "name",
    "score",
    "mean_cost",
    "cases",
)
#: Column roles of a statistics sheet (``group`` required).
STATISTICS_ROLES = (
    "group",
    "score",
    "mean_cost",
    "region_mean",
    "cases",
    "mean_los",
    "cv",
    "remark",
    "high_multiple",
)
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_TREATMENT_NAMES = {t.lower(): t for t in TREATMENTS} | {
    "conservative": "保守治疗",
    "diagnostic": "诊断性操作",
    "therapeutic": "治疗性操作",
    "surgical": "相关手术",
}


def _key(header: object) -> str:
    """Headers compare without white space and case (``病种 编码`` is ``病种编码``)."""
    return re.sub(r"\s+", "", str(header)).lower()


# -- the layout ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Grammar:
    """Separators of a city's group ids and procedure cells: ``诊断{key}主操作{main_other}其他1{all_of}其他2``;
    ``any_of`` between alternatives; ``list`` between several codes in one cell. ``check_id``: the id must say
    what the columns say (diagnosis, procedures, treatment)."""

    key: str = ":"
    main_other: str = "_"
    all_of: str = "+"
    any_of: str = "/"
    list: str = ","
    check_id: bool = True


@attrs.frozen
class SheetSpec:
    """One sheet of a layout: its name in a workbook (None: found by its header) and role → header(s)."""

    sheet: str | None
    columns: Mapping[str, tuple[str, ...]]

    def header(self, role: str) -> str:
        return " + ".join(self.columns.get(role, ()))


@attrs.frozen
class Fallback:
    """Fallback groups (未入组病例的分组) of a statistics sheet: ids matching ``pattern`` (named groups ``code`` and
    ``treatment``), each code covering the 类目 ranges in ``ranges``."""

    pattern: re.Pattern[str]
    ranges: Mapping[str, str]
    name: str


@attrs.frozen
class Layout:
    """A published catalogue layout (see the module docstring and ``docs/dip.md``)."""

    name: str
    title: str
    detect: tuple[str, ...]
    catalog: SheetSpec
    kinds: Mapping[str, str]
    treatments: Mapping[str, str]
    grammar: Grammar
    name_separator: str
    statistics: SheetSpec | None
    scale: str
    decimals: int
    fallback: Fallback | None
    source: str

    def matches(self, header: Iterable[object]) -> bool:
        """The header holds every ``detect`` column (and the layout has some)."""
        keys = {_key(h) for h in header}
        return bool(self.detect) and all(_key(d) in keys for d in self.detect)


def _table(data: Mapping[str, Any], name: str, where: str, allowed: Iterable[str]) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise CatalogError(f"[{name}] must be a table", file=where)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise CatalogError(f"[{name}]: unknown key(s) {unknown}; known: {sorted(allowed)}", file=where)
    return dict(value)


def _columns(
    data: Mapping[str, Any], roles: tuple[str, ...], what: str, where: str
) -> dict[str, tuple[str, ...]]:
    unknown = sorted(set(data) - set(roles))
    if unknown:
        raise CatalogError(f"[{what}.columns]: unknown role(s) {unknown}; roles: {list(roles)}", file=where)
    out = {}
    for role, header in data.items():
        headers = (header,) if isinstance(header, str) else tuple(header)
        if not headers or not all(isinstance(h, str) and h.strip() for h in headers):
            raise CatalogError(f"[{what}.columns] {role}: a header or a list of headers", file=where)
        if len(headers) > 1 and role != "name":
            raise CatalogError(f"[{what}.columns] {role}: one header (only name joins several)", file=where)
        out[role] = headers
    if "group" not in out:
        raise CatalogError(f"[{what}.columns] needs the group role (the group id column)", file=where)
    return out


def _treatment_name(value: str) -> str | None:
    """A treatment level written by name (保守治疗 …) or drgpay's code (``surgical`` …); None otherwise."""
    return _TREATMENT_NAMES.get(value.strip().lower())


def layout_from_dict(data: Mapping[str, Any], source: str) -> Layout:
    """A :class:`Layout` from a parsed layout TOML; :class:`CatalogError` naming ``source`` when malformed."""
    sections = {"layout", "catalog", "treatments", "grammar", "statistics", "fallback"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise CatalogError(f"unknown section(s) {unknown}; known: {sorted(sections)}", file=source)
    head = _table(data, "layout", source, ("name", "title", "detect"))
    cat = _table(data, "catalog", source, ("sheet", "name_separator", "columns", "kinds"))
    kinds: dict[str, str] = {}
    for code, kind in dict(cat.get("kinds", {})).items():
        k = KIND_ALIASES.get(str(kind).strip().lower(), KIND_ALIASES.get(str(kind).strip()))
        if k is None:
            raise CatalogError(
                f"[catalog.kinds] {code!r}: {kind!r} is not a kind ({sorted(set(KIND_ALIASES.values()))})",
                file=source,
            )
        kinds[str(code).strip().lower()] = k
    treatments: dict[str, str] = {}
    codes = data.get("treatments", {})
    for code, name in _table(data, "treatments", source, codes if isinstance(codes, Mapping) else ()).items():
        t = _treatment_name(str(name))
        if t is None:
            raise CatalogError(
                f"[treatments] {code!r}: {name!r} is not one of {list(TREATMENTS)}", file=source
            )
        treatments[str(code).strip().upper()] = t
    grammar_fields = [f.name for f in attrs.fields(Grammar)]
    grammar = Grammar(**_table(data, "grammar", source, grammar_fields))
    stats_data = _table(data, "statistics", source, ("sheet", "scale", "decimals", "columns"))
    statistics = None
    if stats_data:
        statistics = SheetSpec(
            stats_data.get("sheet"),
            _columns(stats_data.get("columns", {}), STATISTICS_ROLES, "statistics", source),
        )
    fb = _table(data, "fallback", source, ("group", "name", "ranges"))
    fallback = None
    if fb:
        try:
            pattern = re.compile(str(fb.get("group", "")))
        except re.error as exc:
            raise CatalogError(f"[fallback] group: not a regular expression: {exc}", file=source) from None
        if not {"code", "treatment"} <= set(pattern.groupindex):
            raise CatalogError(
                "[fallback] group needs the named groups (?P<code>…) and (?P<treatment>…)", file=source
            )
        fallback = Fallback(
            pattern,
            {str(k).upper(): str(v) for k, v in dict(fb.get("ranges", {})).items()},
            str(fb.get("name", "")),
        )
    name = str(head.get("name", "")).strip()
    if not name:
        raise CatalogError("[layout] name is required", file=source)
    return Layout(
        name=name,
        title=str(head.get("title", "")),
        detect=tuple(str(d) for d in head.get("detect", ())),
        catalog=SheetSpec(
            cat.get("sheet"), _columns(cat.get("columns", {}), CATALOG_ROLES, "catalog", source)
        ),
        kinds=kinds,
        treatments=treatments,
        grammar=grammar,
        name_separator=str(cat.get("name_separator", "：")),
        statistics=statistics,
        scale=str(stats_data.get("scale", 1000)),
        decimals=int(stats_data.get("decimals", 6)),
        fallback=fallback,
        source=source,
    )


def _builtin_files() -> dict[str, Any]:
    folder = resources.files("drgpay.dip").joinpath("layouts")
    return {p.name[: -len(".toml")]: p for p in folder.iterdir() if p.name.endswith(".toml")}


def builtin_layouts() -> dict[str, Layout]:
    """The layouts shipped with drgpay, by name."""
    out = {}
    for stem, path in sorted(_builtin_files().items()):
        layout = layout_from_dict(tomllib.loads(path.read_text(encoding="utf-8")), f"{stem}.toml")
        out[layout.name] = layout
    return out


def load_layout(layout: str | os.PathLike[str] | Layout) -> Layout:
    """A layout by name (a shipped one), from a TOML file, or as given."""
    if isinstance(layout, Layout):
        return layout
    shipped = builtin_layouts()
    if str(layout) in shipped:
        return shipped[str(layout)]
    path = Path(layout)
    if path.suffix.lower() != ".toml" or not path.is_file():
        raise CatalogError(
            f"no layout {str(layout)!r}: give a shipped layout ({', '.join(shipped)}) or a layout TOML file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", file=path) from None
    return layout_from_dict(data, path.name)


def detect_layout(header: Iterable[object], *, partial: bool = False) -> Layout | None:
    """The shipped layout whose ``detect`` columns are all in ``header``, if any; with ``partial``, else the one
    with the most of them when that is at least half (a damaged copy: the import then names the missing column)."""
    cells = list(header)
    layouts = list(builtin_layouts().values())
    found = next((lay for lay in layouts if lay.matches(cells)), None)
    if found is not None or not partial:
        return found
    keys = {_key(h) for h in cells}
    scored = [
        (sum(_key(d) in keys for d in lay.detect) / len(lay.detect), lay) for lay in layouts if lay.detect
    ]
    best = max(scored, key=lambda x: x[0], default=(0.0, None))
    return best[1] if best[0] >= 0.5 else None


# -- reading the published file ------------------------------------------------------------------------------------


@attrs.frozen
class _Sheet:
    """A sheet (or CSV) as text: header, rows, and each row's number as a person finds it (header = row 1)."""

    name: str | None
    header: list[str]
    rows: list[list[str]]
    numbers: list[int]

    def column(self, header: str) -> int | None:
        keys = [_key(h) for h in self.header]
        k = _key(header)
        return keys.index(k) if k in keys else None


def _read_workbook(path: Path) -> dict[str, _Sheet]:
    try:
        import openpyxl
    except ImportError:
        raise CatalogError(
            "reading Excel files needs openpyxl (pip install 'drgpay[excel]')", file=path
        ) from None
    from drgpay.io import _excel_cell_text

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise CatalogError(f"not a readable .xlsx workbook: {exc}", file=path) from None
    sheets = {}
    try:
        for ws in book.worksheets:
            header: list[str] | None = None
            rows, numbers = [], []
            for number, row in enumerate(ws.iter_rows(), start=1):
                texts = [_excel_cell_text(c.value, getattr(c, "number_format", None)) or "" for c in row]
                if not any(t.strip() for t in texts):
                    continue
                if header is None:
                    header = [t.strip() for t in texts]
                    continue
                rows.append(texts)
                numbers.append(number)
            sheets[str(ws.title)] = _Sheet(str(ws.title), header or [], rows, numbers)
    finally:
        book.close()
    return sheets


def _read_csv(path: Path, encoding: str | None) -> _Sheet:
    frame = _read_text_table(path, encoding)
    rows = frame.to_numpy(dtype=object).tolist()
    return _Sheet(None, [str(c).strip() for c in frame.columns], rows, list(range(2, len(rows) + 2)))


# -- the import ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Refusal:
    """A row left out of the catalogue, and why."""

    sheet: str | None
    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"sheet {self.sheet!r}, " if self.sheet else ""
        return f"{where}row {self.row}, column {self.column!r} ({self.value!r}): {self.reason}"


@attrs.frozen
class ImportReport:
    """What an import read, kept and refused; the codes the grouper does not know; the score check."""

    source: str
    layout: str
    sheet: str | None
    rows_read: int
    rows_kept: int
    refused: tuple[Refusal, ...]
    duplicates: int
    fallback_groups: int
    kinds: Mapping[str, int]
    unknown_dx_keys: tuple[str, ...]
    unknown_procedures: tuple[str, ...]
    statistics: Mapping[str, Any]

    def text(self) -> str:
        """The report as a person reads it."""
        lines = [
            f"source: {self.source} (layout {self.layout}"
            + (f", sheet {self.sheet!r})" if self.sheet else ")"),
            f"rows read: {self.rows_read:,}; kept: {self.rows_kept:,}; refused: {len(self.refused):,} "
            f"(duplicates: {self.duplicates:,})",
            "groups: " + ", ".join(f"{n:,} {k}" for k, n in self.kinds.items() if n),
        ]
        lines += [f"  refused: {r}" for r in self.refused]
        if self.unknown_dx_keys or self.unknown_procedures:
            lines.append(
                f"codes unknown to the grouper: {len(self.unknown_dx_keys)} diagnosis key(s), "
                f"{len(self.unknown_procedures)} procedure(s)"
            )
            lines += [f"  diagnosis key {c}" for c in self.unknown_dx_keys]
            lines += [f"  procedure {c}" for c in self.unknown_procedures]
        else:
            lines.append("codes unknown to the grouper: none")
        st = self.statistics
        if st:
            lines.append(
                f"statistics ({st['sheet'] or 'file'}): {st['rows']:,} rows; {st['matched']:,} matched to catalogue "
                f"groups, {st['fallback']:,} fallback groups, {len(st['only'])} not in the catalogue"
                + (f" ({', '.join(st['only'])})" if st["only"] else "")
            )
            check = st["score_check"]
            lines.append(
                f"scores = mean cost / region mean × {st['scale']}, {st['decimals']} decimals, half up: "
                f"{check['equal']:,} equal, {check['input_rounding']:,} within the rounding of the published "
                f"inputs, {check['different']:,} different"
            )
            if st["score_mismatches"]:
                lines.append(f"catalogue score ≠ statistics score: {', '.join(st['score_mismatches'])}")
        return "\n".join(lines)


@attrs.frozen
class ImportResult:
    """:func:`import_catalog`'s result: the catalogue of the kept rows and the report."""

    catalog: DipCatalog
    report: ImportReport


class _Rows:
    """The rows on their way to the catalogue: catalogue columns as text, with each row's origin."""

    def __init__(self, strict: bool, path: Path):
        self.strict, self.path = strict, path
        self.records: list[dict[str, str]] = []
        self.origin: list[tuple[_Sheet, int, Mapping[str, str]]] = []  # sheet, row position, column → header
        self.refused: list[Refusal] = []
        self.duplicates = 0

    def refuse(self, sheet: _Sheet, pos: int, header: str, value: str, reason: str) -> None:
        if self.strict:
            raise CatalogError(
                reason, file=self.path.name, line=sheet.numbers[pos], column=header, sheet=sheet.name
            )
        self.refused.append(Refusal(sheet.name, sheet.numbers[pos], header, value, reason))


class _SheetReporter(_Reporter):
    """Locates :func:`~drgpay.dip.catalog._validate`'s errors in the published sheet."""

    def __init__(self, rows: _Rows, keep: list[int]):
        super().__init__(rows.path.name, None)
        self.rows, self.keep = rows, keep

    def fail(self, message: str, row: int, column: str) -> CatalogError:
        sheet, pos, headers = self.rows.origin[self.keep[row]]
        err = CatalogError(
            message,
            file=self.rows.path.name,
            line=sheet.numbers[pos],
            column=headers.get(column, column),
            sheet=sheet.name,
        )
        err.row_index = row
        err.catalog_column = column  # type: ignore[attr-defined]
        return err


def _cells(
    sheet: _Sheet, spec: SheetSpec, path: Path, *, required: Iterable[str] | None = None
) -> dict[str, list[int]]:
    """Role → column positions; a missing column is an error naming the sheet and the header (only for the roles
    in ``required`` when given: the others are left out)."""
    out = {}
    needed = set(spec.columns if required is None else required)
    for role, headers in spec.columns.items():
        found = []
        for h in headers:
            i = sheet.column(h)
            if i is None and role not in needed:
                break
            if i is None:
                raise CatalogError(
                    f"column {h!r} (role {role}) not found; the header has {sheet.header}",
                    file=path.name,
                    line=1,
                    column=h,
                    sheet=sheet.name,
                )
            found.append(i)
        else:
            out[role] = found
    return out


def _cell(row: list[str], positions: list[int] | None) -> str:
    if not positions:
        return ""
    p = positions[0]
    return str(row[p]).strip() if p < len(row) and row[p] is not None else ""


def _expression(layout: Layout, main: str, others: str) -> str:
    """drgpay's expression (``+`` all of, ``/`` any of) from a main-procedure cell and an other-procedures cell."""
    g = layout.grammar
    parts = [main] if main else []
    for sep in {g.list, g.all_of} - {""}:
        others = others.replace(sep, "\0")
    parts += [p for p in others.split("\0") if p.strip()]
    return "+".join(p.strip().replace(g.any_of, "/") if g.any_of else p.strip() for p in parts)


def _id_parts(layout: Layout, group: str) -> tuple[str, str]:
    """(diagnosis, rest) of a group id."""
    key = layout.grammar.key
    if not key:
        return group, ""
    dx, _, rest = group.partition(key)
    return dx.strip(), rest.strip()


def _id_expression(layout: Layout, rest: str) -> str:
    g = layout.grammar
    main, _, others = rest.partition(g.main_other) if g.main_other else (rest, "", "")
    return _expression(layout, main, others)


def _same_expression(a: str, b: str) -> bool:
    try:
        return parse_expression(a).canonical == parse_expression(b).canonical
    except ValueError:
        return False


def _catalog_rows(layout: Layout, sheet: _Sheet, rows: _Rows, path: Path) -> None:
    spec = layout.catalog
    cols = _cells(sheet, spec, path)
    headers = {role: spec.header(role) for role in spec.columns}
    procedure_header = headers.get("procedures") or " / ".join(
        h for h in (headers.get("main_procedure"), headers.get("other_procedures")) if h
    )
    located = {
        "group": headers["group"],
        "kind": headers.get("kind", headers["group"]),
        "dx_key": headers.get("dx_key", headers["group"]),
        "procedures": procedure_header or headers["group"],
        "treatment": headers.get("treatment", headers["group"]),
        "score": headers.get("score", "score"),
        "mean_cost": headers.get("mean_cost", "mean_cost"),
        "cases": headers.get("cases", "cases"),
        "name": headers.get("name", "name"),
    }
    seen: dict[str, int] = {}
    for pos, row in enumerate(sheet.rows):
        group = _cell(row, cols["group"])
        if not group:
            rows.refuse(sheet, pos, located["group"], group, "empty group id")
            continue
        folded = group.upper()
        if folded in seen:
            rows.duplicates += 1
            rows.refuse(
                sheet,
                pos,
                located["group"],
                group,
                f"duplicate group id (first at row {sheet.numbers[seen[folded]]})",
            )
            continue
        seen[folded] = pos
        raw_kind = _cell(row, cols.get("kind"))
        kind = layout.kinds.get(raw_kind.lower()) or KIND_ALIASES.get(
            raw_kind.lower(), KIND_ALIASES.get(raw_kind)
        )
        if kind is None:
            known = ", ".join(repr(k) for k in layout.kinds) or "none"
            rows.refuse(
                sheet, pos, located["kind"], raw_kind, f"unknown kind code (the layout knows {known})"
            )
            continue
        id_dx, id_rest = _id_parts(layout, group)
        dx = _cell(row, cols.get("dx_key")) if "dx_key" in cols else id_dx
        if layout.grammar.check_id and "dx_key" in cols and normalize_dx_key(id_dx) != normalize_dx_key(dx):
            rows.refuse(
                sheet,
                pos,
                located["group"],
                group,
                f"the id's diagnosis {id_dx!r} is not the column's {dx!r}",
            )
            continue
        treatment = ""
        expression = ""
        if kind in TREATMENT_KINDS:
            raw_t = _cell(row, cols.get("treatment")) if "treatment" in cols else id_rest
            treatment = layout.treatments.get(raw_t.upper()) or _treatment_name(raw_t) or ""
            if not treatment:
                known = ", ".join(layout.treatments) or ", ".join(TREATMENTS)
                rows.refuse(
                    sheet, pos, located["treatment"], raw_t, f"unknown treatment code (known: {known})"
                )
                continue
            if (
                layout.grammar.check_id
                and "treatment" in cols
                and id_rest
                and layout.treatments.get(id_rest.upper()) != treatment
            ):
                rows.refuse(
                    sheet,
                    pos,
                    located["group"],
                    group,
                    f"the id's treatment {id_rest!r} is not the column's {raw_t!r}",
                )
                continue
        else:
            if "procedures" in cols:
                expression = _expression(layout, _cell(row, cols["procedures"]), "")
            elif "main_procedure" in cols or "other_procedures" in cols:
                expression = _expression(
                    layout, _cell(row, cols.get("main_procedure")), _cell(row, cols.get("other_procedures"))
                )
            else:
                expression = _id_expression(layout, id_rest)
            if (
                layout.grammar.check_id
                and procedure_header
                and not _same_expression(_id_expression(layout, id_rest), expression)
            ):
                rows.refuse(
                    sheet,
                    pos,
                    located["group"],
                    group,
                    f"the id's procedures are not the columns' ({expression or 'none'})",
                )
                continue
        parts = [re.sub(r"\s+", "", _cell(row, [p])) for p in cols.get("name", [])]
        parts = [p for p in parts if p]
        name = layout.name_separator.join([parts[0], "+".join(parts[1:])] if len(parts) > 1 else parts)
        if kind in TREATMENT_KINDS and name:
            name += f"（{treatment}）"
        rows.records.append(
            {
                "group": group,
                "name": name,
                "dx_key": dx,
                "procedures": expression,
                "kind": kind,
                "treatment": treatment,
                "score": _cell(row, cols.get("score")),
                "mean_cost": _cell(row, cols.get("mean_cost")),
                "cases": _cell(row, cols.get("cases")),
            }
        )
        rows.origin.append((sheet, pos, located))


def _statistics(layout: Layout, sheet: _Sheet, rows: _Rows, path: Path) -> dict[str, Any]:
    """Join a statistics sheet: fill mean cost and cases, add the fallback groups, check the scores."""
    spec = layout.statistics
    assert spec is not None
    cols = _cells(sheet, spec, path, required=("group",))
    by_id = {r["group"].upper(): k for k, r in enumerate(rows.records)}
    matched, only, mismatches = 0, [], []
    check: Counter[str] = Counter({"equal": 0, "input_rounding": 0, "different": 0})
    fallback = 0
    multiples: set[str] = set()
    regions: set[str] = set()
    located = {
        "group": spec.header("group"),
        "score": spec.header("score"),
        "mean_cost": spec.header("mean_cost"),
        "cases": spec.header("cases"),
        "dx_key": spec.header("group"),
        "treatment": spec.header("group"),
        "kind": spec.header("group"),
        "procedures": spec.header("group"),
        "name": spec.header("remark"),
    }
    for pos, row in enumerate(sheet.rows):
        group = _cell(row, cols["group"])
        score, mean, region = (_cell(row, cols.get(r)) for r in ("score", "mean_cost", "region_mean"))
        if region:
            regions.add(region)
        if _cell(row, cols.get("high_multiple")):
            multiples.add(_cell(row, cols.get("high_multiple")))
        if score and mean and region:
            try:
                check[score_agreement(mean, region, score, scale=layout.scale, decimals=layout.decimals)] += 1
            except ValueError:
                rows.refuse(
                    sheet, pos, located["score"], score, "score, mean cost or region mean is not a number"
                )
                continue
        k = by_id.get(group.upper())
        match = layout.fallback.pattern.match(group) if layout.fallback is not None else None
        if k is not None:
            matched += 1
            rec = rows.records[k]
            for role in ("mean_cost", "cases"):
                if not rec[role]:
                    rec[role] = _cell(row, cols.get(role))
            if (
                score
                and rec["score"]
                and rec["score"] != score
                and _number_or_none(rec["score"]) != _number_or_none(score)
            ):
                mismatches.append(group)
        elif match is not None and layout.fallback is not None:
            code, t = match.group("code").upper(), match.group("treatment").upper()
            ranges = layout.fallback.ranges.get(code)
            treatment = layout.treatments.get(t) or _treatment_name(t)
            if ranges is None or treatment is None:
                what = (
                    f"fallback code {code!r} has no ranges"
                    if ranges is None
                    else f"unknown treatment code {t!r}"
                )
                rows.refuse(sheet, pos, located["group"], group, f"{what} in the layout's [fallback]")
                continue
            remark = _cell(row, cols.get("remark")) or layout.fallback.name
            rows.records.append(
                {
                    "group": group,
                    "name": f"{remark} {code}（{treatment}）",
                    "dx_key": ranges,
                    "procedures": "",
                    "kind": "fallback",
                    "treatment": treatment,
                    "score": score,
                    "mean_cost": mean,
                    "cases": _cell(row, cols.get("cases")),
                }
            )
            rows.origin.append((sheet, pos, located))
            fallback += 1
        else:
            only.append(group)
    return {
        "sheet": sheet.name,
        "rows": len(sheet.rows),
        "matched": matched,
        "fallback": fallback,
        "only": only,
        "score_check": dict(check),
        "score_mismatches": mismatches,
        "scale": layout.scale,
        "decimals": layout.decimals,
        "region_mean": sorted(regions),
        "high_multiple": sorted(multiples),
    }


def _number_or_none(text: str) -> Decimal | None:
    try:
        return to_decimal(text)
    except ValueError:
        return None


def _pick_sheet(
    sheets: dict[str, _Sheet], spec: SheetSpec, layout: Layout, path: Path, want: str | None
) -> _Sheet:
    name = want or spec.sheet
    if name is not None:
        if name not in sheets:
            raise CatalogError(f"no sheet {name!r}; the workbook has {list(sheets)}", file=path.name)
        return sheets[name]
    found = next((s for s in sheets.values() if layout.matches(s.header)), None)
    if found is None:
        raise CatalogError(
            f"no sheet has the layout's header {list(layout.detect)}; sheets: {list(sheets)}", file=path.name
        )
    return found


def _unknown_codes(catalog: DipCatalog, grouper: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    rules = grouper.rules
    known = set(rules.dx_sub) | set(rules.dx_cat)
    table = catalog.table
    keys = table.loc[table["kind"] != "fallback", "dx_key"]
    dx = tuple(sorted({k for k in keys if k not in known}))
    return dx, tuple(grouper.compile(catalog).unknown_items)


def import_catalog(
    source: str | os.PathLike[str],
    layout: str | os.PathLike[str] | Layout | None = None,
    *,
    sheet: str | None = None,
    statistics: str | os.PathLike[str] | None = None,
    strict: bool = True,
    grouper: Any = None,
    encoding: str | None = None,
) -> ImportResult:
    """Read a published catalogue (``.xlsx`` or CSV) through a layout (auto-detected from the header when None).

    ``sheet`` overrides the layout's catalogue sheet; ``statistics`` is a CSV of the statistics sheet for a
    catalogue published as CSV (a workbook carries its own). ``strict`` (the default) raises
    :class:`~drgpay.dip.CatalogError` at the first bad row, naming the sheet, row and column; ``strict=False``
    refuses such rows and lists them in the report. ``grouper`` (a DIP grouper or its id) adds the codes it does
    not know to the report.
    """
    path = Path(source)
    if not path.is_file():
        raise CatalogError("catalogue file not found", file=path)
    chosen = load_layout(layout) if layout is not None else None
    if path.suffix.lower() in EXCEL_SUFFIXES:
        sheets = _read_workbook(path)
        for partial in (False, True):
            if chosen is None:
                chosen = next(
                    (lay for s in sheets.values() if (lay := detect_layout(s.header, partial=partial))), None
                )
        if chosen is None:
            raise CatalogError(
                f"no known layout matches a sheet's header; give one (shipped: {', '.join(builtin_layouts())})",
                file=path.name,
            )
        cat_sheet = _pick_sheet(sheets, chosen.catalog, chosen, path, sheet)
        stats_sheet = None
        if chosen.statistics is not None and statistics is None:
            name = chosen.statistics.sheet
            stats_sheet = sheets.get(name) if name else None
    else:
        cat_sheet = _read_csv(path, encoding)
        if chosen is None:
            chosen = detect_layout(cat_sheet.header, partial=True)
        if chosen is None:
            raise CatalogError(
                f"no known layout matches the header {cat_sheet.header}; give one "
                f"(shipped: {', '.join(builtin_layouts())})",
                file=path.name,
                line=1,
            )
        stats_sheet = None
    if statistics is not None:
        stats_sheet = _read_csv(Path(statistics), encoding)
    rows = _Rows(strict, path)
    _catalog_rows(chosen, cat_sheet, rows, path)
    read = len(cat_sheet.rows)
    stats_info: dict[str, Any] = {}
    if stats_sheet is not None and chosen.statistics is not None:
        stats_info = _statistics(chosen, stats_sheet, rows, path)
    keep = list(range(len(rows.records)))
    frame = pd.DataFrame(rows.records, columns=list(CATALOG_COLUMNS))
    while True:
        reporter = _SheetReporter(rows, keep)
        try:
            table, exprs = _validate(frame.iloc[keep].reset_index(drop=True), reporter)
        except CatalogError as err:
            if strict or err.row_index is None:
                raise
            sheet_, pos, _ = rows.origin[keep[err.row_index]]
            reason = str(err).split(": ", 1)[-1]
            column = getattr(err, "catalog_column", "")
            value = str(rows.records[keep[err.row_index]].get(column, ""))
            rows.refused.append(Refusal(sheet_.name, sheet_.numbers[pos], err.column, value, reason))
            if reason.startswith("duplicate group id"):
                rows.duplicates += 1
            del keep[err.row_index]
            continue
        break
    data = path.read_bytes()
    kept = sum(1 for k in keep if rows.origin[k][0] is cat_sheet)
    provenance: dict[str, Any] = {
        "id": chosen.name,
        "title": chosen.title,
        "layout": chosen.name,
        "source": path.name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "sheet": cat_sheet.name or "",
        "rows_read": read,
        "rows_kept": kept,
        "rows_refused": len(rows.refused),
    }
    if stats_info:
        provenance["statistics_sheet"] = stats_info["sheet"] or (Path(statistics).name if statistics else "")
        provenance["fallback_groups"] = stats_info["fallback"]
        if len(stats_info["region_mean"]) == 1:
            provenance["region_mean_cost"] = stats_info["region_mean"][0]
        if len(stats_info["high_multiple"]) == 1:
            provenance["high_multiple"] = stats_info["high_multiple"][0]
    catalog = load_catalog(table, provenance=provenance)
    lines = np.array([rows.origin[k][0].numbers[rows.origin[k][1]] for k in keep], dtype=np.int64)
    catalog.table["line"] = lines
    catalog = attrs.evolve(catalog, source=path.name)
    assert len(exprs) == len(catalog)
    unknown_dx: tuple[str, ...] = ()
    unknown_proc: tuple[str, ...] = ()
    if grouper is not None:
        if not hasattr(grouper, "rules"):
            from drgpay.grouper import load_grouper

            grouper = load_grouper(grouper)
        unknown_dx, unknown_proc = _unknown_codes(catalog, grouper)
    counts = catalog.table["kind"].value_counts()
    report = ImportReport(
        source=path.name,
        layout=chosen.name,
        sheet=cat_sheet.name,
        rows_read=read,
        rows_kept=kept,
        refused=tuple(rows.refused),
        duplicates=rows.duplicates,
        fallback_groups=int(counts.get("fallback", 0)),
        kinds={k: int(counts.get(k, 0)) for k in ("core", "basic", "comprehensive", "fallback")},
        unknown_dx_keys=unknown_dx,
        unknown_procedures=unknown_proc,
        statistics=stats_info,
    )
    return ImportResult(catalog, report)


def read_statistics(
    source: str | os.PathLike[str],
    layout: str | os.PathLike[str] | Layout | None = None,
    *,
    encoding: str | None = None,
) -> pd.DataFrame:
    """The statistics sheet of a published catalogue (a workbook's, or a CSV of it) as text, one column per role
    the layout names (``group, score, mean_cost, region_mean, cases, mean_los, cv, …``) plus ``row``."""
    path = Path(source)
    if path.suffix.lower() in EXCEL_SUFFIXES:
        sheets = _read_workbook(path)
        chosen = load_layout(layout) if layout is not None else None
        if chosen is None:
            chosen = next((lay for s in sheets.values() if (lay := detect_layout(s.header))), None)
        if chosen is None or chosen.statistics is None or chosen.statistics.sheet not in sheets:
            raise CatalogError("no statistics sheet for this workbook's layout", file=path.name)
        sheet = sheets[str(chosen.statistics.sheet)]
    else:
        if layout is None:
            raise CatalogError("a statistics CSV needs its layout (layout=)", file=path.name)
        chosen = load_layout(layout)
        sheet = _read_csv(path, encoding)
    if chosen.statistics is None:
        raise CatalogError(f"layout {chosen.name} has no [statistics]", file=path.name)
    cols = _cells(sheet, chosen.statistics, path, required=("group",))
    data = {role: [_cell(row, cols[role]) for row in sheet.rows] for role in cols}
    return pd.DataFrame({**data, "row": sheet.numbers})
