"""The fast payment path (integer codes, int64 fen) equals the exact reference path row by row, and both equal
``decimal`` arithmetic done row by row: random policies and cases, DRG and DIP, every case type, half-up ties,
very large and very small amounts, every way a frame's columns can arrive (objects, Arrow text, categoricals)."""

from __future__ import annotations

import datetime as dt
import math
import warnings
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from drgpay.payment import (
    BaseRate,
    CaseRule,
    DeviationBand,
    DipGroupScore,
    DipPolicy,
    DrgPolicy,
    Exclusions,
    FallbackRule,
    GroupWeight,
    OutlierRule,
    PointValue,
    Tier,
    _fast,
    pay,
)
from drgpay.payment._exact import fraction_round_half_up
from drgpay.payment._fastwork import Delegate
from drgpay.payment._int64 import keyed_round, muldiv_round
from drgpay.payment.dip_pay import pay_dip
from drgpay.payment.drg_pay import pay_drg

YEAR = dt.date(2025, 1, 1)


def dec(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with at most ``places`` decimals (few places make half-fen ties frequent)."""
    scale = 10**places
    first, last = math.ceil(Decimal(low) * scale), math.floor(Decimal(high) * scale)
    return st.integers(first, last).map(lambda n: Decimal(n).scaleb(-places))


def decimals(low: str, high: str) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with 0–6 decimals (at least as many as the bounds have)."""
    needed = max(0, -int(Decimal(low).as_tuple().exponent), -int(Decimal(high).as_tuple().exponent))
    return st.integers(needed, max(needed, 6)).flatmap(lambda p: dec(low, high, p))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


# ----------------------------------------------------------------------------------------------- the kernel


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(-(2**62), 2**62),
    b=st.integers(-(2**62), 2**62),
    c=st.integers(-(2**62), 2**62),
    d=st.integers(1, 2**62),
    tie=st.booleans(),
    small=st.booleans(),
)
def test_muldiv_round_is_the_exact_half_up_quotient(
    a: int, b: int, c: int, d: int, tie: bool, small: bool
) -> None:
    """round_half_up((a·b + c) / d) on int64 equals the exact rational rounding, ties and signs included, at any
    size (rows beyond the float estimate's bound take Python integers)."""
    if small:  # the int64 fast lane: quotients below 2**48
        a, b, d = a % 2**30 - 2**29, b % 2**20 - 2**19, d % 2**40 + 1
        c = c % 2**40 - 2**39
    if tie:
        d = 2 * (d // 2 + 1)
        c = c - ((a * b + c) % d) + d // 2  # exactly half way
        assume(abs(c) < 2**63)
    expected = int(fraction_round_half_up(Fraction(a * b + c, d)))
    assume(abs(expected) < 2**63)
    arr = [np.array([x], dtype=np.int64) for x in (a, b, c, d)]
    assert int(muldiv_round(*arr)[0]) == expected
    big = 7**40  # factors beyond 64 bits take Python integers
    assert (
        int(keyed_round(arr[0], np.zeros(1, dtype=np.intp), [b * big], [c * big], [d * big])[0]) == expected
    )


# ----------------------------------------------------------------------------------------------- frames


def representations(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One frame as payment may receive it: Python objects; Arrow text (``drgpay.io.read_chunks`` of a CSV);
    pandas ``str`` (``pd.read_csv(dtype=str)``); the grouping's categoricals with numeric amounts."""
    if kind == "object":
        return frame
    if kind in ("arrow", "str"):
        out = {}
        for name, col in frame.items():
            text = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in col]
            if kind == "arrow":
                out[name] = pd.Series(
                    pa.array(text, type=pa.large_string()), dtype=pd.ArrowDtype(pa.large_string())
                )
            else:
                out[name] = pd.Series(text, dtype="str")
        return pd.DataFrame(out, index=frame.index)
    out = frame.copy()
    for name in ("drg", "dip_group", "status", "reason", "grouper"):
        if name in out:
            out[name] = out[name].astype("category")
    for name in ("total_cost", "self_paid", "fund_paid"):
        if name not in out:
            continue
        numeric = pd.to_numeric(out[name], errors="coerce")
        if numeric.notna().sum() == out[name].notna().sum():
            out[name] = numeric.astype("float64")
    return out


def same_as_reference(frame: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> pd.DataFrame | None:
    """The fast path's output equals the reference's (frame, dtypes, attrs), or both raise the same error; the
    fast path hands over to the reference only where the reference raises."""
    reference = pay_drg if isinstance(policy, DrgPolicy) else pay_dip
    internal = _fast._pay_drg if isinstance(policy, DrgPolicy) else _fast._pay_dip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected, ref_error = reference(frame, policy), None
        except Exception as exc:  # compared below
            expected, ref_error = None, exc
        try:
            got, fast_error = internal(frame, policy), None  # type: ignore[arg-type]
        except Delegate:
            assert ref_error is not None, "the fast path handed over a frame the reference pays"
            got, fast_error = None, None
        except Exception as exc:  # compared below
            got, fast_error = None, exc
        try:
            public, public_error = _fast.pay_fast(frame, policy), None
        except Exception as exc:  # compared below
            public, public_error = None, exc
    if ref_error is not None:
        for err in (fast_error, public_error):
            if err is not None:
                assert (type(err), str(err)) == (type(ref_error), str(ref_error))
        assert public_error is not None
        return None
    assert fast_error is None and got is not None and public is not None
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(public, expected)
    assert got.attrs == expected.attrs
    return got


# ----------------------------------------------------------------------------------------------- DRG


CODES = ["HC23", "GB11", "ES31", "FM15", "BJ13"]
INS = ["职工", "居民", "*"]
LEVELS = ["1", "2", "3", "*"]


@st.composite
def fallback_rules(draw: st.DrawFn) -> FallbackRule:
    method = draw(st.sampled_from(["by_item", "cost_ratio", "weight", "none"]))
    ratio = draw(decimals("0", "1")) if method == "cost_ratio" else None
    weight = draw(maybe(decimals("0.0001", "20"))) if method == "weight" else None
    return FallbackRule(method, ratio=ratio, weight=weight)


@st.composite
def case_rules(draw: st.DrawFn, codes: list[str]) -> list[CaseRule]:
    rules = []
    for k in range(draw(st.integers(0, 2))):
        method = draw(st.sampled_from(["standard_ratio", "per_diem", "by_item", "cost_ratio"]))
        ratio = {"standard_ratio": decimals("0", "10"), "cost_ratio": decimals("0", "1")}.get(method)
        low = draw(maybe(st.integers(0, 5)))
        high = draw(maybe(st.integers(0, 10)))
        if low is not None and high is not None and low > high:
            low, high = high, low
        rules.append(
            CaseRule(
                f"rule{k}",
                method=method,
                ratio=draw(ratio) if ratio is not None else None,
                discharge_types=draw(st.lists(st.sampled_from([1, 2, 4, 5, 9]), max_size=2, unique=True)),
                min_los=low,
                max_los=high,
                groups=draw(
                    st.lists(st.sampled_from([c.lower() for c in codes] + codes), max_size=2, unique=True)
                ),
                case_type=draw(st.sampled_from(["normal", "low_cost", "high_cost"])),
            )
        )
    return rules


@st.composite
def drg_policies(draw: st.DrawFn) -> DrgPolicy:
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=5, unique=True))
    weights = [
        GroupWeight(
            code,
            weight=draw(st.one_of(st.none(), decimals("0.0001", "30"), st.just(Decimal("0.5")))),
            mean_cost=draw(maybe(decimals("1", "100000"))),
            mean_los=draw(maybe(decimals("0.5", "20"))),
            by_item=draw(st.booleans()) and draw(st.booleans()),
            basic=draw(st.booleans()),
        )
        for code in codes
    ]
    rate_keys = draw(
        st.lists(st.tuples(st.sampled_from(INS), st.sampled_from(LEVELS)), max_size=4, unique=True)
    )
    base_rates = [
        BaseRate(draw(decimals("0.05", "20000")), insurance_type=i, hospital_level=lv) for i, lv in rate_keys
    ]
    tiers = [Tier(draw(decimals("1.01", "5")))]
    if draw(st.booleans()):
        tiers = [Tier(draw(decimals("1.01", "5")), max_weight=draw(decimals("0.1", "3"))), *tiers]
    high = OutlierRule(
        tiers=tiers,
        method=draw(st.sampled_from(["standard_plus_excess", "by_item", "cost_ratio", "standard"])),
        basis=draw(st.sampled_from(["standard", "standard", "mean_cost"])),
        inclusive=draw(st.booleans()),
        ratio=draw(decimals("0", "1")),
    )
    low = OutlierRule(
        tiers=[Tier(draw(decimals("0", "0.99")))],
        method=draw(st.sampled_from(["by_item", "cost_ratio", "standard"])),
        basis=draw(st.sampled_from(["standard", "mean_cost"])),
        inclusive=draw(st.booleans()),
        ratio=draw(decimals("0", "1")),
    )
    standards = {}
    for code in draw(st.lists(st.sampled_from(codes), max_size=2, unique=True)):
        key = (code, draw(st.sampled_from(INS)), draw(st.sampled_from(LEVELS)))
        standards[key] = draw(decimals("0.01", "100000"))
    return DrgPolicy(
        name="random drg",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=weights,
        base_rates=base_rates,
        level_coefficients={
            lv: draw(decimals("0.1", "2"))
            for lv in draw(st.lists(st.sampled_from(LEVELS[:3]), max_size=3, unique=True))
        },
        hospital_coefficients={
            h: draw(decimals("0.1", "2"))
            for h in draw(st.lists(st.sampled_from(["H1", "H2"]), max_size=2, unique=True))
        },
        default_coefficient=draw(st.one_of(st.none(), st.just(Decimal(1)), decimals("0.5", "1.5"))),
        basic_groups_uniform=draw(st.booleans()),
        standards=standards,
        high_cost=draw(st.one_of(st.none(), st.just(high))),
        low_cost=draw(st.one_of(st.none(), st.just(low))),
        case_rules=draw(case_rules(codes)),
        ungroupable=draw(fallback_rules()),
        ambiguous=draw(fallback_rules()),
        missing_weight=draw(fallback_rules()),
        excluded=draw(fallback_rules()),
        invalid=draw(fallback_rules()),
        exclusions=Exclusions(
            groups=draw(st.lists(st.sampled_from(codes), max_size=1)),
            max_los=draw(maybe(st.integers(5, 60))),
            insurance_types=draw(st.lists(st.sampled_from(["居民"]), max_size=1)),
        ),
        fund_method=draw(st.sampled_from(["standard_minus_patient", "fund_share"])),
    )


