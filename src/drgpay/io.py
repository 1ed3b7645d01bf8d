"""Reading exports in chunks and writing results incrementally (CSV, Parquet, Excel in; CSV, Parquet out).

Every column is read as text: codes such as ``96.0800`` or ``I10.x05`` must never pass through a number parser,
and the schema layer decides what each column means. Chunks keep memory bounded whatever the file size.
"""

from __future__ import annotations

import csv
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
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


def read_chunks(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the file as DataFrames of at most about ``chunk_rows`` rows, all columns as strings."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        # without pre_buffer: with it, pyarrow keeps the buffers of every row group read, so memory grows with
        # the file (about 48 MB per million rows)
        pf = pq.ParquetFile(path, pre_buffer=False)
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield _strings_frame(batch)
    elif suffix in (".xlsx", ".xlsm", ".xls"):
        frame = pd.read_excel(path, dtype=str)
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]
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
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            if size >= chunk_rows:
                yield _strings_frame(pa.Table.from_batches(pending))
                pending, size = [], 0
        if pending:
            yield _strings_frame(pa.Table.from_batches(pending))
    else:
        raise ValueError(f"unsupported input format {suffix!r}: use .csv, .parquet or .xlsx")


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


class ResultWriter:
    """Append DataFrames to a CSV or Parquet file; categorical columns are written as text."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.kind = "parquet" if self.path.suffix.lower() in (".parquet", ".pq") else "csv"
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(pa.schema([_plain_field(f) for f in table.schema]))
        if self._writer is None:
            self._schema = table.schema
            if self.kind == "parquet":
                self._writer = pq.ParquetWriter(self.path, table.schema)
            else:
                self._writer = pacsv.CSVWriter(self.path, table.schema)
        elif self._schema is not None and table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain_field(field: pa.Field) -> pa.Field:
    """Dictionary (categorical) and null columns become strings, so every chunk has the same schema."""
    if pa.types.is_dictionary(field.type) or pa.types.is_null(field.type):
        return pa.field(field.name, pa.large_string())
    if pa.types.is_string(field.type):
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
