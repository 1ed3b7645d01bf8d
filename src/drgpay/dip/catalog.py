"""DIP catalogues (病种目录库): the table format, loading with validation, saving with provenance.

A catalogue is one row per group: ``group, name, dx_key, procedures, kind, treatment, score, mean_cost, cases``.
``dx_key`` is a diagnosis 亚目 (``K80.1``) or 类目 (``K80``); ``procedures`` is an expression of procedure codes,
``/`` between alternatives and ``+`` between components that must all be present (``51.2300/51.2200+54.2100``);
an item ending in ``*`` matches every code that starts with it. An empty expression is a conservative-treatment
group. ``kind`` is ``core`` (核心病种), ``basic`` (基层病种), ``comprehensive`` (综合病种) or ``fallback`` (未入组病例的
分组, a city's catch-all for cases no other group takes: its ``dx_key`` is a list of 类目 ranges such as
``A00-B99``); comprehensive and fallback groups name the treatment level they take (``treatment``). Catalogues
come from a city (CSV with Chinese headers, or the published workbook through a layout: :mod:`drgpay.dip.layouts`)
or from :func:`drgpay.dip.build_catalog`; an optional TOML file beside the CSV records provenance and the
auxiliary-coefficient table.

Every problem is reported with file, line and column, like a grouper definition.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from drgpay.codes import normalize_code
from drgpay.definitions import DefinitionError
from drgpay.money import parse_amount_text

__all__ = [
    "AUX_COMBINE",
    "CATALOG_ALIASES",
    "CATALOG_COLUMNS",
    "KINDS",
    "TREATMENTS",
    "TREATMENT_KINDS",
    "CatalogError",
    "DipCatalog",
    "Expression",
    "load_aux_coefficients",
    "load_catalog",
    "parse_expression",
    "parse_ranges",
]

#: The catalogue columns, in file order; the first four are required.
CATALOG_COLUMNS = (
    "group",
    "name",
    "dx_key",
    "procedures",
    "kind",
    "treatment",
    "score",
    "mean_cost",
    "cases",
)
REQUIRED = ("group", "dx_key", "procedures", "kind")
#: Group kinds, in tie-break order (a core group wins over a basic one, a basic over a comprehensive one; a
#: fallback group takes only the cases no other group takes).
KINDS = ("core", "basic", "comprehensive", "fallback")
#: Spellings of the group kinds (also Chinese: 核心病种, 基层病种, 综合病种, 未入组病例的分组) → kind.
KIND_ALIASES = {
    **{k: k for k in KINDS},
    "核心": "core",
    "核心病种": "core",
    "基层": "basic",
    "基层病种": "basic",
    "综合": "comprehensive",
    "综合病种": "comprehensive",
    "兜底": "fallback",
    "兜底组": "fallback",
    "未入组病例的分组": "fallback",
}
#: Kinds matched by diagnosis key and treatment level (no procedure expression).
TREATMENT_KINDS = ("comprehensive", "fallback")
#: The national treatment levels (lowest first) and their ASCII codes; a catalogue may use either spelling.
TREATMENTS = ("保守治疗", "诊断性操作", "治疗性操作", "相关手术")
_TREATMENT_CODES = {"conservative": "保守治疗", "diagnostic": "诊断性操作", "therapeutic": "治疗性操作"}
_TREATMENT_ALIASES = {
    **{t: t for t in TREATMENTS},
    **_TREATMENT_CODES,
    "surgical": "相关手术",
    "手术": "相关手术",
}
#: How the coefficients of several auxiliary items combine (local policy; ``product`` by default).
AUX_COMBINE = ("product", "sum", "max")

#: Headers of city catalogues (case- and space-insensitive) → catalogue column.
CATALOG_ALIASES: dict[str, str] = {
    **{c: c for c in CATALOG_COLUMNS},
    "dip_group": "group",
    "group_id": "group",
    "病种编码": "group",
    "病种代码": "group",
    "病种组编码": "group",
    "病种组合编码": "group",
    "病种名称": "name",
    "病种组合名称": "name",
    "dx": "dx_key",
    "diagnosis": "dx_key",
    "主要诊断编码": "dx_key",
    "主要诊断代码": "dx_key",
    "诊断编码": "dx_key",
    "疾病编码": "dx_key",
    "诊断亚目": "dx_key",
    "procedure": "procedures",
    "手术操作编码": "procedures",
    "手术及操作编码": "procedures",
    "操作编码": "procedures",
    "病种类型": "kind",
    "病种类别": "kind",
    "治疗方式": "treatment",
    "分值": "score",
    "病种分值": "score",
    "次均费用": "mean_cost",
    "平均费用": "mean_cost",
    "病种次均费用": "mean_cost",
    "例数": "cases",
    "病例数": "cases",
}

_DX_KEY = re.compile(r"^[A-Z]\d{2}(\.[0-9A-Za-z])?$")
_CATEGORY = re.compile(r"^[A-Z]\d{2}$")
_PROC_ITEM = re.compile(r"^\d{2}[0-9A-Za-z.]*$")
MAX_COMPONENTS = 15


class CatalogError(DefinitionError):
    """A catalogue (or its auxiliary-coefficient table) is unusable; the message says where.

    ``sheet`` names the workbook sheet of a published catalogue (the message then says ``sheet …, row …``);
    ``row_index`` is the 0-based position of the offending row among the rows validated, when one row is at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        column: str = "",
        sheet: str | None = None,
    ):
        super().__init__(message, file=file, line=line, column=column)
        self.sheet = sheet
        self.row_index: int | None = None
        if sheet is not None:
            where = [str(file)] if file is not None else []
            where.append(f"sheet {sheet!r}")
            if line is not None:
                where.append(f"row {line}")
            if column:
                where.append(f"column {column!r}")
            self.args = (", ".join(where) + ": " + message,)


