"""ICD-10 医保版 / ICD-9-CM-3 医保版 code normalisation and list splitting.

Codes arrive typed by people and exported by many hospital systems: full-width characters, stray spaces,
upper-case ``X`` in extension codes, trailing dots. One normalisation is applied everywhere (builder, loader,
engine, reference grouper) so that a code matches the same way on every path. Nothing else is guessed: a code
that is not in the grouper's list after normalisation is *unknown*, never fuzzily matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "LIST_SEPARATORS",
    "as_array",
    "empty_mask",
    "normalize_code",
    "normalize_codes_array",
    "split_code_list",
]

#: Separators accepted between codes in one cell; the documented one is ``|``.
LIST_SEPARATORS = "|,;，；、"

_FULLWIDTH = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
    | {"\u3000": " ", "。": ".", "＊": "*", "＋": "+"}
)
_SPACES = re.compile(r"\s+")
_SPLIT = re.compile("[" + re.escape(LIST_SEPARATORS) + "]")


def normalize_code(code: object) -> str:
    """Return the canonical spelling of one diagnosis or procedure code ("" for missing).

    Full-width characters are folded to ASCII, white space removed, letters upper-cased except the lower-case
    ``x`` that the 医保版 uses inside codes (``I10.x05``, ``K80.100x001``), and trailing dots dropped.
    """
    if code is None or (isinstance(code, float) and np.isnan(code)) or code is pd.NA:
        return ""
    text = _SPACES.sub("", str(code).translate(_FULLWIDTH)).rstrip(".")
    if not text:
        return ""
    text = text.upper()
    # The first character is the ICD-10 chapter letter (or a digit for ICD-9-CM-3); every later X is the
    # 医保版 extension marker, written lower-case in the official lists.
    return text[0] + text[1:].replace("X", "x")


def normalize_codes_array(values: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """Vectorised :func:`normalize_code`: a dictionary-encoded array of normalised codes (nulls become "").

    Each distinct input string is normalised once, so the cost follows the number of distinct codes, not rows.
    """
    arr = as_array(values)
    if pa.types.is_dictionary(arr.type):
        dictionary, indices = arr.dictionary, arr.indices.fill_null(-1)
        idx = indices.to_numpy(zero_copy_only=False).astype(np.int64)
        uniques = [normalize_code(v) for v in dictionary.to_pylist()] + [""]
        return _dictionary(np.where(idx < 0, len(uniques) - 1, idx), uniques)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.large_string())
    encoded = pc.dictionary_encode(pc.fill_null(arr, ""))
    uniques = [normalize_code(v) for v in encoded.dictionary.to_pylist()]
    return _dictionary(encoded.indices.to_numpy(zero_copy_only=False), uniques)


def _dictionary(indices: np.ndarray, uniques: list[str]) -> pa.DictionaryArray:
    """Indices into ``uniques`` as a dictionary array whose dictionary has no repeated values."""
    distinct = list(dict.fromkeys(uniques))
    position = {v: i for i, v in enumerate(distinct)}
    remap = np.array([position[v] for v in uniques], dtype=np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.array(remap[indices] if len(indices) else np.zeros(0, np.int32), type=pa.int32()),
        pa.array(distinct, type=pa.large_string()),
    )


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array from a possibly chunked one."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 0:
            return pa.array([], type=values.type)
        return values.combine_chunks() if values.num_chunks > 1 else values.chunk(0)
    return values


def empty_mask(codes: pa.Array) -> np.ndarray:
    """True where a (normalised, dictionary-encoded or plain) code array holds ""."""
    if pa.types.is_dictionary(codes.type):
        empty = np.array([v == "" for v in codes.dictionary.to_pylist()] + [True], dtype=bool)
        idx = codes.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return empty[idx]
    return pc.equal(pc.fill_null(codes, ""), "").to_numpy(zero_copy_only=False)


def split_code_list(value: object) -> list[str]:
    """Split one cell of codes (``"A|B"``, a list, NaN) into normalised codes, dropping empty entries."""
    if value is None or value is pd.NA:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, str):
        parts: Iterable[object] = _SPLIT.split(value)
    elif isinstance(value, Iterable):
        parts = list(value)
    else:
        parts = [value]
    return [c for c in (normalize_code(p) for p in parts) if c]
