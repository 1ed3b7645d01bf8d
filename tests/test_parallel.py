"""drgpay.parallel: chunks grouped on a process pool come back in input order and equal the pandas API; each
worker process receives the grouper once; chunks in flight are bounded; errors surface; Shipped unpickles once."""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import drgpay
from drgpay.parallel import Shipped, group_chunks, group_file, resolve_workers, shipped_loads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate  # benchmarks/ is not a package

GROUPER = "chs-drg-1.1"


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    return generate.synthetic_export(12_000, GROUPER, seed=4)


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


@pytest.mark.parametrize("workers", [1, 2])
def test_chunks_on_processes_equal_the_pandas_api_in_order(export: pd.DataFrame, workers: int) -> None:
    frame = export.sample(frac=1.0, random_state=1)  # shuffled index: order must come from the input
    expected = drgpay.group(frame, GROUPER)
    pairs = list(group_chunks(_chunks(frame, 1_000), GROUPER, workers=workers))
    assert len(pairs) == 12
    for chunk, result in pairs:
        assert result.index.equals(chunk.index)
    got = pd.concat([result for _, result in pairs])
    assert_frame_equal(got, expected, check_exact=True)


class CountingGrouper:
    """Stands in for a grouper: reports which process grouped a chunk and how often it received a grouper."""

    complete = True

    def group(self, frame: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
        loads = sum(shipped_loads().values())
        return pd.DataFrame({"pid": os.getpid(), "loads": loads}, index=frame.index)


def test_each_worker_process_receives_the_grouper_once() -> None:
    frame = pd.DataFrame({"principal_dx": ["K80.100"] * 400})
    results = [r for _, r in group_chunks(_chunks(frame, 20), CountingGrouper(), workers=2)]
    per_process = pd.concat(results).drop_duplicates()
    assert len(results) == 20
    assert os.getpid() not in set(per_process["pid"])
    assert 1 <= per_process["pid"].nunique() <= 2
    assert (per_process["loads"] == 1).all(), per_process


def test_chunks_in_flight_are_bounded() -> None:
    frame = pd.DataFrame({"principal_dx": ["K80.100", "J18.900"] * 200})
    read = 0

    def counting() -> Iterator[pd.DataFrame]:
        nonlocal read
        for chunk in _chunks(frame, 10):
            read += 1
            yield chunk

    yielded = 0
    for _ in group_chunks(counting(), GROUPER, workers=2, max_pending=3):
        assert read - yielded <= 3
        yielded += 1
    assert yielded == read == 40


def test_worker_errors_surface_at_their_chunk(export: pd.DataFrame) -> None:
    valid = drgpay.group(export, GROUPER)["status"] != "invalid"
    frame = export[valid.to_numpy()].head(3_000).copy()
    frame["age"] = frame["age"].astype(str)
    frame.iloc[2_500, frame.columns.get_loc("age")] = "abc"  # the third chunk holds the one bad row
    seen = 0
    with pytest.raises(drgpay.SchemaError, match="age"):
        for _chunk, _result in group_chunks(_chunks(frame, 1_000), GROUPER, workers=2, errors="raise"):
            seen += 1
    assert seen == 2


def test_stopping_early_shuts_the_pool_down(export: pd.DataFrame) -> None:
    results = group_chunks(_chunks(export, 500), GROUPER, workers=2)
    first_chunk, first = next(results)
    results.close()
    assert_frame_equal(first, drgpay.group(first_chunk, GROUPER), check_exact=True)


def test_group_file_streams_csv_to_parquet(export: pd.DataFrame, tmp_path: Path) -> None:
    source = generate.write_export(export, tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    summary = group_file(source, out, GROUPER, workers=2, chunk_rows=2_500)
    whole = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    expected = drgpay.group(whole, GROUPER)
    written = pd.read_parquet(out)
    assert summary["rows"] == len(export) == len(written)
    assert list(written["case_id"]) == list(export["case_id"])
    for column in ("mdc", "adrg", "drg", "status", "reason"):  # categoricals, as drgpay.group returns them
        assert isinstance(written[column].dtype, pd.CategoricalDtype)
        assert list(written[column].cat.categories) == list(expected[column].cat.categories)
        assert written[column].astype(str).tolist() == expected[column].astype(str).tolist()
    assert summary["status"] == {str(k): int(v) for k, v in expected["status"].value_counts().items()}


def test_resolve_workers() -> None:
    assert resolve_workers(None) >= 1
    assert resolve_workers(0) == resolve_workers(None)
    assert resolve_workers(3) == 3
    with pytest.raises(ValueError):
        resolve_workers(-1)


def test_shipped_is_unpickled_once_per_process() -> None:
    value = {"weights": np.arange(5)}
    token = "test-shipped-once"
    before = shipped_loads().get(token, 0)
    payload = pickle.dumps(Shipped(value, token))
    first, second = pickle.loads(payload), pickle.loads(payload)
    assert first.value is second.value
    assert shipped_loads()[token] == before + 1
    assert first.token == token and np.array_equal(first.value["weights"], value["weights"])


def test_group_file_only_results_progress_and_no_output(export: pd.DataFrame, tmp_path: Path) -> None:
    source = generate.write_export(export.head(5_000), tmp_path / "in.parquet")
    seen: list[tuple[int, int]] = []
    out = tmp_path / "out.csv"
    summary = group_file(
        source,
        out,
        GROUPER,
        chunk_rows=2_000,
        only_results=True,
        on_chunk=lambda chunk, result: seen.append((len(chunk), len(result))),
    )
    # one process: a small first chunk (2,000 / RAMP_SHARE rows), chunks halving towards the end (see test_io)
    assert seen == [(400, 400), (2_000, 2_000), (1_600, 1_600), (800, 800), (200, 200)]
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["case_id", *drgpay.grouper.OUTPUT_COLUMNS]
    assert len(written) == summary["rows"] == 5_000
    assert group_file(source, None, GROUPER, chunk_rows=2_000)["status"] == summary["status"]


def test_group_file_surfaces_a_writer_error(export: pd.DataFrame, tmp_path: Path) -> None:
    source = generate.write_export(export.head(3_000), tmp_path / "in.parquet")
    with pytest.raises(OSError):
        group_file(source, tmp_path / "missing-folder" / "out.parquet", GROUPER, chunk_rows=1_000)


def test_only_results_keep_the_case_id_under_its_own_header(export: pd.DataFrame, tmp_path: Path) -> None:
    """The id column is found by alias (病案号) or columns=, kept under the input's header; without one, only the
    result columns are written."""
    frame = export.head(300).rename(columns={"case_id": "病案号"})
    source = generate.write_export(frame, tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    group_file(source, out, GROUPER, chunk_rows=100, only_results=True)
    written = pd.read_parquet(out)
    assert (
        list(written.columns)[:2] == ["病案号", "mdc"]
        and written["病案号"].tolist() == frame["病案号"].tolist()
    )
    renamed = generate.write_export(export.head(50).rename(columns={"case_id": "ref"}), tmp_path / "ref.csv")
    group_file(renamed, out, GROUPER, only_results=True, columns={"ref": "case_id"})
    assert pd.read_parquet(out).columns[0] == "ref"
    anonymous = generate.write_export(export.head(50).drop(columns="case_id"), tmp_path / "anon.csv")
    group_file(anonymous, out, GROUPER, only_results=True)
    assert list(pd.read_parquet(out).columns) == list(drgpay.grouper.OUTPUT_COLUMNS)


def _sleep(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@pytest.mark.skipif(sys.platform == "win32", reason="writes to the pool's pipe with os.write")
def test_stopping_workers_mid_message_does_not_hang_the_pool() -> None:
    """A worker terminated while it sends a result leaves part of a message in the pool's result pipe; stopping
    the workers must still let the pool shut down (it waited for the rest of the message forever: a SIGTERM to
    ``drgpay group --workers 2`` hung about once in ten). Here the half message is written by hand."""
    import multiprocessing
    import struct
    import threading
    from concurrent.futures import ProcessPoolExecutor

    from drgpay.parallel import _stop_workers

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        pool.submit(_sleep, 30)
        writer = pool._result_queue._writer  # type: ignore[attr-defined]
        os.write(writer.fileno(), struct.pack("!i", 1000) + b"x" * 10)  # 10 of 1,000 announced bytes
        _stop_workers(pool)
        done = threading.Event()
        stopper = threading.Thread(target=lambda: (pool.shutdown(wait=True, cancel_futures=True), done.set()))
        stopper.start()
        assert done.wait(20), "the pool's shutdown hung after its workers were stopped"
    finally:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
