"""Checks of an input file before any work: what the command line looks at first, so that a wrong file is
refused with one clear line instead of a traceback, an empty result or a partly written output.

:func:`check_input` reads only the header and the first record: the file exists and is a file; the format is
one the command reads; the text is in an encoding the command's reader takes (UTF-16/UTF-32 without a
byte-order mark never; with one, only where :func:`drgpay.io.read_chunks` reads the file); a header of one field
that holds tabs or semicolons gets a delimiter hint; header names are unique; the required columns are there
(after aliases and ``--columns``); there is at least one record. For Excel it also picks the sheet
(:func:`choose_sheet`), and :func:`read_input_chunks` reads that sheet.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa

from drgpay.io import InputError, _check_headers, _detect_encoding, read_chunks

__all__ = [
    "CSV_SUFFIXES",
    "EXCEL_SUFFIXES",
    "PARQUET_SUFFIXES",
    "InputCheck",
    "InputError",
    "check_input",
    "choose_sheet",
    "delimiter_hint",
    "read_input_chunks",
    "unsupported_encoding",
]

CSV_SUFFIXES = (".csv", ".txt", ".tsv", "")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")

#: Byte-order marks of the UTF-16 and UTF-32 encodings, longest first (a UTF-32 LE mark starts like UTF-16 LE).
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
)
#: Bytes looked at to recognise the encoding.
_HEAD_BYTES = 1 << 16


@attrs.frozen
class InputCheck:
    """What :func:`check_input` found: the header, the Excel sheet to read (None: not Excel), and whether a
    record follows the header (None: not known without reading the file, e.g. a CSV field over the csv
    module's limit)."""

    header: list[str]
    sheet: str | None
    has_records: bool | None


def unsupported_encoding(head: bytes, *, byte_order_marks: bool = False) -> str | None:
    """The name of a text encoding the reader does not take, recognised from a file's first bytes; None
    otherwise.

    UTF-16 and UTF-32 are recognised by their byte-order mark (accepted when ``byte_order_marks``: the reader
    follows the mark), and without one by the pattern their NUL bytes make (:func:`_wide_without_mark`). A NUL
    byte here and there (one inside a cell of a UTF-8 file) is data, not an encoding: the file is read as text.
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return None if byte_order_marks else f"{name} text (byte-order mark {bom.hex(' ').upper()})"
    wide = _wide_without_mark(head)
    return None if wide is None else f"{wide[0]} text without a byte-order mark ({wide[1]})"


#: Without a byte-order mark, UTF-16 is recognised when at least this share of its two-byte units are an ASCII
#: character and a NUL in one order (a quarter: a text of Chinese words and commas, the densest an export gets,
#: has about 30 %; an ASCII-heavy export nearly 100 %) ...
_WIDE_NUL_SHARE = 0.25
#: ... and units of two NULs, which no text holds, are at most this fraction as many. UTF-32 is recognised by
#: the two positions of every four that hold the high bytes being (nearly) all NUL.
_WIDE_OTHER_SHARE = 0.1
_UTF32_NUL_SHARE = 0.9


def _wide_without_mark(head: bytes) -> tuple[str, str] | None:
    """``UTF-32 LE/BE`` or ``UTF-16 LE/BE`` and the evidence, when ``head`` shows the NUL pattern of that
    encoding (ASCII characters, commas and digits, take a NUL byte beside them in UTF-16, three in UTF-32);
    None for text in which NULs are absent or scattered (UTF-8, GB18030, a stray NUL in a cell)."""
    if b"\x00" not in head or len(head) < 4:
        return None
    usable = head[: len(head) - len(head) % 4]
    quarter = len(usable) // 4
    nul = [usable[k::4].count(0) / quarter for k in range(4)]  # share of NULs at each position modulo 4
    if min(nul[2], nul[3]) >= _UTF32_NUL_SHARE:
        return "UTF-32 LE", "NUL bytes at positions 3 and 4 of every 4"
    if min(nul[0], nul[1]) >= _UTF32_NUL_SHARE:
        return "UTF-32 BE", "NUL bytes at positions 1 and 2 of every 4"
    # UTF-16 in code units of two bytes: an ASCII character is (c, 0) in LE, (0, c) in BE; a character such as
    # 一 (U+4E00) is (0, 0x4E) in LE, so NULs of the other parity are text too, but a (0, 0) unit never is
    pairs = np.frombuffer(usable, dtype=np.uint8).reshape(-1, 2) == 0
    first, second = pairs[:, 0], pairs[:, 1]
    low, high = float(np.mean(second & ~first)), float(np.mean(first & ~second))
    empty = float(np.mean(first & second))
    many, order = (low, "LE") if low >= high else (high, "BE")
    if many >= _WIDE_NUL_SHARE and empty <= many * _WIDE_OTHER_SHARE:
        return f"UTF-16 {order}", f"NUL bytes at {many:.0%} of {'odd' if order == 'BE' else 'even'} positions"
    return None


def delimiter_hint(header: Sequence[str], delimiter: str) -> str | None:
    """A hint when a header read with ``delimiter`` came out as one field that holds another separator."""
    if len(header) != 1:
        return None
    names = {"\t": "tab", ";": "semicolon", "|": "vertical bar", ",": "comma"}
    for candidate, name in names.items():
        if candidate != delimiter and candidate in header[0]:
            if candidate == "\t":
                return f"the header holds {name}s, not commas: the file looks tab-separated; name it .tsv"
            if candidate == ",":
                return "the header holds commas, not tabs: the file looks comma-separated; name it .csv"
            return f"the header holds {name}s, not commas: save the file with commas (CSV) or tabs (.tsv)"
    return None


def _csv_head(path: Path, encoding: str | None, byte_order_marks: bool) -> tuple[list[str], bool | None]:
    """Header and whether a non-blank record follows, read with the delimiter and encoding drgpay would use
    (``encoding`` None: detected as :func:`drgpay.io.read_chunks` does)."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head.strip():
        raise InputError(f"{path} is empty: no header and no records")
    named = (encoding or "").lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
    problem = unsupported_encoding(head, byte_order_marks=byte_order_marks or named)
    if problem is not None:
        readable = "UTF-8, GB18030 (GBK)" + (
            ", or UTF-16/UTF-32 with a byte-order mark" if byte_order_marks else ""
        )
        source = "".join(problem.split()[:2])  # UTF-16LE …: the name iconv takes
        raise InputError(
            f"{path} is {problem}; this command reads {readable}: convert it, e.g. iconv -f {source} -t UTF-8"
        )
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding=encoding or _detect_encoding(path), errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(rows, [])
            has_records = any(any(cell.strip() for cell in row) for row in rows)
        except csv.Error:  # a field longer than the csv module takes: leave it to the reader
            return header, None
    hint = delimiter_hint(header, delimiter)
    if hint is not None:
        raise InputError(f"{path}: {hint} (header {header[0][:80]!r})")
    return header, has_records


def choose_sheet(
    path: str | os.PathLike[str], sheet: str | None = None, *, columns: Mapping[str, str] | None = None
) -> tuple[str, list[str], bool]:
    """The sheet of an Excel file to read: ``sheet`` by name, or else the first sheet whose header has the
    required columns (after aliases and ``columns``). Returns ``(name, header, has_records)``.

    An empty first sheet (a cover page) or one without ``principal_dx`` (notes) is skipped rather than read as
    "no records".
    """
    try:
        book = pd.ExcelFile(path)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is not a readable Excel file: {exc}") from None
    seen: list[str] = []
    try:
        names = [str(n) for n in book.sheet_names]
        if sheet is not None and sheet not in names:
            raise InputError(f"{path} has no sheet {sheet!r}; its sheets are {names}")
        for name in names if sheet is None else [sheet]:
            header, has_records = _sheet_head(book, name)
            if sheet is not None and not header:
                raise InputError(f"{path}: sheet {sheet!r} is empty (no header)")
            if sheet is not None or _missing_required(header, columns) is None:
                return name, header, has_records
            seen.append(f"{name} {header[:12]}" if header else f"{name} (empty)")
    finally:
        book.close()
    raise InputError(
        f"{path}: no sheet has a principal_dx column (after aliases and --columns); sheets: {'; '.join(seen)}. "
        "Choose one with --sheet"
    )


def _sheet_head(book: pd.ExcelFile, name: str) -> tuple[list[str], bool]:
    """A sheet's header and whether a record follows, as :func:`drgpay.io.read_chunks` sees them: blank rows
    (above the header too) skipped, empty cells after the header's last name dropped, an empty cell inside it
    named ``Unnamed: i``. Reads the top rows only, more while they are blank."""
    rows = 8
    while True:
        top = pd.read_excel(book, sheet_name=name, header=None, nrows=rows, dtype=str)
        filled = top.dropna(how="all")
        if len(filled) >= 2 or len(top) < rows:
            break
        rows *= 8
    if filled.empty:
        return [], False
    cells = ["" if pd.isna(v) else str(v) for v in filled.iloc[0]]
    while cells and not cells[-1]:
        cells.pop()
    return [cell or f"Unnamed: {i}" for i, cell in enumerate(cells)], len(filled) > 1


def _missing_required(
    header: Sequence[str], columns: Mapping[str, str] | None, required: Sequence[str] = ("principal_dx",)
) -> str | None:
    """The schema's own message when ``header`` lacks a required column; None when it has them all."""
    from drgpay.schema import SchemaError, prepare_records

    if not required:
        return None
    try:
        prepare_records(pd.DataFrame(columns=list(header)), columns, required=tuple(required))
    except SchemaError as exc:
        return str(exc)
    return None


def check_input(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    required: Sequence[str] = ("principal_dx",),
    sheet: str | None = None,
    encoding: str | None = None,
    byte_order_marks: bool = True,
    formats: Sequence[str] = CSV_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES,
) -> InputCheck:
    """Check ``path`` before reading it (see the module docstring); raise :class:`drgpay.io.InputError` saying
    what is wrong, or return the header, the sheet to read and whether there are records.

    ``required`` columns are checked after aliases and ``columns`` (empty: none). ``encoding`` is the CSV
    encoding the command's reader uses (None: detected as :func:`drgpay.io.read_chunks` does);
    ``byte_order_marks`` whether the reader reads UTF-16/UTF-32 text that starts with a byte-order mark, as
    :func:`drgpay.io.read_chunks` does. ``formats`` are the suffixes the command reads.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a folder: name the export file in it")
    if not p.exists():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in formats:
        shown = ", ".join(s for s in formats if s) + (" or no suffix (CSV)" if "" in formats else "")
        raise InputError(f"{p}: unsupported input format {suffix!r}; use {shown}")
    chosen: str | None = None
    has_records: bool | None
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(p)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{p} is not a readable Parquet file: {exc}") from None
        header, has_records = list(meta.schema_arrow.names), meta.metadata.num_rows > 0
    elif suffix in EXCEL_SUFFIXES:
        if p.stat().st_size == 0:
            raise InputError(f"{p} is empty: no sheets and no records")
        chosen, header, has_records = choose_sheet(p, sheet, columns=columns if required else None)
    else:
        header, has_records = _csv_head(p, encoding, byte_order_marks)
    _check_headers(p, header)
    problem = _missing_required(header, columns, required)
    if problem is not None:
        raise InputError(f"{p}: {problem}")
    if has_records is False:
        raise InputError(f"{p} has a header but no records")
    return InputCheck(header=header, sheet=chosen, has_records=has_records)


def read_input_chunks(
    path: str | os.PathLike[str],
    chunk_rows: int,
    *,
    ramp_rows: int | None = None,
    sheet: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> Generator[pd.DataFrame, None, None]:
    """:func:`drgpay.io.read_chunks` of ``path``, from the Excel ``sheet`` :func:`check_input` chose (None: the
    first with data), with ``columns`` naming the code columns: one reader for every sheet, so Excel cells keep
    their number formats, texts such as ``NA`` stay text and codes stored as numbers are warned about."""
    yield from read_chunks(Path(path), chunk_rows, ramp_rows=ramp_rows, columns=columns, sheet=sheet)
