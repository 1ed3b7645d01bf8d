"""Reform report tables: the published figures of issue 4 exactly, hand-computed formulas, bad input."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from drgpay.report import (
    MISSING,
    TOTAL,
    case_mix,
    cost_deltas,
    delta_from_means,
    pass_rate,
    special_case_stats,
    surplus_loss,
)


def cases_with_mean(group: str, mean: str, n: int, prefix: str) -> pd.DataFrame:
    """*n* cases of *group* whose costs differ but whose mean is exactly *mean* (yuan)."""
    m = Decimal(mean)
    offsets = [Decimal(k - (n - 1) / 2).quantize(Decimal(1)) for k in range(n)] if n % 2 else [Decimal(0)] * n
    if n % 2 == 0:
        offsets = [Decimal("0.5") * (1 if k % 2 else -1) for k in range(n)]
    costs = [float(m + off) for off in offsets]
    assert sum(Decimal(repr(c)) for c in costs) == m * n
    return pd.DataFrame(
        {"case_id": [f"{prefix}{group}-{i}" for i in range(n)], "drg": group, "total_cost": costs}
    )


COUNTY = [  # group, baseline mean, current mean, change, change pct (issue 4 "must show")
    ("ES21", "9829.41", "9613.29", -216.12, -2.20),
    ("FM19", "7517.30", "7276.05", -241.25, -3.21),
    ("GB25", "10133", "9167", -966.00, -9.53),
    ("HC25", "6732", "6226", -506.00, -7.52),
]


@pytest.fixture
def county_deltas() -> pd.DataFrame:
    base = pd.concat([cases_with_mean(g, b, 3 + i, "b") for i, (g, b, *_) in enumerate(COUNTY)])
    cur = pd.concat([cases_with_mean(g, c, 4 + 2 * i, "c") for i, (g, _b, c, *_) in enumerate(COUNTY)])
    return cost_deltas(base, cur, by="drg")


@pytest.mark.parametrize(("group", "mean_b", "mean_c", "change", "pct"), COUNTY)
def test_county_mean_cost_changes_exact(county_deltas, group, mean_b, mean_c, change, pct):
    row = county_deltas.set_index("drg").loc[group]
    assert row["mean_cost_baseline"] == float(mean_b)
    assert row["mean_cost_current"] == float(mean_c)
    assert row["mean_cost_change"] == change
    assert row["mean_cost_change_pct"] == pct
    assert row["burden_reduction"] == -change * row["cases_current"]


@pytest.mark.parametrize(("group", "mean_b", "mean_c", "change", "pct"), COUNTY)
def test_county_figures_from_published_means(group, mean_b, mean_c, change, pct):
    d = delta_from_means(mean_b, mean_c)
    assert d.mean_cost_change == Decimal(repr(change)).quantize(Decimal("0.01"))
    assert d.mean_cost_change_pct == Decimal(f"{pct:.2f}")
    assert d.burden_reduction is None


def test_burden_reduction_64_yuan_over_81400_cases():
    base = cases_with_mean("ALL", "10133", 3, "b")
    cur = pd.DataFrame({"drg": "ALL", "total_cost": np.full(81_400, 10_069.0)})
    out = cost_deltas(base, cur, by="drg")
    assert list(out["drg"]) == ["ALL", TOTAL]
    for _, row in out.iterrows():
        assert row["cases_current"] == 81_400
        assert row["mean_cost_change"] == -64.0
        assert row["burden_reduction"] == 5_209_600.00
    d = delta_from_means(10133, 10069, cases_current=81_400)
    assert d.burden_reduction == Decimal("5209600.00")
    assert str(d.burden_reduction) == "5209600.00"


def test_special_case_pass_rate_rounded_and_truncated():
    apps = pd.DataFrame({"decision": ["approved"] * 143 + ["rejected"] * 76})
    res = special_case_stats(apps)
    assert len(res) == 1
    row = res.iloc[0]
    assert (row["applied"], row["approved"], row["rejected"]) == (219, 143, 76)
    assert row["pass_rate_pct"] == 65.30
    assert special_case_stats(apps, truncate=True).iloc[0]["pass_rate_pct"] == 65.29
    assert pass_rate(143, 219) == Decimal("65.30")
    assert pass_rate(143, 219, truncate=True) == Decimal("65.29")


def test_cmi_of_three_groups():
    weights = [1.2] * 50 + [0.8] * 30 + [2.5] * 20
    paid = pd.DataFrame(
        {
            "hospital_id": "H1",
            "drg": ["A"] * 50 + ["B"] * 30 + ["C"] * 20,
            "status": "grouped",
            "weight": weights,
            "total_cost": 1000.0,
        }
    )
    out = case_mix(paid)
    for _, row in out.iterrows():
        assert row["cmi"] == 1.34
        assert row["total_weight"] == 134.0
        assert row["weighted_cases"] == 100
        assert row["grouping_rate_pct"] == 100.0


# --- efficiency indices on a hand computation ------------------------------------------------------------


@pytest.fixture
def two_hospitals() -> pd.DataFrame:
    """Group A: H1 costs 1000, 3000 (mean 2000), H2 1000, 1000 (mean 1000), region mean 1500.
    Group B: H1 8000, H2 4000 x3, region mean 5000. LOS A: all means 3; B: H1 10, H2 6, region 7.
    One ungroupable case at H3."""
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(9)],
            "hospital_id": ["H1", "H1", "H1", "H2", "H2", "H2", "H2", "H2", "H3"],
            "drg": ["A", "A", "B", "A", "A", "B", "B", "B", "0000"],
            "status": ["grouped"] * 8 + ["ungroupable"],
            "weight": [1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 2.0, 2.0, np.nan],
            "total_cost": [1000, 3000, 8000, 1000, 1000, 4000, 4000, 4000, 500],
            "los": [2, 4, 10, 3, 3, 6, 6, 6, 1],
            "case_type": ["normal"] * 5 + ["high_cost", "low_cost", "normal", "ungroupable"],
            "standard": [1500, 1500, 5000, 1500, 1500, 5000, 5000, 5000, np.nan],
        }
    )


def test_efficiency_indices_hand_computed(two_hospitals):
    out = case_mix(two_hospitals).set_index("hospital_id")
    # H1: (2000/1500 * 2 + 8000/5000 * 1) / 3 = 1.42222; H2: (1000/1500 * 2 + 4000/5000 * 3) / 5 = 0.74667
    assert out.loc["H1", "cost_efficiency_index"] == 1.4222
    assert out.loc["H2", "cost_efficiency_index"] == 0.7467
    # H1: (3/3 * 2 + 10/7 * 1) / 3 = 1.142857; H2: (3/3 * 2 + 6/7 * 3) / 5 = 0.914286
    assert out.loc["H1", "time_efficiency_index"] == 1.1429
    assert out.loc["H2", "time_efficiency_index"] == 0.9143
    assert out.loc[TOTAL, "cost_efficiency_index"] == 1.0
    assert out.loc[TOTAL, "time_efficiency_index"] == 1.0
    assert out.loc[["H3"], "cost_efficiency_index"].isna().all()
    assert out.loc["H1", "cmi"] == 1.3333
    assert out.loc["H2", "cmi"] == 1.6
    assert out.loc[TOTAL, "grouping_rate_pct"] == 88.89  # 8 / 9
    assert out.loc[TOTAL, "cases"] == 9
    assert out.loc["H3", "mean_los"] == 1.0


def test_efficiency_against_a_reference_population(two_hospitals):
    reference = pd.DataFrame(
        {"drg": ["A", "A"], "status": "grouped", "total_cost": [1500.0, 2500.0], "los": [3, 5]}
    )
    out = case_mix(two_hospitals, reference=reference).set_index("hospital_id")
    # Only group A is in the reference (mean cost 2000, LOS 4); group B cases are left out of the index.
    assert out.loc["H1", "efficiency_cases"] == 2
    assert out.loc["H1", "cost_efficiency_index"] == 1.0
    assert out.loc["H2", "cost_efficiency_index"] == 0.5
    assert out.loc["H2", "time_efficiency_index"] == 0.75
    assert out.loc[TOTAL, "cost_efficiency_index"] == 0.75


def test_surplus_loss_by_case_type(two_hospitals):
    out = surplus_loss(two_hospitals).set_index("case_type")
    assert out.loc["normal", "net_surplus"] == -2000.0  # 500 - 1500 + 1500 - 3000 - 3000 + 500 + 500 + 1000
    assert out.loc["normal", "surplus_amount"] == 2500.0
    assert out.loc["normal", "loss_amount"] == -4500.0
    assert out.loc["normal", "surplus_rate_pct"] == -12.5
    assert out.loc["ungroupable", "cases"] == 1
    assert out.loc["ungroupable", "paid_cases"] == 0
    assert out.loc[TOTAL, "cases"] == 9
    assert out.loc[TOTAL, "net_surplus"] == 0.0
    with_column = two_hospitals.assign(surplus=two_hospitals["standard"] - two_hospitals["total_cost"])
    pd.testing.assert_frame_equal(surplus_loss(with_column), surplus_loss(two_hospitals))


def test_optional_money_blocks():
    base = pd.DataFrame(
        {"drg": ["A", "A"], "total_cost": [100.0, 200.0], "self_paid": [30.0, 40.0], "fund_payment": [1, 2]}
    )
    cur = pd.DataFrame({"drg": ["A"], "total_cost": [120.0], "self_paid": [20.0], "fund_paid": [5.0]})
    out = cost_deltas(base, cur).set_index("drg")
    assert out.loc["A", "mean_self_paid_baseline"] == 35.0
    assert out.loc["A", "mean_self_paid_change"] == -15.0
    assert out.loc["A", "mean_self_paid_change_pct"] == -42.86
    assert out.loc["A", "self_paid_reduction"] == 15.0
    assert "mean_fund_payment_change" not in out.columns  # only in one period
    assert "mean_fund_paid_change" not in out.columns


def test_half_up_ties_away_from_zero():
    # mean 0.005 yuan per case rounds up to 0.01; the change -0.01 of a 0.01 mean is -100 %
    base = pd.DataFrame({"drg": "A", "total_cost": [0.01, 0.0]})
    cur = pd.DataFrame({"drg": "A", "total_cost": [0.0]})
    row = cost_deltas(base, cur).iloc[0]
    assert row["mean_cost_baseline"] == 0.01
    assert row["mean_cost_change_pct"] == -100.0
    assert delta_from_means("100", "100.005").mean_cost_change == Decimal("0.01")
    assert delta_from_means("100", "99.995").mean_current == Decimal("100.00")
    assert delta_from_means("-0.005", "0").mean_baseline == Decimal("-0.01")
    assert delta_from_means(3, 2).mean_cost_change_pct == Decimal("-33.33")
    assert delta_from_means(0, 2).mean_cost_change_pct is None


def test_groups_in_one_period_only_and_missing_keys_kept():
    base = pd.DataFrame({"drg": ["A", None], "total_cost": [100.0, 50.0]})
    cur = pd.DataFrame({"drg": ["B"], "total_cost": [70.0]})
    out = cost_deltas(base, cur).set_index("drg")
    assert list(out.index) == [MISSING, "A", "B", TOTAL]
    assert out.loc[TOTAL, "cases_baseline"] == 2
    assert out.loc[["A"], "mean_cost_current"].isna().all()
    assert out.loc[["B"], "mean_cost_change"].isna().all()
    assert out.loc[TOTAL, "mean_cost_change"] == -5.0


def test_multi_column_by_and_string_amounts():
    base = pd.DataFrame({"hospital_id": [1, 1, 2], "drg": ["A", "B", "A"], "total_cost": ["1.005", "2", "3"]})
    cur = base.assign(total_cost=["1", "2", "3.10"])
    out = cost_deltas(base, cur, by=["hospital_id", "drg"])
    assert out[["hospital_id", "drg"]].values.tolist() == [["1", "A"], ["1", "B"], ["2", "A"], [TOTAL, ""]]
    assert out.loc[0, "mean_cost_baseline"] == 1.01  # the string "1.005" rounds half up
    assert out.loc[2, "mean_cost_change"] == 0.10


def test_empty_current_period():
    base = pd.DataFrame({"drg": ["A"], "total_cost": [10.0]})
    cur = base.iloc[0:0]
    out = cost_deltas(base, cur)
    assert out["cases_current"].tolist() == [0, 0]
    assert out["mean_cost_current"].isna().all()


def test_input_frames_not_mutated(two_hospitals):
    before = two_hospitals.copy()
    case_mix(two_hospitals)
    surplus_loss(two_hospitals)
    cost_deltas(two_hospitals, two_hospitals)
    pd.testing.assert_frame_equal(two_hospitals, before)


# --- bad input ------------------------------------------------------------------------------------------


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"current: missing required column\(s\): drg, total_cost"):
        cost_deltas(pd.DataFrame({"drg": [], "total_cost": []}), pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="status, weight"):
        case_mix(pd.DataFrame({"hospital_id": ["H"], "drg": ["A"], "total_cost": [1.0]}))
    with pytest.raises(ValueError, match="surplus or standard"):
        surplus_loss(pd.DataFrame({"case_type": ["normal"], "total_cost": [1.0]}))
    with pytest.raises(ValueError, match="decision"):
        special_case_stats(pd.DataFrame({"amount": [1.0]}))


def test_non_numeric_and_missing_costs_name_the_rows():
    frame = pd.DataFrame(
        {"case_id": ["k1", "k2", "k3", "k4"], "drg": "A", "total_cost": ["10", "abc", None, "1e3"]}
    )
    with pytest.raises(ValueError, match=r"'total_cost'.*2 row\(s\): case_id k2, k3") as err:
        cost_deltas(frame, frame)
    assert "baseline" in str(err.value)
    no_id = pd.DataFrame({"drg": "A", "total_cost": [1.0, np.nan, np.inf]}, index=[10, 11, 12])
    with pytest.raises(ValueError, match="index 11, 12"):
        cost_deltas(no_id.iloc[:1], no_id)


def test_bad_weight_and_los_are_errors(two_hospitals):
    bad = two_hospitals.astype({"weight": object})
    bad.loc[1, "weight"] = "heavy"
    with pytest.raises(ValueError, match=r"'weight'.*case_id c1"):
        case_mix(bad)
    bad_los = two_hospitals.astype({"los": float})
    bad_los.loc[4, "los"] = np.nan
    with pytest.raises(ValueError, match=r"'los'.*case_id c4"):
        case_mix(bad_los)


def test_bad_decisions_and_amounts():
    apps = pd.DataFrame({"case_id": ["a", "b", "c"], "decision": ["approved", "pending", None]})
    with pytest.raises(ValueError, match="2 row\\(s\\) are not: case_id b, c"):
        special_case_stats(apps)
    apps = pd.DataFrame(
        {"case_id": ["a", "b"], "decision": ["Approved ", "rejected"], "amount": [np.nan, None]}
    )
    with pytest.raises(ValueError, match=r"'amount'.*case_id a"):
        special_case_stats(apps)
    ok = pd.DataFrame(
        {"decision": ["approved", "rejected"], "amount": [1234.565, np.nan], "hospital_id": "H"}
    )
    res = special_case_stats(ok, by="hospital_id")
    assert res["hospital_id"].tolist() == ["H", TOTAL]
    assert res["extra_paid"].tolist() == [1234.57, 1234.57]
    assert res["pass_rate_pct"].tolist() == [50.0, 50.0]


def test_wrong_types():
    with pytest.raises(TypeError, match="DataFrame"):
        cost_deltas([1, 2], pd.DataFrame())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        pass_rate(3, 2)
    assert pass_rate(0, 0) is None
    with pytest.raises(ValueError, match="whole number"):
        delta_from_means(1, 2, cases_current=2.5)  # type: ignore[arg-type]


def test_report_reads_pay_output_with_unpaid_cases() -> None:
    # an empty fund_payment is a case pay left unpaid (an invalid row): the fund paid 0 for it
    from drgpay.report import cost_deltas

    paid = pd.DataFrame(
        {
            "drg": ["HC23", "HC23", "0000"],
            "total_cost": ["100", "200", "50"],
            "fund_payment": ["60", "140", None],
        }
    )
    out = cost_deltas(paid, paid, by="drg").set_index("drg")
    assert out.loc["0000", "total_fund_payment_current"] == 0
    assert out.loc["total", "total_fund_payment_current"] == 200
    with pytest.raises(ValueError, match="fund_payment"):
        cost_deltas(paid.assign(fund_payment=["60", "x", None]), paid, by="drg")
