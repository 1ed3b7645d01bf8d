"""docs/scaling.md stays true: its Python blocks run, in order, on the bundled sample, and print what the page
shows; the Spark blocks run where PySpark and Java are installed."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from docblocks import DOCS, run_blocks

ROOT = DOCS.parent
DOC = DOCS / "scaling.md"

pytest.importorskip("distributed", reason="the Dask recipe needs the dask extra: pip install 'drgpay[dask]'")


def _is_spark(body: str) -> bool:
    return "drgpay.spark" in body


@contextlib.contextmanager
def _spark_session() -> Iterator[Any]:
    """A local Spark session working in the current folder, or None when PySpark or Java is missing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        yield None
        return
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        yield None
        return
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    # The page's Spark blocks use relative paths, which the JVM resolves against the folder it started in: a JVM
    # started earlier in this process (by tests/test_spark.py run first) is elsewhere, so the blocks are skipped.
    jvm_dir = session._jvm.java.lang.System.getProperty("user.dir")
    try:
        yield session if Path(jvm_dir).resolve() == Path.cwd().resolve() else None
    finally:
        session.stop()


def test_page_blocks_run_and_print_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "sample_export.csv", tmp_path / "examples")
    sample = pd.read_csv(ROOT / "examples" / "sample_export.csv", dtype=str)
    (tmp_path / "exports" / "2024").mkdir(parents=True)
    sample.to_parquet(tmp_path / "exports" / "2024" / "part-0.parquet")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    with _spark_session() as spark:
        if spark is not None:
            namespace.update(spark=spark, sdf=spark.read.parquet("exports/2024/"))
        ran, skipped = run_blocks(DOC, namespace, runs=lambda body: spark is not None or not _is_spark(body))
        if spark is not None:
            paid = spark.read.parquet("paid/2024/").toPandas()
            assert sorted(paid["case_id"]) == sorted(sample["case_id"])
            by_hospital = namespace["by_hospital"].toPandas()
            assert sorted(by_hospital["case_id"]) == sorted(sample["case_id"])
    assert ran >= 3 and ran + skipped >= 5
    assert namespace["result"].index.equals(pd.RangeIndex(len(sample)))
    grouped = pd.read_parquet("grouped.parquet")
    assert list(grouped["case_id"]) == list(sample["case_id"])


def test_page_has_no_placeholders() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "SCALE_TABLE" not in text and "DASK_TABLE" not in text, "benchmark tables not filled in"
