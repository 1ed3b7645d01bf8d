"""Calibration: weights and scores from history, base rate from a budget, point value from a fund."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from drgpay.money import to_fen
from drgpay.payment import (
    DipPolicy,
    DrgPolicy,
    PaymentInputError,
    calibrate_base_rate,
    calibrate_dip_policy,
    calibrate_dip_scores,
    calibrate_drg_policy,
    calibrate_point_value,
    calibrate_weights,
    pay,
)


def small_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "drg": ["G1", "G1", "G2", "G2", "G3", "G3", "0000"],
            "status": ["grouped"] * 6 + ["ungroupable"],
            "total_cost": [4000.0, 6000.0, 9000.0, 11000.0, 15000.0, 25000.0, 99999.0],
            "los": [2, 4, 5, 7, 9, 11, 1],
        }
    )


def test_rw_is_group_mean_over_all_case_mean() -> None:
    table = calibrate_weights(small_history()).set_index("drg")
    # all-case mean 70,000 / 6 = 11,666.67 (the ungroupable case does not count)
    assert table.attrs["reference_mean_cost"] == 11666.67
    assert table["mean_cost"].tolist() == [5000.0, 10000.0, 20000.0]
    assert table["weight"].tolist() == [0.4286, 0.8571, 1.7143]
    assert table["mean_los"].tolist() == [3.0, 6.0, 10.0]
    assert "0000" not in table.index


def test_year_weighting() -> None:
    hist = pd.DataFrame(
        {
            "drg": ["G1", "G1", "G2", "G2"],
            "year": [2022, 2023, 2022, 2023],
            "total_cost": [4000.0, 6000.0, 8000.0, 8000.0],
        }
    )
    table = calibrate_weights(hist, year="year", year_weights={2022: 1, 2023: 3}).set_index("drg")
    # G1: (4,000 × 1 + 6,000 × 3) / 4 = 5,500; all: (6,000 × 1 + 7,000 × 3) / 4 = 6,750
    assert table.attrs["reference_mean_cost"] == 6750.0
    assert table.loc["G1", "mean_cost"] == 5500.0
    assert table.loc["G1", "weight"] == 0.8148  # 5,500 / 6,750 = 0.814814…
    with pytest.raises(PaymentInputError, match="no weight for year"):
        calibrate_weights(hist, year="year", year_weights={2022: 1})


def test_trimming_drops_outliers() -> None:
    rng = np.random.default_rng(7)
    costs = [*list(rng.normal(10000, 500, 200).round(2)), 1000000.0]
    hist = pd.DataFrame({"drg": "G1", "total_cost": costs})
    plain = calibrate_weights(hist).iloc[0]
    for method in ("iqr", "log_sd", "percentile"):
        trimmed = calibrate_weights(hist, trim=method).iloc[0]
        assert trimmed["cases"] == 201 and trimmed["cases_used"] < 201
        assert abs(trimmed["mean_cost"] - 10000) < 200 < abs(plain["mean_cost"] - 10000)
    with pytest.raises(ValueError, match="trim must be"):
        calibrate_weights(hist, trim="median")


def planted_history(seed: int = 1) -> tuple[pd.DataFrame, dict[str, float]]:
    rng = np.random.default_rng(seed)
    planted = {"A": 4000.0, "B": 8000.0, "C": 16000.0, "D": 40000.0}
    rows = []
    for year, inflation in ((2021, 0.95), (2022, 1.0), (2023, 1.05)):
        for code, mean in planted.items():
            n = 400
            costs = rng.lognormal(np.log(mean * inflation) - 0.02, 0.2, n).round(2)
            rows.append(pd.DataFrame({"drg": code, "year": year, "total_cost": costs, "status": "grouped"}))
    return pd.concat(rows, ignore_index=True), planted


def test_weights_recovered_from_a_synthetic_history() -> None:
    hist, planted = planted_history()
    table = calibrate_weights(hist, year="year", year_weights={2021: 1, 2022: 2, 2023: 7}).set_index("drg")
    overall = sum(planted.values()) / len(planted)
    for code, mean in planted.items():
        assert table.loc[code, "weight"] == pytest.approx(mean / overall, rel=0.03)


def test_base_rate_from_budget() -> None:
    weights = {"G1": Decimal("0.4286"), "G2": Decimal("0.8571")}
    volume = pd.DataFrame({"drg": ["G1"] * 10 + ["G2"] * 10 + ["XX"]})
    # 1,000,000 / 12.857 = 77,778.642…
    assert calibrate_base_rate(volume, weights, 1_000_000) == Decimal("77778.64")
    volume["coef"] = ["1.1"] * 10 + ["1"] * 11
    # Σ = 4.7146 + 8.571 = 13.2856 → 75,269.464…
    assert calibrate_base_rate(volume, weights, "1000000", coefficient="coef") == Decimal("75269.46")
    with pytest.raises(PaymentInputError, match="no case has a weight"):
        calibrate_base_rate(pd.DataFrame({"drg": ["XX"]}), weights, 1)


def test_point_value_from_fund() -> None:
    assert calibrate_point_value(pd.Series([1500.0, 400.0, 5000.0, np.nan]), 69_000) == Decimal(10)
    assert calibrate_point_value("123456.7", "1000000") == Decimal("8.1000")
    assert calibrate_point_value(3, 10, places=2) == Decimal("3.33")


def test_calibrated_drg_policy_spends_the_budget() -> None:
    hist, _ = planted_history()
    budget = Decimal("30000000")
    policy = calibrate_drg_policy(
        hist,
        name="calibrated",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        budget=budget,
        year="year",
        year_weights={2021: 1, 2022: 2, 2023: 7},
    )
    assert isinstance(policy, DrgPolicy) and len(policy.base_rates) == 1
    volume = hist[hist["year"] == 2023].assign(discharge_date="2024-06-30")
    spent = Decimal(int(to_fen(pay(volume, policy)["standard"]).sum())).scaleb(-2)
    total_weight = sum(policy.weights[c].weight for c in volume["drg"])  # type: ignore[misc]
    assert abs(spent - budget) <= Decimal("0.005") * total_weight + Decimal("0.005") * len(volume)


def test_calibrated_dip_policy() -> None:
    hist, _ = planted_history()
    hist = hist.rename(columns={"drg": "dip_group"})
    scores = calibrate_dip_scores(hist, scale=100).set_index("dip_group")
    assert scores["score"].between(20, 300).all()
    policy = calibrate_dip_policy(
        hist, name="dip", effective_from="2024-01-01", effective_to="2024-12-31", fund=25_000_000, year="year"
    )
    assert isinstance(policy, DipPolicy) and policy.point_value_kind == "budget"
    points = sum(policy.scores[c].score for c in hist[hist["year"] == 2023]["dip_group"])  # type: ignore[misc]
    assert policy.point_values[0].value == calibrate_point_value(points, 25_000_000)


def test_history_errors() -> None:
    with pytest.raises(PaymentInputError, match="missing column"):
        calibrate_weights(pd.DataFrame({"drg": ["A"]}))
    with pytest.raises(PaymentInputError, match=r"not an amount in row\(s\) 1"):
        calibrate_weights(pd.DataFrame({"drg": ["A", "B"], "total_cost": ["1", "x"]}))
