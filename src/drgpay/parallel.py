"""Grouping on several processes: ship a compiled grouper to each worker process once, group chunks in parallel.

Why: grouping is Python and numpy code that holds the GIL for most of its time, so threads do not use a second
core; processes do. Two pieces live here, shared by the one-machine CLI (:func:`group_chunks`), the Dask
integration (:mod:`drgpay.dask`) and the Spark recipe (:mod:`drgpay.spark`):

- :class:`Shipped`: a grouper (or a policy, or any object) wrapped so that it travels between processes as
  pickled bytes with a token, and is unpickled **at most once per process** for that token: a second arrival
  in the same process reuses the object already there. :func:`shipped_loads` counts the unpickles, so the
  "once per worker" claim can be checked rather than trusted.
- :func:`group_chunks`: groups an iterable of chunks (for example :func:`drgpay.io.read_chunks`) on a process
  pool, yielding ``(chunk, result)`` in input order with a bounded number of chunks in flight, so memory stays
  bounded whatever the file size.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from drgpay import __version__
from drgpay._atomic import atomic_path
from drgpay._inputs import read_input_chunks
from drgpay.io import (
    BackgroundWriter,
    ResultWriter,
    output_format,
    prefetch,
    release_memory,
    use_command_allocator,
)

__all__ = [
    "AUTO_MIN_CPUS",
    "AUTO_PARALLEL_BYTES",
    "AUTO_PARALLEL_ROWS",
    "PARALLEL_CHUNK_ROWS",
    "EmptyInputError",
    "Shipped",
    "auto_workers",
    "default_chunk_rows",
    "group_chunks",
    "group_file",
    "group_with",
    "kept_input_columns",
    "map_file",
    "resolve_workers",
    "ship_grouper",
    "ship_policy",
    "shipped_loads",
]

#: Rows per chunk when grouping on several processes: smaller than the one-process default (250k), because every
#: worker holds a chunk and its working memory, and the parent holds the chunks in flight. 100k rows keep a
#: 2-worker run of any size near 1.1 GB in all (measured; see ``docs/scaling.md``) at no cost in speed.
PARALLEL_CHUNK_ROWS = 100_000

#: In one process, the first chunk and the smallest chunks at the end hold ``1 / RAMP_SHARE`` of a chunk's rows
#: (see :func:`drgpay.io.read_chunks`): reading the first chunk and writing the last one overlap nothing else.
RAMP_SHARE = 5

#: Objects that arrived in this process, by token (a few at most: one per grouper/policy in use).
_ARRIVED: OrderedDict[str, Any] = OrderedDict()
_ARRIVED_MAX = 8
#: How many times each token was unpickled in this process (the "once per process" evidence).
_LOADS: Counter[str] = Counter()
_LOCK = threading.Lock()


class Shipped:
    """An object bound for other processes: pickled once into bytes, unpickled at most once per process.

    ``token`` names the content (e.g. grouper id + content hash + options); two ``Shipped`` with the same token
    must hold equal objects. ``value`` is the object itself.
    """

    __slots__ = ("token", "value")

    def __init__(self, value: Any, token: str):
        self.value = value
        self.token = token

    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        return _arrive, (self.token, _dumps(self.value))

    def __repr__(self) -> str:
        return f"<Shipped {type(self.value).__name__} {self.token[:24]}>"


def _dumps(value: Any) -> bytes:
    """Pickle ``value``; objects plain pickle refuses (a policy's read-only mappings) go through cloudpickle,
    which Dask and PySpark both bring (its output is read back by plain ``pickle.loads``)."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (TypeError, pickle.PicklingError, AttributeError):
        try:
            import cloudpickle
        except ImportError:
            raise
        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _arrive(token: str, payload: bytes) -> Shipped:
    """Unpickling side of :class:`Shipped`: reuse the object if this process already has it."""
    with _LOCK:
        value = _ARRIVED.get(token)
        if value is None:
            value = pickle.loads(payload)
            _LOADS[token] += 1
            _ARRIVED[token] = value
            while len(_ARRIVED) > _ARRIVED_MAX:
                _ARRIVED.popitem(last=False)
        else:
            _ARRIVED.move_to_end(token)
    return Shipped(value, token)


def shipped_loads() -> dict[str, int]:
    """How many times each shipped token was unpickled in this process (for tests and diagnostics)."""
    with _LOCK:
        return dict(_LOADS)


def _token(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def load(grouper: str | Path | Any) -> Any:
    """A grouper object from a name, a folder or a grouper (passed through)."""
    if isinstance(grouper, str | Path):
        from drgpay.grouper import load_grouper

        return load_grouper(grouper)
    return grouper


def ship_grouper(grouper: str | Path | Any, options: Mapping[str, Any] | None = None) -> Shipped:
    """The grouper, compiled, and the keyword arguments of its ``group`` call (``columns``, ``errors``,
    ``catalog`` …), ready to ship.

    Compiling happens here, once, in the calling process: workers receive the compiled arrays and never
    compile. A DIP ``catalog=`` given as a path or DataFrame is loaded here once too (workers get the loaded
    catalogue, compiled against the grouper).
    """
    g = load(grouper)
    kwargs = dict(options or {})
    if getattr(g, "scheme", "") == "dip" and "catalog" in kwargs:
        from drgpay.dip import DipCatalog, load_catalog

        if not isinstance(kwargs["catalog"], DipCatalog):
            kwargs["catalog"] = load_catalog(kwargs["catalog"])
        g.compile(kwargs["catalog"])  # cached inside the grouper, so it travels compiled
    elif getattr(g, "complete", False) and hasattr(g, "compiled"):
        g.compiled  # noqa: B018 - compile before pickling
    identity = getattr(g, "content_hash", None)
    if identity is None:  # an object we cannot name by content: unique per shipping
        identity = uuid.uuid4().hex
    catalog = kwargs.get("catalog")
    extra = {k: v for k, v in kwargs.items() if k != "catalog"}
    token = _token(
        "grouper",
        type(g).__name__,
        getattr(g, "id", ""),
        identity,
        getattr(catalog, "content_hash", None) if catalog is not None else None,
        sorted((k, repr(v)) for k, v in extra.items()),
        __version__,
    )
    return Shipped((g, kwargs), token)


def ship_policy(policy: Any) -> Shipped:
    """A payment policy ready to ship (token: its content hash where it has one)."""
    identity = getattr(policy, "content_hash", None)
    if callable(identity):
        identity = identity()
    if identity is None:
        identity = uuid.uuid4().hex
    return Shipped(policy, _token("policy", type(policy).__name__, identity, __version__))


def group_with(shipped: Shipped, frame: pd.DataFrame) -> pd.DataFrame:
    """Group ``frame`` with a shipped ``(grouper, kwargs)``: the one pandas call every backend makes."""
    grouper, kwargs = shipped.value
    return grouper.group(frame, **kwargs)


def check_kept(kept: Sequence[str], result_columns: Iterable[str]) -> None:
    """Refuse input columns to keep beside the results that share a name with a result column."""
    clash = sorted(set(kept) & set(result_columns))
    if clash:
        raise ValueError(f"kept input columns {clash} clash with result columns; leave them out of keep")


def beside_input(frame: pd.DataFrame, result: pd.DataFrame, kept: Sequence[str] | None) -> pd.DataFrame:
    """The input columns ``kept`` (None: none) followed by ``result``, row for row: how the Dask and Spark
    helpers return input and results from one task."""
    if kept is None:
        return result
    return pd.concat([frame[list(kept)], result], axis=1)


# ---------------------------------------------------------------------------------------------------------------
# one machine: a process pool over chunks
# ---------------------------------------------------------------------------------------------------------------
_WORKER: Shipped | None = None


#: How often a worker process checks that the process that started it is still there.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """End this worker process when its parent ``parent`` is gone (killed outright, e.g. by SIGKILL, so that it
    could not stop its workers): an orphaned worker would hold memory and the caller's stdout/stderr pipes
    forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _init_worker(path: str, parent: int, allocator: str = "") -> None:
    """Pool initializer: read the shipped grouper from ``path`` once, for every chunk this process groups.

    The grouper comes through a file, not as an initializer argument: a process started with ``spawn`` reads
    its arguments from a pipe only after importing drgpay, and 20 MB of arguments would hold the parent at the
    pipe (about a second per worker) instead of letting it read the first chunks meanwhile.

    Ctrl-C reaches every process of the terminal's process group; workers ignore it and let the parent, which
    stops them, report it once. A worker also ends by itself when its parent (``parent``, the pid that started
    the pool: it may have died before this runs) is gone. ``allocator``: the parent's Arrow allocator, which a
    worker uses too (:func:`drgpay.io.use_command_allocator`: a ``drgpay`` command's choice, or the default).
    """
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if allocator:  # the parent's allocator, as a drgpay command chose it
        use_command_allocator(allocator)
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="drgpay-parent-watch", daemon=True
    ).start()
    with open(path, "rb") as fh:
        _WORKER = pickle.load(fh)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes at once (on an error, a signal or an early stop): waiting for the
    chunks in flight would keep the command running, and the workers alive, for seconds after it failed."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.terminate()
    # A worker terminated while it was sending a result leaves part of a message in the pool's result pipe, and
    # the pool's manager thread then waits for the rest forever: the pool's shutdown and the interpreter's exit
    # both join that thread, so the command would hang (seen about once in ten SIGTERMs). This process holds a
    # write end of the pipe too; closed, the read ends once the terminated workers' ends are gone, the manager
    # thread finds the pool broken and stops.
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.close()