#: Amounts as they arrive: yuan with 0-3 decimals (3 decimals round half up to the fen on reading), tiny, huge
#: (beyond the int64 estimate's bound, not beyond int64 fen), text with thousands separators, missing.
amounts = st.one_of(
    st.none(),
    decimals("0", "500000").map(float),
    dec("0", "100", 3).map(float),
    st.sampled_from([0.0, 0.005, 0.015, 0.01, 1e-9, 12345.675, 9e13, 4.5e13, 123456789012.34]),
    decimals("0", "99999").map(lambda d: f"{d:,}"),
)


@st.composite
def drg_rows(draw: st.DrawFn) -> dict[str, Any]:
    cost = draw(amounts)
    share = draw(st.sampled_from([None, 0, 0.2, 0.5, 1, 1.3]))
    number = None if cost is None or isinstance(cost, str) else float(cost)
    self_paid = None if share is None or number is None else round(number * share, 2)
    return {
        "drg": draw(st.sampled_from([*CODES, "hc23", " GB11 ", "", "0000", "HQY", "ZZ99", None])),
        "status": draw(
            st.sampled_from(["grouped"] * 5 + ["ambiguous", "ungroupable", "invalid", "Grouped", None])
        ),
        "reason": draw(st.sampled_from([None, "", "no_mdc", "grey_principal_dx"])),
        "total_cost": cost,
        "self_paid": self_paid,
        "fund_paid": draw(st.sampled_from([None, "rest"])),
        "insurance_type": draw(st.sampled_from(["职工", "居民", "310", "", None, "其他"])),
        "hospital_level": draw(st.sampled_from([1, 2, 3, "三级", None, "2.0"])),
        "hospital_id": draw(st.sampled_from(["H1", "H2", "H3", None])),
        "los": draw(st.sampled_from([None, 0, 1, 2, 3, 5, 9, 30, 61, -1, 4000, 2.5])),
        "discharge_type": draw(st.sampled_from([1, 2, 4, 5, 9, None])),
        "discharge_date": draw(st.sampled_from([dt.date(2025, 3, 1), dt.date(2025, 12, 31), None])),
    }


