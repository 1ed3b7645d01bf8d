"""The canonical discharge record: column names, aliases, per-row validation, vectorised preparation.

Exports arrive with many headers (the 医保结算清单 in Chinese, hospital systems in English or pinyin). They are
mapped once to the canonical names of DESIGN.md §3; then every column the groupers read is parsed into numpy /
pyarrow arrays, and every row that cannot be read gets an explicit ``invalid_<column>`` reason. Nothing is dropped
and the input frame is never modified.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from drgpay.codes import (
    as_array,
    is_list_type,
    join_code_lists,
    normalize_codes_array,
    split_code_list,
    split_distinct,
)

__all__ = [
    "ALIASES",
    "CANONICAL_COLUMNS",
    "CODE_COLUMNS",
    "DATE_FORMATS",
    "INVALID_REASONS",
    "CodeLists",
    "DateFormatError",
    "PreparedRecords",
    "SchemaError",
    "code_headers",
    "parse_dates",
    "prepare_records",
    "resolve_columns",
]

#: Canonical columns and what they hold (DESIGN.md §3).
CANONICAL_COLUMNS: dict[str, str] = {
    "case_id": "any identifier, kept as is",
    "sex": "1 male, 2 female (GB/T 2261.1); M/F and 男/女 accepted; 0/9 unknown",
    "age": "age in whole years",
    "age_days": "age in days for patients under one year (不足1周岁年龄)",
    "birth_weight": "newborn birth weight in grams (新生儿出生体重)",
    "los": "length of stay in days (实际住院天数)",
    "discharge_type": "离院方式: 1 医嘱离院, 2 医嘱转院, 3 转社区, 4 非医嘱离院, 5 死亡, 9 其他",
    "principal_dx": "principal diagnosis, ICD-10 医保版",
    "secondary_dx": "other diagnoses: '|'-joined, list-like, or wide columns secondary_dx_1..n",
    "principal_procedure": "principal procedure, when the export keeps it apart from the others",
    "procedures": "procedures, the first is the principal one (ICD-9-CM-3 医保版); same forms as secondary_dx",
    "ventilation_hours": "invasive ventilation hours",
    "total_cost": "总费用, yuan",
    "fund_paid": "统筹基金支付, yuan",
    "self_paid": "个人负担 (自付+自费), yuan",
    "hospital_id": "定点医疗机构编码",
    "hospital_level": "医院等级",
    "insurance_type": "险种类型",
    "discharge_date": "出院日期",
}

#: Built-in aliases: header (case- and space-insensitive) → canonical name. Chinese headers of the 医保结算清单 and
#: 病案首页 included. Users add their own with ``columns=``.
ALIASES: dict[str, str] = {
    **{k: k for k in CANONICAL_COLUMNS},
    "病案号": "case_id",
    "住院号": "case_id",
    "病案编号": "case_id",
    "住院流水号": "case_id",
    "结算清单流水号": "case_id",
    "清单流水号": "case_id",
    "性别": "sex",
    "gender": "sex",
    "年龄": "age",
    "年龄(岁)": "age",
    "年龄（岁）": "age",
    "年龄不足1周岁的年龄(天)": "age_days",
    "年龄不足1周岁的年龄（天）": "age_days",
    "(年龄不足1周岁)年龄(天)": "age_days",
    "（年龄不足1周岁）年龄（天）": "age_days",
    "不足1周岁年龄": "age_days",
    "不足1周岁年龄(天)": "age_days",
    "年龄(天)": "age_days",
    "新生儿年龄(天)": "age_days",
    "新生儿出生体重": "birth_weight",
    "新生儿出生体重(克)": "birth_weight",
    "新生儿出生体重（克）": "birth_weight",
    "出生体重": "birth_weight",
    "实际住院天数": "los",
    "住院天数": "los",
    "length_of_stay": "los",
    "离院方式": "discharge_type",
    "主要诊断编码": "principal_dx",
    "主要诊断代码": "principal_dx",
    "主诊断编码": "principal_dx",
    "出院主要诊断编码": "principal_dx",
    "主要诊断": "principal_dx",
    "其他诊断编码": "secondary_dx",
    "次要诊断编码": "secondary_dx",
    "其他诊断": "secondary_dx",
    "主要手术及操作编码": "principal_procedure",
    "主要手术操作编码": "principal_procedure",
    "主手术编码": "principal_procedure",
    "手术及操作编码": "procedures",
    "手术操作编码": "procedures",
    "其他手术及操作编码": "procedures",
    "呼吸机使用时间(小时)": "ventilation_hours",
    "呼吸机使用时间（小时）": "ventilation_hours",
    "有创呼吸机使用时间": "ventilation_hours",
    "有创呼吸机使用时间(小时)": "ventilation_hours",
    "总费用": "total_cost",
    "住院总费用": "total_cost",
    "医疗总费用": "total_cost",
    "统筹基金支付": "fund_paid",
    "基金支付": "fund_paid",
    "个人负担": "self_paid",
    "个人自付": "self_paid",
    "医疗机构编码": "hospital_id",
    "定点医药机构编号": "hospital_id",
    "定点医疗机构编码": "hospital_id",
    "机构编码": "hospital_id",
    "医院等级": "hospital_level",
    "医疗机构等级": "hospital_level",
    "险种类型": "insurance_type",
    "险种": "insurance_type",
    "医保类型": "insurance_type",
    "出院日期": "discharge_date",
    "出院时间": "discharge_date",
}

_WIDE = re.compile(r"^(secondary_dx|procedures?|其他诊断编码|手术及操作编码)_?(\d+)$")
_WIDE_TARGET = {
    "secondary_dx": "secondary_dx",
    "procedure": "procedures",
    "procedures": "procedures",
    "其他诊断编码": "secondary_dx",
    "手术及操作编码": "procedures",
}

# Plausibility bounds: values outside them make a row ``invalid`` (they are typing errors, not patients).
_BOUNDS: dict[str, tuple[float, float]] = {
    "age": (0, 150),
    "age_days": (0, 365),
    "birth_weight": (100, 10000),
    "los": (0, 3650),
    "ventilation_hours": (0, 24 * 3650),
}


#: Columns whose unreadable values make a row ``invalid``, and the reason codes of ``PreparedRecords.invalid_reason``
#: (``INVALID_REASONS[code]``). When several values of a row are unreadable, the reason names the column that comes
#: first here.
INVALID_COLUMNS = ("sex", "age", "age_days", "birth_weight", "los", "discharge_type", "ventilation_hours")
INVALID_REASONS = tuple(f"invalid_{name}" for name in INVALID_COLUMNS)


class SchemaError(ValueError):
    """The input cannot be read as discharge records; the message names the columns and rows."""


def _key(header: object) -> str:
    return re.sub(r"\s+", "", str(header)).lower()


_ALIAS_KEYS = {_key(k): v for k, v in ALIASES.items()}


def resolve_columns(
    frame_columns: pd.Index | list[Any], columns: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Map the frame's headers to canonical names.

    ``columns`` maps *input header → canonical name*, like :meth:`pandas.DataFrame.rename`, and wins over the
    built-in aliases. Returns ``(canonical → header, list column → [wide headers in order])``.
    """
    user = dict(columns or {})
    unknown = sorted({v for v in user.values() if v not in CANONICAL_COLUMNS})
    if unknown:
        raise SchemaError(
            f"columns= maps to unknown canonical names {unknown}; known: {sorted(CANONICAL_COLUMNS)}"
        )
    missing_sources = [k for k in user if k not in list(frame_columns)]
    if missing_sources:
        raise SchemaError(f"columns= names headers that are not in the input: {missing_sources}")
    mapping: dict[str, Any] = {}
    wide: dict[str, list[tuple[int, Any]]] = {}
    for header in frame_columns:
        target = user.get(header)
        if target is None:
            target = _ALIAS_KEYS.get(_key(header))
        if target is None:
            m = _WIDE.match(str(header).strip())
            if m:
                wide.setdefault(_WIDE_TARGET[m.group(1)], []).append((int(m.group(2)), header))
            continue
        if target in mapping and mapping[target] != header:
            raise SchemaError(
                f"two input columns map to {target!r}: {mapping[target]!r} and {header!r}; "
                "choose one with columns={...}"
            )
        mapping[target] = header
    wide_sorted = {k: [h for _, h in sorted(v, key=lambda t: t[0])] for k, v in wide.items()}
    for name in wide_sorted:
        if name in mapping:
            raise SchemaError(f"{name!r} is given both as one column ({mapping[name]!r}) and as wide columns")
    return mapping, wide_sorted


