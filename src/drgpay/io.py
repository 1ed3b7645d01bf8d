"""Reading exports in chunks and writing results incrementally (CSV, Parquet, Excel in; CSV, Parquet out).

Every column is read as text: codes such as ``96.0800`` or ``I10.x05`` must never pass through a number parser,
and the schema layer decides what each column means. Chunks keep memory bounded whatever the file size.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import itertools
import math
import os
import queue
import re
import threading
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from io import RawIOBase
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from drgpay.codes import is_list_type, join_code_lists
from drgpay.schema import code_headers

__all__ = [
    "OUTPUT_FORMATS",
    "BackgroundWriter",
    "InputError",
    "ResultWriter",
    "count_rows_hint",
    "output_format",
    "prefetch",
    "read_chunks",
    "read_frame",
    "read_text",
    "release_memory",
    "use_command_allocator",
]

DEFAULT_CHUNK_ROWS = 250_000

#: CSV bytes parsed per block. Each block's column buffers are sized for the block and shared by every batch cut
#: from it, so large blocks hold much more memory than the rows in flight (16 MiB blocks: about 600 MB at
#: 250k-row chunks); 1 MiB blocks parse as fast.
CSV_BLOCK_BYTES = 1 << 20

T = TypeVar("T")


class InputError(ValueError):
    """The input file cannot be read as it is (mixed or unknown encoding, a malformed row, duplicated headers); the
    message names the file and the line."""


#: Bytes sampled to choose a CSV's encoding; the rest of the file is checked as it is read.
ENCODING_SAMPLE_BYTES = 1 << 16
#: The largest CSV block tried for a row longer than :data:`CSV_BLOCK_BYTES` (one huge quoted field).
CSV_MAX_BLOCK_BYTES = 1 << 30

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAS_CJK = re.compile(f"[{_CJK}]")
# What a line of Chinese text holds besides ASCII: CJK characters, their punctuation and full-width forms.
_CHINESE_TEXT = re.compile(
    f"[\x00-\x7f\u00b7\u00d7\u2000-\u206f\u2160-\u217f\u2460-\u24ff\u3000-\u303f\uff00-\uffef{_CJK}]*"
)


def _utf8_text_line(data: bytes) -> int | None:
    """Where the first line of ``data`` that is UTF-8 Chinese text starts (a byte offset), or None.

    A line counts when it decodes strictly as UTF-8, holds a CJK character and nothing but ASCII and Chinese text:
    in a GB18030/GBK file such a line is a row from a UTF-8 export, not GBK bytes that happen to be valid UTF-8.
    Only lines with a 3- or 4-byte UTF-8 sequence are decoded (found with numpy: GBK text seldom forms one).
    """
    for start in _utf8_wide_char_lines(data):
        end = data.find(b"\n", start)
        try:
            text = data[start : len(data) if end < 0 else end].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if _HAS_CJK.search(text) and _CHINESE_TEXT.fullmatch(text):
            return start
    return None


def _utf8_wide_char_lines(data: bytes) -> Iterator[int]:
    """The start of each line holding a well-formed 3- or 4-byte UTF-8 sequence, in order, each once."""
    byte = np.frombuffer(data, np.uint8)
    if len(byte) < 3:
        return
    follows = np.append((byte[1:] & 0xC0) == 0x80, False)  # byte i + 1 is a continuation byte
    wide = (byte >= 0xE0) & (byte <= 0xEF)
    wide[:-2] &= follows[:-2] & follows[1:-1]
    four = (byte >= 0xF0) & (byte <= 0xF4)
    four[:-3] &= follows[:-3] & follows[1:-2] & follows[2:-1]
    wide[-2:] = four[-3:] = False
    hits = np.flatnonzero(wide | four)
    next_hit = 0
    while next_hit < len(hits):
        start = data.rfind(b"\n", 0, int(hits[next_hit])) + 1
        yield start
        end = data.find(b"\n", int(hits[next_hit]))
        if end < 0:
            return
        next_hit = int(np.searchsorted(hits, end))


def _line_blocks(path: Path, block_bytes: int = CSV_BLOCK_BYTES) -> Generator[tuple[int, bytes], None, None]:
    """The file in blocks of whole lines, each with the number of its first line (from 1). Cutting at a newline
    never splits a character of UTF-8 or GB18030 (neither uses the byte 0x0A inside a character)."""
    line, pending = 1, []
    with path.open("rb") as fh:
        while raw := fh.read(block_bytes):
            cut = raw.rfind(b"\n") + 1
            if not cut:  # inside a long line: keep its pieces, join them once
                pending.append(raw)
                continue
            data = b"".join([*pending, raw[:cut]])
            pending = [raw[cut:]]
            yield line, data
            line += data.count(b"\n")
    if rest := b"".join(pending):
        yield line, rest


def _line_of(block: tuple[int, bytes], offset: int) -> int:
    first, data = block
    return first + data.count(b"\n", 0, offset)


def _mixed(path: Path, line: int, other_line: int, line_is: str, other_is: str) -> InputError:
    return InputError(
        f"{path.name}: line {line} is {line_is}, but line {other_line} is {other_is}: the file mixes encodings "
        "(tried utf-8 and gb18030 for the whole file; values are never decoded one by one). Export it again in "
        "one encoding, preferably UTF-8"
    )


def _detect_encoding(path: Path) -> str:
    """The CSV's one encoding, from a strict decoding of its first :data:`ENCODING_SAMPLE_BYTES`: a BOM's
    (UTF-8, UTF-16, UTF-32), else UTF-8, else GB18030 (a superset of GBK, common in Chinese exports).

    A sample that is UTF-8 Chinese text in some lines and not UTF-8 in others is refused (:class:`InputError`
    naming both lines), as is one that is neither encoding; the rest of the file is checked as it is read.
    """
    with path.open("rb") as fh:
        head = fh.read(ENCODING_SAMPLE_BYTES)
        longer = bool(fh.read(1))
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if longer and b"\n" in head:  # whole lines only: no character cut by the sample's end
        head = head[: head.rfind(b"\n") + 1]
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if longer and b"\n" not in head and exc.start > len(head) - 4:  # one long line, a character cut
            return "utf-8"
        bad = (1, head)
        first_bad = _line_of(bad, exc.start)
        before = head[: head.rfind(b"\n", 0, exc.start) + 1]
    utf8_at = _utf8_text_line(before)
    if utf8_at is not None:
        raise _mixed(path, first_bad, _line_of(bad, utf8_at), "not UTF-8 text", "UTF-8 Chinese text")
    try:
        head.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path.name}: line {_line_of(bad, exc.start)} is neither UTF-8 nor GB18030/GBK text (tried utf-8, "
            "gb18030). Export the file again as UTF-8"
        ) from None
    utf8_at = _utf8_text_line(head)
    if utf8_at is not None:
        raise _mixed(path, _line_of(bad, utf8_at), first_bad, "UTF-8 Chinese text", "GB18030/GBK, not UTF-8")
    return "gb18030"


def _utf8_error(path: Path) -> InputError:
    """Arrow found bytes that are not UTF-8 in a file read as UTF-8: the error naming their line (and a line of
    UTF-8 Chinese text before it, when the file mixes encodings)."""
    utf8_at: int | None = None
    for block in _line_blocks(path):
        try:
            block[1].decode("utf-8")
        except UnicodeDecodeError as exc:
            line = _line_of(block, exc.start)
            if utf8_at is None:
                found = _utf8_text_line(block[1][: block[1].rfind(b"\n", 0, exc.start) + 1])
                utf8_at = None if found is None else _line_of(block, found)
            if utf8_at is not None:
                return _mixed(path, line, utf8_at, "not UTF-8 text", "UTF-8 Chinese text")
            return InputError(
                f"{path.name}: line {line} is not UTF-8 text, but the file is read as UTF-8, as its first "
                f"{ENCODING_SAMPLE_BYTES // 1024} KiB are (tried utf-8: one encoding per file, never a guess per "
                "line). Export the file again in one encoding, preferably UTF-8"
            )
        if utf8_at is None and (found := _utf8_text_line(block[1])) is not None:
            utf8_at = _line_of(block, found)
    return InputError(f"{path.name}: not UTF-8 text (tried utf-8)")


class _Gb18030Lines(RawIOBase):
    """A GB18030/GBK file decoded strictly, block by block of whole lines, and handed to Arrow as UTF-8.

    A line that does not decode, or that is UTF-8 Chinese text (a row from another export), raises
    :class:`InputError` naming it: nothing is decoded value by value or re-decoded.
    """

    def __init__(self, path: Path):
        self._path = path
        self._blocks = _line_blocks(path)
        self._out = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._blocks.close()  # closes the file
        super().close()

    def readinto(self, buffer: Any) -> int:
        while self._pos == len(self._out):
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._out, self._pos = self._decode(block), 0
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n

    def _decode(self, block: tuple[int, bytes]) -> bytes:
        return _gb18030_text(self._path, block).encode("utf-8")


def _gb18030_text(path: Path, block: tuple[int, bytes]) -> str:
    """A block of whole lines of a GB18030/GBK file, decoded strictly; :class:`InputError` naming the line that
    does not decode, or that is UTF-8 Chinese text."""
    try:
        text = block[1].decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path.name}: line {_line_of(block, exc.start)} is neither GB18030/GBK nor UTF-8 text (tried utf-8 "
            "and gb18030; the file was read as GB18030 from its first lines). Export the file again as UTF-8"
        ) from None
    utf8_at = _utf8_text_line(block[1])
    if utf8_at is not None:
        raise InputError(
            f"{path.name}: line {_line_of(block, utf8_at)} is UTF-8 Chinese text, but the file was read as "
            "GB18030/GBK (its first lines are not UTF-8): the file mixes encodings (tried utf-8 and gb18030). "
            "Export it again in one encoding, preferably UTF-8"
        )
    return text


def read_text(path: str | Path) -> tuple[str, str]:
    """A whole text file decoded as :func:`read_chunks` decodes a CSV (one encoding for the file, checked line by
    line, mixed encodings refused with :class:`InputError` naming the lines): ``(text, encoding)``. For the
    small tables read whole: policy tables, city tables, special-case applications."""
    path = Path(path)
    encoding = _detect_encoding(path)
    if encoding == "gb18030":
        return "".join(_gb18030_text(path, block) for block in _line_blocks(path)), encoding
    data = path.read_bytes()
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError:
        if encoding.startswith("utf-8"):
            raise _utf8_error(path) from None
        raise InputError(
            f"{path.name}: not {encoding} text (tried {encoding}, from its byte-order mark)"
        ) from None


def _csv_header(path: Path, encoding: str, delimiter: str = ",") -> list[str]:
    with path.open(encoding=encoding, newline="") as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])


def _check_headers(path: Path, header: list[Any]) -> None:
    """Refuse duplicated headers (one of them would be read, or neither): name them and their positions."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        seen.setdefault(str(name), []).append(i)
    repeated = {name: places for name, places in seen.items() if len(places) > 1}
    if repeated:
        listed = "; ".join(f"{name!r} in columns {', '.join(map(str, p))}" for name, p in repeated.items())
        raise InputError(f"{path.name}: duplicated header(s): {listed}. Rename them so that each is unique")


