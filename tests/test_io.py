"""Reading exports in chunks (sizes, ramp, nothing lost or reordered) and writing results (encodings, schema)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drgpay import io


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": [f"ZY{i:08d}" for i in range(n)],
            "sex": np.where(np.arange(n) % 3 == 0, "1", "2"),
            "principal_dx": np.where(np.arange(n) % 2 == 0, "K22.301", "I10.x05"),
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _sizes(path: Path, chunk_rows: int, ramp_rows: int | None) -> tuple[list[int], pd.DataFrame]:
    chunks = list(io.read_chunks(path, chunk_rows, ramp_rows=ramp_rows))
    joined = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    return [len(c) for c in chunks], joined


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_chunks_without_ramp_have_the_chunk_size(tmp_path: Path, suffix: str) -> None:
    frame = _frame(2_500)
    sizes, joined = _sizes(_write(frame, tmp_path / f"in{suffix}"), 1_000, None)
    if suffix == ".csv":  # one block of a small file: one chunk
        assert sizes == [2_500]
    else:
        assert sizes == [1_000, 1_000, 500]
    pd.testing.assert_frame_equal(joined.astype(object), frame.astype(object))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ramped_chunks_start_small_and_shrink_towards_the_end(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)  # about 140 rows per CSV block
    frame = _frame(20_000)
    sizes, joined = _sizes(_write(frame, tmp_path / f"in{suffix}"), 4_000, 800)
    pd.testing.assert_frame_equal(joined.astype(object), frame.astype(object))
    assert sum(sizes) == 20_000
    block = 200 if suffix == ".csv" else 0  # CSV chunks end at a block boundary
    assert 800 <= sizes[0] <= 800 + block
    assert max(sizes) <= 4_000 + block and sizes.count(max(sizes)) >= 2
    peak = sizes.index(max(sizes))
    tail = sizes[peak + 1 :]
    assert len(tail) >= 3, sizes
    assert all(a >= b - block for a, b in itertools.pairwise(tail)), sizes  # shrinking
    assert tail[-1] <= 800 + block


def test_excel_ramp_is_a_small_first_chunk(tmp_path: Path) -> None:
    sizes, _ = _sizes(_write(_frame(2_500), tmp_path / "in.xlsx"), 1_000, 300)
    assert sizes == [300, 1_000, 1_000, 200]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 3_000), chunk_rows=st.integers(1, 1_500), share=st.integers(1, 8))
def test_ramped_parquet_chunks_lose_and_reorder_nothing(
    tmp_path: Path, n: int, chunk_rows: int, share: int
) -> None:
    frame = _frame(n)
    path = _write(frame, tmp_path / "in.parquet")
    ramp = max(chunk_rows // share, 1)
    sizes, joined = _sizes(path, chunk_rows, ramp)
    assert sum(sizes) == n and all(s > 0 for s in sizes)  # an empty file gives no chunk
    assert all(s <= chunk_rows + ramp for s in sizes)
    if n:
        assert joined["case_id"].tolist() == frame["case_id"].tolist()


def _column_chunk(path: Path, name: str) -> pq.ColumnChunkMetaData:
    meta = pq.ParquetFile(path).metadata.row_group(0)
    return next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == name)


def test_parquet_encoding_follows_the_first_chunk(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    frame = _frame(5_000).assign(
        drg=pd.Categorical(["GZ13", "ES21"] * 2_500, categories=["ES21", "GZ13", "0000"])
    )
    with io.ResultWriter(out, statistics=["drg", "not-there"]) as writer:
        writer.write(frame)
        writer.write(frame.iloc[:10])
    # nearly unique: no dictionary; repeated values and categoricals: dictionary
    assert "RLE_DICTIONARY" not in _column_chunk(out, "case_id").encodings
    assert "RLE_DICTIONARY" in _column_chunk(out, "sex").encodings
    assert "RLE_DICTIONARY" in _column_chunk(out, "drg").encodings
    assert _column_chunk(out, "drg").is_stats_set and not _column_chunk(out, "case_id").is_stats_set
    back = pd.read_parquet(out)
    assert len(back) == 5_010
    assert isinstance(back["drg"].dtype, pd.CategoricalDtype)
    assert list(back["drg"].cat.categories) == ["ES21", "GZ13", "0000"]
    assert back["drg"].astype(str).tolist() == frame["drg"].astype(str).tolist() + ["GZ13", "ES21"] * 5


def test_all_statistics_by_default_and_later_chunks_cast_to_the_first(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    first = pd.DataFrame({"a": ["x", "y"], "b": pd.Categorical(["u", None])})
    later = pd.DataFrame(
        {"a": [None, None], "b": pd.Categorical([None, None], categories=pd.Index([], dtype=object))}
    )
    with io.ResultWriter(out) as writer:
        writer.write(first)
        writer.write(later)
    assert _column_chunk(out, "a").is_stats_set
    back = pd.read_parquet(out)
    assert back["a"].tolist()[:2] == ["x", "y"] and back["a"].isna().tolist()[2:] == [True, True]
    assert back["b"].astype(object).where(back["b"].notna(), None).tolist() == ["u", None, None, None]


def test_csv_output_holds_the_text_of_categoricals(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    frame = pd.DataFrame({"drg": pd.Categorical(["GZ13", None], categories=["GZ13", "ES21"]), "n": [1, 2]})
    with io.ResultWriter(out) as writer:
        writer.write(frame)
    assert out.read_text().splitlines() == ['"drg","n"', '"GZ13",1', ",2"]


def test_an_empty_categorical_first_is_written_as_text(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    empty = pd.DataFrame({"b": pd.Categorical([None], categories=pd.Index([], dtype=object))})
    with io.ResultWriter(out) as writer:
        writer.write(empty)
        writer.write(pd.DataFrame({"b": ["v"]}))
    assert pa.types.is_large_string(pq.read_schema(out).field("b").type)
    assert pd.read_parquet(out)["b"].tolist()[1] == "v"


@pytest.fixture
def arrow_pool() -> Any:
    """Arrow's default memory pool, restored after the test (the commands switch it for their process)."""
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _has_pool(make: Any) -> bool:
    try:
        make()
    except NotImplementedError:
        return False
    return True


@pytest.mark.usefixtures("arrow_pool")
def test_commands_allocate_with_jemalloc_unless_the_environment_chooses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A drgpay command switches Arrow to jemalloc where pyarrow has it (the default otherwise); a pool chosen
    with ARROW_DEFAULT_MEMORY_POOL is left alone; an allocator the build lacks is no error."""
    from drgpay.cli import main

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    source = tmp_path / "in.csv"
    source.write_text("case_id,principal_dx\n1,I10.x00\n", encoding="utf-8")
    assert main(["group", str(source), "-o", str(tmp_path / "out.csv"), "-q"]) == 0
    expected = "jemalloc" if _has_pool(pa.jemalloc_memory_pool) else "system"
    assert pa.default_memory_pool().backend_name == expected

    pa.set_memory_pool(pa.system_memory_pool())
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    io.use_command_allocator()
    assert pa.default_memory_pool().backend_name == "system"

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
    io.use_command_allocator("mimalloc")
    assert pa.default_memory_pool().backend_name == (
        "mimalloc" if _has_pool(pa.mimalloc_memory_pool) else "system"
    )

    def missing() -> Any:
        raise NotImplementedError("built without it")

    pa.set_memory_pool(pa.system_memory_pool())
    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    io.use_command_allocator()
    assert pa.default_memory_pool().backend_name == "system"
