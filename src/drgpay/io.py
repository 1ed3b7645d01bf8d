"""Reading exports in chunks and writing results incrementally (CSV, Parquet, Excel in; CSV, Parquet out).

Every column is read as text: codes such as ``96.0800`` or ``I10.x05`` must never pass through a number parser,
and the schema layer decides what each column means. Chunks keep memory bounded whatever the file size.
"""

from __future__ import annotations

import csv
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = [
    "BackgroundWriter",
    "ResultWriter",
    "count_rows_hint",
    "prefetch",
    "read_chunks",
    "release_memory",
]

DEFAULT_CHUNK_ROWS = 250_000

#: CSV bytes parsed per block. Each block's column buffers are sized for the block and shared by every batch cut
#: from it, so large blocks hold much more memory than the rows in flight (16 MiB blocks: about 600 MB at
#: 250k-row chunks); 1 MiB blocks parse as fast.
CSV_BLOCK_BYTES = 1 << 20

T = TypeVar("T")


def _csv_header(path: Path, encoding: str) -> list[str]:
    with path.open(encoding=encoding, newline="") as fh:
        return next(csv.reader(fh), [])


def _detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030 (a superset of GBK, common in Chinese exports)."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a character cut by the sample boundary
            return "utf-8"
        return "gb18030"


