"""CHS-DRG per-case payment: worked examples, paths, boundaries, bad input, date range, explanation."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgpay.payment import (
    CASE_TYPES,
    BaseRate,
    CaseRule,
    DrgPolicy,
    Exclusions,
    FallbackRule,
    GroupWeight,
    OutlierRule,
    PaymentInputError,
    PolicyDateError,
    PolicyError,
    Tier,
    explain_payment,
    pay,
)
from drgpay.payment._exact import to_fen


def policy(**kwargs: object) -> DrgPolicy:
    """The worked example: base rate 9,575.25, level-2 coefficient 0.92."""
    base: dict[str, object] = {
        "name": "worked example",
        "effective_from": "2024-01-01",
        "effective_to": "2024-12-31",
        "weights": [
            GroupWeight("HC23", weight="1.2", mean_cost="12000"),
            GroupWeight("GB11", weight="1.0", mean_cost="9000"),
            GroupWeight("ZZ11"),
            GroupWeight("BJ13", weight="0.5", by_item=True),
            GroupWeight("0000", weight="0.2"),
        ],
        "base_rates": [BaseRate("9575.25")],
        "level_coefficients": {"2": "0.92", "3": "1"},
    }
    base.update(kwargs)
    return DrgPolicy(**base)  # type: ignore[arg-type]


def cases(n: int = 1, **columns: object) -> pd.DataFrame:
    data: dict[str, object] = {
        "case_id": [f"c{i}" for i in range(n)],
        "drg": "HC23",
        "status": "grouped",
        "hospital_id": "H1",
        "hospital_level": 2,
        "insurance_type": "职工",
        "discharge_date": dt.date(2024, 6, 1),
        "los": 5,
        "discharge_type": 1,
        "total_cost": 9000.0,
        "self_paid": 1000.0,
    }
    data.update(columns)
    return pd.DataFrame(data, index=range(n))


# ----------------------------------------------------------------------------------------------- must show


def test_worked_example_rw_1_2() -> None:
    out = pay(cases(), policy())
    assert out["standard"].iloc[0] == 10571.08
    assert out["weight"].iloc[0] == 1.2
    assert out["case_type"].iloc[0] == "normal"


def test_worked_example_rw_1_0() -> None:
    out = pay(cases(drg="GB11"), policy())
    assert out["standard"].iloc[0] == 8809.23


def test_level_spelled_in_chinese_matches() -> None:
    out = pay(cases(hospital_level="二级"), policy())
    assert out["standard"].iloc[0] == 10571.08


def test_fund_and_patient_split_and_surplus() -> None:
    out = pay(cases(total_cost=9000.0, self_paid=1234.56), policy()).iloc[0]
    assert out["patient_payment"] == 1234.56
    assert out["fund_payment"] == 9336.52  # 10,571.08 − 1,234.56
    assert out["surplus"] == 1571.08


def test_patient_payment_from_fund_paid_when_no_self_paid() -> None:
    frame = cases(total_cost=9000.0, fund_paid=7000.0).drop(columns="self_paid")
    out = pay(frame, policy()).iloc[0]
    assert out["patient_payment"] == 2000.0
    assert out["fund_payment"] == 8571.08


def test_fund_share_method() -> None:
    out = pay(cases(total_cost=9000.0, fund_paid=6000.0), policy(fund_method="fund_share")).iloc[0]
    # 10,571.08 × 6,000 / 9,000 = 7,047.3866… → 7,047.39
    assert out["fund_payment"] == 7047.39


def test_amounts_given_as_text_are_exact() -> None:
    out = pay(cases(total_cost="9,000.005", self_paid="1000"), policy()).iloc[0]
    assert out["surplus"] == 1571.07  # cost read as 9,000.01 (half up)


# ----------------------------------------------------------------------------------------------- paths


def test_every_row_paid_or_given_a_reason_and_order_kept() -> None:
    drgs = ["HC23", "0000", "HQY", "ZZ11", "XX99", "BJ13", "GB11", "HC23", "HC23"]
    status = [
        "grouped",
        "ungroupable",
        "ambiguous",
        "grouped",
        "grouped",
        "grouped",
        "grouped",
        "invalid",
        "grouped",
    ]
    frame = cases(len(drgs), drg=drgs, status=status, total_cost=[9000.0] * 8 + [np.nan])
    frame.index = [f"r{i}" for i in range(len(drgs))][::-1]
    out = pay(frame, policy())
    assert list(out.index) == list(frame.index)
    assert set(out["case_type"].astype(str)) <= set(CASE_TYPES)
    for _, row in out.iterrows():
        assert not np.isnan(row["standard"]) or row["payment_reason"], row
        if row["case_type"] != "normal":
            assert row["payment_reason"]
    assert list(out["case_type"].astype(str)) == [
        "normal",
        "ungroupable",
        "ambiguous",
        "excluded",
        "excluded",
        "excluded",
        "normal",
        "excluded",
        "excluded",
    ]
    assert list(out["payment_reason"]) == [
        "",
        "ungroupable",
        "ambiguous",
        "no_weight",
        "drg_not_in_policy",
        "group_paid_by_item",
        "",
        "invalid",
        "missing_total_cost",
    ]
    # invalid records are not paid by default; by-item rows are paid their cost
    assert np.isnan(out["standard"].iloc[7])
    assert out["standard"].iloc[3] == 9000.0


def test_status_inferred_from_code_when_absent() -> None:
    frame = cases(3, drg=["HC23", "0000", "FQY"]).drop(columns="status")
    out = pay(frame, policy())
    assert list(out["case_type"].astype(str)) == ["normal", "ungroupable", "ambiguous"]


def test_ungroupable_rules() -> None:
    frame = cases(drg="0000", status="ungroupable", reason="no_mdc", total_cost=3000.0, self_paid=300.0)
    out = pay(frame, policy(ungroupable=FallbackRule("cost_ratio", ratio="0.7"))).iloc[0]
    assert (out["case_type"], out["payment_reason"], out["standard"]) == (
        "ungroupable",
        "ungroupable:no_mdc",
        2100.0,
    )
    # fixed weight × base rate × coefficient: 0.3 × 9,575.25 × 0.92 = 2,642.769 → 2,642.77
    out = pay(frame, policy(ungroupable=FallbackRule("weight", weight="0.3"))).iloc[0]
    assert out["standard"] == 2642.77 and out["weight"] == 0.3
    # the city's own weight for 0000 (0.2): 1,761.846 → 1,761.85
    out = pay(frame, policy(ungroupable=FallbackRule("weight"))).iloc[0]
    assert out["standard"] == 1761.85
    out = pay(frame, policy(ungroupable=FallbackRule("none"))).iloc[0]
    assert np.isnan(out["standard"]) and np.isnan(out["fund_payment"])


def test_no_base_rate_is_a_reason_not_a_crash() -> None:
    pol = policy(base_rates=[BaseRate("9575.25", insurance_type="职工")])
    out = pay(cases(2, insurance_type=["职工", "居民"]), pol)
    assert out["payment_reason"].tolist() == ["", "no_base_rate"]
    assert np.isnan(out["standard"].iloc[1])


def test_most_specific_base_rate_wins() -> None:
    pol = policy(
        base_rates=[
            BaseRate("8000"),
            BaseRate("9000", insurance_type="居民"),
            BaseRate("10000", insurance_type="居民", hospital_level="3"),
        ],
        level_coefficients={},
    )
    out = pay(
        cases(3, drg="GB11", insurance_type=["职工", "390", "居民"], hospital_level=[3, 2, "三级"]), pol
    )
    assert out["standard"].tolist() == [8000.0, 9000.0, 10000.0]


def test_hospital_coefficient_over_level_and_missing_coefficient() -> None:
    pol = policy(hospital_coefficients={"H9": "1.1"})
    out = pay(cases(2, drg="GB11", hospital_id=["H9", "H1"]), pol)
    assert out["standard"].tolist() == [10532.78, 8809.23]  # 9,575.25 × 1.1 = 10,532.775
    out = pay(cases(drg="GB11", hospital_level=1), policy(default_coefficient=None))
    assert out["payment_reason"].iloc[0] == "no_coefficient"


def test_basic_groups_uniform() -> None:
    weights = [GroupWeight("GB11", weight="1.0", basic=True)]
    out = pay(cases(drg="GB11"), policy(weights=weights, basic_groups_uniform=True))
    assert out["standard"].iloc[0] == 9575.25


def test_published_standard_takes_precedence() -> None:
    pol = policy(standards={("HC23", "职工", "2"): "11000.5", ("ZZ11", "*", "*"): "5000"})
    out = pay(cases(2, drg=["HC23", "ZZ11"]), pol)
    assert out["standard"].tolist() == [11000.5, 5000.0]


def test_exclusions() -> None:
    pol = policy(exclusions=Exclusions(groups=["GB11"], max_los=60, insurance_types=["居民"]))
    frame = cases(
        4, drg=["GB11", "HC23", "HC23", "HC23"], los=[5, 61, 60, 5], insurance_type=["职工"] * 3 + ["居民"]
    )
    out = pay(frame, pol)
    assert out["payment_reason"].tolist() == ["excluded_group", "los_over_60", "", "insurance_not_covered"]
    assert out["standard"].tolist()[:2] == [9000.0, 9000.0]


# ----------------------------------------------------------------------------------------------- outliers


def high(**kw: object) -> OutlierRule:
    args: dict[str, object] = {"tiers": [Tier("3")], "method": "standard_plus_excess", "ratio": "1"}
    args.update(kw)
    return OutlierRule(**args)  # type: ignore[arg-type]


def test_high_cost_standard_plus_excess() -> None:
    out = pay(cases(total_cost=40000.0, self_paid=4000.0), policy(high_cost=high())).iloc[0]
    # threshold 3 × 10,571.08 = 31,713.24; 10,571.08 + (40,000 − 31,713.24) = 18,857.84
    assert (out["case_type"], out["standard"], out["fund_payment"]) == ("high_cost", 18857.84, 14857.84)


@pytest.mark.parametrize(("inclusive", "expected"), [(True, "high_cost"), (False, "normal")])
def test_high_cost_boundary_inclusive_or_not(inclusive: bool, expected: str) -> None:
    frame = cases(total_cost=31713.24)  # exactly 3 × standard
    out = pay(frame, policy(high_cost=high(inclusive=inclusive, method="by_item")))
    assert out["case_type"].iloc[0] == expected
    just_above = pay(cases(total_cost=31713.25), policy(high_cost=high(inclusive=False, method="by_item")))
    assert just_above["case_type"].iloc[0] == "high_cost"


@pytest.mark.parametrize(("inclusive", "expected"), [(True, "low_cost"), (False, "normal")])
def test_low_cost_boundary(inclusive: bool, expected: str) -> None:
    rule = OutlierRule(tiers=[Tier("0.4")], method="by_item", inclusive=inclusive)
    # 0.4 × 10,571.08 = 4,228.432: the boundary falls between fen, so only a cost ≤ 4,228.43 is low
    out = pay(cases(2, total_cost=[4228.43, 4228.44]), policy(low_cost=rule))
    assert out["case_type"].tolist() == ["low_cost", "normal"]
    rule = OutlierRule(tiers=[Tier("0.5")], method="by_item", inclusive=inclusive)
    out = pay(cases(total_cost=5285.54), policy(low_cost=rule))  # 0.5 × 10,571.08 exactly
    assert out["case_type"].iloc[0] == expected
    assert out["standard"].iloc[0] == (5285.54 if expected == "low_cost" else 10571.08)


def test_tiered_multipliers_and_mean_cost_basis() -> None:
    rule = high(tiers=[Tier("3", max_weight="1"), Tier("2")], method="by_item", basis="mean_cost")
    # GB11 (RW 1.0): 3 × 9,000 = 27,000; HC23 (RW 1.2): 2 × 12,000 = 24,000
    out = pay(
        cases(3, drg=["GB11", "GB11", "HC23"], total_cost=[26999.0, 27000.0, 24000.0]), policy(high_cost=rule)
    )
    assert out["case_type"].tolist() == ["normal", "high_cost", "high_cost"]


def test_mean_cost_basis_without_mean_cost_is_a_policy_error() -> None:
    pol = policy(weights=[GroupWeight("HC23", weight="1.2")], high_cost=high(basis="mean_cost"))
    with pytest.raises(PolicyError, match="HC23"):
        pay(cases(), pol)


def test_case_rules_first_match_wins() -> None:
    rules = [
        CaseRule("death_short", method="standard_ratio", ratio="0.5", discharge_types=[5], max_los=2),
        CaseRule("transfer", method="by_item", discharge_types=[2], case_type="normal"),
        CaseRule("short_any", method="standard_ratio", ratio="0.8", max_los=1),
    ]
    frame = cases(5, discharge_type=[5, 5, 2, 1, 1], los=[1, 3, 4, 1, 4], total_cost=[9000.0] * 5)
    out = pay(frame, policy(case_rules=rules, high_cost=high()))
    assert out["payment_reason"].tolist() == ["rule:death_short", "", "rule:transfer", "rule:short_any", ""]
    assert out["case_type"].tolist() == ["low_cost", "normal", "normal", "low_cost", "normal"]
    assert out["standard"].tolist() == [5285.54, 10571.08, 9000.0, 8456.86, 10571.08]


def test_per_diem_rule() -> None:
    weights = [GroupWeight("HC23", weight="1.2", mean_los="8")]
    rule = CaseRule("transfer", method="per_diem", discharge_types=[2])
    out = pay(cases(2, discharge_type=2, los=[3, 10]), policy(weights=weights, case_rules=[rule]))
    # 10,571.08 × 3 / 8 = 3,964.155 → 3,964.16; a long stay is capped at the standard
    assert out["standard"].tolist() == [3964.16, 10571.08]


def test_policy_needing_los_refuses_frames_without_it() -> None:
    pol = policy(case_rules=[CaseRule("short", method="by_item", max_los=1)])
    with pytest.raises(PaymentInputError, match="los"):
        pay(cases().drop(columns="los"), pol)


# ----------------------------------------------------------------------------------------------- refusals


def test_cases_outside_the_policy_dates_are_refused_naming_rows() -> None:
    frame = cases(3, discharge_date=[dt.date(2024, 12, 31), dt.date(2025, 1, 1), dt.date(2023, 12, 31)])
    with pytest.raises(PolicyDateError) as err:
        pay(frame, policy())
    assert "c1" in str(err.value) and "c2" in str(err.value) and "c0" not in str(err.value)
    assert err.value.rows == [1, 2]
    assert "2024-01-01 to 2024-12-31" in str(err.value)


def test_dates_as_text_and_missing_dates() -> None:
    frame = cases(2, discharge_date=["2024-03-01", None])
    out = pay(frame, policy())
    assert out["payment_reason"].tolist() == ["", "missing_discharge_date"]
    with pytest.raises(PaymentInputError, match="discharge_date"):
        pay(cases(discharge_date="not a date"), policy())


def test_no_discharge_date_column_warns_and_pays() -> None:
    with pytest.warns(UserWarning, match="not checked"):
        out = pay(cases().drop(columns="discharge_date"), policy())
    assert out["standard"].iloc[0] == 10571.08


def test_bad_input_names_rows_and_columns() -> None:
    with pytest.raises(PaymentInputError, match=r"missing column\(s\) drg.*join the grouping output"):
        pay(cases().drop(columns="drg"), policy())
    with pytest.raises(PaymentInputError, match=r"total_cost.*'c1'"):
        pay(cases(2, total_cost=["100", "abc"]), policy())
    with pytest.raises(PaymentInputError, match=r"negative amount.*'c0'"):
        pay(cases(total_cost=-5.0), policy())
    with pytest.raises(PaymentInputError, match=r"status.*'weird'"):
        pay(cases(status="weird"), policy())
    # an unreadable discharge type is a bad value, not a bad frame: that row alone is not paid, as group flags it
    out = pay(
        cases(2, discharge_type=["x", 1]),
        policy(case_rules=[CaseRule("d", method="by_item", discharge_types=[5])]),
    )
    assert out["payment_reason"].tolist() == ["invalid:invalid_discharge_type", ""]
    with pytest.raises(TypeError):
        pay(cases(), object())  # type: ignore[arg-type]


def test_empty_frame() -> None:
    out = pay(cases(0), policy())
    assert len(out) == 0 and next(iter(out.columns)) == "case_type"


def test_output_records_the_policy() -> None:
    pol = policy()
    meta = pay(cases(), pol).attrs["drgpay_payment"]
    assert meta["policy"] == "worked example" and meta["content_hash"] == pol.content_hash()


def test_joins_with_the_grouping_without_suffixes() -> None:
    """``df.join(group(df)).join(pay(...))`` needs no suffix: the payment reason is ``payment_reason``."""
    import drgpay

    df = cases(2).drop(columns=["drg", "status"])
    df["principal_dx"] = ["K22.301", "XXX"]
    df["sex"] = 2
    df["age"] = 60
    group_result = drgpay.group(df)
    code = group_result["drg"].iloc[0]
    assert group_result["drg"].iloc[1] == "0000" and code != "0000"
    grouper = group_result["grouper"].iloc[0]
    pay_result = pay(
        df.join(group_result), policy(weights=[GroupWeight(code, weight="0.8")], grouper=grouper)
    )
    assert not set(pay_result.columns) & (set(df.columns) | set(group_result.columns))

    joined = df.join(group_result).join(pay_result)  # raises ValueError on overlapping columns
    assert list(joined.columns) == [*df.columns, *group_result.columns, *pay_result.columns]
    assert joined["status"].tolist() == ["grouped", "ungroupable"]
    assert joined["reason"].astype("string").fillna("").tolist() == ["", "unknown_principal_dx"]  # grouping
    assert joined["payment_reason"].tolist() == ["", "ungroupable:unknown_principal_dx"]
    assert joined["case_type"].astype(str).tolist() == ["normal", "ungroupable"]


# ----------------------------------------------------------------------------------------------- explain


def test_explain_names_weight_rate_coefficient_rule_and_rounding() -> None:
    frame = cases(2, total_cost=[9000.0, 40000.0])
    text = str(explain_payment(frame, policy(high_cost=high()), "c1"))
    for piece in (
        "RW 1.2",
        "9575.25",
        "0.92 (level 2)",
        "10,571.08",
        "rounded once",
        "high-cost",
        "18,857.84",
    ):
        assert piece in text, piece
    explanation = explain_payment(frame, policy(), "c0")
    assert explanation.result["standard"] == 10571.08
    with pytest.raises(PaymentInputError, match="not found"):
        explain_payment(frame, policy(), "nope")


def test_input_frame_is_not_modified() -> None:
    frame = cases(3, drg=["HC23", "0000", "XX"], total_cost=["9000", None, "12.5"])
    before = frame.copy()
    pay(frame, policy(high_cost=high()), special_cases=None)
    pd.testing.assert_frame_equal(frame, before)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["HC23", "GB11", "ZZ11", "BJ13", "0000", "HQY", "", "XX99"]),
            st.sampled_from(["grouped", "ambiguous", "ungroupable", "invalid", None]),
            st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False)),
            st.one_of(st.none(), st.floats(0, 1e5, allow_nan=False)),
            st.sampled_from(["职工", "居民", "", None, "310"]),
            st.sampled_from([1, 2, 3, None, "三级"]),
            st.one_of(st.none(), st.integers(0, 100)),
            st.sampled_from([1, 2, 5, 9, None]),
        ),
        max_size=30,
    )
)
def test_every_row_comes_out_paid_or_with_a_reason(rows: list[tuple[object, ...]]) -> None:
    columns = [
        "drg",
        "status",
        "total_cost",
        "self_paid",
        "insurance_type",
        "hospital_level",
        "los",
        "discharge_type",
    ]
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame["discharge_date"] = dt.date(2024, 2, 29)
    pol = policy(
        base_rates=[BaseRate("9575.25", insurance_type="职工"), BaseRate("9000", hospital_level="3")],
        default_coefficient=None,
        high_cost=high(),
        low_cost=OutlierRule(tiers=[Tier("0.3")], method="cost_ratio", ratio="0.9"),
        case_rules=[CaseRule("death", method="standard_ratio", ratio="0.5", discharge_types=[5], max_los=2)],
        exclusions=Exclusions(max_los=60),
    )
    out = pay(frame, pol)
    assert list(out.index) == list(frame.index) and len(out) == len(frame)
    for (_, row), cost in zip(out.iterrows(), frame["total_cost"], strict=True):
        assert row["case_type"] in CASE_TYPES
        assert row["payment_reason"] or (row["case_type"] == "normal" and not np.isnan(row["standard"]))
        if not np.isnan(row["standard"]):
            assert row["standard"] >= 0 and to_fen(row["standard"]) / 100 == row["standard"]
            assert np.isnan(row["fund_payment"]) or row["fund_payment"] >= 0
        if cost is None:
            assert np.isnan(row["surplus"])


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


decimals = st.decimals(min_value="0.0001", max_value="9.9999", places=4)
amounts = st.decimals(min_value="0", max_value="500000", places=2)


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(decimals, min_size=1, max_size=4),
    rate=st.decimals(min_value="1000", max_value="20000", places=3),
    coefficients=st.lists(decimals, min_size=1, max_size=3),
    multiplier=decimals,
    low_multiplier=st.decimals(min_value="0.01", max_value="0.99", places=3),
    ratio=st.decimals(min_value="0", max_value="1", places=4),
    inclusive=st.booleans(),
    rows=st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(0, 2), amounts, st.decimals(min_value="0", max_value="1", places=3)
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_amounts_equal_decimal_arithmetic_row_by_row(
    weights: list[Decimal],
    rate: Decimal,
    coefficients: list[Decimal],
    multiplier: Decimal,
    low_multiplier: Decimal,
    ratio: Decimal,
    inclusive: bool,
    rows: list[tuple[int, int, Decimal, Decimal]],
) -> None:
    """The vectorised standards, outlier bounds, excess and fund share (exact fractions of arrays) equal the
    policy arithmetic done in Decimal for each row, rounded once half up."""
    codes = [f"G{i}" for i in range(len(weights))]
    pol = policy(
        weights=[GroupWeight(c, weight=str(w)) for c, w in zip(codes, weights, strict=True)],
        base_rates=[BaseRate(str(rate))],
        level_coefficients={},
        hospital_coefficients={f"H{i}": str(c) for i, c in enumerate(coefficients)},
        high_cost=high(tiers=[Tier(str(multiplier + 1))], ratio=str(ratio), inclusive=inclusive),
        low_cost=OutlierRule(
            tiers=[Tier(str(low_multiplier))], method="cost_ratio", ratio=str(ratio), inclusive=inclusive
        ),
        fund_method="fund_share",
    )
    picked = [(g % len(weights), h % len(coefficients), cost, share) for g, h, cost, share in rows]
    frame = cases(
        len(rows),
        drg=[codes[g] for g, _, _, _ in picked],
        hospital_id=[f"H{h}" for _, h, _, _ in picked],
        total_cost=[float(cost) for _, _, cost, _ in picked],
        fund_paid=[float(_half_up(cost * share)) for _, _, cost, share in picked],
        self_paid=[float(cost - _half_up(cost * share)) for _, _, cost, share in picked],
    )
    out = pay(frame, pol)
    with localcontext() as precise:
        precise.prec = 80  # no rounding before the one half-up step
        for (g, h, cost, share), (_, row) in zip(picked, out.iterrows(), strict=True):
            standard = _half_up(weights[g] * rate * coefficients[h])
            high_t, low_t = (multiplier + 1) * standard, low_multiplier * standard
            if cost > high_t or (inclusive and cost == high_t):
                expected, kind = _half_up(standard + (cost - high_t) * ratio), "high_cost"
            elif cost < low_t or (inclusive and cost == low_t):
                expected, kind = _half_up(cost * ratio), "low_cost"
            else:
                expected, kind = standard, "normal"
            assert (row["case_type"], Decimal(repr(row["standard"]))) == (kind, expected)
            fund = Decimal(0) if cost == 0 else _half_up(expected * _half_up(cost * share) / cost)
            assert Decimal(repr(row["fund_payment"])) == fund
