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

from drgpay.payment import _engine as eng
from drgpay.payment._engine import Tracer, round_fen, yuan
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
            (policy.high_cost, hi_c, hi_t, eng.high_bound),
            (policy.low_cost, lo_c, lo_t, eng.low_bound),
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
    for crule, pos in eng.case_rule_matches(w, policy.case_rules, rows, decided):
        idx = rows[pos]
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
    cost = w.cost[rows]
    high = ~decided & (cost >= hi_c[inverse]) if policy.high_cost is not None else np.zeros(len(rows), bool)
    low = (
        ~decided & ~high & (cost <= lo_c[inverse])
        if policy.low_cost is not None
        else np.zeros(len(rows), bool)
    )
    for mask, rule, thresholds, case_type, reason in (
        (high, policy.high_cost, hi_t, "high_cost", "cost_above_high_threshold"),
        (low, policy.low_cost, lo_t, "low_cost", "cost_below_low_threshold"),
    ):
        pos = np.flatnonzero(mask)
        if rule is None or not len(pos):
            continue
        idx = rows[pos]
        w.case_type[idx] = case_type
        w.reason[idx] = reason
        if rule.method == "standard_plus_excess":  # high-cost only (the policy refuses it for low_cost)
            assert rule.ratio is not None
            for p, i in zip(pos, idx, strict=True):
                t_hi = thresholds[int(inverse[p])]
                assert t_hi is not None
                excess = (fen_to_decimal(int(w.cost[i])) - t_hi) * rule.ratio
                w.std[i] = round_fen(fen_to_decimal(int(standard[p])) + excess)
            w.std_ok[idx] = True
        else:
            eng.apply_amounts(w, idx, rule.method, rule.ratio, standard[pos])
        if traced and mask[0]:
            t0 = thresholds[int(inverse[0])]
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
    normal = ~decided & ~high & ~low
    nrows = rows[normal]
    w.std[nrows] = standard[normal]
    w.std_ok[nrows] = True
    if traced and normal[0]:
        w.trace(True, f"normal case: paid the group standard {yuan(w.std[0])}")
    return eng.finish(eng.split_and_finish(w, policy, "weight"), policy)


def dec_or(value: float) -> Decimal | None:
    """Float weight back to Decimal (None for NaN), for describing tiers."""
    return None if value != value else dec(value)
