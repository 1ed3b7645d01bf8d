"""The one error type for a bad grouper definition, located to file, line and column."""

from __future__ import annotations

from pathlib import Path


class DefinitionError(ValueError):
    """A grouper definition is unusable; ``file``, ``line`` and ``column`` say where (when known)."""

    def __init__(
        self, message: str, *, file: Path | str | None = None, line: int | None = None, column: str = ""
    ):
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        where = ""
        if file is not None:
            where = str(file)
            if line is not None:
                where += f", line {line}"
            if column:
                where += f", column {column!r}"
            where += ": "
        super().__init__(where + message)
