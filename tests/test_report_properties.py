"""Properties of the exact money helpers and report tables (hypothesis)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgpay.money import (
    InvalidAmountError,
    div_round_half_up,
    div_toward_zero,
    fen_to_decimal,
    fen_to_yuan,
    round_half_up,
    to_fen,
    to_units,
    truncate,
)
from drgpay.report import TOTAL, case_mix, cost_deltas

CENT = Decimal("0.01")

# --- money helpers ----------------------------------------------------------------------------------------


def test_money_examples():
    assert to_fen([1.005, 9829.41, -2.345, 0.125, 3]).tolist() == [101, 982941, -235, 13, 300]
    assert to_fen(pd.Series(["1.005", " -0.005 ", Decimal("2.675")])).tolist() == [101, -1, 268]
    assert to_fen(pd.Series([1, 2], dtype="Int64")).tolist() == [100, 200]
    assert to_fen(np.array([], dtype=float)).tolist() == []
    assert to_units([1.23456789], 6).tolist() == [1234568]
    assert fen_to_yuan(982941) == 9829.41
    assert fen_to_decimal(-21612) == Decimal("-216.12")
    assert round_half_up(2.675) == Decimal("2.68")  # the float 2.675 is read as typed
    assert round_half_up("-2.345") == Decimal("-2.35")
    assert truncate("65.2968") == Decimal("65.29")
    assert div_round_half_up(5, 2) == 3
    assert div_round_half_up(-5, 2) == -3
    assert div_round_half_up(5, -2) == -3
    assert div_toward_zero(-7, 2) == -3
    assert div_round_half_up(np.array([5, -5, 4, -7]), 2).tolist() == [3, -3, 2, -4]
    with pytest.raises(ZeroDivisionError):
        div_round_half_up(1, 0)


def test_money_rejects_missing_and_text():
    with pytest.raises(InvalidAmountError) as err:
        to_fen(pd.Series([1.0, None, "x", True, float("inf"), "nan"], dtype=object))
    assert err.value.positions == (1, 2, 3, 4, 5)
    with pytest.raises(InvalidAmountError) as err:
        to_fen(pd.Series(["1.5", "x", None, "2e3", "1,000.00", "", "3.14159"], dtype="str"))
    assert err.value.positions == (1, 2, 5)
    assert to_fen(pd.Series(["1.", "+2.5", "-0.005", "2e3", "3.14159"], dtype="str")).tolist() == [
        100,
        250,
        -1,
        200000,
        314,
    ]
    with pytest.raises(InvalidAmountError):
        to_fen(pd.Series([1, None], dtype="Int64"))
    with pytest.raises(InvalidAmountError):
        to_fen(np.array([True, False]))
    with pytest.raises(OverflowError):
        to_fen(np.array([2**62]))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_to_fen_matches_decimal_of_repr(x):
    expected = int(Decimal(repr(x)).quantize(CENT, rounding=ROUND_HALF_UP).scaleb(2))
    assert to_fen([x]).tolist() == [expected]
    assert to_fen([str(x)]).tolist() == [expected]
    assert to_fen(pd.Series([str(x), repr(x)], dtype="str")).tolist() == [expected, expected]


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=-(10**14), max_value=10**14, places=3, allow_nan=False, allow_infinity=False))
def test_text_amounts_exact(dec):
    expected = int(dec.quantize(CENT, rounding=ROUND_HALF_UP).scaleb(2))
    text = [str(dec), f" {dec:f} ", f"{dec:.2f}"]
    two = int(Decimal(f"{dec:.2f}").scaleb(2))
    for dtype in ("str", "string[pyarrow]", object):
        assert to_fen(pd.Series(text, dtype=dtype)).tolist() == [expected, expected, two]


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(0, 999))
def test_to_fen_exact_on_thousandths(whole, thousandths):
    # values with three decimals hit the half-fen ties that float arithmetic gets wrong
    dec = Decimal(whole) + Decimal(thousandths).scaleb(-3)
    expected = int(dec.quantize(CENT, rounding=ROUND_HALF_UP).scaleb(2))
    assert to_fen([float(dec)]).tolist() == [expected]


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**15), 10**15), st.integers(-(10**6), 10**6).filter(bool))
def test_division_matches_fractions(n, d):
    q = Fraction(n, d)
    sign = -1 if q < 0 else 1
    assert div_round_half_up(n, d) == sign * math.floor(abs(q) + Fraction(1, 2))
    assert div_toward_zero(n, d) == sign * math.floor(abs(q))
    assert div_round_half_up(np.array([n]), np.array([d])).tolist() == [div_round_half_up(n, d)]
    assert div_toward_zero(np.array([n]), np.array([d])).tolist() == [div_toward_zero(n, d)]


# --- report tables ----------------------------------------------------------------------------------------

cases = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(0, 5_000_000)),  # (group, cost in fen)
    min_size=0,
    max_size=40,
)


def frame(rows: list[tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "drg": pd.Series([g for g, _ in rows], dtype="str"),
            "total_cost": pd.Series([f / 100 for _, f in rows], dtype="float64"),
            "self_paid": pd.Series([f // 300 / 100 for _, f in rows], dtype="float64"),
        }
    )


def fen(x: float) -> int:
    return round(x * 100)


@settings(max_examples=60, deadline=None)
@given(cases, cases, st.randoms(use_true_random=False))
def test_row_order_invariance(base_rows, cur_rows, rnd):
    expected = cost_deltas(frame(base_rows), frame(cur_rows))
    rnd.shuffle(base_rows)
    rnd.shuffle(cur_rows)
    pd.testing.assert_frame_equal(cost_deltas(frame(base_rows), frame(cur_rows)), expected)


@settings(max_examples=60, deadline=None)
@given(cases, cases)
def test_total_row_consistent_with_groups(base_rows, cur_rows):
    out = cost_deltas(frame(base_rows), frame(cur_rows))
    assert out["drg"].iloc[-1] == TOTAL
    groups, total = out.iloc[:-1], out.iloc[-1]
    for period, rows in (("baseline", base_rows), ("current", cur_rows)):
        assert groups[f"cases_{period}"].sum() == total[f"cases_{period}"] == len(rows)
        total_fen = sum(f for _, f in rows)
        assert sum(fen(x) for x in groups[f"total_cost_{period}"]) == fen(total[f"total_cost_{period}"])
        assert fen(total[f"total_cost_{period}"]) == total_fen
        if rows:
            mean = (Decimal(total_fen) / len(rows)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            assert fen(total[f"mean_cost_{period}"]) == int(mean)
            assert total[f"mean_cost_{period}"] == float(mean.scaleb(-2))
        else:
            assert np.isnan(total[f"mean_cost_{period}"])


@settings(max_examples=60, deadline=None)
@given(cases, cases)
def test_burden_identity_and_pct(base_rows, cur_rows):
    out = cost_deltas(frame(base_rows), frame(cur_rows))
    for _, row in out.iterrows():
        if np.isnan(row["mean_cost_change"]):
            assert np.isnan(row["burden_reduction"])
            continue
        change = fen(row["mean_cost_current"]) - fen(row["mean_cost_baseline"])
        assert fen(row["mean_cost_change"]) == change
        assert fen(row["burden_reduction"]) == -change * row["cases_current"]
        assert fen(row["self_paid_reduction"]) == -fen(row["mean_self_paid_change"]) * row["cases_current"]
        base = fen(row["mean_cost_baseline"])
        if base:
            pct = (Decimal(change) * 100 / Decimal(base)).quantize(CENT, rounding=ROUND_HALF_UP)
            assert row["mean_cost_change_pct"] == float(pct)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["H1", "H2", "H3"]),
            st.sampled_from(["A", "B", "C"]),
            st.integers(1, 10_000_000),
            st.integers(1, 60),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_efficiency_indices_average_to_one(rows):
    paid = pd.DataFrame(rows, columns=["hospital_id", "drg", "fen", "los"]).assign(
        status="grouped", weight=1.0, total_cost=lambda f: f["fen"] / 100
    )
    out = case_mix(paid)
    body, total = out.iloc[:-1], out.iloc[-1]
    assert total["cost_efficiency_index"] == 1.0
    assert total["time_efficiency_index"] == 1.0
    # the case-weighted mean of the hospital indices is the region's, 1, up to the 4-decimal rounding
    for col in ("cost_efficiency_index", "time_efficiency_index"):
        weighted = (body[col] * body["efficiency_cases"]).sum() / body["efficiency_cases"].sum()
        assert abs(weighted - 1.0) <= 0.00005 + 1e-12
    shuffled = paid.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(case_mix(shuffled), out)
