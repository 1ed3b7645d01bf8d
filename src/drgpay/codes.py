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

__all__ = ["LIST_SEPARATORS", "normalize_code", "normalize_codes_array", "split_code_list"]

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


def normalize_codes_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Vectorised :func:`normalize_code` over a pyarrow string array (nulls become "")."""
    arr = pc.cast(values, pa.large_string()) if not pa.types.is_large_string(values.type) else values
    arr = pc.fill_null(arr, "")
    if _needs_fullwidth_fold(arr):
        arr = pa.array([normalize_code(v) for v in arr.to_pylist()], type=pa.large_string())
        return arr
    arr = pc.replace_substring_regex(arr, r"\s+", "")
    arr = pc.utf8_upper(arr)
    head = pc.utf8_slice_codeunits(arr, 0, 1)
    tail = pc.replace_substring(pc.utf8_slice_codeunits(arr, 1), "X", "x")
    arr = pc.binary_join_element_wise(head, tail, pa.scalar("", pa.large_string()))
    return pc.replace_substring_regex(arr, r"\.+$", "")


def _needs_fullwidth_fold(arr: pa.Array | pa.ChunkedArray) -> bool:
    """True when any value holds a non-ASCII character (rare; handled by the exact scalar path)."""
    if len(arr) == 0:
        return False
    ascii_ok = pc.all(pc.string_is_ascii(arr)).as_py()
    return not bool(ascii_ok)


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
