"""CHS-DRG per-case payment under a :class:`~drgpay.payment.policy.DrgPolicy`.

Paths, in order (the first that applies decides the row):

1. ``invalid`` grouping status → ``excluded`` (policy ``invalid`` rule, default: not paid);
2. no discharge date, an insurance type the policy does not cover, a stay over ``exclusions.max_los`` →
   ``excluded`` (policy ``excluded`` rule, default by item);
3. ``ungroupable`` (``0000``) and ``ambiguous`` (``xQY``) → their own rules;
4. a group listed in ``exclusions.groups`` or flagged ``by_item`` in the weights → ``excluded``;
5. a group not in the policy or without a weight (and no published standard) → ``excluded`` by the
   ``missing_weight`` rule; no base rate or coefficient for the case → ``excluded``, not paid;
6. no total cost → ``excluded``, not paid; the first matching ``case_rules`` entry (short stay, transfer,
   death);
7. high-cost then low-cost test; everything else is ``normal``.

Rounding: the group standard (支付标准) of a case is RW × base rate × coefficient formed exactly and rounded
once to the fen, half up (9,575.25 × 0.92 × 1.2 = 10,571.076 → 10,571.08). A rule built on it (high-cost
excess, ratio, per diem) evaluates its expression exactly from that standard and the case's cost, then rounds
once.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import pandas as pd

from drgpay.money import div_round_half_up
from drgpay.payment import _engine as eng
from drgpay.payment._engine import Tracer, yuan
from drgpay.payment._exact import dec, exact_ints, fen_to_decimal, fraction_arrays
from drgpay.payment.errors import PolicyError
from drgpay.payment.keys import WILDCARD
from drgpay.payment.policy import DrgPolicy, OutlierRule

__all__ = ["pay_drg"]


def _match_rate(policy: DrgPolicy, ins: str, level: str) -> int:
    """Index of the most specific base rate for (insurance, level), -1 when none matches."""
    best, best_score = -1, -1
    for k, rate in enumerate(policy.base_rates):
        if rate.insurance_type not in (WILDCARD, ins) or rate.hospital_level not in (WILDCARD, level):
            continue
        score = 2 * (rate.insurance_type != WILDCARD) + (rate.hospital_level != WILDCARD)
        if score > best_score:
            best, best_score = k, score
    return best


def _published(policy: DrgPolicy, code: str, ins: str, level: str) -> tuple[Decimal, str] | None:
    for key in (
        (code, ins, level),
        (code, ins, WILDCARD),
        (code, WILDCARD, level),
        (code, WILDCARD, WILDCARD),
    ):
        if key in policy.standards:
            return policy.standards[
                key
            ], f"published standard for {key[0]} (insurance {key[1]}, level {key[2]})"
    return None


class FactorTables(Protocol):
    """What :class:`_Standards` reads of a run's factors: the coefficients and the published standards, indexed
    by the ids the combinations hold."""

    coefs: list[tuple[Decimal, str] | None]
    std_values: list[tuple[Decimal, str]]


class _Factors:
    """Base rate, coefficient and published standard of every row, resolved once per distinct key."""

    def __init__(self, w: eng.Work, policy: DrgPolicy) -> None:
        self.policy = policy
        if policy.basic_groups_uniform:
            basic = w.per_group(lambda code: bool((gw := policy.weights.get(code)) is not None and gw.basic))
        else:
            basic = np.zeros(w.n, dtype=bool)
        self.rate_id, self.coef_id, self.coefs = eng.resolve_factors(
            w,
            policy,
            lambda ins, level: _match_rate(policy, ins, level),
            basic,
            "1 (基础病组: same standard at every level)",
        )
        missing = np.array([c is None for c in self.coefs] or [False], dtype=bool)
        self.no_coef = missing[self.coef_id] if w.n else np.zeros(0, dtype=bool)
        self.std_id = np.full(w.n, -1, dtype="int64")
        self.std_values: list[tuple[Decimal, str]] = []
        if policy.standards:
            codes, uniques = eng.factorize_rows(w.group, w.ins, w.level)
            sid = np.full(len(uniques), -1, dtype="int64")
            for k, (code, ins, level) in enumerate(uniques):
                found = _published(policy, str(code), str(ins), str(level))
                if found is not None:
                    sid[k] = len(self.std_values)
                    self.std_values.append(found)
            self.std_id = sid[codes]

    def unit_price(self, i: int) -> tuple[Decimal, str] | str:
        """Base rate × coefficient for row ``i`` (exact), with a description, or a reason it has none."""
        return unit_price(self.policy, int(self.rate_id[i]), self.coefs[int(self.coef_id[i])])


def unit_price(
    policy: DrgPolicy, rate_id: int, coef: tuple[Decimal, str] | None
) -> tuple[Decimal, str] | str:
    """Base rate ``rate_id`` (-1: none) × coefficient ``coef`` (None: none), with a description, or the reason a
    case has no unit price (``no_base_rate``, ``no_coefficient``)."""
    if rate_id < 0:
        return "no_base_rate"
    if coef is None:
        return "no_coefficient"
    rate = policy.base_rates[rate_id]
    return rate.rate * coef[0], (
        f"base rate {rate.rate} (insurance {rate.insurance_type}, level {rate.hospital_level}) × "
        f"coefficient {coef[0]} ({coef[1]})"
    )


def _threshold(
    rule: OutlierRule, weight: Decimal | None, standard_fen: int, mean_cost: Decimal | None
) -> Decimal:
    basis = fen_to_decimal(standard_fen) if rule.basis == "standard" else mean_cost
    assert basis is not None
    return rule.multiplier_for(weight) * basis


def _per_diem(w: eng.Work, policy: DrgPolicy, rule: str, idx: np.ndarray, standard: np.ndarray) -> None:
    """Per diem for rows ``idx``: group standard × min(1, LOS / the group's mean LOS), exact, rounded once to the
    fen; rows without a LOS, or whose group has no mean LOS, are excluded."""
    group_of, codes = pd.factorize(w.group[idx])
    means = [gw.mean_los if (gw := policy.weights.get(str(code))) is not None else None for code in codes]
    s_num, s_den, paid = eng.per_diem_share(w.los[idx], means, group_of)
    fen = div_round_half_up(exact_ints(standard) * s_num, s_den)
    w.std[idx[paid]] = fen[paid]
    w.std_ok[idx[paid]] = True
    w.case_type[idx[~paid]] = "excluded"
    w.reason[idx[~paid]] = eng.per_diem_reasons(rule, w.los[idx[~paid]])


class _Standards:
    """Group standard, weight and outlier bounds of every distinct (group, base rate, coefficient, published
    standard) combination, exact and vectorised.

    Each factor is read once per distinct group, base rate or coefficient as an exact fraction; a combination's
    standard is RW × base rate × coefficient (or the published standard) as one fraction, rounded once to the
    fen, half up; thresholds are multiplier × basis and bounds their exact ceiling or floor in fen. Rows with
    no outlier rule get bounds no cost reaches.
    """

    def __init__(self, policy: DrgPolicy, f: FactorTables, combos: list[tuple[Any, ...]]) -> None:
        self.policy, self.factors, self.combos = policy, f, combos
        k = len(combos)
        codes = np.array([str(c[0]) for c in combos], dtype=object)
        rate_id, coef_id, std_id = (np.array([int(c[j]) for c in combos], dtype="int64") for j in (1, 2, 3))
        group, self.codes = pd.factorize(codes)
        self.entries = [policy.weights.get(str(code)) for code in self.codes]
        weights = [gw.weight if gw is not None else None for gw in self.entries]
        self.weight = np.array([np.nan if x is None else float(x) for x in weights])[group]
        num, den = np.zeros(k, dtype=object), np.ones(k, dtype=object)
        published = std_id >= 0
        if published.any():
            p_num, p_den = fraction_arrays([value for value, _ in f.std_values])
            num[published], den[published] = p_num[std_id[published]], p_den[std_id[published]]
        priced = ~published
        if priced.any():
            assert all(weights[g] is not None for g in np.unique(group[priced]))
            w_num, w_den = fraction_arrays([x if x is not None else 0 for x in weights])
            pair, pairs = eng.factorize_rows(rate_id[priced], coef_id[priced])
            units: list[Fraction] = []
            for r, c in pairs:
                coef = f.coefs[int(c)]
                assert coef is not None
                units.append(Fraction(policy.base_rates[int(r)].rate) * Fraction(coef[0]))
            u_num, u_den = fraction_arrays(units)
            num[priced] = w_num[group[priced]] * u_num[pair]
            den[priced] = w_den[group[priced]] * u_den[pair]
        self.standard = div_round_half_up(num * 100, den)
        self.group = group
        #: exact thresholds in fen (numerator, denominator) per combination, by rule
        self._fen_thresholds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.high_bound = np.full(k, np.iinfo("int64").max, dtype="int64")
        self.low_bound = np.full(k, np.iinfo("int64").min, dtype="int64")
        for name, rule in (("high", policy.high_cost), ("low", policy.low_cost)):
            if rule is None:
                continue
            t_num, t_den = self._thresholds(rule, weights)
            self._fen_thresholds[name] = (t_num, t_den)
            if name == "high":
                self.high_bound = eng.high_bounds(t_num, t_den, rule.inclusive)
            else:
                self.low_bound = eng.low_bounds(t_num, t_den, rule.inclusive)

    def _thresholds(self, rule: OutlierRule, weights: list[Decimal | None]) -> tuple[np.ndarray, np.ndarray]:
        m_num, m_den = fraction_arrays([rule.multiplier_for(x) for x in weights])
        m_num, m_den = m_num[self.group], m_den[self.group]
        if rule.basis == "standard":
            return m_num * exact_ints(self.standard), m_den
        means = [gw.mean_cost if gw is not None else None for gw in self.entries]
        missing = sorted(str(code) for code, mean in zip(self.codes, means, strict=True) if mean is None)
        if missing:
            raise PolicyError(
                f"policy {self.policy.name!r}: outlier basis is mean_cost but group(s) "
                f"{', '.join(missing)} have no mean_cost in the weights table"
            )
        c_num, c_den = fraction_arrays([x if x is not None else 0 for x in means])
        return m_num * c_num[self.group] * 100, m_den * c_den[self.group]

    def plus_excess(
        self, combo: np.ndarray, standard: np.ndarray, cost: np.ndarray, ratio: Decimal
    ) -> np.ndarray:
        """standard + (cost − high threshold) × ratio in fen for rows of combinations ``combo``, rounded once."""
        t_num, t_den = (part[combo] for part in self._fen_thresholds["high"])
        r_num, r_den = Fraction(ratio).as_integer_ratio()
        std, paid = exact_ints(standard), exact_ints(cost)
        return div_round_half_up(std * t_den * r_den + (paid * t_den - t_num) * r_num, t_den * r_den)

    def threshold(self, c: int, rule: OutlierRule) -> Decimal:
        """The threshold of combination ``c`` in yuan, as the policy's decimals give it (for traces)."""
        gw = self.entries[int(self.group[c])]
        return _threshold(
            rule, gw.weight if gw is not None else None, int(self.standard[c]), gw.mean_cost if gw else None
        )

    def describe(self, c: int) -> str:
        """How combination ``c``'s standard is made (for traces)."""
        _, rate_id, coef_id, std_id = self.combos[c]
        if int(std_id) >= 0:
            exact, source = self.factors.std_values[int(std_id)]
            return f"{source}: {exact}"
        gw = self.entries[int(self.group[c])]
        assert gw is not None and gw.weight is not None
        rate = self.policy.base_rates[int(rate_id)]
        coef = self.factors.coefs[int(coef_id)]
        assert coef is not None
        return f"RW {gw.weight} × base rate {rate.rate} × coefficient {coef[0]} = {gw.weight * rate.rate * coef[0]}"


def pay_drg(cases: pd.DataFrame, policy: DrgPolicy, tracer: Tracer | None = None) -> pd.DataFrame:
    """Pay every row of ``cases`` under a DRG policy (see the module notes for paths and rounding)."""
    if not isinstance(policy, DrgPolicy):
        raise TypeError("pay_drg needs a DrgPolicy")
    missing_date = eng.check_dates(cases, policy)
    w = eng.prepare(cases, "drg", policy, tracer)
    w.trace(
        True,
        lambda: (
            f"policy {policy.name!r} {policy.version}".rstrip() + f" (effective {policy.effective_from} to "
            f"{policy.effective_to}); DRG {w.group[0] or '(none)'}, grouping status {w.status[0]}"
        ),
    )
    f = _Factors(w, policy)

    def table_weight(code: str) -> Decimal | None:
        gw = policy.weights.get(code)
        return None if gw is None else gw.weight

    fallback = eng.fallback_payer(w, policy, f.unit_price, table_weight, "weight")
    eng.off_path_stage(w, policy, missing_date, fallback, ambiguous_rule=True)
    in_table = w.per_group(lambda code: code in policy.weights)
    by_item_group = w.per_group(
        lambda code: bool((gw := policy.weights.get(code)) is not None and gw.by_item)
    )
    fallback(w.pending() & by_item_group, "excluded", "excluded", "group_paid_by_item")
    has_weight = w.per_group(lambda code: table_weight(code) is not None)
    published = f.std_id >= 0
    fallback(w.pending() & ~in_table & ~published, "missing_weight", "excluded", "drg_not_in_policy")
    fallback(w.pending() & in_table & ~has_weight & ~published, "missing_weight", "excluded", "no_weight")
    no_rate_text = "no base rate matches this case's insurance type and hospital level: not paid"
    eng.unpaid_stage(w, ~published & (f.rate_id < 0), "no_base_rate", no_rate_text, ~published & f.no_coef)

    # Group standard of every remaining row, once per distinct (group, rate, coefficient, published) combination.
    rows = np.flatnonzero(w.pending())
    if not len(rows):
        return eng.finish(eng.split_and_finish(w, policy, "weight"), policy)
    inverse, combos = eng.factorize_rows(w.group[rows], f.rate_id[rows], f.coef_id[rows], f.std_id[rows])
    table = _Standards(policy, f, combos)
    std_c = table.standard
    standard = std_c[inverse]
    w.amount[rows] = table.weight[inverse]
    traced = w.tracer is not None and rows[0] == 0
    if traced:
        c0 = int(inverse[0])
        source = "" if int(combos[c0][3]) >= 0 else f"; base rate and coefficient: {f.unit_price(0)[1]}"
        w.trace(
            True,
            f"group standard: {table.describe(c0)} → {yuan(std_c[c0])} (rounded once to the fen, half up){source}",
        )

    # Local case rules (short stay, transfer, death), first match wins.
    decided = np.zeros(len(rows), dtype=bool)
    for crule, pos in eng.case_rule_matches(w, policy.case_rules, rows, decided):
        idx = rows[pos]
        if crule.method == "per_diem":
            _per_diem(w, policy, crule.name, idx, standard[pos])
        else:
            eng.apply_amounts(w, idx, crule.method, crule.ratio, standard[pos])
        if traced and idx[0] == 0:
            if not w.std_ok[0]:
                text = "per diem needs the group's mean LOS, which the policy lacks: not paid"
            elif crule.method == "per_diem":
                text = (
                    f"per diem: standard {yuan(standard[0])} × min(1, LOS {dec(float(w.los[0]))} / mean LOS "
                    f"{policy.weights[w.group[0]].mean_los}) = {yuan(w.std[0])} (rounded once)"
                )
            elif crule.method == "standard_ratio":
                text = f"standard {yuan(standard[0])} × {crule.ratio} = {yuan(w.std[0])} (rounded once)"
            else:
                text = f"{crule.method}: standard {yuan(w.std[0])}"
            w.trace(True, f"case rule {crule.name!r} matches (discharge type / LOS); {text}")

    # High-cost, then low-cost, then normal.
    bands = eng.outlier_bands(
        policy, decided, w.cost[rows], table.high_bound[inverse], table.low_bound[inverse]
    )
    for mask, rule, case_type, reason in bands:
        pos = np.flatnonzero(mask)
        if rule is None or not len(pos):
            continue
        idx = rows[pos]
        w.case_type[idx] = case_type
        w.reason[idx] = reason
        if rule.method == "standard_plus_excess":  # high-cost only (the policy refuses it for low_cost)
            assert rule.ratio is not None
            w.std[idx] = table.plus_excess(inverse[pos], standard[pos], w.cost[idx], rule.ratio)
            w.std_ok[idx] = True
        else:
            eng.apply_amounts(w, idx, rule.method, rule.ratio, standard[pos])
        if traced and mask[0]:
            t0 = table.threshold(int(inverse[0]), rule)
            is_high = case_type == "high_cost"
            op = ("≥" if is_high else "≤") if rule.inclusive else (">" if is_high else "<")
            how = (
                f"standard {yuan(standard[0])} + (cost {yuan(w.cost[0])} − threshold {t0}) × {rule.ratio} → "
                f"{yuan(w.std[0])} (rounded once)"
                if rule.method == "standard_plus_excess"
                else f"{rule.method}: standard {yuan(w.std[0])}"
            )
            w.trace(
                True,
                f"{'high' if is_high else 'low'}-cost case: cost {yuan(w.cost[0])} {op} "
                f"{rule.multiplier_for(dec_or(w.amount[0]))} × {rule.basis} = {t0}; {how}",
            )
    normal = ~decided & ~bands[0][0] & ~bands[1][0]
    nrows = rows[normal]
    w.std[nrows] = standard[normal]
    w.std_ok[nrows] = True
    if traced and normal[0]:
        w.trace(True, f"normal case: paid the group standard {yuan(w.std[0])}")
    return eng.finish(eng.split_and_finish(w, policy, "weight"), policy)


def dec_or(value: float) -> Decimal | None:
    """Float weight back to Decimal (None for NaN), for describing tiers."""
    return None if value != value else dec(value)
