"""特例单议: overrides of approved cases, quotas and their errors, statistics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from drgpay.payment import (
    BaseRate,
    DipGroupScore,
    DipPolicy,
    DrgPolicy,
    GroupWeight,
    SpecialCaseError,
    SpecialQuotaError,
    apply_special_cases,
    check_special_quota,
    explain_payment,
    pay,
    special_case_quota,
    special_case_summary,
    special_quota_table,
)


def drg_policy() -> DrgPolicy:
    return DrgPolicy(
        name="special",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        weights=[GroupWeight("HC23", weight="1.2"), GroupWeight("HC25", weight="0.8")],
        base_rates=[BaseRate("10000")],
    )


def dip_policy() -> DipPolicy:
    return DipPolicy(
        name="special dip",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        scores=[DipGroupScore("K80.1", score=1000, mean_cost=10000)],
        point_values=["10"],
    )


def cases(n: int, hospitals: list[str] | None = None, months: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "hospital_id": hospitals or ["H1"] * n,
            "drg": "HC23",
            "status": "grouped",
            "discharge_date": [dt.date(2024, m, 1) for m in (months or [1] * n)],
            "total_cost": 50000.0,
            "self_paid": 5000.0,
        }
    )


def test_quota_worked_examples() -> None:
    assert special_case_quota(2000, drg_policy().special_quota) == 100
    assert special_case_quota(2000, dip_policy().special_quota) == 10
    assert special_case_quota(2019, "0.05") == 100  # floor, never rounded up
    assert special_case_quota(0, "0.05") == 0


def apps(ids: list[str], decisions: list[str], **extra: Sequence[object]) -> pd.DataFrame:
    return pd.DataFrame({"case_id": ids, "decision": decisions, **extra})


def test_quota_check_per_hospital_and_period() -> None:
    frame = cases(40, hospitals=["H1"] * 20 + ["H2"] * 20, months=[1] * 10 + [4] * 10 + [1] * 20)
    applications = apps(["c0", "c1", "c20"], ["approved", "rejected", "pending"], method=["by_item", "", ""])
    table = special_quota_table(applications, frame, drg_policy(), period="quarter")
    h1_q1 = table[(table["hospital_id"] == "H1") & (table["period"] == "2024Q1")].iloc[0]
    assert (h1_q1["cases"], h1_q1["quota"], h1_q1["applied"], h1_q1["approved"]) == (10, 0, 2, 1)
    assert table["exceeded"].tolist() == [True, False, False]
    with pytest.raises(
        SpecialQuotaError, match=r"hospital_id H1, period 2024Q1: 2 applied > quota 0 \(10 cases\)"
    ) as err:
        check_special_quota(applications, frame, drg_policy(), period="quarter")
    assert err.value.table is not None
    yearly = special_quota_table(applications, frame, rate="0.1", period="year")
    assert yearly["quota"].tolist() == [2, 2] and not yearly["exceeded"].any()


def test_dip_quota_is_five_per_mille() -> None:
    frame = cases(2000)
    frame["dip_group"] = "K80.1"
    ids = [f"c{i}" for i in range(11)]
    applications = apps(ids, ["approved"] * 11, method=["by_item"] * 11)
    with pytest.raises(SpecialQuotaError, match="11 applied > quota 10"):
        check_special_quota(applications, frame, dip_policy())
    assert check_special_quota(applications.iloc[:10], frame, dip_policy())["quota"].iloc[0] == 10


def test_apply_overrides_only_approved_cases() -> None:
    frame = cases(5)
    frame.loc[2, "total_cost"] = 80000.0
    applications = apps(
        ["c1", "c2", "c3", "c4"],
        ["通过", "approved", "驳回", "approved"],
        method=["amount", "by_item", "", "regroup"],
        amount=["30000.555", None, None, None],
        group=[None, None, None, "HC25"],
    )
    before = pay(frame, drg_policy())
    after = apply_special_cases(frame, before, applications, drg_policy())
    assert after["case_type"].astype(str).tolist() == ["normal", "special", "special", "normal", "special"]
    assert after["payment_reason"].tolist() == [
        "",
        "special:amount",
        "special:by_item",
        "",
        "special:regroup:HC25",
    ]
    assert after["standard"].tolist() == [12000.0, 30000.56, 80000.0, 12000.0, 8000.0]
    assert after["fund_payment"].tolist() == [7000.0, 25000.56, 75000.0, 7000.0, 3000.0]
    assert after["weight"].tolist() == [1.2, 1.2, 1.2, 1.2, 0.8]
    assert before["case_type"].astype(str).tolist() == ["normal"] * 5  # input untouched
    same = pay(frame, drg_policy(), special_cases=applications)
    pd.testing.assert_frame_equal(same, after)
    summary = special_case_summary(applications, before, after, cases=frame).iloc[0]
    assert (summary["applied"], summary["approved"], summary["rejected"]) == (4, 3, 1)
    assert summary["pass_rate_pct"] == 75.0
    # extra: +18,000.56 (amount) +68,000 (by item) −4,000 (regroup)
    assert summary["extra_standard"] == 82000.56
    assert summary["extra_fund_payment"] == 82000.56


def test_pass_rate_143_of_219() -> None:
    applications = apps(
        [f"c{i}" for i in range(219)],
        ["approved"] * 143 + ["rejected"] * 76,
        method=["by_item"] * 143 + [""] * 76,
    )
    assert special_case_summary(applications)["pass_rate_pct"].iloc[0] == 65.30
    assert special_case_summary(applications, truncate=True)["pass_rate_pct"].iloc[0] == 65.29
    assert np.isnan(special_case_summary(apps([], []))["pass_rate_pct"].iloc[0])


def test_explain_shows_the_special_override() -> None:
    frame = cases(2)
    applications = apps(["c1"], ["approved"], method=["amount"], amount=[15000])
    text = str(explain_payment(frame, drg_policy(), "c1", special_cases=applications))
    assert "特例单议 approved (amount)" in text and "15,000.00" in text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (apps(["c1", "c1"], ["approved", "rejected"], method=["by_item", ""]), "more than once"),
        (apps(["c1"], ["maybe"]), "unknown decision"),
        (apps(["c1"], ["approved"]), "need a method"),
        (apps(["c1"], ["approved"], method=["amount"]), "'amount' column"),
        (apps(["c1"], ["approved"], method=["amount"], amount=["x"]), "non-negative amount"),
        (apps(["c1"], ["approved"], method=["regroup"]), "need a 'group'"),
        (apps(["c99"], ["approved"], method=["by_item"]), "not found"),
        (pd.DataFrame({"case_id": ["c1"]}), "missing column"),
    ],
)
def test_bad_applications_are_named(table: pd.DataFrame, message: str) -> None:
    frame = cases(3)
    with pytest.raises(SpecialCaseError, match=message):
        apply_special_cases(frame, pay(frame, drg_policy()), table, drg_policy())
