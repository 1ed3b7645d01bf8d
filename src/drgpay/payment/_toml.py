"""A tiny TOML emitter for policy files (no TOML writer is a dependency; ``tomllib`` reads them back).

Supports what policies use: strings, bools, ints, ``Decimal`` (written as a quoted string so that it stays
exact), dates, lists of scalars, nested tables and arrays of tables. Keys whose value is ``None`` are left
out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
    )
    return f'"{escaped}"'


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _string(str(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        raise TypeError("datetimes are not used in policies; use a date")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {_scalar(v)}" for k, v in value.items() if v is not None)
        return "{" + inner + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table(value: object) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: object) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) > 0
        and all(isinstance(v, Mapping) for v in value)
    )


def _emit(data: Mapping[str, object], prefix: str, out: list[str]) -> None:
    for key, value in data.items():
        if value is None or _is_table(value) or _is_table_array(value):
            continue
        out.append(f"{_key(key)} = {_scalar(value)}")
    for key, value in data.items():
        path = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if _is_table(value):
            assert isinstance(value, Mapping)
            out.append("")
            out.append(f"[{path}]")
            _emit(value, path, out)
        elif _is_table_array(value):
            assert isinstance(value, Sequence)
            for item in value:
                out.append("")
                out.append(f"[[{path}]]")
                _emit(item, path, out)


def dumps(data: Mapping[str, object], header: str = "") -> str:
    """Serialise ``data`` as TOML text; ``header`` lines are written first as comments."""
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    _emit(data, "", out)
    return "\n".join(out).lstrip("\n") + "\n"
