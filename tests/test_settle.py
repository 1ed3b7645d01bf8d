"""``drgpay settle`` and streamed ``drgpay pay``: one pass over chunks gives, row for row, what ``drgpay group`` then
``drgpay pay`` give (CSV and Parquet, one process and worker processes); whole-year checks (特例单议, a DIP point
value from a budget, one date form per file) hold across chunks; errors leave no output; Dask runs the same chunk
function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import drgpay
import drgpay.cli
from drgpay.io import read_frame
from drgpay.payment import (
    DipPolicy,
    PointValue,
    calibrate_point_value,
    example_policy_path,
    load_policy,
    pay,
    save_policy,
)
from drgpay.payment.errors import PaymentInputError
from drgpay.payment.policy import CASE_TYPES
from drgpay.payment.settle import ChunkPayer, DateForms, PaymentTotals, Settler, pay_stream, settle_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate

POLICY = example_policy_path()
CHUNK = "7000"
PAYMENT = ["case_type", "weight", "standard", "fund_payment", "patient_payment", "surplus", "payment_reason"]
AMOUNTS = ["weight", "standard", "fund_payment", "patient_payment", "surplus"]


def main(*args: object) -> int:
    return drgpay.cli.main([str(a) for a in args])


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30,000 synthetic discharges of 2025 (the example policy's year), noise and bad rows included, as CSV."""
    frame = generate.synthetic_export(30_000, "chs-drg-2.0", seed=3, year=2025)
    path = tmp_path_factory.mktemp("settle") / "export.csv"
    generate.write_export(frame, path)
    return path


