"""Errors the service answers with: a status code and a machine-readable body naming the row and column at
fault, never a traceback.

Every error body has the form ``{"error": {"code": …, "message": …, "row": …, "column": …}}``: ``code`` is a
stable word for programs (:data:`ERROR_CODES`), ``message`` a sentence for people, ``row`` the 0-based record
(null when the whole request is at fault) and ``column`` the field (null when no one field is).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ERROR_CODES", "ApiError", "error_body"]

#: The error codes and the status each comes with.
ERROR_CODES: dict[str, int] = {
    "malformed_json": 400,
    "malformed_upload": 400,
    "client_disconnected": 400,
    "bad_request": 400,
    "unknown_grouper": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "body_too_large": 413,
    "too_many_rows": 413,
    "unsupported_media_type": 415,
    "invalid_record": 422,
    "invalid_value": 422,
    "too_many_codes": 422,
    "invalid_input": 422,
    "no_policy": 409,
    "timeout": 503,
    "internal_error": 500,
}


class ApiError(Exception):
    """An error answered as :func:`error_body` with the status of its ``code`` (see :data:`ERROR_CODES`)."""

    def __init__(self, code: str, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.code, self.message, self.row, self.column = code, message, row, column
        self.status = ERROR_CODES[code]

    def body(self) -> bytes:
        return error_body(self.code, self.message, row=self.row, column=self.column)


def error_body(code: str, message: str, *, row: int | None = None, column: Any = None) -> bytes:
    """The JSON error body (UTF-8 bytes)."""
    error = {"code": code, "message": message, "row": row, "column": None if column is None else str(column)}
    return json.dumps({"error": error}, ensure_ascii=False).encode()