#: Canonical columns that hold diagnosis or procedure codes (text that no number parser may touch).
CODE_COLUMNS = ("principal_dx", "secondary_dx", "principal_procedure", "procedures")


def code_headers(frame_columns: Iterable[Any], columns: Mapping[str, str] | None = None) -> list[Any]:
    """The input headers that hold codes (see :data:`CODE_COLUMNS`), by ``columns=``, the built-in aliases and
    the wide forms; readers use it to warn when a workbook stores codes as numbers. Headers that cannot be
    resolved (a duplicated alias, a ``columns=`` naming an absent header) give none: grouping reports those."""
    try:
        mapping, wide = resolve_columns(list(frame_columns), columns)
    except SchemaError:
        return []
    return [mapping[c] for c in CODE_COLUMNS if c in mapping] + [
        h for c in CODE_COLUMNS for h in wide.get(c, [])
    ]


@attrs.frozen
class CodeLists:
    """A list of codes per row in CSR form: row ``i`` holds ``values[offsets[i]:offsets[i+1]]``."""

    offsets: np.ndarray  # int64, length n + 1
    values: pa.DictionaryArray  # normalised codes (dictionary-encoded), no empty strings

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row_index(self) -> np.ndarray:
        """The row of each value (int64)."""
        return np.repeat(np.arange(len(self.offsets) - 1, dtype=np.int64), self.lengths)

    def row(self, i: int) -> list[str]:
        return [str(v) for v in self.values[int(self.offsets[i]) : int(self.offsets[i + 1])].to_pylist()]


