"""Grouping and payment over a ``dask.dataframe``: ``group(ddf, grouper=...)`` and ``pay(ddf, policy)``.

Why: past one machine drgpay runs on an existing distributed engine rather than a home-made one. Each partition
goes through the pandas API unchanged (:meth:`Grouper.group <drgpay.grouper.Grouper.group>` and
:func:`drgpay.payment.pay`), so the result equals the pandas API's row for row, with the same index, order,
columns, dtypes and categories. Both are row-wise: no row's result depends on another row, so partition
boundaries do not matter.

The compiled grouper (about 20 MB pickled) and the policy are shipped once, not with every partition: with a
``dask.distributed`` client active they are scattered to the workers (``client.scatter(..., broadcast=True)``,
kept for the session, so later computations reuse them), and every partition task takes the resulting future as
an argument; without one (the threaded or synchronous scheduler) they enter the task graph once as a
``dask.delayed`` object and are never copied. On arrival a worker process unpickles the object once (see
:class:`drgpay.parallel.Shipped`); :func:`worker_loads` counts it, and the tests check it.

Needs the ``dask`` extra: ``pip install 'drgpay[dask]'``. Typical use::

    import dask.dataframe as dd
    from dask.distributed import Client
    import drgpay.dask

    client = Client()                                   # or an existing cluster's address
    ddf = dd.read_parquet("exports/2024/*.parquet")
    cases = drgpay.dask.group(ddf, grouper="chs-drg-2.0", keep=True)   # input columns + mdc … grouper
    paid = drgpay.dask.pay(cases, drgpay.load_policy("policies/city-2025"))
    paid.to_parquet("paid/2024/")

    # or group and pay in one task per partition, as `drgpay settle` does per chunk
    settled = drgpay.dask.settle(ddf, drgpay.load_policy("policies/city-2025"))   # input + grouping + payment
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from drgpay.api import DEFAULT_GROUPER
from drgpay.parallel import (
    Shipped,
    beside_input,
    check_kept,
    group_with,
    ship_grouper,
    ship_policy,
    shipped_loads,
)

__all__ = ["group", "pay", "settle", "worker_loads"]

INSTALL_HINT = "drgpay.dask needs Dask: pip install 'drgpay[dask]' (dask[dataframe] and distributed)"


def _dask() -> Any:
    """Import Dask on first use, with an install hint when it is missing."""
    try:
        import dask
        import dask.dataframe  # the dataframe extra, not just dask itself
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return dask


#: Scattered objects per distributed client: token → future (kept so later computations reuse them).
_SCATTERED: weakref.WeakKeyDictionary[Any, OrderedDict[str, Any]] = weakref.WeakKeyDictionary()
_SCATTERED_MAX = 8
_LOCK = threading.Lock()


def _client() -> Any:
    """The ``dask.distributed`` client computations will use, or None (not installed, no client, or another
    scheduler configured with ``dask.config.set(scheduler=...)``)."""
    try:
        from dask.base import get_scheduler
        from distributed import Client
    except ImportError:
        return None
    try:
        scheduler = get_scheduler()
    except (RuntimeError, ValueError):
        return None
    owner = getattr(scheduler, "__self__", None)
    return owner if isinstance(owner, Client) else None


def _arrived(handle: Any) -> Shipped:
    """The shipped object a partition task received (a future when computed off the client it was made on)."""
    return handle if isinstance(handle, Shipped) else handle.result()


def _handle(dask: Any, shipped: Shipped, kind: str) -> Any:
    """What partition tasks receive: a scattered future (distributed) or one delayed object (other schedulers)."""
    client = _client()
    if client is None:
        return dask.delayed(shipped, name=f"drgpay-{kind}-{shipped.token}", pure=True)
    with _LOCK:
        futures = _SCATTERED.setdefault(client, OrderedDict())
        future = futures.get(shipped.token)
        if future is None or future.status != "finished":
            future = client.scatter(shipped, broadcast=True, hash=False)
            futures[shipped.token] = future
            while len(futures) > _SCATTERED_MAX:
                futures.popitem(last=False)
        else:
            futures.move_to_end(shipped.token)
    return future


def _check_frame(ddf: Any) -> None:
    if not hasattr(ddf, "map_partitions") or not isinstance(getattr(ddf, "_meta", None), pd.DataFrame):
        raise TypeError(f"expected a dask.dataframe.DataFrame, got {type(ddf).__name__}")


def _group_partition(part: pd.DataFrame, handle: Any, kept: list[str] | None) -> pd.DataFrame:
    return beside_input(part, group_with(_arrived(handle), part), kept)


def _pay_partition(part: pd.DataFrame, handle: Any) -> pd.DataFrame:
    from drgpay.payment import pay as pay_frame

    return pay_frame(part, _arrived(handle).value)


def group(
    ddf: Any,
    grouper: str | Path | Any = DEFAULT_GROUPER,
    *,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    keep: bool | Sequence[str] = False,
    **options: Any,
) -> Any:
    """Group every row of the Dask DataFrame ``ddf``; a lazy Dask DataFrame like :func:`drgpay.group`'s result.

    Same index, divisions and order as ``ddf``; columns ``mdc, adrg, drg, status, reason, warnings, grouper``
    (DIP: the DIP columns and ``grouper``) with the pandas API's dtypes and fixed categories, so
    ``result.compute()`` behaves as in pandas. ``keep=True`` puts all the input columns first (a list: those
    columns), computed in the same task as the grouping, which is how to get cases + groups for :func:`pay`
    when ``ddf``'s divisions are unknown
    (``ddf.join(result)`` aligns on the index: with known divisions it keeps the rows in place; with unknown
    ones Dask shuffles, and a repeated index, as ``read_csv`` makes, multiplies rows).

    ``grouper`` is a name, a folder or a loaded grouper; it is loaded and compiled here, once, and shipped to
    the workers once. ``columns``, ``errors`` and ``options`` (DIP: ``catalog=``) are as for
    :func:`drgpay.group`; a DIP catalogue path or frame is read here, once.
    """
    dask = _dask()
    _check_frame(ddf)
    kept = None if keep is False else list(ddf.columns) if keep is True else list(keep)
    missing = [c for c in kept or () if c not in ddf.columns]
    if missing:
        raise KeyError(f"keep: no column {missing} in the input (columns: {list(ddf.columns)})")
    shipped = ship_grouper(grouper, {"columns": columns, "errors": errors, **options})
    # the pandas API on an empty frame: exact columns, dtypes, categories
    result_meta = group_with(shipped, ddf._meta)
    check_kept(kept or (), result_meta.columns)
    meta = beside_input(ddf._meta, result_meta, kept)
    return ddf.map_partitions(
        _group_partition, _handle(dask, shipped, "grouper"), kept, meta=meta, token="drgpay-group"
    )


def pay(ddf: Any, policy: Any) -> Any:
    """Pay every row of ``ddf`` (cases joined with their grouping) under ``policy``, like
    :func:`drgpay.payment.pay`; same index, divisions and order.

    Cases grouped by another grouper than the policy's are refused as in pandas
    (:class:`~drgpay.payment.GrouperMismatchError`): here, before any work, when the ``grouper`` column's known
    categories leave no doubt (as :func:`group` makes them); otherwise when the partition is computed.

    Special-case applications (``special_cases=`` of the pandas API) are not taken here: their checks (each
    application's case exists once) span all rows. Apply them afterwards to the few cases concerned with
    :func:`drgpay.payment.apply_special_cases` in pandas.
    """
    dask = _dask()
    _check_frame(ddf)
    from drgpay.payment import pay as pay_frame
    from drgpay.payment.grouping import COLUMN, check_grouper_categories

    named = ddf._meta.get(COLUMN)
    if named is not None and isinstance(named.dtype, pd.CategoricalDtype) and ddf[COLUMN].cat.known:
        check_grouper_categories(ddf._meta, policy)  # categories Dask knows are the values' own
    meta = pay_frame(ddf._meta, policy)  # raises here, before any work, for missing columns or a bad policy
    shipped = ship_policy(policy)
    return ddf.map_partitions(_pay_partition, _handle(dask, shipped, "policy"), meta=meta, token="drgpay-pay")


def settle(
    ddf: Any,
    policy: Any,
    *,
    grouper: str | Path | Any = None,
    catalog: Any = None,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    keep: bool | Sequence[str] = True,
) -> Any:
    """Group and pay every row of ``ddf`` in one task per partition: the chunk function of ``drgpay settle``
    (:class:`drgpay.payment.settle.Settler`), so a partition's rows come out as the CLI's chunks do.

    Returns a lazy Dask DataFrame with ``ddf``'s index and divisions: the ``keep`` input columns (default all;
    ``False`` none), the grouping columns, then the payment columns (a payment column named like an input column
    is suffixed ``_payment``, as ``drgpay pay`` writes it). ``grouper`` defaults to the policy's; payment reads its
    input columns through the same aliases and ``columns=`` as grouping. 特例单议 applications are not taken here
    (their checks span all rows): apply them afterwards with :func:`drgpay.payment.apply_special_cases`.
    """
    from drgpay.payment.settle import Settler

    chosen = grouper if grouper is not None else (getattr(policy, "grouper", None) or DEFAULT_GROUPER)
    return group(ddf, Settler(chosen, policy, catalog=catalog), columns=columns, errors=errors, keep=keep)


def worker_loads() -> dict[str, int]:
    """How many times each shipped grouper or policy was unpickled in the calling process.

    Run it on every worker to check that each received the grouper once:
    ``client.run(drgpay.dask.worker_loads)`` → ``{worker address: {token: 1}}``.
    """
    return shipped_loads()