@attrs.frozen
class Expression:
    """A parsed procedure expression: components that must all match; each a set of alternative items.

    An item ending in ``*`` is a prefix. ``components`` is empty for a conservative-treatment group.
    """

    components: tuple[tuple[str, ...], ...]

    @property
    def text(self) -> str:
        return "+".join("/".join(c) for c in self.components)

    @property
    def canonical(self) -> str:
        """Order-free spelling, for finding duplicate rules."""
        return "+".join(sorted("/".join(sorted(c)) for c in self.components))

    def __len__(self) -> int:
        return len(self.components)


def _item_overlap(a: str, b: str) -> bool:
    pa_, pb = a.rstrip("*"), b.rstrip("*")
    if a.endswith("*") and pb.startswith(pa_):
        return True
    if b.endswith("*") and pa_.startswith(pb):
        return True
    return a == b


def parse_expression(text: object) -> Expression:
    """Parse ``A/B+C`` into an :class:`Expression`; raise ``ValueError`` saying what is wrong."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return Expression(())
    raw = re.sub(r"\s+", "", str(text).replace("＋", "+").replace("／", "/"))
    if not raw:
        return Expression(())
    components: list[tuple[str, ...]] = []
    for part in raw.split("+"):
        if not part:
            raise ValueError(f"empty component in {text!r} ('+' joins components that must all be present)")
        items: list[str] = []
        for alt in part.split("/"):
            if not alt:
                raise ValueError(f"empty alternative in {text!r} ('/' separates alternatives)")
            prefix = alt.endswith("*")
            code = normalize_code(alt.rstrip("*"))
            if not _PROC_ITEM.match(code):
                raise ValueError(
                    f"{alt!r} is not an ICD-9-CM-3 code (use '/' for or, '+' for and, a trailing '*' for a prefix)"
                )
            item = code + ("*" if prefix else "")
            if item not in items:
                items.append(item)
        components.append(tuple(items))
    if len(components) > MAX_COMPONENTS:
        raise ValueError(f"more than {MAX_COMPONENTS} '+' components in {text!r}")
    for i, a in enumerate(components):
        for b in components[i + 1 :]:
            clash = [(x, y) for x in a for y in b if _item_overlap(x, y)]
            if clash:
                raise ValueError(
                    f"components of {text!r} overlap ({clash[0][0]} and {clash[0][1]}): one procedure would count "
                    "for two components"
                )
    return Expression(tuple(components))


def parse_ranges(text: str) -> tuple[tuple[str, str], ...]:
    """A fallback group's key: 类目 or 类目 ranges joined by ``|`` (``A00-B99|U00-U99``) → ``((lo, hi), …)``;
    raise ``ValueError`` saying what is wrong."""
    ranges = []
    for part in re.sub(r"\s+", "", str(text)).upper().replace("－", "-").split("|"):
        lo, _, hi = part.partition("-")
        hi = hi or lo
        if not (_CATEGORY.match(lo) and _CATEGORY.match(hi)) or lo > hi:
            raise ValueError(
                f"{part!r} is not a 类目 or a range of 类目 such as A00-B99 (a fallback group's key; '|' joins several)"
            )
        ranges.append((lo, hi))
    return tuple(ranges)


def ranges_text(ranges: tuple[tuple[str, str], ...]) -> str:
    """The stored spelling of :func:`parse_ranges`' result."""
    return "|".join(lo if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def normalize_dx_key(value: object) -> str:
    """A diagnosis key as stored: ``K80.1`` (亚目) or ``K80`` (类目); ``K801`` gains its dot."""
    code = normalize_code(value)
    if len(code) == 4 and "." not in code:
        code = code[:3] + "." + code[3]
    return code


@attrs.frozen(eq=False)
class DipCatalog:
    """A validated DIP catalogue.

    ``table`` has the columns of :data:`CATALOG_COLUMNS` plus ``line`` (where each row came from): text columns
    normalised, ``score`` and ``mean_cost`` float (NaN when absent), ``cases`` nullable integer.
    ``aux_coefficients`` (``aux, dip_group, coefficient``; ``dip_group`` empty = every group) holds the local
    auxiliary coefficients, ``aux_combine`` how several of them combine.
    """

    table: pd.DataFrame
    expressions: tuple[Expression, ...]
    source: str
    provenance: dict[str, Any]
    aux_coefficients: pd.DataFrame | None
    aux_combine: str
    content_hash: str

    @property
    def id(self) -> str:
        return str(self.provenance.get("id", Path(self.source).stem if self.source else "catalog"))

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        kinds = self.table["kind"].value_counts()
        parts = ", ".join(f"{int(kinds.get(k, 0))} {k}" for k in KINDS if k != "fallback" or kinds.get(k, 0))
        aux = "" if self.aux_coefficients is None else f", {len(self.aux_coefficients)} aux coefficients"
        return f"<DipCatalog {self.id}: {len(self)} groups ({parts}){aux}>"

    def to_frame(self) -> pd.DataFrame:
        """The catalogue as written to CSV (without the ``line`` column)."""
        return self.table[list(CATALOG_COLUMNS)].copy()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (CSV) and, beside it, ``<stem>.toml`` with the provenance (and ``<stem>.aux.csv``)."""
        out = Path(path)
        out.write_bytes(_csv_bytes(self.to_frame()))
        meta: dict[str, Any] = {"catalog": {**self.provenance, "table": out.name}}
        meta["catalog"]["content_hash"] = self.content_hash
        if self.aux_coefficients is not None:
            aux_path = out.with_name(out.stem + ".aux.csv")
            aux_path.write_bytes(_csv_bytes(self.aux_coefficients))
            meta["auxiliary"] = {"file": aux_path.name, "combine": self.aux_combine}
        out.with_suffix(".toml").write_text(_toml(meta), encoding="utf-8")
        return out


def _fmt_number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """Deterministic CSV bytes: UTF-8, ``\\n``, numbers in their shortest exact spelling."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col].dtype):
            out[col] = [_fmt_number(v) for v in out[col]]
        elif pd.api.types.is_integer_dtype(out[col].dtype):
            out[col] = ["" if pd.isna(v) else str(int(v)) for v in out[col]]
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value) if not (isinstance(value, float) and math.isnan(value)) else '"nan"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _toml_key(key: object) -> str:
    k = str(key)
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def _toml(data: Mapping[str, Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for section, items in data.items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in items.items()]
    return "\n".join(lines) + "\n"


# -- reading -----------------------------------------------------------------------------------------------------


def _read_text_table(path: Path, encoding: str | None) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        return frame.astype(object).where(frame.notna(), "").astype(str)
    data = path.read_bytes()
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for i, enc in enumerate(encodings):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError as exc:
            if i == len(encodings) - 1:
                line = data[: exc.start].count(b"\n") + 1
                raise CatalogError(f"cannot decode as {enc}", file=path, line=line) from exc
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CatalogError(f"not a valid CSV table: {exc}", file=path) from exc


def _header_key(header: object) -> str:
    return re.sub(r"\s+", "", str(header)).lower()


_ALIAS_KEYS = {_header_key(k): v for k, v in CATALOG_ALIASES.items()}


def _map_columns(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, where: Path | str | None
) -> pd.DataFrame:
    user = dict(columns or {})
    bad = sorted({v for v in user.values() if v not in CATALOG_COLUMNS})
    if bad:
        raise CatalogError(
            f"columns= maps to unknown catalogue columns {bad}; known: {list(CATALOG_COLUMNS)}"
        )
    absent = [k for k in user if k not in {str(c) for c in frame.columns}]
    if absent:
        raise CatalogError(
            f"columns= names headers that are not in the catalogue: {absent}", file=where, line=1
        )
    mapping: dict[str, Any] = {}
    for header in frame.columns:
        target = user.get(str(header)) or _ALIAS_KEYS.get(_header_key(header))
        if target is None:
            continue
        if target in mapping:
            raise CatalogError(
                f"two columns map to {target!r}: {mapping[target]!r} and {header!r}; choose one with columns=",
                file=where,
                line=1,
            )
        mapping[target] = header
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        raise CatalogError(
            f"required column(s) {missing} not found; the header has {[str(c) for c in frame.columns][:20]}. "
            f"Name them {list(CATALOG_COLUMNS)} or pass columns={{'<header>': '<column>'}}",
            file=where,
            line=1,
        )
    out = pd.DataFrame(index=range(len(frame)))
    for col in CATALOG_COLUMNS:
        if col in mapping:
            values = frame[mapping[col]].reset_index(drop=True)
            out[col] = ["" if _missing(v) else str(v).strip() for v in values]
        else:
            out[col] = ""
    return out


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


class _Reporter:
    """Raises :class:`CatalogError` for one row: file and line for files, the row label for frames."""

    def __init__(self, where: Path | str | None, labels: list[Any] | None):
        self.where, self.labels = where, labels

    def fail(self, message: str, row: int, column: str) -> CatalogError:
        if self.labels is not None:
            err = CatalogError(f"row {self.labels[row]!r}, column {column!r}: {message}")
        else:
            err = CatalogError(message, file=self.where, line=row + 2, column=column)
        err.row_index = row
        return err


def _number(text: str, *, integer: bool = False) -> float:
    value = float(parse_amount_text(text))
    if not math.isfinite(value) or value < 0 or (integer and value != int(value)):
        raise ValueError(text)
    return value


def _validate(frame: pd.DataFrame, rep: _Reporter) -> tuple[pd.DataFrame, tuple[Expression, ...]]:
    n = len(frame)
    if n == 0:
        raise CatalogError(
            "the catalogue has no rows", file=rep.where, line=1 if rep.labels is None else None
        )
    col = {c: [str(v) for v in frame[c].tolist()] for c in CATALOG_COLUMNS}
    groups = col["group"]
    seen_group: dict[str, int] = {}
    rules: dict[tuple[str, ...], int] = {}
    fallback_ranges: dict[str, list[tuple[int, tuple[str, str]]]] = {}
    dx_keys, kinds, treatments, exprs = [], [], [], []
    numbers = {c: np.full(n, np.nan) for c in ("score", "mean_cost", "cases")}
    for i in range(n):
        g = groups[i]
        if not g:
            raise rep.fail("empty group id", i, "group")
        if g in seen_group:
            raise rep.fail(f"duplicate group id {g!r} (first at row {seen_group[g] + 1})", i, "group")
        seen_group[g] = i
        raw_kind = col["kind"][i]
        kind = KIND_ALIASES.get(raw_kind.lower(), KIND_ALIASES.get(raw_kind))
        if kind is None:
            raise rep.fail(f"{raw_kind!r} is not one of {list(KINDS)} (or 核心/基层/综合/兜底)", i, "kind")
        ranges: tuple[tuple[str, str], ...] = ()
        if kind == "fallback":
            try:
                ranges = parse_ranges(col["dx_key"][i])
            except ValueError as exc:
                raise rep.fail(str(exc), i, "dx_key") from None
            key = ranges_text(ranges)
        else:
            key = normalize_dx_key(col["dx_key"][i])
            if not _DX_KEY.match(key):
                raise rep.fail(
                    f"{col['dx_key'][i]!r} is not a diagnosis 亚目 (K80.1) or 类目 (K80)", i, "dx_key"
                )
        try:
            expr = parse_expression(col["procedures"][i])
        except ValueError as exc:
            raise rep.fail(str(exc), i, "procedures") from None
        raw_t = col["treatment"][i]
        treatment = _TREATMENT_ALIASES.get(raw_t.lower(), _TREATMENT_ALIASES.get(raw_t)) if raw_t else ""
        if raw_t and treatment is None:
            raise rep.fail(f"{raw_t!r} is not one of {list(TREATMENTS)} (or their codes)", i, "treatment")
        if kind in TREATMENT_KINDS:
            if not treatment:
                raise rep.fail(f"a {kind} group needs its treatment level", i, "treatment")
            if len(expr):
                raise rep.fail(f"a {kind} group takes no procedure expression", i, "procedures")
            rule: tuple[str, ...] = (kind, key, str(treatment))
            for lo, hi in ranges:
                for j, (olo, ohi) in fallback_ranges.get(str(treatment), []):
                    if lo <= ohi and olo <= hi:
                        raise rep.fail(
                            f"range {lo}-{hi} overlaps {olo}-{ohi} of fallback group {groups[j]!r} at the same "
                            "treatment level: a case would have two fallback groups",
                            i,
                            "dx_key",
                        )
            for lo_hi in ranges:
                fallback_ranges.setdefault(str(treatment), []).append((i, lo_hi))
        else:
            if treatment:
                raise rep.fail(
                    "treatment applies to comprehensive groups only (and fallback groups); core and basic "
                    "groups are matched by dx_key and procedures (leave it empty)",
                    i,
                    "treatment",
                )
            rule = ("core/basic", key, expr.canonical)
        if rule in rules:
            raise rep.fail(
                f"same rule as group {groups[rules[rule]]!r}: the tie-break would hide one", i, "dx_key"
            )
        rules[rule] = i
        for name, arr in numbers.items():
            text = col[name][i]
            if text:
                try:
                    arr[i] = _number(text, integer=name == "cases")
                except ValueError:
                    what = "a whole number ≥ 0" if name == "cases" else "a number ≥ 0"
                    raise rep.fail(f"{text!r} is not {what}", i, name) from None
        dx_keys.append(key)
        kinds.append(kind)
        treatments.append(treatment or "")
        exprs.append(expr)
    table = pd.DataFrame(
        {
            "group": pd.array(groups, dtype=object),
            "name": pd.array(col["name"], dtype=object),
            "dx_key": pd.array(dx_keys, dtype=object),
            "procedures": pd.array([e.text for e in exprs], dtype=object),
            "kind": pd.array(kinds, dtype=object),
            "treatment": pd.array(treatments, dtype=object),
            "score": numbers["score"],
            "mean_cost": numbers["mean_cost"],
            "cases": pd.array([None if math.isnan(c) else int(c) for c in numbers["cases"]], dtype="Int64"),
        }
    )
    return table, tuple(exprs)


def load_aux_coefficients(
    source: str | os.PathLike[str] | pd.DataFrame, *, encoding: str | None = None
) -> pd.DataFrame:
    """Read an auxiliary-coefficient table: ``aux, coefficient`` and optionally ``dip_group`` (empty = all).

    The items are checked against the grouper's ``auxiliary.csv`` when the catalogue is compiled for grouping.
    """
    where: Path | str | None = None
    if isinstance(source, pd.DataFrame):
        frame = source.astype(object).where(source.notna(), "").astype(str)
        labels: list[Any] | None = list(source.index)
    else:
        where = Path(source)
        frame = _read_text_table(where, encoding)
        labels = None
    rep = _Reporter(where, labels)
    cols = [str(c).strip() for c in frame.columns]
    if "aux" not in cols or "coefficient" not in cols:
        raise CatalogError(
            f"auxiliary coefficients need columns aux, coefficient (found {cols})", file=where, line=1
        )
    frame = frame.set_axis(cols, axis=1).reset_index(drop=True)
    groups = frame["dip_group"] if "dip_group" in frame.columns else pd.Series([""] * len(frame))
    coefs = []
    for i, text in enumerate(frame["coefficient"]):
        try:
            value = float(str(text).strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise rep.fail(f"{text!r} is not a positive number", i, "coefficient")
        coefs.append(value)
        if not str(frame.at[i, "aux"]).strip():
            raise rep.fail("empty aux item", i, "aux")
    out = pd.DataFrame(
        {
            "aux": [str(v).strip() for v in frame["aux"]],
            "dip_group": [str(v).strip() for v in groups],
            "coefficient": np.array(coefs, dtype=np.float64),
        }
    )
    dup = out.duplicated(["aux", "dip_group"]).to_numpy()
    if dup.any():
        raise rep.fail("duplicate (aux, dip_group)", int(np.flatnonzero(dup)[0]), "aux")
    return out.sort_values(["aux", "dip_group"], kind="stable").reset_index(drop=True)


def _hash(table: pd.DataFrame, aux: pd.DataFrame | None, combine: str) -> str:
    h = hashlib.sha256(_csv_bytes(table[list(CATALOG_COLUMNS)]))
    if aux is not None:
        h.update(b"\0aux\0" + _csv_bytes(aux) + combine.encode())
    return h.hexdigest()


def load_catalog(
    source: str | os.PathLike[str] | pd.DataFrame | DipCatalog,
    *,
    columns: Mapping[str, str] | None = None,
    auxiliary: str | os.PathLike[str] | pd.DataFrame | None = None,
    aux_combine: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    encoding: str | None = None,
    layout: str | os.PathLike[str] | Any = None,
) -> DipCatalog:
    """Load and validate a DIP catalogue from a CSV/Parquet file, a DataFrame, or a city's published file.

    ``columns`` maps headers to catalogue columns (common Chinese headers are recognised). A TOML file beside a
    CSV (``CAT.toml`` for ``CAT.csv``) is read for provenance (``[catalog]``) and the auxiliary coefficients
    (``[auxiliary] file, combine``); ``auxiliary=`` / ``aux_combine=`` override it. CSV files are read as UTF-8
    (BOM allowed), falling back to GB18030, unless ``encoding`` is given.

    A published catalogue (an ``.xlsx`` workbook, or a CSV in a city's layout) is read through ``layout`` (a
    shipped layout's name, a layout TOML, or a :class:`~drgpay.dip.layouts.Layout`); without one, a shipped layout
    whose columns the header has is used (:func:`drgpay.dip.layouts.import_catalog`, strict: any bad row raises).
    """
    if not isinstance(source, DipCatalog | pd.DataFrame):
        published = _published(Path(source), layout, columns, encoding)
        if published is not None:
            return _rebuild(published, auxiliary, aux_combine, provenance, encoding)
    elif layout is not None:
        raise TypeError("layout= applies to a published file (a path), not to a DataFrame or a DipCatalog")
    if isinstance(source, DipCatalog):
        if auxiliary is None and aux_combine is None and provenance is None:
            return source
        return _rebuild(source, auxiliary, aux_combine, provenance, encoding)
    meta: dict[str, Any] = {}
    aux_meta: dict[str, Any] = {}
    if isinstance(source, pd.DataFrame):
        raw = source.reset_index(drop=True).astype(object).where(source.reset_index(drop=True).notna(), "")
        frame = _map_columns(raw, columns, None)
        rep = _Reporter(None, list(source.index))
        where = "<DataFrame>"
        base: Path | None = None
    else:
        path = Path(source)
        if path.suffix.lower() == ".toml":
            meta_all = _read_toml(path)
            table_name = meta_all.get("catalog", {}).get("table")
            if not table_name:
                raise CatalogError(
                    "[catalog] table = '<file.csv>' is required in a catalogue TOML", file=path
                )
            toml_path, path = path, path.parent / str(table_name)
        else:
            toml_path = path.with_suffix(".toml")
            meta_all = _read_toml(toml_path) if toml_path.is_file() else {}
        if not path.is_file():
            raise CatalogError("catalogue file not found", file=path)
        meta = dict(meta_all.get("catalog", {}))
        aux_meta = dict(meta_all.get("auxiliary", {}))
        frame = _map_columns(_read_text_table(path, encoding), columns, path)
        rep = _Reporter(path, None)
        where = str(path)
        base = toml_path.parent
    table, exprs = _validate(frame, rep)
    table["line"] = np.arange(len(table), dtype=np.int64) + 2
    meta.pop("content_hash", None)
    if provenance:
        meta.update(provenance)
    aux_table = None
    if auxiliary is not None:
        aux_table = load_aux_coefficients(auxiliary, encoding=encoding)
    elif aux_meta.get("file") and base is not None:
        aux_table = load_aux_coefficients(base / str(aux_meta["file"]), encoding=encoding)
    combine = str(aux_combine or aux_meta.get("combine") or "product")
    if combine not in AUX_COMBINE:
        raise CatalogError(f"aux_combine must be one of {list(AUX_COMBINE)}, not {combine!r}", file=where)
    return DipCatalog(
        table=table,
        expressions=exprs,
        source=where,
        provenance=meta,
        aux_coefficients=aux_table,
        aux_combine=combine,
        content_hash=_hash(table, aux_table, combine),
    )


def _published(
    path: Path, layout: Any, columns: Mapping[str, str] | None, encoding: str | None
) -> DipCatalog | None:
    """The catalogue of a published file read through a layout, or None when the file is drgpay's own format."""
    from drgpay.dip import layouts

    suffix = path.suffix.lower()
    if layout is None and suffix not in layouts.EXCEL_SUFFIXES:
        if columns is not None or suffix not in (".csv", ".txt") or not path.is_file():
            return None
        header = _read_text_table(path, encoding).columns
        if layouts.detect_layout(header) is None:
            return None
    return layouts.import_catalog(path, layout, encoding=encoding).catalog


def _rebuild(
    cat: DipCatalog,
    auxiliary: str | os.PathLike[str] | pd.DataFrame | None,
    aux_combine: str | None,
    provenance: Mapping[str, Any] | None,
    encoding: str | None,
) -> DipCatalog:
    aux_table = (
        load_aux_coefficients(auxiliary, encoding=encoding) if auxiliary is not None else cat.aux_coefficients
    )
    combine = aux_combine or cat.aux_combine
    if combine not in AUX_COMBINE:
        raise CatalogError(f"aux_combine must be one of {list(AUX_COMBINE)}, not {combine!r}")
    meta = {**cat.provenance, **(provenance or {})}
    return attrs.evolve(
        cat,
        provenance=meta,
        aux_coefficients=aux_table,
        aux_combine=combine,
        content_hash=_hash(cat.table, aux_table, combine),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError("file not found", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", file=path) from exc


def catalog_from_frame(
    table: pd.DataFrame, *, provenance: Mapping[str, Any], source: str = "<built>"
) -> DipCatalog:
    """A catalogue from an already well-formed frame (the builder's output), validated like any other."""
    cat = load_catalog(table.reset_index(drop=True), provenance=provenance)
    return attrs.evolve(cat, source=source)