@attrs.frozen
class PreparedRecords:
    """Canonical, parsed arrays for ``n`` records, plus a per-row reason code for unreadable rows."""

    n: int
    sex: np.ndarray  # int8: 1 male, 2 female, 0 unknown
    age: np.ndarray  # float64, NaN unknown
    age_days: np.ndarray
    birth_weight: np.ndarray
    los: np.ndarray
    discharge_type: np.ndarray  # float64 code, NaN unknown
    ventilation_hours: np.ndarray
    principal_dx: pa.DictionaryArray  # normalised, "" when missing
    secondary_dx: CodeLists
    procedures: CodeLists
    invalid_reason: np.ndarray  # int8 index into INVALID_REASONS, -1 when the row is readable
    invalid_columns: dict[str, np.ndarray]  # canonical column → bool mask of unreadable values

    @functools.cached_property
    def invalid(self) -> np.ndarray:
        """The reasons as text: an object array of ``invalid_<column>``, "" when the row is readable."""
        return np.array([*INVALID_REASONS, ""], dtype=object)[self.invalid_reason]


_SEX_MAP = {
    "1": 1,
    "2": 2,
    "0": 0,
    "9": 0,
    "M": 1,
    "F": 2,
    "MALE": 1,
    "FEMALE": 2,
    "男": 1,
    "女": 2,
    "未知": 0,
    "未说明": 0,
    "U": 0,
    "": 0,
}


