"""Grouping and payment on Spark: the pandas API inside ``mapInPandas`` (and ``applyInPandas``).

Why: a platform that already runs Spark should not need a second engine. Spark hands a Python function batches
of rows as pandas DataFrames; :func:`group_batches` and :func:`pay_batches` run the same pandas calls as
:func:`drgpay.group` and :func:`drgpay.payment.pay` on each batch, so the rows come out as in pandas. Spark has no
index and no categorical type: the helpers keep the input columns you name (``keep``, default all) beside the
results, and turn categorical results into plain strings (missing → null).

The compiled grouper travels inside the pickled function as a :class:`drgpay.parallel.Shipped` object: PySpark
sends a command over 1 MB through a broadcast variable (once per executor), and each reused Python worker
process unpickles the grouper once (later tasks reuse it). With a grouper *name* the worker can also load it
from its own drgpay installation; shipping the object guarantees the driver's exact definition.

PySpark is not a dependency of drgpay; bring your own (``pyspark>=3.4``, Java 17). Typical use::

    import drgpay.spark
    sdf = spark.read.parquet("exports/2024/")
    grouped = drgpay.spark.group(sdf, grouper="chs-drg-2.0")            # input columns + mdc … grouper
    paid = drgpay.spark.pay(grouped, drgpay.load_policy("policies/city-2025"), keep=["case_id"])
    settled = drgpay.spark.settle(sdf, drgpay.load_policy("policies/city-2025"))   # group + pay per batch

Or with your own ``mapInPandas`` / ``applyInPandas`` call (see ``docs/scaling.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from drgpay.api import DEFAULT_GROUPER
from drgpay.parallel import Shipped, beside_input, check_kept, group_with, ship_grouper, ship_policy

__all__ = ["group", "group_batches", "pay", "pay_batches", "settle", "spark_schema"]

INSTALL_HINT = "drgpay.spark needs PySpark (pip install pyspark) and a Java runtime"


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with categorical and text columns as object columns of ``str`` / ``None`` (what Spark's Arrow
    conversion accepts for a string column, whatever the pandas version)."""
    out = {}
    for name, column in frame.items():
        if isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(column.dtype):
            values = column.astype(object).to_numpy(copy=True)
            values[pd.isna(values)] = None
            out[name] = values
        else:
            out[name] = column.to_numpy()
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def _each_batch(
    batches: Iterable[pd.DataFrame], apply: Callable[[pd.DataFrame], pd.DataFrame], keep: Sequence[str] | None
) -> Iterator[pd.DataFrame]:
    """``apply`` to each batch; yield the ``keep`` input columns (None: all) + its result, as Spark takes them."""
    for batch in batches:
        kept = list(batch.columns) if keep is None else keep
        yield plain(beside_input(batch, apply(batch), kept))


def group_batches(
    batches: Iterable[pd.DataFrame], shipped: Shipped, keep: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The ``mapInPandas`` function: group each batch; yield the ``keep`` columns (None: all) + the results.

    ``shipped`` comes from :func:`drgpay.parallel.ship_grouper`; bind it with ``functools.partial``.
    """
    return _each_batch(batches, functools.partial(group_with, shipped), keep)


def pay_batches(
    batches: Iterable[pd.DataFrame], shipped: Shipped, keep: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The ``mapInPandas`` function for payment: ``shipped`` holds the policy (:func:`ship_policy`)."""
    from drgpay.payment import pay as pay_frame

    return _each_batch(batches, lambda batch: pay_frame(batch, shipped.value), keep)


def _spark_type(dtype: Any) -> Any:
    from pyspark.sql import types as T

    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return T.StringType()
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return T.TimestampType()
    return T.StringType()


def spark_schema(input_schema: Any, keep: Sequence[str] | None, result_meta: pd.DataFrame) -> Any:
    """The output ``StructType``: the kept input fields as they are, then one field per result column (its
    Spark type from the pandas dtype of ``result_meta``, the pandas API's output on an empty frame)."""
    from pyspark.sql import types as T

    names = list(input_schema.names) if keep is None else list(keep)
    fields = [input_schema[name] for name in names]
    check_kept(names, result_meta.columns)
    fields += [T.StructField(str(c), _spark_type(t), True) for c, t in result_meta.dtypes.items()]
    return T.StructType(fields)


def _empty(schema: Any) -> pd.DataFrame:
    """An empty pandas frame with a Spark schema's column names (all text: meta for the pandas API)."""
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in schema.names})


def _require_spark(sdf: Any) -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    if not hasattr(sdf, "mapInPandas"):
        raise TypeError(f"expected a pyspark.sql.DataFrame, got {type(sdf).__name__}")


def group(
    sdf: Any,
    grouper: str | Path | Any = DEFAULT_GROUPER,
    *,
    keep: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    **options: Any,
) -> Any:
    """Group a Spark DataFrame with ``mapInPandas``: the ``keep`` input columns (default all) followed by the
    grouping columns as strings. Options as for :func:`drgpay.group`."""
    _require_spark(sdf)
    shipped = ship_grouper(grouper, {"columns": columns, "errors": errors, **options})
    meta = group_with(shipped, _empty(sdf.schema))
    schema = spark_schema(sdf.schema, keep, meta)
    return sdf.mapInPandas(functools.partial(group_batches, shipped=shipped, keep=keep), schema)


def pay(sdf: Any, policy: Any, *, keep: Sequence[str] | None = None) -> Any:
    """Pay a Spark DataFrame (cases joined with their grouping) with ``mapInPandas``: the ``keep`` input
    columns (default all) followed by the payment columns.

    Each batch is paid by :func:`drgpay.payment.pay`, so cases grouped by another grouper than the policy's
    (their ``grouper`` column) are refused, when the batch runs, with the pandas API's
    :class:`~drgpay.payment.GrouperMismatchError` (Spark wraps it in its own exception)."""
    _require_spark(sdf)
    from drgpay.payment import pay as pay_frame

    shipped = ship_policy(policy)
    meta = pay_frame(_empty(sdf.schema), policy)
    schema = spark_schema(sdf.schema, keep, meta)
    return sdf.mapInPandas(functools.partial(pay_batches, shipped=shipped, keep=keep), schema)


def settle(
    sdf: Any,
    policy: Any,
    *,
    grouper: str | Path | Any = None,
    catalog: Any = None,
    keep: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
) -> Any:
    """Group and pay a Spark DataFrame in one ``mapInPandas`` pass: the chunk function of ``drgpay settle``
    (:class:`drgpay.payment.settle.Settler`) on each batch; the ``keep`` input columns (default all), the grouping
    columns, then the payment columns, as strings where pandas has categoricals. ``grouper`` defaults to the
    policy's. 特例单议 applications are applied afterwards (:func:`drgpay.payment.apply_special_cases`)."""
    _require_spark(sdf)
    from drgpay.payment.settle import Settler

    chosen = grouper if grouper is not None else (getattr(policy, "grouper", None) or DEFAULT_GROUPER)
    return group(sdf, Settler(chosen, policy, catalog=catalog), keep=keep, columns=columns, errors=errors)
