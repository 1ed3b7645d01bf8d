"""The fast payment path: DRG and DIP payment on integer codes and int64 fen, equal to the exact reference.

Why: :func:`~drgpay.payment.pay` must settle a province-year (10–30 million cases) at grouping speed. The
reference path (:func:`drgpay.payment.drg_pay.pay_drg`, :func:`drgpay.payment.dip_pay.pay_dip`) holds strings per
row and evaluates row-wise amounts as Python integers; it stays, unchanged in its results, as the reference this
path is tested against row by row, and it is what :func:`~drgpay.payment.explain_payment` traces.

What differs here is only how the same numbers are reached:

- columns are codes over their distinct values (:mod:`drgpay.payment._fastwork`);
- everything that depends only on a combination of group and factors (standards, weights, points, cost bounds,
  per-diem shares per LOS) is computed once per distinct combination, with the reference's own exact code
  (:class:`drgpay.payment.drg_pay._Standards`, :class:`drgpay.payment.dip_pay.Combinations`);
- each row-wise amount (an outlier's excess, a cost ratio, deviation points, points × unit price, a fund share)
  is ``round_half_up((a·b + c) / d)`` on int64 with an exact correction (:mod:`drgpay.payment._int64`); rows whose
  numbers do not fit 64 bits are computed with Python integers instead, so no row overflows silently.

Where the reference raises an error, this path lets the reference raise it (:class:`~._fastwork.Delegate`).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import attrs
import numpy as np
import pandas as pd

from drgpay.money import div_round_half_up
from drgpay.payment import _engine as eng
from drgpay.payment import dip_pay, drg_pay
from drgpay.payment._exact import exact_ints
from drgpay.payment._fastwork import (
    CASE,
    Delegate,
    FastWork,
    apply_amounts,
    check_columns,
    combine,
    fallback_payer,
    missing_dates,
    off_path_stage,
    prepare,
    prices,
    resolve_factors,
    split_and_finish,
    unpaid_stage,
)
from drgpay.payment._int64 import keyed_round
from drgpay.payment.policy import CaseRule, DeviationBand, DipPolicy, DrgPolicy

__all__ = ["pay_fast"]


def pay_fast(cases: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> pd.DataFrame:
    """Pay every row of ``cases`` under ``policy`` on the fast path: the reference path's output, row for row,
    columns, dtypes and attrs. Where the reference raises an error, it raises it here."""
    try:
        if isinstance(policy, DrgPolicy):
            return _pay_drg(cases, policy)
        return _pay_dip(cases, policy)
    except Delegate:
        if isinstance(policy, DrgPolicy):
            return drg_pay.pay_drg(cases, policy)
        return dip_pay.pay_dip(cases, policy)


# --------------------------------------------------------------------------------------------- shared


def _per_diem_pairs(
    w: FastWork, idx: np.ndarray, combo: np.ndarray, mean_los: list[Decimal | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """min(1, LOS / mean LOS) once per distinct (combination, LOS) of rows ``idx``: per row its pair, and per pair
    the combination, the exact share (numerator, denominator) and whether it is known
    (:func:`drgpay.payment._engine.per_diem_share`)."""
    los = w.los[idx]
    day, _ = pd.factorize(los, use_na_sentinel=False)
    pair, first = combine(combo, day)
    pair_combo = combo[first]
    s_num, s_den, known = eng.per_diem_share(los[first], mean_los, pair_combo)
    return pair, pair_combo, s_num, s_den, known


def _not_per_diem(w: FastWork, rule: str, rows: np.ndarray) -> None:
    """Per-diem rows that cannot be paid: excluded, with the reference's reason (missing LOS or mean LOS)."""
    if not len(rows):
        return
    w.case_type[rows] = CASE["excluded"]
    missing_los = np.isnan(w.los[rows])
    for mask, word in ((missing_los, "missing_los"), (~missing_los, "no_mean_los")):
        w.reason[rows[mask]] = w.reasons.code(f"rule:{rule};{word}")


# --------------------------------------------------------------------------------------------- DRG


@attrs.define
class _Tables:
    """The coefficients and published standards of a run (what :class:`drgpay.payment.drg_pay._Standards` reads)."""

    coefs: list[tuple[Decimal, str] | None]
    std_values: list[tuple[Decimal, str]]