DRG_COLUMNS = [
    "drg",
    "status",
    "reason",
    "total_cost",
    "self_paid",
    "fund_paid",
    "insurance_type",
    "hospital_level",
    "hospital_id",
    "los",
    "discharge_type",
    "discharge_date",
]
DIP_COLUMNS = ["dip_group", "aux_coefficient", *DRG_COLUMNS[1:]]


def frame_of(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if "fund_paid" in frame:
        fund = []
        for row in rows:
            cost, own = row["total_cost"], row["self_paid"]
            rest = (
                row["fund_paid"] == "rest"
                and not isinstance(cost, str)
                and cost is not None
                and own is not None
            )
            fund.append(round(float(cost) - float(own), 2) if rest else None)
        frame["fund_paid"] = pd.Series(fund, dtype=object)
    frame["case_id"] = [f"c{i}" for i in range(len(frame))]
    frame.index = pd.RangeIndex(100, 100 + len(frame))
    return frame


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    policy=drg_policies(),
    rows=st.lists(drg_rows(), min_size=0, max_size=30),
    kind=st.sampled_from(["object", "arrow", "str", "grouped"]),
)
def test_drg_fast_path_equals_reference(policy: DrgPolicy, rows: list[dict[str, Any]], kind: str) -> None:
    same_as_reference(representations(frame_of(rows, DRG_COLUMNS), kind), policy)


