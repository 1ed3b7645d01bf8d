"""DIP per-case payment under a :class:`~drgpay.payment.policy.DipPolicy`.

Paths follow the DRG order (invalid, exclusions, ungroupable, group exclusions, missing score, no point value
or coefficient, no cost, case rules), then the deviation test:

- cost ratio r = total cost / basis, basis = the group's historical mean cost (× the case's coefficient with
  ``deviation_basis = "mean_cost_x_level"``);
- r ≤ 0.5 (``low``) → points = score × r, ``low_cost``; r ≥ 2 (``high``) → points = score × (r − 1),
  ``high_cost``; in general score × (slope·r + intercept), never below 0; otherwise points = score,
  ``normal``.

Score is the catalogue score × the case's ``aux_coefficient`` (辅助目录, 1 when the column is absent or
empty). Rounding: points are evaluated exactly and rounded once to ``points_places`` decimals (half up); the
standard is points × point value × coefficient, exact, rounded once to the fen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from drgpay.money import div_round_half_up
from drgpay.payment import _engine as eng
from drgpay.payment._engine import Tracer, round_fen, yuan
from drgpay.payment._exact import (
    dec,
    exact_ints,
    fraction_arrays,
    round_half_up,
)
from drgpay.payment.errors import PaymentInputError, PolicyError, describe_rows
from drgpay.payment.keys import WILDCARD
from drgpay.payment.policy import CaseRule, DeviationBand, DipPolicy

__all__ = ["pay_dip"]


def _match_point_value(policy: DipPolicy, ins: str) -> int:
    exact = [k for k, p in enumerate(policy.point_values) if p.insurance_type == ins]
    if exact:
        return exact[0]
    wild = [k for k, p in enumerate(policy.point_values) if p.insurance_type == WILDCARD]
    return wild[0] if wild else -1


def _aux(cases: pd.DataFrame) -> tuple[np.ndarray, list[Decimal]]:
    """Per-row auxiliary coefficient id and the distinct values (1 when absent)."""
    n = len(cases)
    if "aux_coefficient" not in cases.columns:
        return np.zeros(n, dtype="int64"), [Decimal(1)]
    raw = pd.to_numeric(cases["aux_coefficient"], errors="coerce")
    filled = cases["aux_coefficient"].notna() & (cases["aux_coefficient"].astype("string").str.strip() != "")
    bad = np.flatnonzero((raw.isna() & filled).to_numpy() | (raw < 0).to_numpy())
    if len(bad):
        raise PaymentInputError(
            f"column 'aux_coefficient': not a non-negative number in row(s) {describe_rows(cases, bad)}"
        )
    values = raw.to_numpy(dtype="float64", na_value=np.nan)
    codes, uniques = pd.factorize(pd.Series(np.where(np.isnan(values), 1.0, values)))
    return codes.astype("int64"), [dec(float(u)) for u in uniques]


#: Exact values per combination: arrays of numerators and denominators (Python ints, see ``exact_ints``).
Fractions = tuple[np.ndarray, np.ndarray]


def _deviation_points(
    score: Fractions,
    basis: Fractions,
    combo: np.ndarray,
    cost: np.ndarray,
    band: DeviationBand,
    places: int,
) -> np.ndarray:
    """Deviation points of rows in units of ``10**-places``: score × (slope·r + intercept), r = cost / basis
    (``score`` and ``basis`` per combination, ``combo`` per row), exact, rounded once half up, not below 0."""
    s_num, s_den = (part[combo] for part in score)
    b_num, b_den = (part[combo] for part in basis)
    slope_num, slope_den = Fraction(band.slope).as_integer_ratio()
    icpt_num, icpt_den = Fraction(band.intercept).as_integer_ratio()
    # r = cost_fen / (100 · basis); slope·r + intercept over the common denominator 100 · b_num · slope · icpt
    inner = slope_num * exact_ints(cost) * b_den * icpt_den + icpt_num * slope_den * 100 * b_num
    denominator = s_den * slope_den * 100 * b_num * icpt_den
    return np.maximum(div_round_half_up(s_num * inner * 10**places, denominator), 0)


def _band_bounds(
    band: DeviationBand | None,
    basis: Fractions,
    bounds: Callable[[np.ndarray, np.ndarray, bool], np.ndarray],
    unreachable: int,
) -> np.ndarray:
    """Cost bounds in fen per combination for a deviation band (threshold × basis), or ``unreachable`` without
    one; ``bounds`` is :func:`~drgpay.payment._engine.high_bounds` or ``low_bounds``."""
    b_num, b_den = basis
    if band is None:
        return np.full(len(b_num), unreachable, dtype="int64")
    t_num, t_den = band.threshold.as_integer_ratio()
    return bounds(t_num * b_num * 100, t_den * b_den, band.inclusive)


def _points_times_unit(points: np.ndarray, unit: Fractions, combo: np.ndarray, places: int) -> np.ndarray:
    """Standards in fen: points (units of ``10**-places``) × yuan per point of each row's combination, exact,
    rounded once half up."""
    u_num, u_den = (part[combo] for part in unit)
    return div_round_half_up(exact_ints(points) * u_num * 100, u_den * 10**places)


def _rule_points(
    w: eng.Work,
    policy: DipPolicy,
    rule: CaseRule,
    idx: np.ndarray,
    combo: np.ndarray,
    groups: list[str],
    points: Fractions,
    unit: Fractions,
) -> None:
    """A case rule that scales points, for rows ``idx`` of combinations ``combo`` (``groups``, ``points`` and
    ``unit`` are per combination): ``standard_ratio`` (points × ratio) or ``per_diem`` (points × min(1, LOS /
    the group's mean LOS)), exact, rounded once to the policy's places; the standard is those points × the
    unit price, rounded once to the fen. A row without a LOS, or whose group has no mean LOS, is excluded from per
    diem."""
    places = policy.points_places
    p_num, p_den = (part[combo] for part in points)
    if rule.method == "standard_ratio":
        assert rule.ratio is not None
        r_num, r_den = rule.ratio.as_integer_ratio()
        num, den = p_num * r_num, p_den * r_den
        paid = np.ones(len(idx), dtype=bool)
    else:
        means = [policy.scores[g].mean_los for g in groups]
        s_num, s_den, paid = eng.per_diem_share(w.los[idx], means, combo)
        num, den = p_num * s_num, p_den * s_den
    scaled = div_round_half_up(num * 10**places, den)  # points in units of 10**-places
    w.amount[idx] = np.where(paid, scaled / 10**places, np.nan)
    w.std[idx[paid]] = _points_times_unit(scaled[paid], unit, combo[paid], places)
    w.std_ok[idx[paid]] = True
    w.case_type[idx[~paid]] = "excluded"
    w.reason[idx[~paid]] = eng.per_diem_reasons(rule.name, w.los[idx[~paid]])


def point_price(policy: DipPolicy, pv_id: int, coef: tuple[Decimal, str] | None) -> tuple[Decimal, str] | str:
    """Point value ``pv_id`` (-1: none) × coefficient ``coef`` (None: none), with a description, or the reason a
    case has no unit price (``no_point_value``, ``no_coefficient``)."""
    if pv_id < 0:
        return "no_point_value"
    if coef is None:
        return "no_coefficient"
    pv = policy.point_values[pv_id]
    text = f"point value {pv.value} ({policy.point_value_kind}) × coefficient {coef[0]} ({coef[1]})"
    return pv.value * coef[0], text


class Combinations:
    """Score, unit price, points, standard, deviation basis and cost bounds of every distinct (group, point
    value, coefficient, auxiliary coefficient) combination: Decimal arithmetic once per combination, and the
    exact fractions (numerators, denominators) the row-wise arithmetic needs.

    Raises :class:`PolicyError` when a deviation band is on and a combination's group has no mean cost.
    """

    def __init__(
        self,
        policy: DipPolicy,
        combos: Sequence[tuple[Any, ...]],
        coefs: list[tuple[Decimal, str] | None],
        aux_values: list[Decimal],
    ) -> None:
        places = policy.points_places
        k = len(combos)
        self.score: list[Decimal] = [Decimal(0)] * k
        self.unit: list[Decimal] = [Decimal(0)] * k
        self.basis: list[Decimal | None] = [None] * k
        self.points: list[Decimal] = [Decimal(0)] * k
        self.standard = np.zeros(k, dtype="int64")
        missing_mean: set[str] = set()
        for c, (code_obj, pv, cid, aid) in enumerate(combos):
            code = str(code_obj)
            group = policy.scores[code]
            assert group.score is not None
            coef = coefs[int(cid)]
            assert coef is not None
            score = group.score * aux_values[int(aid)]
            unit = policy.point_values[int(pv)].value * coef[0]
            self.score[c], self.unit[c] = score, unit
            self.points[c] = round_half_up(score, places)
            self.standard[c] = round_fen(self.points[c] * unit)
            if policy.low is None and policy.high is None:
                continue
            if group.mean_cost is None or group.mean_cost <= 0:
                missing_mean.add(code)
                continue
            self.basis[c] = group.mean_cost * (
                coef[0] if policy.deviation_basis == "mean_cost_x_level" else 1
            )
        if missing_mean:
            raise PolicyError(
                f"policy {policy.name!r}: the deviation rule needs each group's mean_cost; missing for "
                f"{', '.join(sorted(missing_mean))}"
            )
        # per combination, as exact fractions for the row-wise arithmetic
        self.exact_score, self.exact_unit, self.exact_points = (
            fraction_arrays(v) for v in (self.score, self.unit, self.points)
        )
        self.exact_basis = fraction_arrays([b if b is not None else 1 for b in self.basis])
        self.high_bound = _band_bounds(policy.high, self.exact_basis, eng.high_bounds, np.iinfo("int64").max)
        self.low_bound = _band_bounds(policy.low, self.exact_basis, eng.low_bounds, np.iinfo("int64").min)
        self.points_float = np.array([float(x) for x in self.points])


def pay_dip(cases: pd.DataFrame, policy: DipPolicy, tracer: Tracer | None = None) -> pd.DataFrame:
    """Pay every row of ``cases`` under a DIP policy (see the module notes for paths and rounding)."""
    if not isinstance(policy, DipPolicy):
        raise TypeError("pay_dip needs a DipPolicy")
    missing_date = eng.check_dates(cases, policy)
    w = eng.prepare(cases, "dip_group", policy, tracer)
    places = policy.points_places
    w.trace(
        True,
        lambda: (
            f"policy {policy.name!r} (effective {policy.effective_from} to {policy.effective_to}); "
            f"DIP group {w.group[0] or '(none)'}, grouping status {w.status[0]}"
        ),
    )
    if policy.basic_ignores_level:
        basic = w.per_group(
            lambda code: bool((s := policy.scores.get(code)) is not None and s.kind == "basic")
        )
    else:
        basic = np.zeros(w.n, dtype=bool)
    pv_id, coef_id, coefs = eng.resolve_factors(
        w,
        policy,
        lambda ins, _level: _match_point_value(policy, ins),
        basic,
        "1 (基层病种: no level coefficient)",
    )
    no_coef_k = np.array([c is None for c in coefs] or [False], dtype=bool)
    aux_id, aux_values = _aux(cases)

    def unit_price(i: int) -> tuple[Decimal, str] | str:
        return point_price(policy, int(pv_id[i]), coefs[int(coef_id[i])])

    def table_score(code: str) -> Decimal | None:
        s = policy.scores.get(code)
        return None if s is None else s.score

    fallback = eng.fallback_payer(w, policy, unit_price, table_score, "points")
    # DIP has no ambiguous group: a row marked ambiguous is paid as ungroupable.
    eng.off_path_stage(w, policy, missing_date, fallback, ambiguous_rule=False)
    in_table = w.per_group(lambda code: code in policy.scores)
    has_score = w.per_group(lambda code: table_score(code) is not None)
    fallback(w.pending() & ~in_table, "missing_score", "excluded", "group_not_in_policy")
    fallback(w.pending() & in_table & ~has_score, "missing_score", "excluded", "no_score")
    no_coef = no_coef_k[coef_id] if w.n else np.zeros(0, dtype=bool)
    eng.unpaid_stage(
        w, pv_id < 0, "no_point_value", "no point value for this insurance type: not paid", no_coef
    )

    rows = np.flatnonzero(w.pending())
    if not len(rows):
        return eng.finish(eng.split_and_finish(w, policy, "points"), policy)
    inverse, combos = eng.factorize_rows(w.group[rows], pv_id[rows], coef_id[rows], aux_id[rows])
    values = Combinations(policy, combos, coefs, aux_values)
    score_c, unit_c, basis_c, points_c, std_c = (
        values.score,
        values.unit,
        values.basis,
        values.points,
        values.standard,
    )
    exact_score, exact_unit, exact_points, exact_basis = (
        values.exact_score,
        values.exact_unit,
        values.exact_points,
        values.exact_basis,
    )
    hi_c, lo_c, points_f = values.high_bound, values.low_bound, values.points_float
    w.amount[rows] = points_f[inverse]
    traced = w.tracer is not None and rows[0] == 0
    if traced:
        c0 = int(inverse[0])
        aux = aux_values[int(combos[c0][3])]
        aux_text = f" × auxiliary coefficient {aux}" if aux != 1 else ""
        w.trace(
            True,
            f"score {policy.scores[w.group[0]].score}{aux_text} = {points_c[c0]} points; "
            f"{unit_price(0)[1]} = {unit_c[c0]} yuan per point",
        )

    decided = np.zeros(len(rows), dtype=bool)
    groups = [str(combo[0]) for combo in combos]
    for crule, hits in eng.case_rule_matches(w, policy.case_rules, rows, decided):
        if crule.method in ("by_item", "cost_ratio"):
            eng.apply_amounts(w, rows[hits], crule.method, crule.ratio, std_c[inverse[hits]])
        if crule.method in ("standard_ratio", "per_diem"):
            _rule_points(w, policy, crule, rows[hits], inverse[hits], groups, exact_points, exact_unit)
        if traced and len(hits) and hits[0] == 0:
            w.trace(
                True,
                f"case rule {crule.name!r} ({crule.method}) matches: {w.amount[0]} points, "
                f"standard {yuan(w.std[0])}",
            )

    cost = w.cost[rows]
    high = ~decided & (cost >= hi_c[inverse])
    low = ~decided & ~high & (cost <= lo_c[inverse])
    for mask, band, case_type, reason in (
        (high, policy.high, "high_cost", "cost_ratio_above_high"),
        (low, policy.low, "low_cost", "cost_ratio_below_low"),
    ):
        hits = np.flatnonzero(mask)
        if band is None or not len(hits):
            continue
        w.case_type[rows[hits]] = case_type
        w.reason[rows[hits]] = reason
        combo = inverse[hits]
        assert all(basis_c[c] is not None for c in np.unique(combo))
        points = _deviation_points(exact_score, exact_basis, combo, w.cost[rows[hits]], band, places)
        w.amount[rows[hits]] = points / 10**places  # the double nearest the exact points
        w.std[rows[hits]] = _points_times_unit(points, exact_unit, combo, places)
        w.std_ok[rows[hits]] = True
        if traced and mask[0]:
            c = int(inverse[0])
            op = "≥" if case_type == "high_cost" else "≤"
            w.trace(
                True,
                f"deviation case: r = cost {yuan(w.cost[0])} / basis {basis_c[c]} {op} {band.threshold}; "
                f"points = score {score_c[c]} × ({band.slope}·r + {band.intercept}) = {w.amount[0]}; "
                f"standard = points × {unit_c[c]} = {yuan(w.std[0])} (rounded once)",
            )
    normal = ~decided & ~high & ~low
    nrows = rows[normal]
    w.std[nrows] = std_c[inverse[normal]]
    w.std_ok[nrows] = True
    if traced and normal[0]:
        w.trace(
            True,
            f"normal case: standard = {points_c[int(inverse[0])]} points × {unit_c[int(inverse[0])]} = "
            f"{yuan(w.std[0])} (rounded once, half up)",
        )
    return eng.finish(eng.split_and_finish(w, policy, "points"), policy)