def _pay_drg(cases: pd.DataFrame, policy: DrgPolicy) -> pd.DataFrame:
    """:func:`drgpay.payment.drg_pay.pay_drg` on codes (see its module notes for paths and rounding)."""
    check_columns(cases, "drg", policy)
    missing_date = missing_dates(cases, policy)
    w = prepare(cases, "drg", policy)
    if policy.basic_groups_uniform:
        basic = w.group.lookup(lambda code: bool((gw := policy.weights.get(code)) is not None and gw.basic))
    else:
        basic = np.zeros(w.n, dtype=bool)
    rate_id, coef_id, coefs = resolve_factors(
        w,
        policy,
        lambda ins, level: drg_pay._match_rate(policy, ins, level),
        basic,
        "1 (基础病组: same standard at every level)",
    )
    missing = np.array([c is None for c in coefs] or [False], dtype=bool)
    no_coef = missing[coef_id] if w.n else np.zeros(0, dtype=bool)
    std_id = np.full(w.n, -1, dtype=np.int64)
    std_values: list[tuple[Decimal, str]] = []
    if policy.standards and w.n:
        key, first = combine(w.group.codes, w.ins.codes, w.level.codes)
        sid = np.full(len(first), -1, dtype=np.int64)
        for k, row in enumerate(first):
            code, ins, level = (str(c.values[c.codes[row]]) for c in (w.group, w.ins, w.level))
            found = drg_pay._published(policy, code, ins, level)
            if found is not None:
                sid[k] = len(std_values)
                std_values.append(found)
        std_id = sid[key]

    def table_weight(code: str) -> Decimal | None:
        gw = policy.weights.get(code)
        return None if gw is None else gw.weight

    unit = prices(
        rate_id, coef_id, coefs, lambda r, c: drg_pay.unit_price(policy, r, c), table_weight, "weight"
    )
    fallback = fallback_payer(w, policy, unit)
    off_path_stage(w, policy, missing_date, fallback, ambiguous_rule=True)
    reason_code = w.reasons.code
    in_table = w.group.lookup(lambda g: g in policy.weights)
    by_item_group = w.group.lookup(lambda g: bool((gw := policy.weights.get(g)) is not None and gw.by_item))
    fallback(w.pending() & by_item_group, "excluded", "excluded", reason_code("group_paid_by_item"))
    has_weight = w.group.lookup(lambda g: table_weight(g) is not None)
    published = std_id >= 0
    fallback(
        w.pending() & ~in_table & ~published, "missing_weight", "excluded", reason_code("drg_not_in_policy")
    )
    fallback(
        w.pending() & in_table & ~has_weight & ~published,
        "missing_weight",
        "excluded",
        reason_code("no_weight"),
    )
    unpaid_stage(w, ~published & (rate_id < 0), "no_base_rate", ~published & no_coef)

    rows = np.flatnonzero(w.pending())
    if not len(rows):
        return eng.finish(split_and_finish(w, policy, "weight"), policy)
    inverse, first = combine(w.group.codes[rows], rate_id[rows], coef_id[rows], std_id[rows])
    at = rows[first]
    combos = list(zip(w.group.text(at), rate_id[at], coef_id[at], std_id[at], strict=True))
    table = drg_pay._Standards(policy, _Tables(coefs, std_values), combos)
    standard = table.standard[inverse]
    w.amount[rows] = table.weight[inverse]

    decided = np.zeros(len(rows), dtype=bool)
    for crule, pos in eng.case_rule_matches(w, policy.case_rules, rows, decided):
        if crule.method == "per_diem":
            _drg_per_diem(w, policy, crule, rows[pos], inverse[pos], table)
        else:
            apply_amounts(w, rows[pos], crule.method, crule.ratio, standard[pos])

    bands = eng.outlier_bands(
        policy, decided, w.cost[rows], table.high_bound[inverse], table.low_bound[inverse]
    )
    for mask, rule, case_type, reason in bands:
        pos = np.flatnonzero(mask)
        if rule is None or not len(pos):
            continue
        idx = rows[pos]
        w.case_type[idx] = CASE[case_type]
        w.reason[idx] = reason_code(reason)
        if rule.method == "standard_plus_excess":  # high-cost only (the policy refuses it for low_cost)
            assert rule.ratio is not None
            w.std[idx] = _plus_excess(table, inverse[pos], w.cost[idx], rule.ratio)
            w.std_ok[idx] = True
        else:
            apply_amounts(w, idx, rule.method, rule.ratio, standard[pos])
    normal = ~decided & ~bands[0][0] & ~bands[1][0]
    w.std[rows[normal]] = standard[normal]
    w.std_ok[rows[normal]] = True
    return eng.finish(split_and_finish(w, policy, "weight"), policy)


