"""The one rule for table paths named in a definition or policy file: relative, and inside its folder.

A ``grouper.toml`` or ``policy.toml`` may come from someone else (a city's variant, a shared policy folder); the
tables it names must not reach files outside its own folder, whatever the path says or a symbolic link does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from drgpay.definitions.errors import DefinitionError

__all__ = ["safe_table_path"]


def safe_table_path(
    folder: str | os.PathLike[str],
    relative: str | os.PathLike[str],
    *,
    error: Callable[[str], Exception] = DefinitionError,
) -> Path:
    """The resolved path of the table file ``relative`` in ``folder``; raises ``error(message)`` unless it is inside.

    Refused: an empty path, an absolute path or a drive (in POSIX or Windows form, so a file written on one system
    means the same on the other), any ``..`` part, and a path that resolves outside ``folder`` or to the folder
    itself (through a symbolic link, say). The file need not exist: a missing table is reported by its reader.
    """
    text = os.fspath(relative)
    if not text.strip() or "\0" in text:
        raise error(f"table path {text!r} is empty or not a file name")
    for form in (PurePosixPath(text), PureWindowsPath(text)):
        if form.anchor:
            raise error(f"table path {text!r} must be relative to the folder of its file, not absolute")
        if ".." in form.parts:
            raise error(f"table path {text!r} must not go up with '..'")
    base = Path(folder).resolve()
    target = (base / text).resolve()
    if target == base or not target.is_relative_to(base):
        raise error(f"table path {text!r} resolves to {target}, outside {base}")
    return target