def _csv_batches(path: Path, delimiter: str) -> Iterator[pa.RecordBatch]:
    """The CSV's record batches, every column as text and only an empty cell missing (``NA``, ``NULL``, ``nan``
    … stay text); line breaks inside quoted cells are data. A row longer than a block (one huge field) makes the
    reader start again with larger blocks, skipping the rows already given."""
    encoding = _detect_encoding(path)
    header = _csv_header(path, encoding, delimiter)
    if not header:
        return
    _check_headers(path, header)
    if len(header) == 1 and delimiter == ",":
        for sep, name in (("\t", "tab"), (";", "semicolon")):
            if sep in header[0]:
                hint = "name the file .tsv" if sep == "\t" else "export it again with commas"
                raise InputError(
                    f"{path.name}: the header looks {name}-separated ({header[0][:60]!r}): {hint}"
                )
    given, block = 0, CSV_BLOCK_BYTES
    while True:
        source: Any = pa.PythonFile(_Gb18030Lines(path), mode="r") if encoding == "gb18030" else path
        reader = None
        skip = given
        try:  # opening reads the first block: its errors are the same as the later ones
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    encoding="utf8" if encoding.startswith("utf-8") or encoding == "gb18030" else encoding,
                    block_size=block,
                ),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.large_string() for name in header},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                batch, skip = batch.slice(skip), 0
                given += batch.num_rows
                yield batch
            return
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "straddling object" in message and block < CSV_MAX_BLOCK_BYTES:
                block *= 8  # a row longer than the block: read again with larger blocks, from where we were
                continue
            if "invalid UTF8" in message:
                raise _utf8_error(path) from None
            if "straddling object" in message:
                message = f"a row is longer than {CSV_MAX_BLOCK_BYTES >> 20} MiB"
            raise InputError(f"{path.name}: {message}") from None
        except UnicodeDecodeError as exc:  # UTF-16/32 transcoded by Arrow
            raise InputError(f"{path.name}: not {encoding} text from byte {exc.start} of a block") from None
        finally:
            if reader is not None:
                reader.close()
            if isinstance(source, pa.NativeFile):
                source.close()


