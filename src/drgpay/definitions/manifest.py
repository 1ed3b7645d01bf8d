"""``grouper.toml``: identity, status, provenance and table checksums of a grouper definition."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

import attrs

from drgpay.definitions.errors import DefinitionError
from drgpay.definitions.paths import safe_table_path
from drgpay.definitions.tables import TABLE_SPECS

__all__ = ["Manifest", "read_manifest"]

SCHEMES = ("chs-drg", "dip")
STATUSES = ("complete", "incomplete")
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _date(value: object, field: str, path: Path) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise DefinitionError(f"[grouper] {field} is not an ISO date: {value!r}", file=path) from exc


@attrs.frozen
class Manifest:
    """What ``grouper.toml`` says about one grouper folder."""

    path: Path
    id: str
    scheme: str
    version: str
    title: str
    status: str
    status_note: str
    effective_from: dt.date | None
    effective_to: dt.date | None
    dx_code_system: str
    proc_code_system: str
    extends: str
    counts: dict[str, Any]
    algorithm: dict[str, Any]
    sources: list[dict[str, Any]]
    tables: dict[str, str]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def read_manifest(path: Path) -> Manifest:
    """Read and check one ``grouper.toml``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DefinitionError("grouper.toml not found", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"not valid TOML: {exc}", file=path) from exc
    g = data.get("grouper")
    if not isinstance(g, dict):
        raise DefinitionError("missing [grouper] section", file=path)
    for key in ("id", "scheme", "version"):
        if not g.get(key):
            raise DefinitionError(f"[grouper] {key} is required", file=path)
    if g["scheme"] not in SCHEMES:
        raise DefinitionError(f"[grouper] scheme must be one of {SCHEMES}, not {g['scheme']!r}", file=path)
    status = g.get("status", "complete")
    if status not in STATUSES:
        raise DefinitionError(f"[grouper] status must be one of {STATUSES}, not {status!r}", file=path)
    tables = _tables(data.get("tables", {}), str(g["scheme"]), path)
    return Manifest(
        path=path,
        id=str(g["id"]),
        scheme=str(g["scheme"]),
        version=str(g["version"]),
        title=str(g.get("title", g["id"])),
        status=status,
        status_note=str(g.get("status_note", "")),
        effective_from=_date(g.get("effective_from"), "effective_from", path),
        effective_to=_date(g.get("effective_to"), "effective_to", path),
        dx_code_system=str(g.get("dx_code_system", "")),
        proc_code_system=str(g.get("proc_code_system", "")),
        extends=str(g.get("extends", "")),
        counts=dict(data.get("counts", {})),
        algorithm=dict(data.get("algorithm", {})),
        sources=list(data.get("sources", [])),
        tables=tables,
    )


def _tables(tables: object, scheme: str, path: Path) -> dict[str, str]:
    """``[tables]``: file name → sha256. Every name is a table of the scheme, inside the folder, and every digest
    is 64 hexadecimal digits (there is no way to skip the check); digests come back in lower case."""
    if not isinstance(tables, dict):
        raise DefinitionError("[tables] must map file names to sha256 digests", file=path)
    known = TABLE_SPECS[scheme]
    out: dict[str, str] = {}
    for name, digest in tables.items():
        safe_table_path(
            path.parent, name, error=lambda message: DefinitionError(f"[tables] {message}", file=path)
        )
        if name not in known:
            raise DefinitionError(
                f"[tables] {name!r} is not a table of a {scheme} grouper; known: {', '.join(known)}",
                file=path,
            )
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise DefinitionError(
                f"[tables] {name!r} needs its sha256 (64 hexadecimal digits), found {digest!r}", file=path
            )
        out[name] = digest.lower()
    return out