def _group_in_worker(chunk: pd.DataFrame) -> pd.DataFrame:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker process started without a grouper")
    result = group_with(_WORKER, chunk)
    del chunk
    release_memory()
    return result


def default_chunk_rows(workers: int | None) -> int:
    """Rows per chunk for ``workers`` processes: the CLI's default for one, :data:`PARALLEL_CHUNK_ROWS` for more."""
    from drgpay.io import DEFAULT_CHUNK_ROWS

    return DEFAULT_CHUNK_ROWS if resolve_workers(workers) == 1 else PARALLEL_CHUNK_ROWS


def resolve_workers(workers: int | None) -> int:
    """``None`` or ``0``: one worker per CPU available to this process; otherwise ``workers`` (at least 1)."""
    if not workers:
        try:
            return max(len(os.sched_getaffinity(0)), 1)
        except AttributeError:  # pragma: no cover - macOS, Windows
            return max(os.cpu_count() or 1, 1)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, not {workers}")
    return workers


#: Inputs at least this large may be grouped on worker processes by ``workers="auto"``; below it, starting
#: them (about a second each: import drgpay, receive the grouper) costs more than they save.
AUTO_PARALLEL_ROWS = 500_000
#: The same bound for inputs whose row count is not known up front (CSV): about 130 bytes per record.
AUTO_PARALLEL_BYTES = 64 * 2**20
#: Fewest CPUs on which ``workers="auto"`` uses processes. One process already keeps about 1.8 cores busy (the
#: reader and writer threads run in Arrow without the GIL), and on 2 CPUs two workers were slower than one
#: (10M records: 23 s against 16 s, Parquet; 27 s against 20 s, CSV; see docs/scaling.md): moving each chunk and
#: its result between processes costs more than the second core gains.
AUTO_MIN_CPUS = 4


