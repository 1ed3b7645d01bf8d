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
    "CodeVocabularies",
    "as_array",
    "empty_mask",
    "is_list_type",
    "join_code_lists",
    "normalize_code",
    "normalize_codes_array",
    "normalize_distinct",
    "split_code_list",
    "split_distinct",
    "vocabulary_ids",
]

#: Separators accepted between codes in one cell, besides white space (spaces, tabs and the line breaks that
#: Excel puts in cells); the documented one is ``|``. Each full-width form of an ASCII separator is listed too,
#: since codes are folded to ASCII only after the cell is split.
LIST_SEPARATORS = "|,;，；、｜"

_FULLWIDTH = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
    | {"\u3000": " ", "。": ".", "＊": "*", "＋": "+"}
)
_SPACES = re.compile(r"\s+")
_SPLIT = re.compile("[" + re.escape(LIST_SEPARATORS) + r"\s]")
# The same white space as ``_SPACES`` among ASCII characters (bytes, and an RE2 class for Arrow's regex kernels).
_ASCII_SPACE_BYTES = [c for c in range(128) if _SPACES.fullmatch(chr(c))]
_ASCII_SPACES = "[" + "".join(f"\\x{c:02x}" for c in _ASCII_SPACE_BYTES) + "]"
_SEPARATOR_BYTES = [ord(c) for c in LIST_SEPARATORS if ord(c) < 128] + _ASCII_SPACE_BYTES
# A separator, or white space between two other characters (blanks around a code separate nothing), in RE2.
_ANY_SEPARATOR = (
    "[" + "".join(f"\\x{{{ord(c):x}}}" for c in LIST_SEPARATORS) + "]"
    f"|[^{_ASCII_SPACES[1:-1]}]{_ASCII_SPACES}+[^{_ASCII_SPACES[1:-1]}]"
)
_EMPTY = pa.scalar("", pa.large_string())


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
    if not pa.types.is_dictionary(arr.type):
        if not _is_text(arr):
            arr = pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.large_string())
        arr = pc.dictionary_encode(arr)  # nulls stay null indices: no copy of the strings to fill them
    dictionary = arr.dictionary
    if _is_text(dictionary):
        normalised = normalize_distinct(dictionary)
    else:
        normalised = pa.array([normalize_code(v) for v in dictionary.to_pylist()], pa.large_string())
    # a null index stands for "": it becomes -1, which picks the "" appended to the dictionary
    uniques = pa.concat_arrays([normalised, pa.array([""], pa.large_string())])
    indices = arr.indices.fill_null(-1) if arr.indices.null_count else arr.indices
    return _dictionary(indices.to_numpy(zero_copy_only=False), uniques)


def _is_text(arr: pa.Array) -> bool:
    return pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)


def normalize_distinct(values: pa.Array) -> pa.Array:
    """:func:`normalize_code` of every entry of a (large) string array, nulls giving "".

    Meant for dictionaries of distinct values. ASCII entries, nearly all in practice, go through Arrow kernels;
    the others (full-width characters, Chinese text) through :func:`normalize_code` itself, so that the result
    is the scalar function's for every input.
    """
    values = pc.fill_null(values.cast(pa.large_string()), _EMPTY)
    out = _normalize_ascii(values, _bytes_used(values))
    other = pc.invert(pc.string_is_ascii(values))
    if pc.any(other).as_py():
        fixed = [normalize_code(v) for v in values.filter(other).to_pylist()]
        out = pc.replace_with_mask(out, other, pa.array(fixed, pa.large_string()))
    return out


def _bytes_used(values: pa.Array) -> np.ndarray:
    """Which of the 256 byte values occur in the character data of a (large) string array (a superset when the
    array is a slice), to skip the kernels that would change nothing."""
    data = values.buffers()[2]
    if data is None:
        return np.zeros(256, bool)
    return np.bincount(np.frombuffer(data, np.uint8), minlength=256) > 0