# ----------------------------------------------------------------------------------------------- DIP


DIP_CODES = ["K80.1:51.2300", "J18.9", "I63.9", "C34.1:32.2901"]


@st.composite
def dip_policies(draw: st.DrawFn) -> DipPolicy:
    codes = draw(st.lists(st.sampled_from(DIP_CODES), min_size=1, max_size=4, unique=True))
    need_mean = draw(st.booleans())
    scores = [
        DipGroupScore(
            code,
            score=draw(st.one_of(st.none(), decimals("0.0001", "5000"))),
            kind=draw(st.sampled_from(["core", "basic", "comprehensive"])),
            mean_cost=draw(decimals("1", "100000")) if need_mean else draw(maybe(decimals("1", "100000"))),
            mean_los=draw(maybe(decimals("0.5", "20"))),
        )
        for code in codes
    ]
    keys = draw(st.lists(st.sampled_from(INS), max_size=3, unique=True))
    low_t = draw(decimals("0.1", "0.9"))
    return DipPolicy(
        name="random dip",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        scores=scores,
        point_values=[PointValue(draw(decimals("0.0001", "50")), insurance_type=k) for k in keys],
        level_coefficients={
            lv: draw(decimals("0.1", "2"))
            for lv in draw(st.lists(st.sampled_from(LEVELS[:3]), max_size=3, unique=True))
        },
        hospital_coefficients={
            h: draw(decimals("0.1", "2")) for h in draw(st.lists(st.sampled_from(["H1"]), max_size=1))
        },
        default_coefficient=draw(st.one_of(st.none(), st.just(Decimal(1)))),
        basic_ignores_level=draw(st.booleans()),
        low=draw(
            st.one_of(
                st.none(),
                st.just(
                    DeviationBand(
                        low_t,
                        slope=draw(decimals("0", "2")),
                        intercept=draw(decimals("-1", "1")),
                        inclusive=draw(st.booleans()),
                    )
                ),
            )
        ),
        high=draw(
            st.one_of(
                st.none(),
                st.just(
                    DeviationBand(
                        draw(decimals("1", "5")),
                        slope=draw(decimals("0", "2")),
                        intercept=draw(decimals("-2", "1")),
                        inclusive=draw(st.booleans()),
                    )
                ),
            )
        ),
        deviation_basis=draw(st.sampled_from(["mean_cost", "mean_cost_x_level"])),
        points_places=draw(st.integers(0, 6)),
        case_rules=draw(case_rules(codes)),
        ungroupable=draw(fallback_rules()),
        missing_score=draw(fallback_rules()),
        excluded=draw(fallback_rules()),
        invalid=draw(fallback_rules()),
        fund_method=draw(st.sampled_from(["standard_minus_patient", "fund_share"])),
    )


