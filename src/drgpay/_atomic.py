"""Outputs that appear whole or not at all: write beside the target, rename on success only.

Every file the command line writes (grouped CSV or Parquet, paid cases, report workbooks, policy folders, DIP
catalogues) goes through :func:`atomic_path` or :func:`atomic_folder`. The data is written to a hidden temporary
file in the target's own folder (so the final :func:`os.replace` is a rename within one file system, atomic on
POSIX) and renamed over the target only when the writer finished without error. On any exception, including the
ones the command line raises for SIGINT and SIGTERM, the temporary file is removed and an earlier file under the
target name is left exactly as it was.

This protects against drgpay being interrupted or failing, not against a power cut (the data is not fsynced).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["OutputError", "atomic_folder", "atomic_path", "check_not_inputs", "check_writable"]


class OutputError(OSError):
    """An output cannot be written where it was asked for (a folder, an input file, a missing folder)."""


def check_not_inputs(outputs: Iterable[str | os.PathLike[str] | None], inputs: Iterable[object]) -> None:
    """Refuse an output that is one of the inputs (same path, or the same file through a link).

    Called before anything is read: writing the result over a file that is still being read destroys both.
    ``inputs`` may hold anything path-like; None and paths that do not exist are skipped.
    """
    existing = [Path(p) for p in inputs if isinstance(p, str | os.PathLike) and Path(p).is_file()]
    for output in outputs:
        if output is None:
            continue
        out = Path(output)
        for source in existing:
            if out.resolve() == source.resolve() or (out.exists() and os.path.samefile(out, source)):
                raise OutputError(f"the output {out} is the input {source}: write the result to another file")


def _final_mode(target: Path) -> int:
    """Permission bits for the renamed file: the replaced file's, or what a new file gets under the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while renaming (main thread only), so a commit is not cut half way."""
    main = threading.current_thread() is threading.main_thread()
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held) if main else None
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _writable_target(target: Path) -> Path:
    """The file to replace: ``target``, or the file a symbolic link points to; refuse a folder."""
    if target.is_dir():
        raise OutputError(f"the output {target} is a folder: name a file in it")
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


def _temporary(final: Path) -> Path:
    """A new empty hidden file beside ``final``, ending with its suffix."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    except OSError as exc:  # a read-only folder, a full disk: name the output, not the temporary file
        raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(name)


def check_writable(target: str | os.PathLike[str] | None) -> None:
    """Raise :class:`OutputError` now if :func:`atomic_path` could not write ``target`` (a folder, a missing or
    read-only folder): for commands that write only after reading and computing everything."""
    if target is None:
        return
    final = _writable_target(Path(target))
    if not final.exists() or final.is_file():
        _temporary(final).unlink()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write to; rename it to ``target`` if the block succeeds.

    The temporary name ends with ``target``'s suffix (writers that choose a format by suffix still can) and
    starts with a dot. It is created at once, so an unwritable folder fails before any work is done. A target
    that exists but is not a regular file (``/dev/null``, a named pipe) is written in place: it cannot be
    replaced by a rename.
    """
    final = _writable_target(Path(target))
    if final.exists() and not final.is_file():
        yield final
        return
    temporary = _temporary(final)
    try:
        yield temporary
        with _signals_held():
            os.chmod(temporary, _final_mode(final))
            os.replace(temporary, final)
    except OSError as exc:
        if exc.filename == str(temporary) or str(temporary) in str(exc):
            raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@contextlib.contextmanager
def atomic_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder to write files into; on success move each file into ``folder``.

    For outputs made of several files (a policy folder, a catalogue with its TOML). Each file is replaced
    whole by a rename; files of ``folder`` that the block did not write are kept. On failure nothing in
    ``folder`` changes, and a ``folder`` this call created is removed again.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise OutputError(f"the output {target} is a file, not a folder")
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".drgpay-", suffix=".tmp", dir=target))
    try:
        yield staging
        with _signals_held():
            for item in sorted(staging.iterdir()):
                destination = target / item.name
                os.chmod(item, _final_mode(destination))
                os.replace(item, destination)
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
