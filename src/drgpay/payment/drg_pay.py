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

import numpy as np
import pandas as pd

from drgpay.payment._engine import (
    Tracer,
    Work,
    apply_amounts,
    check_dates,
    exclusion_stage,
    factorize_rows,
    finish,
    high_bound,
    invalid_and_offpath,
    low_bound,
    pay_fallback,
    prepare,
    resolve_factors,
    round_fen,
    rule_matches,
    split_and_finish,
    with_grouping_reason,
    yuan,
)
from drgpay.payment._exact import dec, fen_to_decimal
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


def _coefficient(policy: DrgPolicy, level: str, hosp: str) -> tuple[Decimal, str] | None:
    if hosp and hosp in policy.hospital_coefficients:
        return policy.hospital_coefficients[hosp], f"hospital {hosp}"
    if level in policy.level_coefficients:
        return policy.level_coefficients[level], f"level {level}"
    if policy.default_coefficient is not None:
        return policy.default_coefficient, "default"
    return None


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


class _Factors:
    """Base rate, coefficient and published standard of every row, resolved once per distinct key."""

    def __init__(self, w: Work, policy: DrgPolicy) -> None:
        self.policy = policy
        if policy.basic_groups_uniform:
            basic = w.per_group(lambda code: bool((gw := policy.weights.get(code)) is not None and gw.basic))
        else:
            basic = np.zeros(w.n, dtype=bool)
        self.rate_id, self.coef_id, self.coefs = resolve_factors(
            w,
            lambda ins, level: _match_rate(policy, ins, level),
            lambda level, hosp: _coefficient(policy, level, hosp),
            basic,
            "1 (基础病组: same standard at every level)",
        )
        missing = np.array([c is None for c in self.coefs] or [False], dtype=bool)
        self.no_coef = missing[self.coef_id] if w.n else np.zeros(0, dtype=bool)
        self.std_id = np.full(w.n, -1, dtype="int64")
        self.std_values: list[tuple[Decimal, str]] = []
        if policy.standards:
            codes, uniques = factorize_rows(w.group, w.ins, w.level)
            sid = np.full(len(uniques), -1, dtype="int64")
            for k, (code, ins, level) in enumerate(uniques):
                found = _published(policy, str(code), str(ins), str(level))
                if found is not None:
                    sid[k] = len(self.std_values)
                    self.std_values.append(found)
            self.std_id = sid[codes]

    def unit_price(self, i: int) -> tuple[Decimal, str] | str:
        """Base rate × coefficient for row ``i`` (exact), with a description, or a reason it has none."""
        k = int(self.rate_id[i])
        if k < 0:
            return "no_base_rate"
        coef = self.coefs[int(self.coef_id[i])]
        if coef is None:
            return "no_coefficient"
        rate = self.policy.base_rates[k]
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