@st.composite
def dip_rows(draw: st.DrawFn) -> dict[str, Any]:
    row = draw(drg_rows())
    del row["drg"]
    row["dip_group"] = draw(st.sampled_from([*DIP_CODES, "k80.1:51.2300", "", "0000", None]))
    row["aux_coefficient"] = draw(st.sampled_from([None, 1, 1.05, 0.9]))
    return row


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    policy=dip_policies(),
    rows=st.lists(dip_rows(), min_size=0, max_size=30),
    kind=st.sampled_from(["object", "arrow", "str", "grouped"]),
)
def test_dip_fast_path_equals_reference(policy: DipPolicy, rows: list[dict[str, Any]], kind: str) -> None:
    same_as_reference(representations(frame_of(rows, DIP_COLUMNS), kind), policy)


# ----------------------------------------------------------------------------------------------- decimal


def half_up(value: Decimal, places: int = 2) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def shown(value: Decimal, places: int = 2) -> float:
    """How an exact amount (a whole number of ``10**-places``) comes out in a float column: its units over
    ``10**places``, the double nearest the amount (beyond 2**53 units, about 90 trillion yuan, the double nearest
    the units, divided)."""
    units = np.array([int(value.scaleb(places))], dtype=np.int64)
    return float((units / 10**places)[0])


@settings(max_examples=100, deadline=None)
@given(
    weight=st.one_of(decimals("0.0001", "30"), st.just(Decimal("1.23456789012345"))),
    rate=st.one_of(decimals("0.05", "20000"), st.just(Decimal("98765.4321987"))),
    coef=decimals("0.1", "2"),
    multiplier=decimals("1.01", "5"),
    ratio=st.one_of(decimals("0", "1"), st.just(Decimal("0.123456789"))),
    costs=st.lists(
        st.one_of(dec("0", "1000000", 2), dec("0", "1", 3), dec("1e10", "9e13", 2)), min_size=1, max_size=20
    ),
    share=decimals("0", "1"),
)
def test_drg_amounts_equal_decimal_row_by_row(
    weight: Decimal,
    rate: Decimal,
    coef: Decimal,
    multiplier: Decimal,
    ratio: Decimal,
    costs: list[Decimal],
    share: Decimal,
) -> None:
    """Standards, the high-cost excess and the fund share, large (up to 90 trillion yuan, beyond the int64
    estimate) and small (a thousandth of a yuan, read half up), equal Decimal arithmetic row by row."""
    policy = DrgPolicy(
        name="decimal",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=[GroupWeight("G1", weight=weight)],
        base_rates=[BaseRate(rate)],
        default_coefficient=coef,
        high_cost=OutlierRule(tiers=[Tier(multiplier)], method="standard_plus_excess", ratio=ratio),
        fund_method="fund_share",
    )
    cost_fen = [half_up(c) for c in costs]
    fund = [half_up(c * share) for c in cost_fen]
    frame = pd.DataFrame(
        {
            "drg": "G1",
            "status": "grouped",
            "discharge_date": YEAR,
            "total_cost": [str(c) for c in costs],
            "fund_paid": [str(f) for f in fund],
        }
    )
    out = same_as_reference(representations(frame, "arrow"), policy)
    assert out is not None
    with localcontext() as ctx:
        ctx.prec = 100
        standard = half_up(weight * rate * coef)
        for i, cost in enumerate(cost_fen):
            threshold = multiplier * standard
            expected = half_up(standard + (cost - threshold) * ratio) if cost >= threshold else standard
            assert out["standard"].iloc[i] == shown(expected)
            assert out["case_type"].iloc[i] == ("high_cost" if cost >= threshold else "normal")
            paid = Decimal(0) if cost == 0 else half_up(expected * fund[i] / cost)
            assert out["fund_payment"].iloc[i] == shown(paid)


