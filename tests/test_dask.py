"""drgpay.dask: grouping and payment on a Dask LocalCluster equal the pandas API exactly; meta and dtypes;
partition boundaries do not matter; the grouper reaches each worker process once."""

from __future__ import annotations

import itertools
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import drgpay
from drgpay.payment import DrgPolicy, GrouperMismatchError, calibrate_drg_policy
from drgpay.payment import pay as pay_pandas

dask = pytest.importorskip("dask", reason="Dask is not installed: pip install 'drgpay[dask]'")
dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] is not installed")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

import drgpay.dask as drgdask  # noqa: E402 - after the skips

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate  # noqa: E402 - benchmarks/ is not a package

N = 200_000
PARTITIONS = 8
GROUPER = "chs-drg-1.1"


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    frame = generate.synthetic_export(N, GROUPER, seed=11)
    frame.index = pd.RangeIndex(100, 100 + N, name="row")  # not starting at 0: the index must be carried
    return frame


@pytest.fixture(scope="module")
def expected_groups(export: pd.DataFrame) -> pd.DataFrame:
    return drgpay.group(export, GROUPER)


@pytest.fixture(scope="module")
def policy(export: pd.DataFrame, expected_groups: pd.DataFrame) -> DrgPolicy:
    return calibrate_drg_policy(
        export.join(expected_groups),
        name="dask test",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        budget=2e9,
        level_coefficients={"1": "0.9", "2": "0.95", "3": "1"},
    )


@pytest.fixture(scope="module")
def expected_paid(export: pd.DataFrame, expected_groups: pd.DataFrame, policy: DrgPolicy) -> pd.DataFrame:
    return pay_pandas(export.join(expected_groups), policy)