def pay_drg(cases: pd.DataFrame, policy: DrgPolicy, tracer: Tracer | None = None) -> pd.DataFrame:
    """Pay every row of ``cases`` under a DRG policy (see the module notes for paths and rounding)."""
    if not isinstance(policy, DrgPolicy):
        raise TypeError("pay_drg needs a DrgPolicy")
    missing_date = check_dates(cases, policy)
    w = prepare(cases, "drg", policy, tracer)
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

    def fallback(mask: np.ndarray, rule_name: str, case_type: str, reason: str | np.ndarray) -> None:
        pay_fallback(
            w, mask, getattr(policy, rule_name), case_type, reason, f.unit_price, table_weight, "weight"
        )

    invalid, ungroupable, ambiguous = invalid_and_offpath(w)
    fallback(invalid, "invalid", "excluded", with_grouping_reason(w, invalid, "invalid"))
    excluded = exclusion_stage(w, policy, missing_date)
    fallback(excluded, "excluded", "excluded", w.reason.copy())
    ungroupable &= w.pending()
    fallback(ungroupable, "ungroupable", "ungroupable", with_grouping_reason(w, ungroupable, "ungroupable"))
    ambiguous &= w.pending()
    fallback(ambiguous, "ambiguous", "ambiguous", with_grouping_reason(w, ambiguous, "ambiguous"))

    listed = w.pending() & np.isin(w.group, list(policy.exclusions.groups))
    fallback(listed, "excluded", "excluded", "excluded_group")
    in_table = w.per_group(lambda code: code in policy.weights)
    by_item_group = w.per_group(
        lambda code: bool((gw := policy.weights.get(code)) is not None and gw.by_item)
    )
    fallback(w.pending() & by_item_group, "excluded", "excluded", "group_paid_by_item")
    has_weight = w.per_group(lambda code: table_weight(code) is not None)
    published = f.std_id >= 0
    fallback(w.pending() & ~in_table & ~published, "missing_weight", "excluded", "drg_not_in_policy")
    fallback(w.pending() & in_table & ~has_weight & ~published, "missing_weight", "excluded", "no_weight")

    no_rate = w.pending() & ~published & (f.rate_id < 0)
    w.assign(no_rate, "excluded", "no_base_rate")
    w.trace(no_rate, "no base rate matches this case's insurance type and hospital level: not paid")
    no_coef = w.pending() & ~published & f.no_coef
    w.assign(no_coef, "excluded", "no_coefficient")
    w.trace(no_coef, "no coefficient for this hospital or level and no default: not paid")
    no_cost = w.pending() & ~w.cost_ok
    w.assign(no_cost, "excluded", "missing_total_cost")
    w.trace(no_cost, "no total cost: not paid")

    # Group standard of every remaining row, once per distinct (group, rate, coefficient, published) combination.
    rows = np.flatnonzero(w.pending())
    if not len(rows):
        return finish(split_and_finish(w, policy, "weight"), policy)
    inverse, combos = factorize_rows(w.group[rows], f.rate_id[rows], f.coef_id[rows], f.std_id[rows])
    k = len(combos)
    std_c = np.zeros(k, dtype="int64")
    weight_c = np.full(k, np.nan)
    hi_c = np.full(k, np.iinfo("int64").max, dtype="int64")
    lo_c = np.full(k, np.iinfo("int64").min, dtype="int64")
    hi_t: list[Decimal | None] = [None] * k
    lo_t: list[Decimal | None] = [None] * k
    texts: list[str] = [""] * k
    missing_mean: set[str] = set()
    for c, (code_obj, rate_id, coef_id, std_id) in enumerate(combos):
        code = str(code_obj)
        gw = policy.weights.get(code)
        weight = gw.weight if gw is not None else None
        if int(std_id) >= 0:
            exact, source = f.std_values[int(std_id)]
            texts[c] = f"{source}: {exact}"
        else:
            assert weight is not None
            rate = policy.base_rates[int(rate_id)]
            coef = f.coefs[int(coef_id)]
            assert coef is not None
            exact = weight * rate.rate * coef[0]
            texts[c] = f"RW {weight} × base rate {rate.rate} × coefficient {coef[0]} = {exact}"
        std_c[c] = round_fen(exact)
        if weight is not None:
            weight_c[c] = float(weight)
        mean_cost = gw.mean_cost if gw is not None else None
        for rule, bounds, store, bound_fn in (
            (policy.high_cost, hi_c, hi_t, high_bound),
            (policy.low_cost, lo_c, lo_t, low_bound),
        ):
            if rule is None:
                continue
            if rule.basis == "mean_cost" and mean_cost is None:
                missing_mean.add(code)
                continue
            t = _threshold(rule, weight, int(std_c[c]), mean_cost)
            store[c] = t
            bounds[c] = bound_fn(t, rule.inclusive)
    if missing_mean:
        raise PolicyError(
            f"policy {policy.name!r}: outlier basis is mean_cost but group(s) "
            f"{', '.join(sorted(missing_mean))} have no mean_cost in the weights table"
        )
    standard = std_c[inverse]
    w.amount[rows] = weight_c[inverse]
    traced = w.tracer is not None and rows[0] == 0
    if traced:
        c0 = int(inverse[0])
        source = "" if int(combos[c0][3]) >= 0 else f"; base rate and coefficient: {f.unit_price(0)[1]}"
        w.trace(
            True,
            f"group standard: {texts[c0]} → {yuan(std_c[c0])} (rounded once to the fen, half up){source}",
        )

    # Local case rules (short stay, transfer, death), first match wins.
    decided = np.zeros(len(rows), dtype=bool)
    for crule in policy.case_rules:
        cand = np.zeros(w.n, dtype=bool)
        cand[rows[~decided]] = True
        pos = np.flatnonzero(rule_matches(w, crule, cand)[rows])
        if not len(pos):
            continue
        decided[pos] = True
        idx = rows[pos]
        w.case_type[idx] = crule.case_type
        w.reason[idx] = f"rule:{crule.name}"
        if crule.method == "per_diem":
            for p, i in zip(pos, idx, strict=True):
                gw = policy.weights.get(w.group[i])
                if gw is None or gw.mean_los is None or gw.mean_los <= 0:
                    w.case_type[i] = "excluded"
                    w.reason[i] = f"rule:{crule.name};no_mean_los"
                    continue
                share = min(Fraction(1), Fraction(dec(float(w.los[i]))) / Fraction(gw.mean_los))
                w.std[i] = round_fen(Fraction(fen_to_decimal(int(standard[p]))) * share)
                w.std_ok[i] = True
        else:
            apply_amounts(w, idx, crule.method, crule.ratio, standard[pos])
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
    cost = w.cost[rows]
    high = ~decided & (cost >= hi_c[inverse]) if policy.high_cost is not None else np.zeros(len(rows), bool)
    low = (
        ~decided & ~high & (cost <= lo_c[inverse])
        if policy.low_cost is not None
        else np.zeros(len(rows), bool)
    )
    hrule = policy.high_cost
    pos = np.flatnonzero(high)
    if hrule is not None and len(pos):
        idx = rows[pos]
        w.case_type[idx] = "high_cost"
        w.reason[idx] = "cost_above_high_threshold"
        if hrule.method == "standard_plus_excess":
            assert hrule.ratio is not None
            for p, i in zip(pos, idx, strict=True):
                t_hi = hi_t[int(inverse[p])]
                assert t_hi is not None
                excess = (fen_to_decimal(int(w.cost[i])) - t_hi) * hrule.ratio
                w.std[i] = round_fen(fen_to_decimal(int(standard[p])) + excess)
            w.std_ok[idx] = True
        else:
            apply_amounts(w, idx, hrule.method, hrule.ratio, standard[pos])
        if traced and high[0]:
            t0 = hi_t[int(inverse[0])]
            op = "≥" if hrule.inclusive else ">"
            how = (
                f"standard {yuan(standard[0])} + (cost {yuan(w.cost[0])} − threshold {t0}) × {hrule.ratio} → "
                f"{yuan(w.std[0])} (rounded once)"
                if hrule.method == "standard_plus_excess"
                else f"{hrule.method}: standard {yuan(w.std[0])}"
            )
            w.trace(
                True,
                f"high-cost case: cost {yuan(w.cost[0])} {op} {hrule.multiplier_for(dec_or(w.amount[0]))} × "
                f"{hrule.basis} = {t0}; {how}",
            )
    lrule = policy.low_cost
    pos = np.flatnonzero(low)
    if lrule is not None and len(pos):
        idx = rows[pos]
        w.case_type[idx] = "low_cost"
        w.reason[idx] = "cost_below_low_threshold"
        apply_amounts(w, idx, lrule.method, lrule.ratio, standard[pos])
        if traced and low[0]:
            op = "≤" if lrule.inclusive else "<"
            w.trace(
                True,
                f"low-cost case: cost {yuan(w.cost[0])} {op} {lrule.multiplier_for(dec_or(w.amount[0]))} × "
                f"{lrule.basis} = {lo_t[int(inverse[0])]}; {lrule.method}: standard {yuan(w.std[0])}",
            )
    normal = ~decided & ~high & ~low
    nrows = rows[normal]
    w.std[nrows] = standard[normal]
    w.std_ok[nrows] = True
    if traced and normal[0]:
        w.trace(True, f"normal case: paid the group standard {yuan(w.std[0])}")
    return finish(split_and_finish(w, policy, "weight"), policy)


def dec_or(value: float) -> Decimal | None:
    """Float weight back to Decimal (None for NaN), for describing tiers."""
    return None if value != value else dec(value)