@settings(max_examples=100, deadline=None)
@given(
    score=st.one_of(decimals("0.0001", "5000"), st.just(Decimal("1234.5678"))),
    mean=decimals("1", "100000"),
    value=st.one_of(decimals("0.0001", "50"), st.just(Decimal("7.123456789"))),
    coef=decimals("0.1", "2"),
    places=st.integers(0, 6),
    costs=st.lists(
        st.one_of(dec("0", "1000000", 2), dec("0", "1", 2), dec("1e10", "9e13", 2)), min_size=1, max_size=20
    ),
)
def test_dip_amounts_equal_decimal_row_by_row(
    score: Decimal, mean: Decimal, value: Decimal, coef: Decimal, places: int, costs: list[Decimal]
) -> None:
    """Deviation points (score × r, score × (r − 1)) rounded to the policy's places and the standard (points ×
    point value × coefficient) equal Decimal arithmetic row by row, up to 90 trillion yuan."""
    policy = DipPolicy(
        name="decimal",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        scores=[DipGroupScore("G", score=score, mean_cost=mean)],
        point_values=[PointValue(value)],
        default_coefficient=coef,
        points_places=places,
    )
    frame = pd.DataFrame(
        {
            "dip_group": "G",
            "status": "grouped",
            "discharge_date": YEAR,
            "total_cost": [str(c) for c in costs],
        }
    )
    expected = []
    with localcontext() as ctx:
        ctx.prec = 100
        for cost in costs:
            r = cost / mean
            if r <= Decimal("0.5"):
                points, kind = half_up(score * r, places), "low_cost"
            elif r >= 2:
                points, kind = half_up(score * (r - 1), places), "high_cost"
            else:
                points, kind = half_up(score, places), "normal"
            expected.append((kind, points, half_up(points * value * coef)))
    if any(
        abs(points.scaleb(places)) >= 2**63 or abs(standard.scaleb(2)) >= 2**63
        for _, points, standard in expected
    ):
        with pytest.raises(OverflowError):  # an amount int64 fen cannot hold: an error, never a wrapped value
            pay(frame, policy)
        return
    out = same_as_reference(frame, policy)
    assert out is not None
    for i, (kind, points, standard) in enumerate(expected):
        assert out["case_type"].iloc[i] == kind
        assert out["points"].iloc[i] == shown(points, places)
        assert out["standard"].iloc[i] == shown(standard)


# ----------------------------------------------------------------------------------------------- edges


def test_every_case_type_on_one_frame() -> None:
    """One frame reaching every case type the per-case rules give (special comes from applications)."""
    policy = DrgPolicy(
        name="all paths",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=[GroupWeight("HC23", weight="1.2"), GroupWeight("0000", weight="0.3")],
        base_rates=[BaseRate("10000")],
        high_cost=OutlierRule(tiers=[Tier("2")], method="standard_plus_excess", ratio="0.5"),
        low_cost=OutlierRule(tiers=[Tier("0.4")], method="by_item"),
        ungroupable=FallbackRule("weight"),
    )
    frame = pd.DataFrame(
        {
            "case_id": ["n", "h", "l", "u", "a", "x"],
            "drg": ["HC23", "HC23", "HC23", "0000", "HQY", "ZZ99"],
            "status": ["grouped", "grouped", "grouped", "ungroupable", "ambiguous", "grouped"],
            "discharge_date": YEAR,
            "total_cost": [12000.0, 30000.0, 1000.0, 500.0, 800.0, 900.0],
        }
    )
    out = same_as_reference(frame, policy)
    assert out is not None
    assert out["case_type"].tolist() == [
        "normal",
        "high_cost",
        "low_cost",
        "ungroupable",
        "ambiguous",
        "excluded",
    ]
    assert out["standard"].tolist() == [12000.0, 15000.0, 1000.0, 3000.0, 800.0, 900.0]


def test_per_diem_without_a_los_is_not_paid_from_another_row() -> None:
    """A per-diem rule with no LOS bounds matches a row whose LOS is empty: it is excluded with a reason (it was
    once paid from the last distinct LOS of the frame)."""
    policy = DrgPolicy(
        name="per diem",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=[GroupWeight("HC23", weight="1", mean_los="10")],
        base_rates=[BaseRate("10000")],
        case_rules=[CaseRule("transfer", method="per_diem", discharge_types=[2])],
    )
    frame = pd.DataFrame(
        {
            "drg": "HC23",
            "status": "grouped",
            "discharge_date": YEAR,
            "total_cost": 5000.0,
            "los": [5, None, 2],
            "discharge_type": 2,
        }
    )
    out = same_as_reference(frame, policy)
    assert out is not None
    assert out["standard"].iloc[0] == 5000.0 and out["standard"].iloc[2] == 2000.0
    assert np.isnan(out["standard"].iloc[1])
    assert out["payment_reason"].iloc[1] == "rule:transfer;missing_los"


@pytest.mark.parametrize("cost", ["abc", "-5", "1,2"])
def test_bad_amounts_raise_the_references_error(cost: str) -> None:
    policy = DrgPolicy(
        name="errors",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=[GroupWeight("HC23", weight="1")],
        base_rates=[BaseRate("100")],
    )
    frame = pd.DataFrame({"drg": ["HC23"] * 3, "discharge_date": YEAR, "total_cost": ["1", cost, "2"]})
    assert same_as_reference(representations(frame, "arrow"), policy) is None