def _parse_sex(values: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.zeros(n, np.int8), np.zeros(n, bool)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        num = values.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.zeros(n, np.int8)
        out[num == 1] = 1
        out[num == 2] = 2
        bad = ~(np.isnan(num) | np.isin(num, [0, 1, 2, 9]))
        return out, bad
    codes, uniques = _factorize(_to_arrow_strings(values))
    mapped = np.array(
        [_SEX_MAP.get(re.sub(r"\.0$", "", str(u).strip().upper()), -1) for u in uniques] + [0], dtype=np.int8
    )
    sex = mapped[codes]
    bad = sex < 0
    sex[bad] = 0
    return sex, bad


def _factorize(text: pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 for missing) and distinct values of a text column, via Arrow's hash kernel."""
    encoded = pc.dictionary_encode(text)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    return codes, encoded.dictionary.to_pylist()


def _parse_number(values: pd.Series | None, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.full(n, np.nan), np.zeros(n, bool)
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(n, np.nan), np.ones(n, bool)
    lo, hi = _BOUNDS.get(name, (-np.inf, np.inf))
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":  # NaN already: no missing-value pass
        return _within(values.to_numpy(dtype=np.float64), lo, hi)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _within(values.to_numpy(dtype=np.float64, na_value=np.nan), lo, hi)
    arr = _to_arrow_strings(values)
    plain = _plain_numbers(arr)
    if plain is not None:
        return _within(plain, lo, hi)
    # parse and check each distinct text once: ages, days and codes repeat across millions of rows
    codes, uniques = _factorize(arr)
    text = pd.Series(uniques, dtype="string").str.strip()
    present = (text.notna() & (text != "")).to_numpy(dtype=bool, na_value=False)
    coerced: pd.Series = pd.to_numeric(text.where(pd.Series(present, index=text.index)), errors="coerce")
    parsed = np.append(coerced.to_numpy(dtype=np.float64, na_value=np.nan), np.nan)  # the last for missing
    unreadable = np.append(np.isnan(parsed[:-1]) & present, False)
    parsed, outside = _within(parsed, lo, hi)
    return parsed[codes], (unreadable | outside)[codes]


def _plain_numbers(arr: pa.Array) -> np.ndarray | None:
    """A text column of plain numbers and missing cells, parsed in one Arrow cast (NaN for missing); None when a
    cell needs the careful path of :func:`_parse_number` (spaces, empty text, words, ``nan`` written out)."""
    try:
        num = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    out = num.to_numpy(zero_copy_only=False)
    if int(np.isnan(out).sum()) != num.null_count:  # "nan" as text is unreadable, not missing
        return None
    return out


def _within(num: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Numbers outside ``[lo, hi]`` or infinite become NaN and are flagged (NaN itself is missing, not bad)."""
    with np.errstate(invalid="ignore"):
        bad = (num < lo) | (num > hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):  # within finite bounds, infinities are caught above
        bad |= np.isinf(num)
    return (np.where(bad, np.nan, num) if bad.any() else num), bad


def _missing_scalar(value: object) -> bool:
    """A missing cell of an object column: None, pandas' NA / NaT, or a float NaN (which pandas puts in a column
    that mixes numbers and text; it must not become the text "nan", which is unreadable)."""
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def _to_arrow_strings(values: pd.Series) -> pa.Array:
    """A pandas column of codes as a pyarrow large_string array (numbers and other scalars as text)."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        arr = pa.array([None if _missing_scalar(v) else str(v) for v in values.astype(object)])
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if is_list_type(
        arr.type
    ):  # a list<string> code column (Parquet, pd.ArrowDtype): one "|"-joined text a row
        return join_code_lists(arr)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        if pa.types.is_null(arr.type):
            return pa.array([None] * len(values), type=pa.large_string())
        arr = pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.large_string())
    return as_array(arr.cast(pa.large_string()))


def _lists_from_strings(arr: pa.Array) -> CodeLists:
    """Split cells on ``|`` (C speed), then handle each distinct piece once: other separators, normalisation."""
    # a null cell gives a null list, no pieces (an empty cell gives one empty piece: no code either); the new
    # list array's offsets and values are already the CSR form
    lists = pc.split_pattern(arr, "|")
    list_offsets = lists.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    pieces = pc.dictionary_encode(lists.values)
    piece_idx = pieces.indices.to_numpy(zero_copy_only=False)
    codes, several = split_distinct(pieces.dictionary)
    if several:  # some piece holds several codes ("A,B"): the general expansion
        parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        per_piece = [[c] if c else [] for c in codes.to_pylist()]
        for i, parts in several.items():
            per_piece[i] = parts
        return _expand(len(arr), parents, piece_idx.astype(np.int64), per_piece)
    return _single_code_pieces(list_offsets, piece_idx, codes)


def _single_code_pieces(list_offsets: np.ndarray, piece_idx: np.ndarray, codes: pa.Array) -> CodeLists:
    """CSR lists when every distinct piece stands for at most one code: no gather, just drop the empty pieces.

    ``list_offsets`` delimit each row's pieces, ``piece_idx`` is each piece's distinct-piece index and ``codes``
    each distinct piece's code ("" for none). Codes that several pieces normalise to (``a`` and ``A``) share one
    dictionary entry; the dictionary is in first-seen order and holds no "".
    """
    present = pc.if_else(pc.equal(codes, ""), pa.scalar(None, pa.large_string()), codes)
    distinct = pc.dictionary_encode(present)  # nulls ("" pieces) stay null, out of the dictionary
    code_of_piece = distinct.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    values = np.take(code_of_piece, piece_idx)
    offsets = list_offsets
    if (code_of_piece < 0).any():  # some piece is empty ("", "|", ";"): drop those and shift the offsets
        kept = values >= 0
        kept_before = np.zeros(len(values) + 1, np.int64)
        np.cumsum(kept, out=kept_before[1:])
        values, offsets = values[kept], kept_before[list_offsets]
    return CodeLists(
        offsets, pa.DictionaryArray.from_arrays(pa.array(values, pa.int32()), distinct.dictionary)
    )


def _expand(n: int, parents: np.ndarray, piece_idx: np.ndarray, per_piece: list[list[str]]) -> CodeLists:
    """Rows made of pieces, each distinct piece standing for 0..k codes, as CSR lists of dictionary codes."""
    codes = list(dict.fromkeys(c for piece in per_piece for c in piece))
    position = {c: i for i, c in enumerate(codes)}
    piece_len = np.array([len(p) for p in per_piece], dtype=np.int64)
    piece_start = np.concatenate([[0], np.cumsum(piece_len)])[:-1].astype(np.int64)
    piece_codes = np.array([position[c] for p in per_piece for c in p], dtype=np.int32)
    lens = piece_len[piece_idx] if len(piece_idx) else np.zeros(0, np.int64)
    row_counts = (
        np.bincount(parents, weights=lens, minlength=n).astype(np.int64) if n else np.zeros(0, np.int64)
    )
    offsets = np.concatenate([[0], np.cumsum(row_counts)]).astype(np.int64)
    total = int(lens.sum())
    firsts = np.repeat(piece_start[piece_idx] if len(piece_idx) else piece_start[:0], lens)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    gathered = piece_codes[firsts + within] if total else np.zeros(0, np.int32)
    values = pa.DictionaryArray.from_arrays(
        pa.array(gathered, type=pa.int32()), pa.array(codes, type=pa.large_string())
    )
    return CodeLists(offsets, values)


def _lists_from_objects(values: pd.Series) -> CodeLists:
    """Cells that hold list-likes (or mixed with strings/NaN); every cell is its own piece."""
    per_cell = [split_code_list(v) for v in values.astype(object)]
    n = len(per_cell)
    return _expand(n, np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64), per_cell)


