"""Where grouper folders live, and the list of them.

Installed packages carry the national definitions inside the wheel (``drgpay/_groupers``); a source checkout uses
``groupers/`` at the repository root. ``$DRGPAY_GROUPERS`` (a path list) adds folders of local variants.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay.definitions.errors import DefinitionError
from drgpay.definitions.manifest import read_manifest

__all__ = ["find_grouper", "groupers_dir", "list_groupers", "search_path"]


def groupers_dir() -> Path:
    """The folder of the bundled grouper definitions."""
    here = Path(__file__).resolve().parent.parent
    bundled = here / "_groupers"
    if bundled.is_dir():
        return bundled
    source = here.parent.parent / "groupers"
    if source.is_dir():
        return source
    raise DefinitionError("no bundled grouper definitions found (is drgpay installed correctly?)")


def search_path() -> list[Path]:
    """Folders searched for groupers by name: ``$DRGPAY_GROUPERS`` entries first, then the bundled ones."""
    extra = [Path(p) for p in os.environ.get("DRGPAY_GROUPERS", "").split(os.pathsep) if p]
    return [*extra, groupers_dir()]


def find_grouper(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a grouper name (``"chs-drg-1.1"``) or a folder path to its folder."""
    candidate = Path(name_or_path)
    if (candidate / "grouper.toml").is_file():
        return candidate.resolve()
    for base in search_path():
        folder = base / str(name_or_path)
        if (folder / "grouper.toml").is_file():
            return folder.resolve()
    known = ", ".join(sorted(list_groupers()["id"])) or "none"
    raise DefinitionError(f"unknown grouper {str(name_or_path)!r}; available: {known}")


def _counts(manifest: Any, depth: int = 0) -> dict[str, Any]:
    """A manifest's ``[counts]``, inherited from the base it extends when it states none (as the loader does);
    empty when the base cannot be found or the chain loops."""
    if manifest.counts or not manifest.extends or depth > 8:
        return dict(manifest.counts)
    from drgpay.definitions.loader import resolve_base  # the loader imports this module

    try:
        return _counts(read_manifest(resolve_base(manifest) / "grouper.toml"), depth + 1)
    except (DefinitionError, OSError):
        return {}


def list_groupers() -> pd.DataFrame:
    """One row per available grouper: id, scheme, version, status, its published MDC / ADRG / DRG counts (from the
    manifest's ``[counts]``; empty where it states none, as for DIP), effective dates, base, title, path."""
    rows = []
    seen: set[str] = set()
    for base in search_path():
        if not base.is_dir():
            continue
        for toml in sorted(base.glob("*/grouper.toml")):
            m = read_manifest(toml)
            if m.id in seen:
                continue
            seen.add(m.id)
            rows.append(
                {
                    "id": m.id,
                    "scheme": m.scheme,
                    "version": m.version,
                    "status": m.status,
                    **{level: _counts(m).get(level) for level in ("mdc", "adrg", "drg")},
                    "effective_from": m.effective_from,
                    "effective_to": m.effective_to,
                    "extends": m.extends or None,
                    "title": m.title,
                    "path": str(m.folder),
                }
            )
    columns = [
        "id",
        "scheme",
        "version",
        "status",
        "mdc",
        "adrg",
        "drg",
        "effective_from",
        "effective_to",
        "extends",
        "title",
        "path",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({level: "Int64" for level in ("mdc", "adrg", "drg")})