def test_dates_outside_the_policy_raise_the_references_error() -> None:
    policy = DrgPolicy(
        name="errors",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=[GroupWeight("HC23", weight="1")],
        base_rates=[BaseRate("100")],
    )
    frame = pd.DataFrame({"drg": "HC23", "discharge_date": ["2025-01-01", "2024-12-31"], "total_cost": 1.0})
    assert same_as_reference(frame, policy) is None
    with pytest.raises(Exception, match="outside policy"):
        pay(frame, policy)


def test_fast_path_on_a_large_frame_equals_reference() -> None:
    """20,000 synthetic rows through the example-shaped policy: both paths, every column."""
    rng = np.random.default_rng(7)
    n = 20_000
    policy = DrgPolicy(
        name="large",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        weights=[GroupWeight(c, weight=str(rng.integers(1, 40000) / 10000), mean_los="7") for c in CODES],
        base_rates=[BaseRate("9575.25", insurance_type="职工"), BaseRate("9000", insurance_type="居民")],
        level_coefficients={"3": "1", "2": "0.92", "1": "0.85"},
        high_cost=OutlierRule(
            tiers=[Tier("3", max_weight="1"), Tier("2")], method="standard_plus_excess", ratio="1"
        ),
        low_cost=OutlierRule(tiers=[Tier("0.4")], method="by_item"),
        case_rules=[CaseRule("short", method="per_diem", discharge_types=[2, 5], max_los=3)],
        ungroupable=FallbackRule("cost_ratio", ratio="0.7"),
    )
    cost = np.round(rng.lognormal(9, 1, n), 2)
    frame = pd.DataFrame(
        {
            "drg": rng.choice([*CODES, "0000", "HQY"], n),
            "status": "grouped",
            "hospital_id": rng.choice([f"H{i}" for i in range(50)], n),
            "hospital_level": rng.choice(["一级", "二级", "三级"], n),
            "insurance_type": rng.choice(["310", "390"], n),
            "los": rng.integers(0, 40, n),
            "discharge_type": rng.choice([1, 2, 5], n),
            "discharge_date": "2025-06-30",
            "total_cost": cost,
            "self_paid": np.round(cost * 0.3, 2),
        }
    )
    for kind in ("grouped", "arrow"):
        out = same_as_reference(representations(frame, kind), policy)
        assert out is not None and len(out) == n


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="0123456789.+-eE ,_٣１", max_size=8),
            st.from_regex(r"[+-]?[0-9]{1,19}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_amount_text_reads_as_the_reference_reads_it(texts: list[str | None]) -> None:
    """Amounts written as text (Arrow strings, as a CSV is read) become the reference reader's fen, or raise
    where the reference names the rows: signs, exponents, separators, spaces, other digits, 19-digit numbers.
    Through Arrow's 64-bit decimal and through the 128-bit one that older pyarrow versions use, on a whole
    column and on one that starts inside its Arrow buffers (a slice: an offset)."""
    from drgpay.payment import _engine, _fastwork
    from drgpay.payment._fastwork import money_column

    column = pd.Series(pa.array(texts, type=pa.large_string()), dtype=pd.ArrowDtype(pa.large_string()))
    for frame in (pd.DataFrame({"total_cost": column}), pd.DataFrame({"total_cost": column}).iloc[1:]):
        try:
            expected = _engine._money(frame, "total_cost")
        except Exception:  # the reference names the rows; the fast path hands over
            for decimal in DECIMALS:
                with (
                    mock.patch.object(_fastwork, "_DECIMAL", decimal),
                    pytest.raises((Delegate, ValueError, ArithmeticError)),
                ):
                    money_column(frame, "total_cost")
            continue
        for decimal in DECIMALS:
            with mock.patch.object(_fastwork, "_DECIMAL", decimal):
                fen, ok = money_column(frame, "total_cost")
            assert ok.tolist() == expected[1].tolist()
            assert fen[ok].tolist() == expected[0][ok].tolist()


#: Arrow's decimal types the amount reader may cast to (64-bit from pyarrow 18 on, else 128-bit).
DECIMALS = [pa.decimal128(18, 2), *([pa.decimal64(18, 2)] if hasattr(pa, "decimal64") else [])]
