"""Requests into records: a JSON body or an uploaded file checked against the limits and read into a frame,
every refusal an :class:`~drgpay.serve.errors.ApiError` naming the row and column.

The checks are about the request's shape (a list of flat objects, codes as text, not too many codes in a field);
what the values mean is left to the schema, which flags unreadable rows ``invalid`` as :func:`drgpay.group` does.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pandas as pd

from drgpay._inputs import CSV_SUFFIXES, EXCEL_SUFFIXES, PARQUET_SUFFIXES, check_input, read_input_chunks
from drgpay.codes import split_code_list
from drgpay.schema import SchemaError, code_headers, resolve_columns
from drgpay.serve.errors import ApiError
from drgpay.serve.limits import Limits

__all__ = [
    "UPLOAD_SUFFIXES",
    "captured_warnings",
    "check_record",
    "parse_json",
    "read_upload",
    "records_frame",
    "upload_name",
]

#: File types an upload may have, by suffix (a name without one is read as CSV). ``.xls`` (the old binary
#: format) is not among them: it needs a reader drgpay does not install.
UPLOAD_SUFFIXES = tuple(s for s in (*CSV_SUFFIXES, *EXCEL_SUFFIXES, *PARQUET_SUFFIXES) if s and s != ".xls")

_SCALARS = (str, int, float, bool, type(None))
_WARNINGS = threading.Lock()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; ``malformed_json`` saying where it is broken otherwise (``NaN`` and
    ``Infinity``, which JSON does not have, are refused too)."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            "malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ApiError("malformed_json", f"the body is not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:  # a constant refused above
        raise ApiError("malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError("malformed_json", "the body is not valid JSON: it is nested too deeply") from None


def check_record(record: object, row: int) -> Mapping[str, Any]:
    """``record`` if it is a flat JSON object: every value a string, number, true/false, null or a list of
    those (a list of codes); ``invalid_record`` or ``invalid_value`` naming the row and column otherwise."""
    if not isinstance(record, dict):
        raise ApiError(
            "invalid_record",
            f"record {row} is a JSON {_json_type(record)}, not an object of column → value",
            row=row,
        )
    for column, value in record.items():
        if isinstance(value, _SCALARS):
            continue
        if isinstance(value, list) and all(isinstance(item, _SCALARS) for item in value):
            continue
        raise ApiError(
            "invalid_value",
            f"record {row}, column {column!r}: a {_json_type(value)} is not a value; give text, a number or a "
            "list of codes",
            row=row,
            column=column,
        )
    return record


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "number")


def _check_codes(records: list[Mapping[str, Any]], headers: list[str], limits: Limits) -> None:
    """Codes are text (a number loses its zeros: ``51.2300`` arrives as ``51.23``), at most ``max_codes`` a
    field. A text shorter than ``2 × max_codes`` characters cannot hold more codes, so only longer ones are
    split."""
    long_text = 2 * limits.max_codes - 1
    for column in headers:
        for row, record in enumerate(records):
            value = record.get(column)
            if value is None or value == "":
                continue
            if not isinstance(value, str | list) or any(not isinstance(v, str | None) for v in _items(value)):
                raise ApiError(
                    "invalid_value",
                    f"record {row}, column {column!r}: codes must be JSON strings ({value!r} is a number, and "
                    "a number keeps no trailing zeros: 51.2300 would arrive as 51.23)",
                    row=row,
                    column=column,
                )
            if isinstance(value, list) or len(value) > long_text:
                count = len(split_code_list(value))
                if count > limits.max_codes:
                    raise ApiError(
                        "too_many_codes",
                        f"record {row}, column {column!r}: {count:,} codes, more than the {limits.max_codes} "
                        "a field may hold",
                        row=row,
                        column=column,
                    )


def _items(value: str | list[Any]) -> list[Any]:
    return value if isinstance(value, list) else [value]


def records_frame(data: object, limits: Limits) -> pd.DataFrame:
    """A JSON array of records as a frame (columns in order of first appearance, a record's missing columns
    empty), after the checks of :func:`check_record`, the row limit and the code checks."""
    if not isinstance(data, list):
        raise ApiError("invalid_input", f"expected a JSON array of records, got a JSON {_json_type(data)}")
    if len(data) > limits.max_rows:
        raise ApiError(
            "too_many_rows", f"{len(data):,} records, more than the {limits.max_rows:,} a request may hold"
        )
    if not data:
        raise ApiError("invalid_input", "no records: the array is empty")
    headers: dict[str, None] = {}
    for row, record in enumerate(data):
        headers.update(check_record(record, row))
    _require_principal_dx(list(headers))
    _check_codes(data, [str(h) for h in code_headers(list(headers))], limits)
    return pd.DataFrame.from_records(data, columns=list(headers))


def _require_principal_dx(headers: list[str]) -> None:
    """The records name a principal-diagnosis column (null in a record is a missing value, not an error)."""
    try:
        mapping, wide = resolve_columns(headers)
    except SchemaError as exc:  # two headers for one column
        raise ApiError("invalid_input", str(exc)) from None
    if "principal_dx" not in mapping and "principal_dx" not in wide:
        raise ApiError(
            "invalid_input",
            "no record has a principal diagnosis (principal_dx, 主要诊断编码 …); give it, null where unknown",
            column="principal_dx",
        )


@contextlib.contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """The library's warnings during the block, as text (for the answer's ``warnings``). Python's warning filters
    are global, so blocks that capture run one at a time."""
    with _WARNINGS, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts: list[str] = []
        yield texts
        texts.extend(dict.fromkeys(str(w.message) for w in caught))


def upload_name(filename: str | None) -> str:
    """The base name of an uploaded file as the client named it (any folder part dropped), for messages and the
    download's name; ``upload.csv`` when it has none."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    return name or "upload.csv"