def _normalize_ascii(values: pa.Array, used: np.ndarray) -> pa.Array:
    """:func:`normalize_code` for ASCII text without nulls, in Arrow kernels; ``used`` from :func:`_bytes_used`.

    The same steps in the same order: white space removed (anywhere), trailing dots dropped, upper-cased, then
    every ``X`` after the first character lower-cased. Non-ASCII text is not handled correctly here.
    """
    spaces = [b for b in _ASCII_SPACE_BYTES if used[b]]
    if spaces == [ord(" ")]:  # the usual stray blanks: a plain replace, much faster than the regex
        text = pc.replace_substring(values, " ", "")
    else:
        text = pc.replace_substring_regex(values, _ASCII_SPACES, "") if spaces else values
    text = pc.ascii_upper(pc.ascii_rtrim(text, characters="."))
    head = pc.utf8_slice_codeunits(text, 0, 1)
    tail = pc.replace_substring(pc.utf8_slice_codeunits(text, 1), "X", "x")
    return pc.binary_join_element_wise(head, tail, _EMPTY)


def split_distinct(pieces: pa.Array) -> tuple[pa.Array, dict[int, list[str]]]:
    """:func:`split_code_list` of every entry of a (large) string array of distinct pieces.

    Returns ``(codes, several)``: ``codes[i]`` is piece ``i``'s only code ("" when it holds none), and
    ``several`` maps the pieces that hold two or more codes (``"A,B"``) to their codes; ``codes`` is "" for
    them. ASCII pieces without a separator, nearly all, are normalised in Arrow kernels; the others are split
    and normalised by :func:`split_code_list` itself.
    """
    pieces = pc.fill_null(pieces.cast(pa.large_string()), _EMPTY)
    used = _bytes_used(pieces)
    codes = _normalize_ascii(pieces, used)
    special = pc.invert(pc.string_is_ascii(pieces))
    if used[_SEPARATOR_BYTES].any():
        special = pc.or_(special, pc.match_substring_regex(pieces, _ANY_SEPARATOR))
    several: dict[int, list[str]] = {}
    if pc.any(special).as_py():
        positions = np.flatnonzero(special.to_numpy(zero_copy_only=False))
        split = [split_code_list(v) for v in pieces.take(positions).to_pylist()]
        for i, parts in zip(positions.tolist(), split, strict=True):
            if len(parts) > 1:
                several[i] = parts
        single = [parts[0] if len(parts) == 1 else "" for parts in split]
        codes = pc.replace_with_mask(codes, special, pa.array(single, pa.large_string()))
    return codes, several


def _dictionary(indices: np.ndarray, uniques: pa.Array) -> pa.DictionaryArray:
    """Indices into ``uniques`` (-1 for the last) as a dictionary array whose dictionary has no repeated values
    (first-seen order)."""
    distinct = pc.dictionary_encode(uniques)
    remap = distinct.indices.to_numpy(zero_copy_only=False)
    return pa.DictionaryArray.from_arrays(pa.array(np.take(remap, indices), pa.int32()), distinct.dictionary)


def is_list_type(type_: pa.DataType) -> bool:
    """Whether an Arrow type is a list (plain, large, fixed-size or view)."""
    return bool(
        pa.types.is_list(type_)
        or pa.types.is_large_list(type_)
        or pa.types.is_fixed_size_list(type_)
        or pa.types.is_list_view(type_)
        or pa.types.is_large_list_view(type_)
    )