# A number format that only pads with zeros (``0000``, ``0.0000``): what the cell shows is the stored value padded.
_ZERO_FORMAT = re.compile(r"(0+)(?:\.(0+))?")


def _excel_cell_text(value: Any, number_format: str | None) -> str | None:
    """One workbook cell as the text the export holds: numbers without float noise (``51.23``, ``1`` not
    ``1.0``), padded with the zeros their number format shows (``0.0000``: 51.2300; ``0000``: 0001), dates in
    ISO form; None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float) and math.isfinite(value):
        text = str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)
        shown = _ZERO_FORMAT.fullmatch(number_format or "")
        if shown is None or "e" in text.lower():
            return text
        sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
        whole, _, fraction = digits.partition(".")
        whole = whole.rjust(len(shown.group(1)), "0")
        fraction = fraction.ljust(len(shown.group(2) or ""), "0")  # never cut: stored digits are kept
        return sign + whole + ("." + fraction if fraction else "")
    return str(value)


def _excel_table(path: Path, columns: Mapping[str, str] | None, sheet: str | None = None) -> pa.Table:
    """The sheet named ``sheet`` (None: the first with data), every column as text (see :func:`_excel_cell_text`);
    blank rows are skipped.

    Code columns (by ``columns`` and the built-in aliases) whose cells are numbers get a warning naming them: a
    code stored as a number has lost its trailing zeros (``51.2300`` is 51.23) unless its number format shows them.
    """
    if path.suffix.lower() == ".xls":  # the old binary format: pandas and xlrd
        try:
            frame = pd.read_excel(
                path, sheet_name=sheet or 0, dtype=str, keep_default_na=False, na_values=[""], header=None
            )
        except ImportError:
            raise InputError(
                f"{path.name}: reading .xls files needs xlrd (pip install xlrd), or save as .xlsx"
            ) from None
        rows: list[list[Any]] = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
        return _text_table(path, rows[0] if rows else [], rows[1:], columns, {})
    try:
        import openpyxl
    except ImportError:
        raise InputError(
            f"{path.name}: reading Excel files needs openpyxl (pip install 'drgpay[excel]')"
        ) from None
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputError(f"{path.name} has no sheet {sheet!r}; its sheets are {book.sheetnames}")
        for worksheet in [book[sheet]] if sheet is not None else book.worksheets:
            names: list[Any] | None = None
            rows = []
            numeric: dict[int, list[tuple[int, str]]] = {}  # column → (sheet row, text) of its number cells
            for number, row in enumerate(worksheet.iter_rows(), start=1):
                texts: list[str | None] = []
                for i, cell in enumerate(row):
                    value = cell.value
                    if value is None or isinstance(value, str):  # nearly every cell: no style lookup
                        texts.append(value)
                        continue
                    shown = getattr(cell, "number_format", None) or ""
                    texts.append(_excel_cell_text(value, shown))
                    number_cell = isinstance(value, int | float) and not isinstance(value, bool)
                    if number_cell and names is not None and not _ZERO_FORMAT.fullmatch(shown):
                        numeric.setdefault(i, []).append((number, texts[-1] or ""))
                while texts and texts[-1] is None:  # cells past the last value (formatted, but empty)
                    texts.pop()
                if not texts:
                    continue
                if names is None:
                    names = texts
                else:
                    rows.append(texts)
            if names is not None:
                return _text_table(path, names, rows, columns, numeric)
    finally:
        book.close()
    return pa.table({})


def _text_table(
    path: Path,
    names: list[Any],
    rows: list[list[Any]],
    columns: Mapping[str, str] | None,
    numeric: Mapping[int, list[tuple[int, str]]],
) -> pa.Table:
    """Rows of cell texts under their header as a table of large strings; warns about code columns of numbers."""
    width = max([len(names), *(len(r) for r in rows)])
    padded = [*names, *[None] * (width - len(names))]
    header = [f"Unnamed: {i}" if n is None else str(n) for i, n in enumerate(padded)]
    _check_headers(path, header)
    data = {
        name: pa.array([r[i] if i < len(r) else None for r in rows], pa.large_string())
        for i, name in enumerate(header)
    }
    codes = set(code_headers(header, columns)) if numeric else set()
    for i in sorted(numeric):
        name = header[i]
        if name in codes:
            n, (row, text) = len(numeric[i]), numeric[i][0]
            warnings.warn(
                f"{path.name}: column {name!r} holds {n} code(s) stored as numbers, not text (first in row {row}: "
                f"{text}); a number keeps no trailing zeros (51.2300 is stored as 51.23) and they cannot be "
                "recovered. Format the column as text in the workbook",
                UserWarning,
                stacklevel=2,
            )
    return pa.table(data)


def read_chunks(
    path: str | Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    ramp_rows: int | None = None,
    columns: Mapping[str, str] | None = None,
    sheet: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the file as DataFrames of about ``chunk_rows`` rows, columns as text.

    Nothing is changed on the way in: only an empty cell is missing (``NA``, ``NULL``, ``nan`` … are text); a
    CSV is decoded in one encoding for the whole file, checked line by line (:func:`_detect_encoding`; a mixed or
    undecodable file raises :class:`InputError` naming the line); cells may hold line breaks and be of any size.
    Parquet integers stay exact integers (nullable), ``list<string>`` code columns become ``|``-joined text, and
    Excel cells are read as the text they show as far as the cell allows (see :func:`_excel_cell_text`; code
    columns stored as numbers, by ``columns`` and the built-in aliases, get a warning). A workbook is read from
    ``sheet``, or else from its first sheet with data.

    ``ramp_rows`` shapes the chunks for a pipeline that reads, groups and writes on separate threads: the first
    chunk has about ``ramp_rows`` rows, so grouping starts sooner, and the chunks before the end shrink by halves
    down to it, so the last write, which nothing else overlaps, is short. Near the end of a CSV the rows left
    are estimated from the bytes left.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    ramp = None if ramp_rows is None else max(min(ramp_rows, chunk_rows), 1)
    if suffix in (".parquet", ".pq"):
        # without pre_buffer: with it, pyarrow keeps the buffers of every row group read, so memory grows with
        # the file (about 48 MB per million rows)
        pf = pq.ParquetFile(path, pre_buffer=False)
        total = pf.metadata.num_rows
        batches = pf.iter_batches(batch_size=ramp or chunk_rows)
        yield from _regroup(batches, chunk_rows, ramp, lambda blocks, rows: total)
    elif suffix in (".xlsx", ".xlsm", ".xls"):
        table = _excel_table(path, columns, sheet)
        first = ramp or chunk_rows
        bounds = [0, *range(first, table.num_rows, chunk_rows), table.num_rows] if table.num_rows else []
        for start, stop in itertools.pairwise(bounds):
            yield _strings_frame(table.slice(start, stop - start))
    elif suffix in (".csv", ".txt", ".tsv") or suffix == "":
        size = path.stat().st_size

        def csv_rows(blocks: int, rows: int) -> float:  # the reader makes one batch per block
            return rows * size / max(blocks * CSV_BLOCK_BYTES, 1)

        yield from _regroup(_csv_batches(path, "\t" if suffix == ".tsv" else ","), chunk_rows, ramp, csv_rows)
    else:
        raise ValueError(f"unsupported input format {suffix!r}: use .csv, .parquet or .xlsx")


def read_frame(path: str | Path, *, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The whole file as one DataFrame, read as :func:`read_chunks` reads it (for the commands that need every
    row at once, such as ``pay`` and ``report``)."""
    chunks = list(read_chunks(path, columns=columns))
    if not chunks:
        return pd.DataFrame()
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _regroup(
    batches: Iterable[pa.RecordBatch],
    chunk_rows: int,
    ramp_rows: int | None,
    total_rows: Callable[[int, int], float],
) -> Iterator[pd.DataFrame]:
    """Record batches joined into frames of at least ``chunk_rows`` rows, or ramped (see :func:`read_chunks`) with
    ``total_rows(batches_seen, rows_seen)`` estimating the rows in all."""
    pending: list[pa.RecordBatch] = []
    size = seen_rows = 0
    target = ramp_rows or chunk_rows
    for seen_batches, batch in enumerate(batches, start=1):
        pending.append(batch)
        size += batch.num_rows
        seen_rows += batch.num_rows
        if size >= target:
            yield _strings_frame(pa.Table.from_batches(pending))
            pending, size = [], 0
            if ramp_rows is not None:
                left = total_rows(seen_batches, seen_rows) - seen_rows
                target = int(min(chunk_rows, max(ramp_rows, left // 2)))
    if pending:
        yield _strings_frame(pa.Table.from_batches(pending))


def _strings_frame(data: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """Arrow data as a DataFrame with every value as it was: text as Arrow strings, integers as nullable Arrow
    integers (never through float: 2**62 stays exact, case id 1 stays 1), list columns as ``|``-joined text."""
    lists = [i for i, field in enumerate(data.schema) if is_list_type(field.type)]
    if lists:
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        for i in lists:
            table = table.set_column(i, table.schema.field(i).name, join_code_lists(table.column(i)))
        data = table
    return data.to_pandas(types_mapper=_string_mapper)


def _string_mapper(dtype: pa.DataType) -> Any:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_integer(dtype):
        return pd.ArrowDtype(dtype)
    return None


def count_rows_hint(path: str | Path) -> int | None:
    """Row count when it is cheap to know (Parquet metadata); None otherwise."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


#: Rows of the first table looked at to decide each column's Parquet encoding.
ENCODING_SAMPLE_ROWS = 10_000
#: Columns with more distinct values than this share of the sample are written without a dictionary: Parquet
#: would build one, overflow its size limit and fall back to plain encoding, paying for both (case ids, money,
#: joined code lists).
DICTIONARY_MAX_DISTINCT = 0.5


#: Output formats by file suffix: what :class:`ResultWriter` (and so ``drgpay group -o``) writes. A name without
#: a suffix is CSV, as it is on input.
OUTPUT_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    "": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def output_format(path: str | os.PathLike[str]) -> str:
    """``csv``, ``tsv`` or ``parquet`` for an output path, by its suffix; a ValueError listing the supported
    suffixes otherwise (an ``.xlsx`` or ``.json`` name must not get CSV text)."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        known = ", ".join(s for s in OUTPUT_FORMATS if s)
        raise ValueError(
            f"{Path(path).name}: cannot write {suffix!r} files; results are CSV or Parquet: use {known} "
            "(no suffix: CSV)"
        )
    return OUTPUT_FORMATS[suffix]


#: Values the Parquet writer encodes between two checks of a page's size (Arrow's default: 1,024). Eight times as
#: many makes writing a settled chunk about a tenth cheaper, for pages at most one batch (tens of KB) over the
#: 1 MB target; the file's bytes are otherwise the same.
PARQUET_WRITE_BATCH = 8192


class ResultWriter:
    """Append DataFrames to a CSV (``.tsv``: tab-separated) or Parquet file.

    Categorical columns (the grouping results) go to Parquet as they are, dictionary-encoded, and read back as
    categoricals, as :func:`drgpay.group` returns them; CSV holds their text. Every frame after the first is
    cast to the first one's schema.

    Parquet encoding is chosen once, from the first table: columns that are nearly unique in its first
    :data:`ENCODING_SAMPLE_ROWS` rows are written without a dictionary. ``statistics`` names the columns that
    get min/max statistics in Parquet (None: all). Statistics let readers skip row groups on a filter, but
    computing them is about a fifth of the writing time, and on the text copied through from an unsorted export
    they prune nothing; :func:`drgpay.parallel.group_file` keeps them for the result columns only.

    ``kind`` is the format (see :func:`output_format`; default: by the path's suffix), for paths whose suffix
    does not say it (a temporary file).
    """

    def __init__(self, path: str | Path, *, statistics: Iterable[str] | None = None, kind: str | None = None):
        self.path = Path(path)
        self.kind = kind or output_format(self.path)
        if self.kind not in OUTPUT_FORMATS.values():
            raise ValueError(
                f"unknown output format {self.kind!r}; known: {sorted(set(OUTPUT_FORMATS.values()))}"
            )
        self.statistics = None if statistics is None else list(statistics)
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(pa.schema([_plain_field(f) for f in table.schema]))
        if self._writer is None:
            self._schema = table.schema
            if self.kind == "parquet":
                self._writer = pq.ParquetWriter(self.path, table.schema, **self._parquet_options(table))
            else:
                options = pacsv.WriteOptions(delimiter="\t" if self.kind == "tsv" else ",")
                self._writer = pacsv.CSVWriter(self.path, table.schema, write_options=options)
        elif self._schema is not None and table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def _parquet_options(self, first: pa.Table) -> dict[str, Any]:
        sample = first.slice(0, ENCODING_SAMPLE_ROWS)
        limit = DICTIONARY_MAX_DISTINCT * max(sample.num_rows, 1)
        dictionary = [
            name
            for name, column in zip(sample.column_names, sample.columns, strict=True)
            if pa.types.is_dictionary(column.type) or pc.count_distinct(column, mode="all").as_py() <= limit
        ]
        names = set(first.column_names)
        statistics: bool | list[str] = (
            True if self.statistics is None else [c for c in self.statistics if c in names]
        )
        return {
            "use_dictionary": dictionary or False,
            "write_statistics": statistics or False,
            "write_batch_size": PARQUET_WRITE_BATCH,
        }

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain_field(field: pa.Field) -> pa.Field:
    """All-missing columns (and categoricals without categories) become text and text becomes large_string, so
    every chunk has the same schema."""
    empty = pa.types.is_dictionary(field.type) and pa.types.is_null(field.type.value_type)
    if empty or pa.types.is_null(field.type) or pa.types.is_string(field.type):
        return pa.field(field.name, pa.large_string())
    return field


_DONE = object()
#: How long a stopped :func:`prefetch` waits for its thread to finish the item it is producing (one CSV block or
#: Parquet batch takes milliseconds; a whole Excel sheet is read at once and may take longer).
PREFETCH_JOIN_SECONDS = 30.0


def use_command_allocator(backend: str = "jemalloc") -> None:
    """Allocate Arrow's buffers with ``backend`` (``jemalloc``, ``mimalloc`` or ``system``) from now on in this
    process, where pyarrow has it, unless the ``ARROW_DEFAULT_MEMORY_POOL`` environment variable chooses a pool:
    what the ``drgpay`` commands and their worker processes do, not :mod:`drgpay` as a library.

    Why jemalloc: Arrow's default allocator (mimalloc) hands freed pages back to the system within milliseconds,
    and a streaming command frees and allocates a chunk's worth of buffers several times a second, faulting the
    same pages in again each time. Measured on the 2-CPU benchmark machine (``benchmarks/README.md``): ``drgpay
    settle`` of 1M records 6 % faster with jemalloc (a fifth less time in the kernel) and 10M 6 % faster, at
    the same peak memory; ``malloc`` was as fast at 1M but held 1 GB at 10M.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    pools = {"jemalloc": pa.jemalloc_memory_pool, "mimalloc": pa.mimalloc_memory_pool}
    try:
        pool = pools.get(backend, pa.system_memory_pool)()
    except NotImplementedError:
        return  # a pyarrow built without it (jemalloc is not in every wheel): Arrow's default stays
    pa.set_memory_pool(pool)


def release_memory() -> None:
    """Hand Arrow's freed buffers back to the system between chunks (its allocator keeps them otherwise, and a
    few hundred MB per process add up when several processes group)."""
    pa.default_memory_pool().release_unused()


def prefetch(items: Iterable[T], depth: int = 1) -> Generator[T, None, None]:
    """Yield ``items`` in order, producing them on a background thread up to ``depth`` items ahead.

    Reading and parsing the next chunk (Arrow's CSV and Parquet readers release the GIL) then overlaps with
    grouping the current one. An exception in the producer is raised here, at the item where it happened.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    source = iter(items)

    def produce() -> None:
        try:
            for item in source:
                if not offer((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            offer((_DONE, exc))
            return
        finally:  # end the source here, on its own thread (a generator cannot be closed from another)
            close = getattr(source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        offer((_DONE, None))

    thread = threading.Thread(target=produce, name="drgpay-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        # The consumer stopped early (an error, a signal) or finished: let the producer end and wait for it, so
        # that no thread is inside Arrow's CSV reader when the process exits (that aborts with SIGABRT).
        stop.set()
        thread.join(PREFETCH_JOIN_SECONDS)


class BackgroundWriter:
    """Runs a :class:`ResultWriter`'s writes on a thread, in order, at most ``depth`` frames queued.

    Converting a frame to Arrow and encoding Parquet or CSV release the GIL for most of their time, so writing
    overlaps with grouping the next chunk. :meth:`write` also takes a tuple of frames, joined side by side on the
    writer thread (the input chunk and its result). An error on the writer thread is raised by the next
    :meth:`write` or by :meth:`close`.

    Arrow's freed buffers go back to the system every :data:`RELEASE_EVERY` writes (:func:`release_memory`), not
    after each: the allocator reuses them for the next chunks meanwhile, and releasing after every chunk cost a
    tenth of the time of a 10M-record settle (pages given back, then faulted in again) for 10 % less peak memory.
    """

    #: Writes between two :func:`release_memory` calls.
    RELEASE_EVERY = 8

    def __init__(self, writer: ResultWriter, depth: int = 2):
        self.writer = writer
        self._queue: queue.Queue[pd.DataFrame | tuple[pd.DataFrame, ...] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="drgpay-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        written = 0
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.writer.write(item if isinstance(item, pd.DataFrame) else pd.concat(item, axis=1))
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc
            del item
            written += 1
            if written % self.RELEASE_EVERY == 0:
                release_memory()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, frame: pd.DataFrame | tuple[pd.DataFrame, ...]) -> None:
        self._raise()
        self._queue.put(frame)

    def close(self) -> None:
        """Write what is queued, close the file, and raise the writer thread's error if there was one."""
        self._queue.put(None)
        self._thread.join()
        self.writer.close()
        self._raise()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