def auto_workers(source: str | Path) -> int:
    """Worker processes for grouping ``source`` when the user did not say: on :data:`AUTO_MIN_CPUS` CPUs or
    more and a large input (:data:`AUTO_PARALLEL_ROWS` rows, or :data:`AUTO_PARALLEL_BYTES` of CSV), one per
    CPU but one (left to the main process, which reads and writes); one otherwise."""
    from drgpay.io import count_rows_hint

    cpus = resolve_workers(None)
    if cpus < AUTO_MIN_CPUS:
        return 1
    path = Path(source)
    rows = count_rows_hint(path)
    if rows is not None:
        large = rows >= AUTO_PARALLEL_ROWS
    else:
        csv_like = path.suffix.lower() in (".csv", ".txt", ".tsv", "")
        large = csv_like and path.stat().st_size >= AUTO_PARALLEL_BYTES
    return cpus - 1 if large else 1


def group_chunks(
    chunks: Iterable[pd.DataFrame],
    grouper: str | Path | Any,
    *,
    workers: int | None = 1,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    max_pending: int | None = None,
    mp_context: BaseContext | None = None,
    **options: Any,
) -> Generator[tuple[pd.DataFrame, pd.DataFrame], None, None]:
    """Group each chunk; yield ``(chunk, result)`` in input order.

    ``workers=1`` groups in this process (no pool). ``workers > 1`` (``0``/``None``: one per CPU) groups on a
    :class:`~concurrent.futures.ProcessPoolExecutor` whose processes receive the compiled grouper once, through
    the pool initializer. At most ``max_pending`` chunks (default ``workers + 1``) are read ahead and in flight,
    so memory is bounded by a few chunks whatever the input size. Processes are started with ``spawn`` (not
    ``fork``: the parent runs pyarrow's thread pools, which do not survive a fork). An error in a worker
    (e.g. :class:`~drgpay.schema.SchemaError` with ``errors="raise"``) is raised here, at its chunk.
    """
    shipped = ship_grouper(grouper, {"columns": columns, "errors": errors, **options})
    n = resolve_workers(workers)
    if n == 1:
        for chunk in chunks:
            yield chunk, group_with(shipped, chunk)
        return
    limit = max(max_pending if max_pending is not None else n + 1, 1)
    fd, path = tempfile.mkstemp(prefix="drgpay-grouper-", suffix=".pickle")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(shipped, fh, protocol=pickle.HIGHEST_PROTOCOL)
    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=mp_context or multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(path, os.getpid(), pa.default_memory_pool().backend_name),
    )
    pending: deque[tuple[pd.DataFrame, Future[pd.DataFrame]]] = deque()
    try:
        for chunk in chunks:
            pending.append((chunk, pool.submit(_group_in_worker, chunk)))
            if len(pending) >= limit:
                done, future = pending.popleft()
                yield done, future.result()
                del done
                release_memory()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
            del done
            release_memory()
    except BaseException:  # an error, a signal, or the consumer stopped early (GeneratorExit)
        _stop_workers(pool)
        raise
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(OSError):
            os.unlink(path)