def read_upload(data: bytes, filename: str, limits: Limits) -> pd.DataFrame:
    """An uploaded CSV, TSV, Excel or Parquet file as a frame of text columns, read as ``drgpay group`` reads a
    file (encoding detection, codes as text, the required columns checked); messages name the upload, never a
    path on this machine."""
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES and suffix:
        raise ApiError(
            "unsupported_media_type",
            f"{filename}: cannot read {suffix!r} files; upload {', '.join(UPLOAD_SUFFIXES)}",
        )
    if not data:
        raise ApiError("malformed_upload", f"{filename} is empty")
    if suffix in EXCEL_SUFFIXES:
        _check_workbook(data, filename, limits)
    with tempfile.TemporaryDirectory(prefix="drgpay-serve-") as folder:
        path = Path(folder) / f"upload{suffix or '.csv'}"
        path.write_bytes(data)
        try:
            sheet = check_input(path).sheet
            with contextlib.closing(read_input_chunks(path, limits.max_rows + 1, sheet=sheet)) as chunks:
                frame = next(chunks)
        except ValueError as exc:  # InputError, SchemaError and the readers' own
            message = str(exc).replace(str(path), filename).replace(folder, "")
            raise ApiError("invalid_input", message) from None
    if len(frame) > limits.max_rows:
        raise ApiError(
            "too_many_rows", f"{filename} has more than the {limits.max_rows:,} records a request may hold"
        )
    return frame.reset_index(drop=True)


def _check_workbook(data: bytes, filename: str, limits: Limits) -> None:
    """A workbook is a zip file: refuse one that is not, or that unpacks to more than the limit allows."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            unpacked = sum(info.file_size for info in book.infolist())
    except zipfile.BadZipFile:
        raise ApiError("malformed_upload", f"{filename} is not an Excel workbook (not a zip file)") from None
    if unpacked > limits.max_unpacked_bytes:
        raise ApiError(
            "body_too_large",
            f"{filename} unpacks to {unpacked:,} bytes, more than the {limits.max_unpacked_bytes:,} allowed",
        )