def _plus_excess(
    table: drg_pay._Standards, combo: np.ndarray, cost: np.ndarray, ratio: Decimal
) -> np.ndarray:
    """standard + (cost − high threshold) × ratio in fen, one fraction rounded once
    (:meth:`drgpay.payment.drg_pay._Standards.plus_excess`): per combination ``b = t_den·r_num``, ``c = standard ·
    t_den·r_den − t_num·r_num``, ``d = t_den·r_den`` over the cost in fen."""
    t_num, t_den = table._fen_thresholds["high"]
    r_num, r_den = Fraction(ratio).as_integer_ratio()
    std = exact_ints(table.standard)
    return keyed_round(cost, combo, t_den * r_num, std * t_den * r_den - t_num * r_num, t_den * r_den)


def _drg_per_diem(
    w: FastWork,
    policy: DrgPolicy,
    rule: CaseRule,
    idx: np.ndarray,
    combo: np.ndarray,
    table: drg_pay._Standards,
) -> None:
    """Group standard × min(1, LOS / the group's mean LOS), once per distinct (combination, LOS)
    (:func:`drgpay.payment.drg_pay._per_diem`)."""
    means = [gw.mean_los if gw is not None else None for gw in table.entries]
    group_of = table.group  # combination → distinct group of the table
    pair, pair_combo, s_num, s_den, known = _per_diem_pairs(w, idx, combo, [means[g] for g in group_of])
    fen = div_round_half_up(exact_ints(table.standard[pair_combo]) * s_num, s_den)
    paid = known[pair]
    w.std[idx[paid]] = fen[pair[paid]]
    w.std_ok[idx[paid]] = True
    _not_per_diem(w, rule.name, idx[~paid])


# --------------------------------------------------------------------------------------------- DIP


def _pay_dip(cases: pd.DataFrame, policy: DipPolicy) -> pd.DataFrame:
    """:func:`drgpay.payment.dip_pay.pay_dip` on codes (see its module notes for paths and rounding)."""
    check_columns(cases, "dip_group", policy)
    missing_date = missing_dates(cases, policy)
    w = prepare(cases, "dip_group", policy)
    places = policy.points_places
    if policy.basic_ignores_level:
        basic = w.group.lookup(
            lambda code: bool((s := policy.scores.get(code)) is not None and s.kind == "basic")
        )
    else:
        basic = np.zeros(w.n, dtype=bool)
    pv_id, coef_id, coefs = resolve_factors(
        w,
        policy,
        lambda ins, _level: dip_pay._match_point_value(policy, ins),
        basic,
        "1 (基层病种: no level coefficient)",
    )
    no_coef_k = np.array([c is None for c in coefs] or [False], dtype=bool)
    try:
        aux_id, aux_values = dip_pay._aux(cases)
    except ValueError:
        raise Delegate("aux_coefficient") from None

    def table_score(code: str) -> Decimal | None:
        s = policy.scores.get(code)
        return None if s is None else s.score

    unit = prices(
        pv_id, coef_id, coefs, lambda p, c: dip_pay.point_price(policy, p, c), table_score, "points"
    )
    fallback = fallback_payer(w, policy, unit)
    off_path_stage(w, policy, missing_date, fallback, ambiguous_rule=False)
    reason_code = w.reasons.code
    in_table = w.group.lookup(lambda g: g in policy.scores)
    has_score = w.group.lookup(lambda g: table_score(g) is not None)
    fallback(w.pending() & ~in_table, "missing_score", "excluded", reason_code("group_not_in_policy"))
    fallback(w.pending() & in_table & ~has_score, "missing_score", "excluded", reason_code("no_score"))
    no_coef = no_coef_k[coef_id] if w.n else np.zeros(0, dtype=bool)
    unpaid_stage(w, pv_id < 0, "no_point_value", no_coef)

    rows = np.flatnonzero(w.pending())
    if not len(rows):
        return eng.finish(split_and_finish(w, policy, "points"), policy)
    inverse, first = combine(w.group.codes[rows], pv_id[rows], coef_id[rows], aux_id[rows])
    at = rows[first]
    combos = list(zip(w.group.text(at), pv_id[at], coef_id[at], aux_id[at], strict=True))
    values = dip_pay.Combinations(policy, combos, coefs, aux_values)
    w.amount[rows] = values.points_float[inverse]

    decided = np.zeros(len(rows), dtype=bool)
    groups = [str(c[0]) for c in combos]
    for crule, hits in eng.case_rule_matches(w, policy.case_rules, rows, decided):
        if crule.method in ("by_item", "cost_ratio"):
            apply_amounts(w, rows[hits], crule.method, crule.ratio, values.standard[inverse[hits]])
        else:
            _rule_points(w, policy, crule, rows[hits], inverse[hits], groups, values)

    cost = w.cost[rows]
    high = ~decided & (cost >= values.high_bound[inverse])
    low = ~decided & ~high & (cost <= values.low_bound[inverse])
    for mask, band, case_type, reason in (
        (high, policy.high, "high_cost", "cost_ratio_above_high"),
        (low, policy.low, "low_cost", "cost_ratio_below_low"),
    ):
        hits = np.flatnonzero(mask)
        if band is None or not len(hits):
            continue
        idx = rows[hits]
        w.case_type[idx] = CASE[case_type]
        w.reason[idx] = reason_code(reason)
        combo = inverse[hits]
        points = _deviation_points(values, combo, w.cost[idx], band, places)
        w.amount[idx] = points / 10**places  # the double nearest the exact points
        w.std[idx] = _points_times_unit(points, values, combo, places)
        w.std_ok[idx] = True
    normal = ~decided & ~high & ~low
    w.std[rows[normal]] = values.standard[inverse[normal]]
    w.std_ok[rows[normal]] = True
    return eng.finish(split_and_finish(w, policy, "points"), policy)