def join_code_lists(lists: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A list column (a Parquet ``list<string>`` code column) as text, each list ``|``-joined: the cell form every
    reader and :func:`split_code_list` accept. A null list stays null; null or empty items are left out."""
    arr = as_array(lists).cast(pa.large_list(pa.large_string()))
    items = pc.fill_null(pc.list_flatten(arr), _EMPTY)
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]), pa.int64())
    fresh = pa.LargeListArray.from_arrays(offsets, items, mask=arr.is_null())
    return pc.binary_join(fresh, pa.scalar("|", pa.large_string()))


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array from a possibly chunked one."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 0:
            return pa.array([], type=values.type)
        return values.combine_chunks() if values.num_chunks > 1 else values.chunk(0)
    return values


def empty_mask(codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where a (normalised, dictionary-encoded or plain) code array holds "" or null."""
    codes = as_array(codes)
    if pa.types.is_dictionary(codes.type):  # compared once per distinct code; a null index counts as ""
        return np.take(np.append(empty_mask(codes.dictionary), True), _indices(codes))
    return pc.equal(pc.fill_null(codes, ""), "").to_numpy(zero_copy_only=False)


#: Below this many codes a lookup goes through a Python dict built once per vocabulary: Arrow's ``index_in``
#: hashes the whole vocabulary (tens of thousands of codes) on every call, which dominates grouping one record.
_SMALL_LOOKUP = 256
_POSITIONS: dict[int, tuple[pa.Array, dict[str, int]]] = {}


def _positions(vocabulary: pa.Array) -> dict[str, int]:
    """``code → position`` of a vocabulary, built once (kept for the few vocabularies a process uses)."""
    entry = _POSITIONS.get(id(vocabulary))
    if entry is None or entry[0] is not vocabulary:
        if len(_POSITIONS) >= 16:
            _POSITIONS.clear()
        entry = (vocabulary, {code: i for i, code in enumerate(vocabulary.to_pylist())})
        _POSITIONS[id(vocabulary)] = entry  # holding the array keeps its id from being reused
    return entry[1]


def vocabulary_ids(codes: pa.Array | pa.ChunkedArray, vocabulary: pa.Array) -> np.ndarray:
    """Positions of normalised codes in a vocabulary (``len(vocabulary)`` when unknown or empty), as np.intp for
    fast indexing; a dictionary array is looked up once per distinct code, a short array through a dict."""
    codes = as_array(codes)
    if len(codes) == 0:
        return np.zeros(0, np.intp)
    if pa.types.is_dictionary(codes.type):
        per_code = np.append(vocabulary_ids(codes.dictionary, vocabulary), len(vocabulary))
        return np.take(per_code, _indices(codes))
    if len(codes) <= _SMALL_LOOKUP:
        positions, unknown = _positions(vocabulary), len(vocabulary)
        return np.array([positions.get(c, unknown) for c in codes.to_pylist()], np.intp)
    found = pc.index_in(codes, value_set=vocabulary)
    return pc.fill_null(found, len(vocabulary)).to_numpy(zero_copy_only=False).astype(np.intp)


class CodeVocabularies:
    """Lookups in a compiled definition's sorted code vocabularies ``dx_codes`` and ``proc_codes`` (set by the
    subclass): a code's id is its position, and the id one past the end stands for an unknown or empty code."""

    __slots__ = ()
    dx_codes: pa.Array
    proc_codes: pa.Array

    @property
    def n_dx(self) -> int:
        return len(self.dx_codes)

    @property
    def n_proc(self) -> int:
        return len(self.proc_codes)

    def dx_ids(self, codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Ids of normalised diagnosis codes; unknown and empty codes get the sentinel ``n_dx``."""
        return vocabulary_ids(codes, self.dx_codes)

    def proc_ids(self, codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Ids of normalised procedure codes; unknown and empty codes get the sentinel ``n_proc``."""
        return vocabulary_ids(codes, self.proc_codes)


def _indices(codes: pa.DictionaryArray) -> np.ndarray:
    """A dictionary array's indices as numpy, -1 for null (without a copy when there are none)."""
    indices = codes.indices
    return (indices.fill_null(-1) if indices.null_count else indices).to_numpy(zero_copy_only=False)


def split_code_list(value: object) -> list[str]:
    """Split one cell of codes (``"A|B"``, a list, NaN) into normalised codes, dropping empty entries.

    Text is split on :data:`LIST_SEPARATORS` and on white space: ``"K81.000\\nE11.900"`` and ``"K81.000 E11.900"``
    are two codes, never one unknown ``K81.000E11.900``. A list's items are split the same way.
    """
    if value is None or value is pd.NA:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, str):
        return [c for c in (normalize_code(p) for p in _SPLIT.split(value)) if c]
    if isinstance(value, Iterable):
        return [c for item in value for c in split_code_list(item)]
    code = normalize_code(value)
    return [code] if code else []