@pytest.fixture(scope="module")
def parquet_dir(export: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export as a Parquet dataset of PARTITIONS files, the index kept in a ``row`` column."""
    folder = tmp_path_factory.mktemp("export-parquet")
    bounds = np.linspace(0, len(export), PARTITIONS + 1).astype(int)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        table = pa.Table.from_pandas(export.iloc[lo:hi], preserve_index=True)
        pq.write_table(table, folder / f"part-{i:02d}.parquet")
    return folder


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def _read(parquet_dir: Path) -> Any:
    return dd.read_parquet(str(parquet_dir), index="row", calculate_divisions=True)


# ----------------------------------------------------------------------------------------------- must show


def test_local_cluster_groups_and_pays_200k_exactly_as_pandas(
    client: Any,
    parquet_dir: Path,
    export: pd.DataFrame,
    expected_groups: pd.DataFrame,
    expected_paid: pd.DataFrame,
    policy: DrgPolicy,
) -> None:
    ddf = _read(parquet_dir)
    assert ddf.npartitions == PARTITIONS and ddf.known_divisions
    groups = drgdask.group(ddf, grouper=GROUPER)
    assert groups.npartitions == PARTITIONS and groups.divisions == ddf.divisions
    got = groups.compute()
    assert_frame_equal(got, expected_groups, check_exact=True)
    assert got.attrs["drgpay"] == expected_groups.attrs["drgpay"]

    paid = drgdask.pay(ddf.join(groups), policy)
    assert_frame_equal(paid.compute(), expected_paid, check_exact=True)
    assert len(expected_paid) == N and (expected_paid["case_type"] == "normal").mean() > 0.9


def test_grouper_and_policy_are_unpickled_once_per_worker(
    client: Any, parquet_dir: Path, policy: DrgPolicy
) -> None:
    """Eight partitions on two workers, computed twice: each worker process unpickles the grouper (and the
    policy) exactly once; nothing is unpickled per partition or per computation."""
    ddf = _read(parquet_dir).map_partitions(lambda part: part.head(500))  # 8 small partitions
    for _ in range(2):
        groups = drgdask.group(ddf, grouper=GROUPER)
        drgdask.pay(ddf.join(groups), policy)["standard"].sum().compute()
    loads = client.run(drgdask.worker_loads)
    assert len(loads) == 2
    tokens = {token for per_worker in loads.values() for token in per_worker}
    assert len(tokens) == 2, loads  # the grouper and the policy
    for per_worker in loads.values():
        assert per_worker == dict.fromkeys(tokens, 1), loads
    assert sum(sum(v.values()) for v in loads.values()) < 2 * PARTITIONS


def test_meta_has_the_pandas_dtypes_and_categories(
    client: Any,
    parquet_dir: Path,
    expected_groups: pd.DataFrame,
    expected_paid: pd.DataFrame,
    policy: DrgPolicy,
) -> None:
    ddf = _read(parquet_dir)
    groups = drgdask.group(ddf, grouper=GROUPER)
    assert_series_equal(groups.dtypes, expected_groups.dtypes)
    for column in ("mdc", "adrg", "drg", "status", "reason"):
        assert groups[column].cat.known
        assert list(groups._meta[column].cat.categories) == list(expected_groups[column].cat.categories)
    paid = drgdask.pay(ddf.join(groups), policy)
    assert_series_equal(paid.dtypes, expected_paid.dtypes)
    # one partition computed alone has the same dtypes as the meta (what Dask promised downstream code)
    part = paid.get_partition(3).compute()
    assert_series_equal(part.dtypes, paid.dtypes)


# ----------------------------------------------------------------------------------------------- partitions


@pytest.fixture(scope="module")
def sample(export: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return export.iloc[np.sort(rng.choice(len(export), 3_000, replace=False))]


@pytest.mark.parametrize("npartitions", [1, 2, 5, 17])
def test_partition_boundaries_do_not_change_results(sample: pd.DataFrame, npartitions: int) -> None:
    expected = drgpay.group(sample, GROUPER)
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "large graph" or meta warnings
        ddf = dd.from_pandas(sample, npartitions=npartitions, sort=False)
        got = drgdask.group(ddf, grouper=GROUPER).compute()
    assert_frame_equal(got, expected, check_exact=True)


def test_shuffled_rows_unknown_divisions_and_threads(sample: pd.DataFrame) -> None:
    shuffled = sample.sample(frac=1.0, random_state=3)
    expected = drgpay.group(shuffled, GROUPER)
    with dask.config.set(scheduler="threads"):
        ddf = dd.from_pandas(shuffled, npartitions=6, sort=False)
        assert not ddf.known_divisions
        groups = drgdask.group(ddf, grouper=GROUPER)
        assert_frame_equal(groups.compute(), expected, check_exact=True)
        # with unknown divisions, concat (partition by partition) keeps the order; join would shuffle by index
        joined = dd.concat([ddf, groups], axis=1).compute()
    assert_frame_equal(joined[list(expected.columns)], expected, check_exact=True)
    assert list(joined["case_id"]) == list(shuffled["case_id"])  # Dask turns text columns into "string"


def test_keep_puts_input_first_even_with_a_repeated_index(sample: pd.DataFrame, tmp_path: Path) -> None:
    """read_csv gives each block an index from 0: keep=True still returns input + groups row for row."""
    path = tmp_path / "in.csv"
    sample.to_csv(path, index=False)
    flat = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    expected = flat.join(drgpay.group(flat, GROUPER))
    with dask.config.set(scheduler="sync"):
        ddf = dd.read_csv(path, dtype=str, blocksize=100_000, keep_default_na=False, na_values=[""])
        assert ddf.npartitions > 1 and not ddf.known_divisions
        got = drgdask.group(ddf, grouper=GROUPER, keep=True).compute()
        some = drgdask.group(ddf, grouper=GROUPER, keep=["case_id"]).compute()
    assert not got.index.is_unique  # the repeated index a join would have multiplied
    assert list(got["case_id"]) == list(flat["case_id"])
    for column in ("mdc", "adrg", "drg", "status", "reason"):
        assert list(got[column].astype(object)) == list(expected[column].astype(object)), column
    assert list(some.columns) == ["case_id", *drgpay.group(flat.head(0), GROUPER).columns]
    with pytest.raises(KeyError, match="no column"):
        drgdask.group(ddf, grouper=GROUPER, keep=["no_such_column"])
    with pytest.raises(ValueError, match="clash"):
        drgdask.group(ddf.assign(drg="x"), grouper=GROUPER, keep=True)


def test_pay_on_repartitioned_frame(sample: pd.DataFrame, policy: DrgPolicy) -> None:
    cases = sample.join(drgpay.group(sample, GROUPER))
    expected = pay_pandas(cases, policy)
    with dask.config.set(scheduler="sync"):
        ddf = dd.from_pandas(cases, npartitions=3).repartition(npartitions=7)
        got = drgdask.pay(ddf, policy).compute()
    assert_frame_equal(got, expected, check_exact=True)


# ----------------------------------------------------------------------------------------------- options, errors


def test_column_mapping_and_dip_catalogue_are_shipped() -> None:
    golden = Path(__file__).parent / "golden" / "dip" / "catalog.csv"
    frame = pd.DataFrame(
        {
            "主要诊断": ["K80.100", "J18.900", "I21.000", "XX", None, "C34.900"],
            "procedures": ["51.2300", "", "36.0601", "", "", "32.2900"],
        },
        index=[7, 3, 5, 1, 0, 9],
    )
    mapping = {"主要诊断": "principal_dx"}
    expected = drgpay.group(frame, "dip-2.0", columns=mapping, catalog=golden)
    assert (expected["dip_kind"] == "core").sum() == 3
    with dask.config.set(scheduler="sync"):
        got = drgdask.group(
            dd.from_pandas(frame, npartitions=2, sort=False),
            grouper="dip-2.0",
            columns=mapping,
            catalog=golden,
        ).compute()
    assert_frame_equal(got, expected, check_exact=True)


def test_errors_raise_surfaces_the_schema_error() -> None:
    frame = pd.DataFrame({"principal_dx": ["K80.100", "J18.900"], "age": ["40", "abc"]})
    with dask.config.set(scheduler="sync"):
        ddf = drgdask.group(dd.from_pandas(frame, npartitions=2), grouper=GROUPER, errors="raise")
        with pytest.raises(drgpay.SchemaError, match="age"):
            ddf.compute()


def test_pay_checks_columns_before_any_work(policy: DrgPolicy) -> None:
    ddf = dd.from_pandas(pd.DataFrame({"principal_dx": ["K80.100"]}), npartitions=1)
    with pytest.raises(drgpay.payment.PaymentInputError):
        drgdask.pay(ddf, policy)


def test_pay_refuses_cases_of_another_grouper() -> None:
    """Categories Dask knows (as drgpay.dask.group makes them) refuse before any work; a text column (as read
    from a CSV) when a partition runs. Either way the pandas API's error."""
    small = generate.synthetic_export(300, GROUPER, seed=5)
    cases = small.join(drgpay.group(small, GROUPER))
    kwargs = {"name": "2.0 weights", "effective_from": "2024-01-01", "effective_to": "2024-12-31"}
    policy = calibrate_drg_policy(cases, budget=3e6, **kwargs)
    assert policy.grouper == GROUPER
    other = attrs.evolve(policy, grouper="chs-drg-2.0")
    with dask.config.set(scheduler="sync"):
        ddf = dd.from_pandas(cases, npartitions=3)
        assert ddf["grouper"].cat.known
        with pytest.raises(GrouperMismatchError, match=f"every case was grouped by {GROUPER}"):
            drgdask.pay(ddf, other)  # nothing computed
        text = dd.from_pandas(cases.assign(grouper=cases["grouper"].astype(str)), npartitions=3)
        lazy = drgdask.pay(text, other)
        with pytest.raises(GrouperMismatchError, match=rf"case\(s\) were grouped by {GROUPER}"):
            lazy.compute()
        assert len(drgdask.pay(text, policy).compute()) == len(cases)


def test_not_a_dask_frame() -> None:
    with pytest.raises(TypeError, match=r"dask\.dataframe"):
        drgdask.group(pd.DataFrame({"principal_dx": ["K80.100"]}))


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r"pip install 'drgpay\[dask\]'"):
        drgdask.group(object())