def _deviation_points(
    values: dip_pay.Combinations, combo: np.ndarray, cost: np.ndarray, band: DeviationBand, places: int
) -> np.ndarray:
    """score × (slope·r + intercept), r = cost / basis, in units of ``10**-places``, rounded once, not below 0
    (:func:`drgpay.payment.dip_pay._deviation_points`): per combination ``b``, ``c``, ``d`` over the cost in fen."""
    s_num, s_den = values.exact_score
    b_num, b_den = values.exact_basis
    slope_num, slope_den = Fraction(band.slope).as_integer_ratio()
    icpt_num, icpt_den = Fraction(band.intercept).as_integer_ratio()
    scale = 10**places
    b = s_num * slope_num * b_den * icpt_den * scale
    c = s_num * icpt_num * slope_den * 100 * b_num * scale
    d = s_den * slope_den * 100 * b_num * icpt_den
    return np.maximum(keyed_round(cost, combo, b, c, d), 0)


def _points_times_unit(
    points: np.ndarray, values: dip_pay.Combinations, combo: np.ndarray, places: int
) -> np.ndarray:
    """Standards in fen: points (units of ``10**-places``) × each combination's yuan per point, rounded once."""
    u_num, u_den = values.exact_unit
    return keyed_round(points, combo, u_num * 100, 0, u_den * 10**places)


def _rule_points(
    w: FastWork,
    policy: DipPolicy,
    rule: CaseRule,
    idx: np.ndarray,
    combo: np.ndarray,
    groups: list[str],
    values: dip_pay.Combinations,
) -> None:
    """A case rule that scales points (``standard_ratio``, ``per_diem``), once per combination or per distinct
    (combination, LOS) (:func:`drgpay.payment.dip_pay._rule_points`)."""
    places = policy.points_places
    p_num, p_den = values.exact_points
    if rule.method == "standard_ratio":
        assert rule.ratio is not None
        r_num, r_den = rule.ratio.as_integer_ratio()
        scaled_c = div_round_half_up(p_num * r_num * 10**places, p_den * r_den)
        scaled = scaled_c[combo]
        paid = np.ones(len(idx), dtype=bool)
    else:
        means = [policy.scores[g].mean_los for g in groups]
        pair, pair_combo, s_num, s_den, known = _per_diem_pairs(w, idx, combo, means)
        scaled_p = div_round_half_up(p_num[pair_combo] * s_num * 10**places, p_den[pair_combo] * s_den)
        scaled, paid = scaled_p[pair], known[pair]
    w.amount[idx] = np.where(paid, scaled / 10**places, np.nan)
    w.std[idx[paid]] = _points_times_unit(scaled[paid], values, combo[paid], places)
    w.std_ok[idx[paid]] = True
    _not_per_diem(w, rule.name, idx[~paid])