def read_chunks(
    path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, *, ramp_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """Yield the file as DataFrames of about ``chunk_rows`` rows, all columns as strings.

    ``ramp_rows`` shapes the chunks for a pipeline that reads, groups and writes on separate threads: the first
    chunk has about ``ramp_rows`` rows, so grouping starts sooner, and the chunks before the end shrink by halves
    down to it, so the last write, which nothing else overlaps, is short. Near the end of a CSV the rows left
    are estimated from the bytes left.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    ramp = None if ramp_rows is None else max(min(ramp_rows, chunk_rows), 1)
    if suffix in (".parquet", ".pq"):
        # without pre_buffer: with it, pyarrow keeps the buffers of every row group read, so memory grows with
        # the file (about 48 MB per million rows)
        pf = pq.ParquetFile(path, pre_buffer=False)
        total = pf.metadata.num_rows
        batches = pf.iter_batches(batch_size=ramp or chunk_rows)
        yield from _regroup(batches, chunk_rows, ramp, lambda blocks, rows: total)
    elif suffix in (".xlsx", ".xlsm", ".xls"):
        frame = pd.read_excel(path, dtype=str)
        first = ramp or chunk_rows
        bounds = [0, *range(first, len(frame), chunk_rows), len(frame)] if len(frame) else []
        for start, stop in itertools.pairwise(bounds):
            yield frame.iloc[start:stop]
    elif suffix in (".csv", ".txt", ".tsv") or suffix == "":
        encoding = _detect_encoding(path)
        header = _csv_header(path, encoding)
        if not header:
            return
        delimiter = "\t" if suffix == ".tsv" else ","
        arrow_encoding = "utf8" if encoding.startswith("utf-8") else encoding
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=arrow_encoding, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        size = path.stat().st_size

        def csv_rows(blocks: int, rows: int) -> float:  # the reader makes one batch per block
            return rows * size / max(blocks * CSV_BLOCK_BYTES, 1)

        yield from _regroup(reader, chunk_rows, ramp, csv_rows)
    else:
        raise ValueError(f"unsupported input format {suffix!r}: use .csv, .parquet or .xlsx")


def _regroup(
    batches: Iterable[pa.RecordBatch],
    chunk_rows: int,
    ramp_rows: int | None,
    total_rows: Callable[[int, int], float],
) -> Iterator[pd.DataFrame]:
    """Record batches joined into frames of at least ``chunk_rows`` rows, or ramped (see :func:`read_chunks`) with
    ``total_rows(batches_seen, rows_seen)`` estimating the rows in all."""
    pending: list[pa.RecordBatch] = []
    size = seen_rows = 0
    target = ramp_rows or chunk_rows
    for seen_batches, batch in enumerate(batches, start=1):
        pending.append(batch)
        size += batch.num_rows
        seen_rows += batch.num_rows
        if size >= target:
            yield _strings_frame(pa.Table.from_batches(pending))
            pending, size = [], 0
            if ramp_rows is not None:
                left = total_rows(seen_batches, seen_rows) - seen_rows
                target = int(min(chunk_rows, max(ramp_rows, left // 2)))
    if pending:
        yield _strings_frame(pa.Table.from_batches(pending))


def _strings_frame(data: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    return data.to_pandas(types_mapper=_string_mapper)


def _string_mapper(dtype: pa.DataType) -> Any:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.ArrowDtype(dtype)
    return None


def count_rows_hint(path: str | Path) -> int | None:
    """Row count when it is cheap to know (Parquet metadata); None otherwise."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


#: Rows of the first table looked at to decide each column's Parquet encoding.
ENCODING_SAMPLE_ROWS = 10_000
#: Columns with more distinct values than this share of the sample are written without a dictionary: Parquet
#: would build one, overflow its size limit and fall back to plain encoding, paying for both (case ids, money,
#: joined code lists).
DICTIONARY_MAX_DISTINCT = 0.5


class ResultWriter:
    """Append DataFrames to a CSV or Parquet file.

    Categorical columns (the grouping results) go to Parquet as they are, dictionary-encoded, and read back as
    categoricals, as :func:`drgpay.group` returns them; CSV holds their text. Every frame after the first is
    cast to the first one's schema.

    Parquet encoding is chosen once, from the first table: columns that are nearly unique in its first
    :data:`ENCODING_SAMPLE_ROWS` rows are written without a dictionary. ``statistics`` names the columns that
    get min/max statistics in Parquet (None: all). Statistics let readers skip row groups on a filter, but
    computing them is about a fifth of the writing time, and on the text copied through from an unsorted export
    they prune nothing; :func:`drgpay.parallel.group_file` keeps them for the result columns only.
    """

    def __init__(self, path: str | Path, *, statistics: Iterable[str] | None = None):
        self.path = Path(path)
        self.kind = "parquet" if self.path.suffix.lower() in (".parquet", ".pq") else "csv"
        self.statistics = None if statistics is None else list(statistics)
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(pa.schema([_plain_field(f) for f in table.schema]))
        if self._writer is None:
            self._schema = table.schema
            if self.kind == "parquet":
                self._writer = pq.ParquetWriter(self.path, table.schema, **self._parquet_options(table))
            else:
                self._writer = pacsv.CSVWriter(self.path, table.schema)
        elif self._schema is not None and table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def _parquet_options(self, first: pa.Table) -> dict[str, Any]:
        sample = first.slice(0, ENCODING_SAMPLE_ROWS)
        limit = DICTIONARY_MAX_DISTINCT * max(sample.num_rows, 1)
        dictionary = [
            name
            for name, column in zip(sample.column_names, sample.columns, strict=True)
            if pa.types.is_dictionary(column.type) or pc.count_distinct(column, mode="all").as_py() <= limit
        ]
        names = set(first.column_names)
        statistics: bool | list[str] = (
            True if self.statistics is None else [c for c in self.statistics if c in names]
        )
        return {"use_dictionary": dictionary or False, "write_statistics": statistics or False}

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain_field(field: pa.Field) -> pa.Field:
    """All-missing columns (and categoricals without categories) become text and text becomes large_string, so
    every chunk has the same schema."""
    empty = pa.types.is_dictionary(field.type) and pa.types.is_null(field.type.value_type)
    if empty or pa.types.is_null(field.type) or pa.types.is_string(field.type):
        return pa.field(field.name, pa.large_string())
    return field


_DONE = object()


def release_memory() -> None:
    """Hand Arrow's freed buffers back to the system between chunks (its allocator keeps them otherwise, and a
    few hundred MB per process add up when several processes group)."""
    pa.default_memory_pool().release_unused()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order, producing them on a background thread up to ``depth`` items ahead.

    Reading and parsing the next chunk (Arrow's CSV and Parquet readers release the GIL) then overlaps with
    grouping the current one. An exception in the producer is raised here, at the item where it happened.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            offer((_DONE, exc))
            return
        offer((_DONE, None))

    thread = threading.Thread(target=produce, name="drgpay-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()  # the consumer stopped early (or finished): let the producer end


class BackgroundWriter:
    """Runs a :class:`ResultWriter`'s writes on a thread, in order, at most ``depth`` frames queued.

    Converting a frame to Arrow and encoding Parquet or CSV release the GIL for most of their time, so writing
    overlaps with grouping the next chunk. :meth:`write` also takes a tuple of frames, joined side by side on the
    writer thread (the input chunk and its result). An error on the writer thread is raised by the next
    :meth:`write` or by :meth:`close`.
    """

    def __init__(self, writer: ResultWriter, depth: int = 2):
        self.writer = writer
        self._queue: queue.Queue[pd.DataFrame | tuple[pd.DataFrame, ...] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="drgpay-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.writer.write(item if isinstance(item, pd.DataFrame) else pd.concat(item, axis=1))
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc
            del item
            release_memory()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, frame: pd.DataFrame | tuple[pd.DataFrame, ...]) -> None:
        self._raise()
        self._queue.put(frame)

    def close(self) -> None:
        """Write what is queued, close the file, and raise the writer thread's error if there was one."""
        self._queue.put(None)
        self._thread.join()
        self.writer.close()
        self._raise()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
