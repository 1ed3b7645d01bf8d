"""Money exactness: payment amounts equal a plain ``decimal`` computation, fen for fen, on random cases."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from drgpay.payment import (
    BaseRate,
    DipGroupScore,
    DipPolicy,
    DrgPolicy,
    GroupWeight,
    OutlierRule,
    PointValue,
    Tier,
    pay,
)
from drgpay.payment._exact import to_fen

FEN = Decimal("0.01")


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    scale = 10**places
    return st.integers(int(Decimal(low) * scale), int(Decimal(high) * scale)).map(
        lambda n: Decimal(n).scaleb(-places)
    )


def yuan(d: Decimal) -> Decimal:
    return d.quantize(FEN, rounding=ROUND_HALF_UP)


def as_decimal(value: float) -> Decimal:
    """The exact decimal a float output stands for (it must be a whole number of fen)."""
    return Decimal(to_fen(value)).scaleb(-2)


case = st.tuples(
    decimals("0.1", "30", 4),  # weight
    decimals("10", "400000", 2),  # total cost
    st.floats(0, 1),  # share of cost paid by the patient
    st.sampled_from(["2", "3"]),  # level
)


@settings(max_examples=60, deadline=None)
@given(
    rate=decimals("1000", "20000", 4),
    coef2=decimals("0.5", "1.5", 4),
    coef3=decimals("0.5", "1.5", 4),
    multiplier=decimals("1.5", "4", 2),
    excess=decimals("0", "1", 2),
    rows=st.lists(case, min_size=1, max_size=25),
)
def test_drg_amounts_equal_decimal_reference(
    rate: Decimal,
    coef2: Decimal,
    coef3: Decimal,
    multiplier: Decimal,
    excess: Decimal,
    rows: list[tuple[Decimal, Decimal, float, str]],
) -> None:
    weights = {f"G{i:03d}": w for i, (w, *_rest) in enumerate(rows)}
    policy = DrgPolicy(
        name="random",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        weights=[GroupWeight(code, weight=w) for code, w in weights.items()],
        base_rates=[BaseRate(str(rate))],
        level_coefficients={"2": str(coef2), "3": str(coef3)},
        high_cost=OutlierRule(
            tiers=[Tier(str(multiplier))], method="standard_plus_excess", ratio=str(excess)
        ),
    )
    self_paid = [yuan(cost * Decimal(repr(share))) for (_w, cost, share, _l) in rows]
    frame = pd.DataFrame(
        {
            "drg": list(weights),
            "status": "grouped",
            "hospital_level": [level for *_x, level in rows],
            "discharge_date": dt.date(2024, 7, 1),
            "total_cost": [float(cost) for _w, cost, _s, _l in rows],
            "self_paid": [float(s) for s in self_paid],
        }
    )
    out = pay(frame, policy)
    for i, (w, cost, _share, level) in enumerate(rows):
        coef = coef2 if level == "2" else coef3
        standard = yuan(w * rate * coef)
        threshold = multiplier * standard
        if cost >= threshold:
            standard = yuan(standard + (cost - threshold) * excess)
            assert out["case_type"].iloc[i] == "high_cost"
        fund = max(standard - self_paid[i], Decimal(0))
        assert as_decimal(out["standard"].iloc[i]) == standard
        assert out["standard"].iloc[i] == float(standard)
        assert as_decimal(out["fund_payment"].iloc[i]) == fund
        assert as_decimal(out["patient_payment"].iloc[i]) == self_paid[i]
        assert as_decimal(out["surplus"].iloc[i]) == standard - cost


@settings(max_examples=60, deadline=None)
@given(
    point_value=decimals("0.5", "20", 4),
    coef=decimals("0.5", "1.5", 4),
    score=decimals("10", "5000", 2),
    mean=decimals("500", "50000", 2),
    costs=st.lists(decimals("1", "300000", 2), min_size=1, max_size=25),
)
def test_dip_amounts_equal_decimal_reference(
    point_value: Decimal, coef: Decimal, score: Decimal, mean: Decimal, costs: list[Decimal]
) -> None:
    policy = DipPolicy(
        name="random",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        scores=[DipGroupScore("G", score=score, mean_cost=mean)],
        point_values=[PointValue(str(point_value))],
        level_coefficients={"3": str(coef)},
    )
    frame = pd.DataFrame(
        {
            "dip_group": "G",
            "status": "grouped",
            "hospital_level": 3,
            "discharge_date": dt.date(2024, 7, 1),
            "total_cost": [float(c) for c in costs],
            "self_paid": 0.0,
        }
    )
    out = pay(frame, policy)
    q = Decimal("0.0001")
    with localcontext(Context(prec=60)):  # far beyond the 4 decimals kept: no early rounding
        for i, cost in enumerate(costs):
            r = cost / mean
            if r <= Decimal("0.5"):
                points = (score * r).quantize(q, rounding=ROUND_HALF_UP)
            elif r >= 2:
                points = (score * (r - 1)).quantize(q, rounding=ROUND_HALF_UP)
            else:
                points = score
            assert Decimal(repr(float(out["points"].iloc[i]))) == points
            assert as_decimal(out["standard"].iloc[i]) == yuan(points * point_value * coef)


def test_half_up_not_bankers() -> None:
    # products that land exactly on half a fen round up, not to even
    policy = DrgPolicy(
        name="half",
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        weights=[GroupWeight("G1", weight="0.5"), GroupWeight("G2", weight="1.5")],
        base_rates=[BaseRate("0.05")],
    )
    frame = pd.DataFrame({"drg": ["G1", "G2"], "total_cost": 1.0, "discharge_date": dt.date(2024, 1, 1)})
    out = pay(frame, policy)
    assert out["standard"].tolist() == [0.03, 0.08]  # 0.025 → 0.03, 0.075 → 0.08


@given(
    quotient=st.integers(-(10**30), 10**30),
    divisor=st.integers(1, 10**12),
    offset=st.sampled_from(["tie", "below", "above", "random"]),
    noise=st.integers(0, 10**12),
)
def test_div_round_half_up_equals_rounding_the_exact_fraction(
    quotient: int, divisor: int, offset: str, noise: int
) -> None:
    """Array division of Python ints rounds half away from zero exactly, ties included, at any size."""
    from fractions import Fraction

    from drgpay.money import div_round_half_up
    from drgpay.payment._exact import fraction_round_half_up

    den = 2 * divisor  # even, so exact halves exist
    num = (
        quotient * den
        + {"tie": divisor, "below": divisor - 1, "above": divisor + 1, "random": noise % den}[offset]
    )
    for numerator, denominator in ((num, den), (-num, den), (num, -den), (-num, -den)):
        expected = int(fraction_round_half_up(Fraction(numerator, denominator)))
        if abs(expected) < 2**63:  # the result is int64 fen
            got = div_round_half_up(
                np.array([numerator], dtype=object), np.array([denominator], dtype=object)
            )
            assert int(got[0]) == expected
            assert int(div_round_half_up(np.array([numerator], dtype=object), denominator)[0]) == expected