def _code_lists(frame: pd.DataFrame, headers: list[Any]) -> CodeLists:
    """One list column, several wide columns, or (first) a separate principal column, as CSR lists."""
    n = len(frame)
    if not headers:
        return _expand(n, np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    if len(headers) == 1:
        col = frame[headers[0]]
        if col.dtype == object and col.map(lambda v: isinstance(v, list | tuple | np.ndarray | set)).any():
            return _lists_from_objects(col)
        return _lists_from_strings(_to_arrow_strings(col))
    parts = [pc.fill_null(_to_arrow_strings(frame[h]), "") for h in headers]
    return _lists_from_strings(pc.binary_join_element_wise(*parts, pa.scalar("|", pa.large_string())))


def prepare_records(
    frame: pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    *,
    required: tuple[str, ...] = ("principal_dx",),
) -> PreparedRecords:
    """Parse ``frame`` into :class:`PreparedRecords`; raise :class:`SchemaError` if required columns are absent."""
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    mapping, wide = resolve_columns(frame.columns, columns)
    absent = [c for c in required if c not in mapping and c not in wide]
    if absent:
        raise SchemaError(
            f"required column(s) {absent} not found; the input has {list(frame.columns)[:30]}. "
            "Rename them or pass columns={'<your header>': '<canonical name>'}."
        )
    n = len(frame)

    def col(name: str) -> pd.Series | None:
        return frame[mapping[name]] if name in mapping else None

    invalid_cols: dict[str, np.ndarray] = {}
    sex, bad = _parse_sex(col("sex"), n)
    invalid_cols["sex"] = bad
    nums: dict[str, np.ndarray] = {}
    for name in ("age", "age_days", "birth_weight", "los", "discharge_type", "ventilation_hours"):
        nums[name], invalid_cols[name] = _parse_number(col(name), n, name)

    pdx_col = col("principal_dx")
    pdx = normalize_codes_array(
        _to_arrow_strings(pdx_col) if pdx_col is not None else pa.nulls(n, type=pa.large_string())
    )
    secondary = _code_lists(
        frame, [mapping["secondary_dx"]] if "secondary_dx" in mapping else wide.get("secondary_dx", [])
    )
    proc_headers = [mapping["procedures"]] if "procedures" in mapping else wide.get("procedures", [])
    if "principal_procedure" in mapping:
        proc_headers = [mapping["principal_procedure"], *proc_headers]
    procedures = _code_lists(frame, proc_headers)

    invalid = np.full(n, -1, np.int8)
    for code in reversed(range(len(INVALID_COLUMNS))):  # the first column's reason is written last and wins
        invalid[invalid_cols[INVALID_COLUMNS[code]]] = code
    return PreparedRecords(
        n=n,
        sex=sex,
        **nums,
        principal_dx=pdx,
        secondary_dx=secondary,
        procedures=procedures,
        invalid_reason=invalid,
        invalid_columns=invalid_cols,
    )


def record_to_frame(record: Mapping[str, Any] | pd.Series) -> pd.DataFrame:
    """One record (a mapping or a Series) as a one-row frame, list values kept as lists."""
    data = dict(record)
    return pd.DataFrame({k: [v] for k, v in data.items()})


def plausible_range(name: str) -> tuple[float, float]:
    """The bounds outside which a value of the numeric column ``name`` makes a row ``invalid`` when grouping
    (``(-inf, inf)`` for a column without bounds). Exposed so that payment and policy limits use the same."""
    return _BOUNDS.get(name, (-np.inf, np.inf))


def parse_numeric_column(values: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The numeric canonical column ``name`` read exactly as grouping reads it: float64 values (NaN where missing
    or unusable) and the mask of unusable values (not a number, or outside :func:`plausible_range`). Payment
    calls it so that ``group`` and ``pay`` apply one validation."""
    return _parse_number(values, len(values), name)


# ------------------------------------------------------------------------------------------------------ dates

_TIME = r"(?:{sep}(?P<hour>\d{{1,2}}):(?P<minute>\d{{2}})(?::(?P<second>\d{{2}})(?:\.\d{{1,9}})?)?)?"

#: The date forms a column may use, one form per column; each is unambiguous (the year comes first, or the value
#: is an Excel serial day number). Dates and times may carry a time of day (``2025-03-01 10:30:00``).
DATE_FORMATS: dict[str, str] = {
    "YYYY-MM-DD": r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})" + _TIME.format(sep="[ T]"),
    "YYYY/MM/DD": r"(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})" + _TIME.format(sep=" "),
    "YYYY.MM.DD": r"(?P<year>\d{4})\.(?P<month>\d{1,2})\.(?P<day>\d{1,2})" + _TIME.format(sep=" "),
    "YYYY年MM月DD日": r"(?P<year>\d{4})年(?P<month>\d{1,2})月(?P<day>\d{1,2})日" + _TIME.format(sep=" ?"),
    "YYYYMMDD": r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})",
    "Excel serial day number": r"(?P<serial>\d{1,5}(?:\.\d+)?)",
}
# Day and month first, in either order (03/01/2025 is 3 January or 1 March): refused, never guessed.
_DAY_MONTH_FIRST = r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:[ T].*)?"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "ns")  # serial 1 is 1900-01-01 (Excel's 1900 leap day aside)
_ROWS_SHOWN = 5


class DateFormatError(SchemaError):
    """A date column that cannot be read as one unambiguous form: ``column``, ``problem`` (why) and ``positions``
    (the 0-based rows concerned, for callers that name rows their own way)."""

    def __init__(self, column: str, problem: str, positions: np.ndarray, labels: pd.Index, text: np.ndarray):
        self.column, self.problem = column, problem
        self.positions: tuple[int, ...] = tuple(int(p) for p in positions)
        shown = ", ".join(f"{labels[p]!r} ({text[p]!r})" for p in self.positions[:_ROWS_SHOWN])
        more = len(self.positions) - _ROWS_SHOWN
        rows = shown + (f" and {more} more" if more > 0 else "")
        super().__init__(f"column {column!r}: {problem}: row(s) {rows}")


def _date_texts(values: pd.Series) -> np.ndarray:
    """A date column as stripped text (an object array, None where missing): numbers without a spurious ``.0``,
    dates and datetimes (Excel cells) in ISO form."""

    def text(v: Any) -> str | None:
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, dt.datetime):
            return v.isoformat(sep=" ") if v.time() != dt.time() else v.date().isoformat()
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        out = str(v).strip()
        return out or None

    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    distinct = np.array([text(u) for u in uniques] + [None], dtype=object)
    return distinct[codes]


def parse_dates(values: pd.Series, column: str = "discharge_date") -> pd.Series:
    """The one reader of discharge dates: datetime64 values with ``values``' index, NaT where a cell is empty.

    Datetime columns are taken as they are (time zones dropped, wall time kept). Anything else is read as text in
    one of :data:`DATE_FORMATS`, the same form for the whole column, decided from its values: ``2025-03-01``,
    ``2025/3/1``, ``20250301``, ``2025年3月1日``, or Excel serial day numbers (``45717``). Day/month-first forms
    (``03/01/2025``: 3 January or 1 March?), a column mixing forms, and text that is no calendar date raise
    :class:`DateFormatError` naming the column and its first rows, rather than a date guessed value by value.
    """
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or (
        isinstance(dtype, pd.ArrowDtype) and pa.types.is_temporal(dtype.pyarrow_dtype)
    ):
        given = pd.to_datetime(pd.Series(values, copy=False))
        if given.dt.tz is not None:
            given = given.dt.tz_localize(None)
        return pd.Series(given.to_numpy(dtype="datetime64[ns]"), index=values.index)
    text = _date_texts(values)
    present = pd.notna(text)
    labels = values.index
    codes, uniques = pd.factorize(pd.Series(text[present], dtype=object))
    distinct = pd.Series(uniques, dtype=object).astype(str)
    rows = np.flatnonzero(present)

    def fail(problem: str, distinct_mask: np.ndarray) -> DateFormatError:
        return DateFormatError(column, problem, rows[distinct_mask[codes]], labels, text)

    ambiguous = distinct.str.fullmatch(_DAY_MONTH_FIRST).to_numpy(dtype=bool)
    if ambiguous.any():
        raise fail(
            "day and month order is ambiguous (03/01/2025: 3 January or 1 March?); write YYYY-MM-DD",
            ambiguous,
        )
    form = np.full(len(distinct), "", dtype=object)
    for name, pattern in DATE_FORMATS.items():
        form[(form == "") & distinct.str.fullmatch(pattern).to_numpy(dtype=bool)] = name
    if (form == "").any():
        raise fail(f"not a date in one of the forms {', '.join(DATE_FORMATS)}", form == "")
    row_forms = form[codes]
    if len(set(row_forms)) > 1:
        first = str(row_forms[0])
        raise fail(f"one date form per column, {first} as in its first date, not", form != first)
    if not len(distinct):
        return pd.Series(np.full(len(values), np.datetime64("NaT"), "datetime64[ns]"), index=labels)
    parts = distinct.str.extract(DATE_FORMATS[str(form[0])])
    stamps: pd.Series
    if "serial" in parts:
        days = pd.to_numeric(parts["serial"]).to_numpy(dtype=np.float64)  # at most 5 digits: before 2174
        offsets = pd.to_timedelta(days, unit="D").to_numpy()
        stamps = pd.Series(np.where(days >= 1, _EXCEL_EPOCH + offsets, np.datetime64("NaT", "ns")))
    else:
        fields = {
            k: pd.to_numeric(parts.get(k, pd.Series(0, index=parts.index))).fillna(0)
            for k in ("year", "month", "day", "hour", "minute", "second")
        }
        stamps = pd.to_datetime(pd.DataFrame(fields), errors="coerce")
    unreadable = stamps.isna().to_numpy()
    if unreadable.any():
        raise fail("not a calendar date", unreadable)
    out = np.full(len(values), np.datetime64("NaT"), "datetime64[ns]")
    out[rows] = stamps.to_numpy(dtype="datetime64[ns]")[codes]
    return pd.Series(out, index=labels)
