"""预付金 and 年度清算 with figures computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from drgpay.payment import (
    AdvanceRule,
    ClearingRule,
    Gate,
    PaymentInputError,
    ShareTier,
    advance_eligibility,
    annual_clearing,
    build_ledger,
    compute_advances,
    example_policy_path,
    load_policy,
    tiered_share,
)

RULE = AdvanceRule(gates=[Gate("months_in_program", ">=", 12), Gate("violations", "==", 0)], months=1)
CLEARING = ClearingRule(
    surplus_tiers=[ShareTier("1", up_to="0.1"), ShareTier("0.5")],
    overspend_tiers=[ShareTier("0.7", up_to="0.1")],
)
HOSPITALS = pd.DataFrame(
    {"hospital_id": ["H1", "H2", "H3"], "months_in_program": [24, 12, 6], "violations": [0, 0, 0]}
)


def prior_year() -> pd.DataFrame:
    rows = [("H1", f"2023-{m:02d}", 1200000.0 if m < 12 else 1500000.0) for m in range(1, 13)]
    rows += [("H2", "2023-10", 100000.01), ("H2", "2023-11", 100000.01), ("H2", "2023-12", 100000.02)]
    rows += [("H3", "2023-12", 500000.0)]
    return pd.DataFrame(rows, columns=["hospital_id", "period", "amount"])


def test_eligibility_gates() -> None:
    gates = advance_eligibility(HOSPITALS, RULE)
    assert gates["eligible"].tolist() == [True, True, False]
    assert gates["failed"].tolist() == ["", "", "months_in_program >= 12"]
    with pytest.raises(PaymentInputError, match="violations"):
        advance_eligibility(HOSPITALS.drop(columns="violations"), RULE)


def test_advance_is_one_month_of_the_prior_average() -> None:
    adv = compute_advances(prior_year(), RULE, hospitals=HOSPITALS).set_index("hospital_id")
    # H1: 14,700,000 / 12 = 1,225,000; H2: 300,000.04 / 3 = 100,000.0133… → 100,000.01; H3 fails a gate
    assert adv["advance"].tolist() == [1225000.0, 100000.01, 0.0]
    assert adv["months_used"].tolist() == [12, 3, 1]
    assert adv.loc["H3", "reason"] == "failed gates: months_in_program >= 12"


def test_advance_parameters_cap_ratio_rounding() -> None:
    capped = compute_advances(prior_year(), AdvanceRule(cap="1000000"))
    assert capped.set_index("hospital_id")["advance"]["H1"] == 1000000.0
    # round to 10,000 yuan: 1,225,000 is exactly half way → 1,230,000 (half up)
    rounded = compute_advances(prior_year(), AdvanceRule(round_to="10000"))
    assert rounded.set_index("hospital_id")["advance"]["H1"] == 1230000.0
    # two months at 80 %, last 3 months only: (1,200,000 × 2 + 1,500,000) / 3 × 2 × 0.8 = 2,080,000
    custom = compute_advances(prior_year(), AdvanceRule(months=2, ratio="0.8", history_months=3))
    assert custom.set_index("hospital_id")["advance"]["H1"] == 2080000.0


def test_policy_settlement_parameters_are_used() -> None:
    policy = load_policy(example_policy_path())
    hospitals = HOSPITALS.assign(violations=[0, 1, 0])
    adv = compute_advances(prior_year(), policy, hospitals=hospitals)
    assert adv["advance"].tolist() == [1225000.0, 0.0, 0.0]


def ledger() -> pd.DataFrame:
    advances = pd.DataFrame({"hospital_id": ["H1", "H2"], "advance": [1225000.0, 100000.01]})
    months = [
        (h, f"2024-{m:02d}", amt) for h, amt in (("H1", 700000.0), ("H2", 85000.0)) for m in range(1, 13)
    ]
    months.append(("H3", "2024-12", 1800000.0))
    settlements = pd.DataFrame(months, columns=["hospital_id", "period", "amount"])
    return build_ledger(advances, settlements, advance_date="2024-01-05")


def test_ledger() -> None:
    led = ledger()
    h1 = led[led["hospital_id"] == "H1"]
    assert h1["kind"].tolist() == ["advance"] + ["settlement"] * 12
    assert h1["date"].iloc[0] == dt.date(2024, 1, 5) and h1["date"].iloc[1] == dt.date(2024, 1, 31)
    assert h1["balance"].iloc[-1] == 1225000.0 + 12 * 700000.0
    assert led[led["hospital_id"] == "H2"]["balance"].iloc[-1] == 1120000.01


def paid_cases() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hospital_id": ["H1", "H1", "H1", "H1", "H2", "H3"],
            "fund_payment": [3333333.33, 3333333.33, 3333333.34, np.nan, 1000000.0, 2000000.0],
            "fund_paid": [4750000.0, 4750000.0, 0.0, 123.0, 1200000.0, 1500000.0],
        }
    )


def test_annual_clearing_by_hand() -> None:
    out = annual_clearing(paid_cases(), ledger(), CLEARING).set_index("hospital_id")
    h1, h2, h3 = out.loc["H1"], out.loc["H2"], out.loc["H3"]
    # H1: payable 10,000,000, item 9,500,000: surplus 500,000 (5 % of payable) kept in full
    assert (h1["cases"], h1["unpaid_cases"]) == (4, 1)
    assert (h1["payable"], h1["item_fund"], h1["surplus"], h1["retained"]) == (
        10000000.0,
        9500000.0,
        500000.0,
        500000.0,
    )
    assert h1["settled"] == 10000000.0
    # 10,000,000 − 12 × 700,000 − advance 1,225,000 = 375,000 owed to the hospital
    assert (h1["monthly_paid"], h1["advance"], h1["balance"]) == (8400000.0, 1225000.0, 375000.0)
    assert (h1["owed_to_hospital"], h1["owed_to_fund"]) == (375000.0, 0.0)
    # H2: overspend 200,000 (20 %): the fund bears 70 % of the first 10 % of payable = 70,000
    assert (h2["overspend"], h2["shared"], h2["settled"]) == (200000.0, 70000.0, 1070000.0)
    # 1,070,000 − 1,020,000 − 100,000.01 = −50,000.01: the hospital owes the fund
    assert (h2["balance"], h2["owed_to_fund"], h2["owed_to_hospital"]) == (-50000.01, 50000.01, 0.0)
    # H3: surplus 500,000 = 25 % of 2,000,000: 200,000 kept in full + 300,000 × 0.5 = 350,000
    assert (h3["retained"], h3["settled"], h3["advance"], h3["owed_to_hospital"]) == (
        350000.0,
        1850000.0,
        0.0,
        50000.0,
    )


def test_clearing_rounds_once_half_up() -> None:
    cases = pd.DataFrame({"hospital_id": ["H4"], "fund_payment": [1000.0], "fund_paid": [666.67]})
    led = pd.DataFrame({"hospital_id": ["H4"], "kind": ["settlement"], "amount": [800.0]})
    out = annual_clearing(cases, led, CLEARING).iloc[0]
    # surplus 333.33: 100 (first 10 %) + 233.33 × 0.5 = 216.665 → 216.67
    assert (out["retained"], out["settled"], out["balance"]) == (216.67, 883.34, 83.34)


def test_tiered_share_exact() -> None:
    tiers = (ShareTier("1", up_to="0.1"), ShareTier("0.5", up_to="0.2"), ShareTier("0"))
    assert tiered_share(50_000, 1_000_000, tiers) == Fraction(50_000)
    assert tiered_share(250_000, 1_000_000, tiers) == Fraction(100_000 + 50_000)
    assert tiered_share(1, 0, ()) == 0
    assert Decimal(1) == ClearingRule().surplus_tiers[0].share  # default: surplus kept in full


def test_clearing_input_errors() -> None:
    with pytest.raises(PaymentInputError, match="fund_payment"):
        annual_clearing(paid_cases().drop(columns="fund_payment"), ledger(), CLEARING)
    bad = paid_cases()
    bad.loc[0, "fund_paid"] = np.nan
    with pytest.raises(PaymentInputError, match=r"fund_paid missing .* row\(s\) 0"):
        annual_clearing(bad, ledger(), CLEARING)