def _id_column(chunk: pd.DataFrame, columns: Mapping[str, str] | None) -> list[Any]:
    """The input's case-id header (canonical ``case_id``, an alias or a ``columns=`` mapping), as a list of
    none or one: kept beside the results of ``only_results`` so that they can be joined back."""
    from drgpay.schema import resolve_columns

    mapping, _ = resolve_columns(chunk.columns, columns)
    return [mapping["case_id"]] if "case_id" in mapping else []


class EmptyInputError(ValueError):
    """The input has no records (an empty file, or a header only): nothing was grouped or written."""


def group_file(
    source: str | Path,
    output: str | Path | None,
    grouper: str | Path | Any,
    *,
    workers: int | None = 1,
    chunk_rows: int | None = None,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    only_results: bool = False,
    max_pending: int | None = None,
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], object] | None = None,
    sheet: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Group a CSV, Parquet or Excel file chunk by chunk into ``output`` (CSV, TSV or Parquet by its suffix; None:
    no output), in input order; returns ``{"rows": n, "status": {status: count}, "reason": {reason: count}}``.

    The streaming pipeline of ``drgpay group`` as a function (:func:`map_file` with a grouper):
    :func:`drgpay.io.read_chunks` →
    :func:`group_chunks` (in this process, with the next chunk read on a thread meanwhile, or on ``workers``
    processes) → :class:`drgpay.io.ResultWriter` on a writer thread. Memory is bounded by a few chunks of
    ``chunk_rows`` rows (default :func:`default_chunk_rows`), whatever the file size. ``on_chunk(chunk, result)``
    is called after each chunk, in order (progress bars, previews). ``only_results`` writes the case id (when the
    input has one) and the result columns, not the other input columns. ``sheet`` names the Excel sheet to read
    (default: the first).

    The output is written to a temporary file beside it and renamed only when every row was written (see
    :func:`drgpay._atomic.atomic_path`): after an error or a signal an earlier ``output`` is left as it was. An
    input without records raises :class:`EmptyInputError` and writes nothing. Input columns named like a result
    column (a file grouped before) are left out, with a warning: the new results replace them.
    """
    status: Counter[str] = Counter()
    reason: Counter[str] = Counter()

    def counted(chunk: pd.DataFrame, result: pd.DataFrame) -> None:
        status.update({str(k): int(v) for k, v in result["status"].value_counts().items() if v})
        reason.update({str(k): int(v) for k, v in result["reason"].value_counts().items() if v})
        if on_chunk is not None:
            on_chunk(chunk, result)

    rows = map_file(
        source,
        output,
        grouper,
        workers=workers,
        chunk_rows=chunk_rows,
        columns=columns,
        errors=errors,
        keep=lambda chunk, result: _kept_columns(chunk, result, columns, only_results),
        max_pending=max_pending,
        on_chunk=counted,
        sheet=sheet,
        **options,
    )
    return {"rows": rows, "status": dict(status), "reason": dict(reason)}


def _kept_columns(
    chunk: pd.DataFrame, result: pd.DataFrame, columns: Mapping[str, str] | None, only_results: bool
) -> list[Any]:
    """The input columns written before the results: all of them (the case id only, for ``only_results``),
    less those a result column replaces (regrouping a grouped file), with a warning naming them."""
    kept = _id_column(chunk, columns) if only_results else list(chunk.columns)
    replaced = [c for c in kept if c in result.columns]
    if replaced:
        warnings.warn(
            f"the input already has result column(s) {replaced}; they are replaced by the new results",
            UserWarning,
            stacklevel=3,
        )
    return [c for c in kept if c not in result.columns]


def map_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str] | None,
    mapper: Any,
    *,
    workers: int | None = 1,
    chunk_rows: int | None = None,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    keep: Callable[[pd.DataFrame, pd.DataFrame], list[Any]] | None = None,
    max_pending: int | None = None,
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], object] | None = None,
    before_commit: Callable[[], object] | None = None,
    select: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    sheet: str | None = None,
    **options: Any,
) -> int:
    """The streaming pipeline of :func:`group_file` for any chunk function: returns the number of rows.

    ``mapper`` is a grouper or any object with a ``group(frame, columns=…, errors=…, **options)`` method returning
    result columns for the rows of ``frame`` (:class:`drgpay.payment.settle.Settler` groups and pays;
    :class:`drgpay.payment.settle.ChunkPayer` pays grouped cases), shipped to ``workers`` processes once, as a
    grouper is (see :func:`group_chunks`). Chunks are read with :func:`drgpay._inputs.read_input_chunks` and
    numbered across the file (each chunk's index continues the previous one's, as a whole-file read numbers its
    rows, so an error names the rows of the file). ``keep(first_chunk, first_result)`` chooses the input columns
    written before the results (default: all). ``on_chunk(chunk, result)`` runs after each chunk, in order;
    ``before_commit()`` after the last one, before the output is renamed into place: an error it raises (a check
    that needs every chunk) leaves no output, as any other error. ``select(chunk)`` keeps only the columns a
    pass needs, as each chunk is read (before it is shipped or mapped). An input without records raises
    :class:`EmptyInputError`.
    """
    kind = None if output is None else output_format(output)  # refuse .xlsx, .json … before reading
    rows = 0
    writer: BackgroundWriter | None = None
    kept: list[Any] = []
    with contextlib.ExitStack() as stack:  # closed in reverse: workers and reader stop before the output goes
        target = None if output is None else stack.enter_context(atomic_path(output))
        rows_per_chunk = chunk_rows or default_chunk_rows(workers)
        ramp = rows_per_chunk // RAMP_SHARE if resolve_workers(workers) == 1 else None
        read = _numbered(
            read_input_chunks(source, rows_per_chunk, ramp_rows=ramp, sheet=sheet, columns=columns), select
        )
        chunks = stack.enter_context(contextlib.closing(prefetch(read) if ramp is not None else read))
        pairs = stack.enter_context(
            contextlib.closing(
                group_chunks(
                    chunks,
                    mapper,
                    workers=workers,
                    columns=columns,
                    errors=errors,
                    max_pending=max_pending,
                    **options,
                )
            )
        )
        try:
            for chunk, result in pairs:
                rows += len(chunk)
                if on_chunk is not None:
                    on_chunk(chunk, result)
                if target is not None:
                    if writer is None:
                        writer = BackgroundWriter(ResultWriter(target, statistics=result.columns, kind=kind))
                        kept = list(chunk.columns) if keep is None else keep(chunk, result)
                    writer.write((chunk[kept], result) if kept else result)
                del chunk, result
            if rows and before_commit is not None:
                before_commit()
        except BaseException:
            if writer is not None:
                with contextlib.suppress(BaseException):
                    writer.close()
            raise
        if writer is not None:
            writer.close()
        if rows == 0:
            raise EmptyInputError(f"{source} has no records")
    return rows


def _numbered(
    chunks: Iterable[pd.DataFrame], select: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> Generator[pd.DataFrame, None, None]:
    """Chunks whose index continues from one to the next (0, 1, … over the whole file), reduced by ``select``."""
    start = 0
    source = iter(chunks)
    try:
        for chunk in source:
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk if select is None else select(chunk)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def kept_input_columns(
    chunk: pd.DataFrame,
    result: pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    only_results: bool = False,
) -> list[Any]:
    """The input columns :func:`group_file` writes before its results (all, or the case id only for
    ``only_results``; those a result column replaces left out, with a warning): for other pipelines that must
    write what ``drgpay group`` writes."""
    return _kept_columns(chunk, result, columns, only_results)
