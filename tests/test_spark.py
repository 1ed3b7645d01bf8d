"""The Spark recipe (drgpay.spark): mapInPandas and applyInPandas give the pandas API's rows.

Runs where PySpark (the ``spark`` extra) and a Java runtime are installed (CI installs the extra when it finds
Java); skipped otherwise, saying which is missing.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import drgpay
from drgpay.parallel import ship_grouper
from drgpay.payment import DrgPolicy, calibrate_drg_policy
from drgpay.payment import pay as pay_pandas

pyspark = pytest.importorskip(
    "pyspark", reason="PySpark is not installed (pip install 'drgpay[spark]'; needs Java 17)"
)
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("no Java runtime (java on PATH or JAVA_HOME) for PySpark", allow_module_level=True)

import drgpay.spark as drgspark  # noqa: E402 - after the skips

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate  # noqa: E402 - benchmarks/ is not a package

GROUPER = "chs-drg-1.1"
N = 3_000


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # Python workers with drgpay installed
    try:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("drgpay-test")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
    except Exception as exc:  # e.g. a Java too old for this PySpark
        pytest.skip(f"Spark did not start: {exc}")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    return generate.synthetic_export(N, GROUPER, seed=9)


@pytest.fixture(scope="module")
def cases(export: pd.DataFrame) -> pd.DataFrame:
    return export.join(drgpay.group(export, GROUPER))


@pytest.fixture(scope="module")
def policy(cases: pd.DataFrame) -> DrgPolicy:
    return calibrate_drg_policy(
        cases, name="spark test", effective_from="2024-01-01", effective_to="2024-12-31", budget=3e7
    )


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Spark's rows (strings for categoricals, null for missing) equal the pandas API's, matched by case_id."""
    got = drgspark.plain(got.set_index("case_id").loc[expected["case_id"]].reset_index())
    assert_frame_equal(
        got, drgspark.plain(expected.reset_index(drop=True)), check_dtype=False, check_exact=True
    )


def test_map_in_pandas_groups_and_pays_like_pandas(
    spark: Any, export: pd.DataFrame, cases: pd.DataFrame, policy: DrgPolicy
) -> None:
    sdf = spark.createDataFrame(drgspark.plain(export)).repartition(3)
    grouped = drgspark.group(sdf, grouper=GROUPER)
    assert grouped.columns == [*export.columns, *drgpay.grouper.OUTPUT_COLUMNS]
    _same(grouped.toPandas(), cases)

    paid = drgspark.pay(grouped, policy, keep=["case_id"])
    expected = pd.concat([cases[["case_id"]], pay_pandas(cases, policy)], axis=1)
    assert dict(paid.dtypes)["standard"] == "double"
    _same(paid.toPandas(), expected)


def test_apply_in_pandas_per_hospital(spark: Any, export: pd.DataFrame, cases: pd.DataFrame) -> None:
    """The applyInPandas form: one pandas frame per hospital, the same pandas function."""
    sdf = spark.createDataFrame(drgspark.plain(export))
    shipped = ship_grouper(GROUPER, {"columns": None, "errors": "flag"})
    keep = ["case_id", "hospital_id"]
    meta = drgpay.group(export.head(0), GROUPER)
    schema = drgspark.spark_schema(sdf.schema, keep, meta)

    def per_hospital(frame: pd.DataFrame) -> pd.DataFrame:
        return next(drgspark.group_batches([frame], shipped, keep))

    got = sdf.groupBy("hospital_id").applyInPandas(per_hospital, schema).toPandas()
    _same(got, cases[[*keep, *meta.columns]])


def test_each_python_worker_unpickles_the_grouper_at_most_once(spark: Any, export: pd.DataFrame) -> None:
    sdf = spark.createDataFrame(drgspark.plain(export)).repartition(6)
    shipped = ship_grouper(GROUPER, {"columns": None, "errors": "flag"})
    for _ in range(2):
        drgspark.group(sdf, grouper=GROUPER).count()

    def loads(batches: Any, token: str) -> Iterator[pd.DataFrame]:
        from drgpay.parallel import shipped_loads

        for _batch in batches:
            yield pd.DataFrame({"pid": [os.getpid()], "loads": [shipped_loads().get(token, 0)]})

    seen = sdf.mapInPandas(functools.partial(loads, token=shipped.token), "pid long, loads long").toPandas()
    assert seen["loads"].max() <= 1, seen


def test_not_a_spark_frame() -> None:
    with pytest.raises(TypeError, match="pyspark"):
        drgspark.group(pd.DataFrame({"principal_dx": ["K80.100"]}))