@pytest.fixture(scope="module")
def group_then_pay(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``drgpay group`` then ``drgpay pay`` (the whole grouped file in memory), CSV and Parquet."""
    folder = tmp_path_factory.mktemp("two-steps")
    out = {}
    for suffix in ("csv", "parquet"):
        grouped, paid = folder / f"grouped.{suffix}", folder / f"paid.{suffix}"
        assert drgpay.cli.main(["group", str(export), "-o", str(grouped), "-q"]) == 0
        from drgpay.cli_payment import pay_file

        pay_file(grouped, POLICY, output=paid)
        out[suffix] = paid
        out[f"grouped.{suffix}"] = grouped
    return out


def as_values(frame: pd.DataFrame) -> pd.DataFrame:
    """A written result as comparable values: amounts as floats, everything else as text ("" for missing)."""
    out = {}
    for name, column in frame.items():
        if name in AMOUNTS or str(name).removesuffix("_payment") in AMOUNTS:
            out[name] = pd.to_numeric(column.replace("", np.nan)).astype("float64")
        else:
            out[name] = column.astype(object).where(column.notna(), "").astype(str)
    return pd.DataFrame(out)


def read_back(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_parquet(path)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("workers", [1, 2])
def test_settle_equals_group_then_pay(
    export: Path, group_then_pay: dict[str, Path], tmp_path: Path, suffix: str, workers: int
) -> None:
    """The must-show: one pass over chunks writes exactly the rows of group then pay, in order, every column."""
    out = tmp_path / f"settled.{suffix}"
    code = main(
        "settle", export, "--policy", POLICY, "-o", out, "--chunk-rows", CHUNK, "--workers", workers, "-q"
    )
    assert code == 0
    settled, expected = read_back(out), read_back(group_then_pay[suffix])
    assert list(settled.columns) == list(expected.columns)
    assert list(settled.columns[-len(PAYMENT) :]) == PAYMENT
    assert len(settled) == 30_000
    pd.testing.assert_frame_equal(as_values(settled), as_values(expected))


def test_streamed_pay_writes_what_settle_writes(
    export: Path, group_then_pay: dict[str, Path], tmp_path: Path
) -> None:
    """``drgpay pay`` streamed (chunks in, chunks out) writes the file settle writes, byte for byte (same
    writer), and the values of the whole-file pay."""
    settled, streamed = tmp_path / "settled.csv", tmp_path / "streamed.csv"
    assert main("settle", export, "--policy", POLICY, "-o", settled, "-q") == 0
    summary = pay_stream(group_then_pay["grouped.csv"], POLICY, output=streamed, chunk_rows=5000)
    assert summary["rows"] == 30_000
    assert settled.read_bytes() == streamed.read_bytes()
    whole = pd.read_csv(group_then_pay["csv"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(as_values(read_back(streamed)), as_values(whole))
    totals = summary["payment"].frame()
    paid = pd.read_csv(group_then_pay["csv"])
    assert totals["cases"].sum() == 30_000
    for column in ("standard", "fund_payment"):  # exact fen sums, against the sum of the fen of each row
        fen = (paid[column].dropna() * 100).round().astype("int64").groupby(paid["case_type"]).sum()
        assert (totals[column].dropna() * 100).round().astype("int64").to_dict() == fen.to_dict()


def test_settle_summary_and_preview(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main("settle", export, "--policy", POLICY, "--chunk-rows", CHUNK) == 0
    captured = capsys.readouterr()
    assert "case_type" in captured.out and "standard" in captured.out  # the preview of the first rows
    assert "rows: 30,000" in captured.err and "payment by case type" in captured.err
    assert "normal" in captured.err


def test_errors_exit_2_and_leave_no_output(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"earlier")
    assert main("settle", export, "--policy", tmp_path / "nowhere", "-o", out) == 2
    assert main("settle", export, "--policy", POLICY, "-o", export) == 2  # the output is the input
    assert main("settle", export, "--policy", POLICY, "--grouper", "chs-drg-1.1", "-o", out) == 2
    err = capsys.readouterr().err
    assert "is for grouper chs-drg-2.0" in err and "nothing was written" in err
    # a case discharged outside the policy in the last chunk: no output, the earlier file kept
    frame = read_frame(export)
    frame.loc[len(frame) - 1, "discharge_date"] = "2026-01-02"
    late = tmp_path / "late.csv"
    frame.to_csv(late, index=False)
    assert main("settle", late, "--policy", POLICY, "-o", out, "--chunk-rows", CHUNK, "-q") == 2
    assert "outside policy" in capsys.readouterr().err
    assert out.read_bytes() == b"earlier"


def test_one_date_form_per_file_across_chunks(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chunks each in one form, but the file mixes two: refused, as a whole-file read refuses it."""
    frame = read_frame(export)
    tail = frame.index >= 20_000
    frame.loc[tail, "discharge_date"] = frame.loc[tail, "discharge_date"].str.replace("-", "")
    mixed = tmp_path / "mixed.csv"
    frame.to_csv(mixed, index=False)
    assert (
        main("settle", mixed, "--policy", POLICY, "--chunk-rows", CHUNK, "-o", tmp_path / "o.csv", "-q") == 2
    )
    assert "one date form per column, YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(ValueError, match="one date form per column"):
        pay(frame.join(drgpay.group(frame)), load_policy(POLICY))


def applications(frame: pd.DataFrame) -> pd.DataFrame:
    ids = frame["case_id"].iloc[[5, 9_000, 29_990]].tolist()
    return pd.DataFrame(
        {
            "case_id": ids,
            "decision": ["approved", "approved", "rejected"],
            "method": ["by_item", "amount", ""],
            "amount": [None, "12345.67", None],
        }
    )


def test_special_cases_across_chunks(
    export: Path, group_then_pay: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = read_frame(export)
    apps = tmp_path / "apps.csv"
    applications(frame).to_csv(apps, index=False)
    out, expected = tmp_path / "special.csv", tmp_path / "expected.csv"
    assert (
        main("settle", export, "--policy", POLICY, "--special", apps, "-o", out, "--chunk-rows", CHUNK, "-q")
        == 0
    )
    from drgpay.cli_payment import pay_file

    pay_file(group_then_pay["grouped.csv"], POLICY, output=expected, special=apps)
    settled = read_back(out)
    pd.testing.assert_frame_equal(as_values(settled), as_values(read_back(expected)))
    assert settled["case_type"].tolist().count("special") == 2
    # an application for a case that is not in the file: refused after the last chunk, nothing written
    missing = applications(frame)
    missing.loc[2, "case_id"] = "nobody"
    missing.to_csv(apps, index=False)
    target = tmp_path / "none.csv"
    assert main("settle", export, "--policy", POLICY, "--special", apps, "-o", target, "-q") == 2
    assert "'nobody' not found in the cases" in capsys.readouterr().err
    assert not target.exists()


def test_payment_reads_aliased_headers(tmp_path: Path) -> None:
    """Chinese headers grouping understands are read by payment too (``drgpay pay`` needs canonical names)."""
    frame = generate.synthetic_export(2_000, "chs-drg-2.0", seed=5, year=2025)
    renamed = frame.rename(
        columns={"total_cost": "总费用", "hospital_level": "医院等级", "los": "实际住院天数"}
    )
    source = tmp_path / "cn.csv"
    generate.write_export(renamed, source)
    result = settle_file(source, None, POLICY, chunk_rows=700)
    canonical = tmp_path / "en.csv"
    generate.write_export(frame, canonical)
    expected = settle_file(canonical, None, POLICY, chunk_rows=700)
    assert result["payment"].frame().equals(expected["payment"].frame())


# ----------------------------------------------------------------------------------------------- DIP


@pytest.fixture(scope="module")
def dip_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DIP golden cases repeated into a year, a catalogue and a DIP policy folder (scores and mean costs from
    the catalogue, point value 1)."""
    golden = Path(__file__).resolve().parent / "golden" / "dip"
    if not (golden / "catalog.csv").is_file():
        pytest.skip("DIP golden catalogue not present")
    cases = pd.read_csv(golden / "cases.csv", dtype=str, keep_default_na=False)
    cases = cases[[c for c in cases.columns if not c.startswith("expected") and c != "rule"]]
    rng = np.random.default_rng(1)
    year = pd.concat([cases] * 200, ignore_index=True)
    year["case_id"] = [f"D{i:06d}" for i in range(len(year))]
    year["total_cost"] = np.round(rng.lognormal(np.log(8000), 0.8, len(year)), 2).astype(str)
    year["hospital_level"] = rng.choice(["1", "2", "3"], len(year))
    year["discharge_date"] = "2025-06-30"
    folder = tmp_path_factory.mktemp("dip")
    source = folder / "year.csv"
    year.to_csv(source, index=False)
    catalogue = pd.read_csv(golden / "catalog.csv")
    policy = DipPolicy(
        name="dip settle test",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        grouper="dip-2.0",
        scores=catalogue,
        point_values=[PointValue("1")],
        level_coefficients={"3": "1", "2": "0.9", "1": "0.8"},
    )
    save_policy(policy, folder / "policy")
    return {"source": source, "catalog": golden / "catalog.csv", "policy": folder / "policy", "year": year}


def test_dip_point_value_from_a_budget_by_a_first_pass(dip_case: dict[str, Any], tmp_path: Path) -> None:
    """``--budget``: point value = budget / total points of the year (a first pass), then every case paid with it:
    equal to computing the points of the whole year in memory, then paying."""
    out = tmp_path / "dip.csv"
    args = ["settle", dip_case["source"], "--policy", dip_case["policy"], "--catalog", dip_case["catalog"]]
    assert main(*args, "--budget", "25000000", "-o", out, "--chunk-rows", "2000", "-q") == 0
    year = dip_case["year"]
    cases = year.join(drgpay.group(year, "dip-2.0", catalog=str(dip_case["catalog"])))
    policy = load_policy(dip_case["policy"])
    value = calibrate_point_value(pay(cases, policy)["points"], "25000000")
    import attrs

    expected = pay(cases, attrs.evolve(policy, point_values=[PointValue(value)]))
    settled = read_back(out)
    assert np.allclose(
        pd.to_numeric(settled["standard"]).fillna(-1), expected["standard"].fillna(-1), rtol=0, atol=0
    )
    assert settled["case_type"].tolist() == expected["case_type"].astype(str).tolist()


def test_budget_is_refused_for_a_drg_policy(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main("settle", export, "--policy", POLICY, "--budget", "1000000", "-q") == 2
    assert "drgpay calibrate --budget" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- chunk functions


def test_chunk_functions_equal_the_pandas_api(export: Path) -> None:
    frame = read_frame(export).head(5000)
    policy = load_policy(POLICY)
    groups = drgpay.group(frame)
    expected = pay(frame.join(groups), policy)
    result = Settler("chs-drg-2.0", policy).group(frame)
    pd.testing.assert_frame_equal(result[list(groups.columns)], groups)
    pd.testing.assert_frame_equal(result[PAYMENT], expected)
    paid = ChunkPayer(policy).group(frame.join(groups))
    pd.testing.assert_frame_equal(paid, expected)
    totals = PaymentTotals()
    totals.add(expected.iloc[:2000])
    totals.add(expected.iloc[2000:])
    assert totals.frame()["cases"].sum() == 5000


def test_dask_settle_runs_the_same_chunk_function(export: Path) -> None:
    dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] is not installed")
    import dask

    import drgpay.dask

    frame = read_frame(export).head(6000)
    policy = load_policy(POLICY)
    ddf = dd.from_pandas(frame, npartitions=3)
    with dask.config.set(scheduler="synchronous"):
        settled = drgpay.dask.settle(ddf, policy).compute()
    expected = Settler("chs-drg-2.0", policy).group(frame)
    pd.testing.assert_frame_equal(settled[list(expected.columns)], expected)
    pd.testing.assert_frame_equal(settled[list(frame.columns)], ddf.compute())  # Dask's own text dtype


def test_only_results_writes_case_id_grouping_and_payment(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "only.parquet"
    assert (
        main("settle", export, "--policy", POLICY, "-o", out, "--only-results", "--chunk-rows", CHUNK, "-q")
        == 0
    )
    written = pd.read_parquet(out)
    grouping = list(drgpay.group(read_frame(export).head(5)).columns)
    assert list(written.columns) == ["case_id", *grouping, *PAYMENT]
    assert written["case_id"].tolist() == read_frame(export)["case_id"].astype(str).tolist()


def test_streamed_pay_of_a_parquet_file_with_applications(
    export: Path, group_then_pay: dict[str, Path], tmp_path: Path
) -> None:
    """Parquet in, Parquet out, with 特例单议: the values of the whole-file pay."""
    from drgpay.cli_payment import pay_file

    apps = applications(read_frame(export))
    out, expected = tmp_path / "streamed.parquet", tmp_path / "whole.parquet"
    pay_stream(
        group_then_pay["grouped.parquet"], POLICY, output=out, special=apps, chunk_rows=4000, workers=1
    )
    apps_file = tmp_path / "apps.csv"
    apps.to_csv(apps_file, index=False)
    pay_file(group_then_pay["grouped.parquet"], POLICY, output=expected, special=apps_file)
    pd.testing.assert_frame_equal(as_values(read_back(out)), as_values(read_back(expected)))


# --------------------------------------------------------------------------------------------- per-chunk summaries


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*CASE_TYPES, None]),
            st.one_of(st.none(), st.integers(min_value=-(2**49), max_value=2**49)),
        ),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_payment_totals_are_exact_sums_by_case_type(
    rows: list[tuple[str | None, int | None]], cut: int
) -> None:
    """The summary's sums equal Python's integer sums of the fen, by case type, whatever the chunking; a case type
    with no amount has no sum (NaN in the frame), one without rows is not listed. Amounts up to 2**49 fen make
    the large-value branch (a per-type integer sum instead of one counting pass) run too."""
    kinds = pd.Categorical([k for k, _ in rows], categories=list(CASE_TYPES))
    yuan = np.array([np.nan if f is None else f / 100 for _, f in rows], dtype="float64")
    paid = pd.DataFrame(
        {"case_type": kinds, "standard": yuan, "fund_payment": yuan, "patient_payment": -yuan}
    )
    totals = PaymentTotals()
    for start in range(0, len(paid), cut):
        totals.add(paid.iloc[start : start + cut])
    for kind in CASE_TYPES:
        fens = [f for k, f in rows if k == kind and f is not None]
        assert totals.cases.get(kind, 0) == sum(1 for k, _ in rows if k == kind)
        if fens:
            assert totals.sums[kind]["standard"] == sum(fens)
            assert totals.sums[kind]["patient_payment"] == -sum(fens)
        else:
            assert kind not in totals.present
    shown = totals.frame()
    assert list(shown.index) == [k for k in CASE_TYPES if totals.cases.get(k)]


def test_payment_totals_read_text_case_types_and_suffixed_columns() -> None:
    """Case types as text (a CSV read back) and payment columns suffixed ``_payment`` are summed alike."""
    paid = pd.DataFrame(
        {
            "case_type": ["normal", "high_cost", "normal", "unknown"],
            "standard_payment": [1.01, 2.5, 3.0, 9.0],
            "fund_payment": [1.0, np.nan, 2.0, 1.0],
            "patient_payment": [0.01, 0.02, 0.03, 0.0],
        }
    )
    totals = PaymentTotals()
    totals.add(paid)
    assert dict(totals.cases) == {"normal": 2, "high_cost": 1}  # "unknown" is not a case type
    assert totals.sums["normal"] == {"standard": 401, "fund_payment": 300, "patient_payment": 4}
    assert totals.sums["high_cost"] == {"standard": 250, "patient_payment": 2}


def test_date_forms_remembered_between_chunks_still_refuse_another_form() -> None:
    """Forms learnt from earlier chunks are remembered (each distinct date is classified once), and a chunk in
    another form is still refused, naming its rows; past KNOWN_MAX texts the memory starts again."""
    forms = DateForms()
    forms.check(pd.DataFrame({"discharge_date": ["2025-01-02", "2025-01-03", None]}))
    assert forms.first == "YYYY-MM-DD" and set(forms.known) == {"2025-01-02", "2025-01-03"}
    forms.check(pd.DataFrame({"discharge_date": ["2025-01-03", " 2025-01-04 ", ""]}))
    assert "2025-01-04" in forms.known
    with pytest.raises(
        PaymentInputError, match=r"one date form per column, YYYY-MM-DD.*row\(s\) 1 \('20250105'\)"
    ):
        forms.check(pd.DataFrame({"discharge_date": ["2025-01-05", "20250105"]}))
    forms.KNOWN_MAX = 3  # type: ignore[misc]
    forms.check(pd.DataFrame({"discharge_date": ["2025-02-01", "2025-02-02"]}))
    assert set(forms.known) == {"2025-02-01", "2025-02-02"}


def test_policy_content_hash_is_computed_once_per_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Payment records the policy's hash with every chunk's result: it is computed once per policy object, and a
    changed copy (another object) gets its own."""
    from drgpay.payment import policy as policy_module

    calls: list[int] = []
    files = policy_module.policy_files

    def counted(policy: Any) -> dict[str, str]:
        calls.append(id(policy))
        return files(policy)

    monkeypatch.setattr(policy_module, "policy_files", counted)
    pol = load_policy(POLICY)
    first = pol.content_hash()
    assert pol.content_hash() == first and len(calls) == 1
    copy = load_policy(save_policy(pol, tmp_path / "copy"))
    before = len(calls)
    assert copy.content_hash() == first and copy.content_hash() == first and len(calls) == before + 1
    other = attrs.evolve(pol, name="another name")
    assert other.content_hash() != first
