"""预付金 (advance funds), the ledger of advances and monthly settlements, and 年度清算 (annual clearing).

Why: a fund disburses about one month of a hospital's usual settlement early in the year so that reform does
not starve its cash flow, pays monthly settlements during the year, and at year end compares what the hospital
is owed under the policy with what it was paid. Every amount is integer fen; every share is applied exactly
and rounded once, half up.

Clearing, per hospital (all sums exact):

- payable P = Σ ``fund_payment`` of its cases under the policy; item amount I = Σ ``fund_paid`` (what the fund
  would have paid by item);
- P ≥ I: surplus S = P − I, the hospital keeps ``retained`` = Σ band share × part of S in the band (结余留用),
  settled = I + retained;
- P < I: overspend O = I − P, the fund bears ``shared`` = Σ band share × part of O in the band (合理超支分担),
  settled = P + shared;
- balance = settled − monthly settlements paid − advance outstanding; positive: the fund owes the hospital,
  negative: the hospital owes the fund (the advance is offset here).

Bands are fractions of P (``up_to``), e.g. surplus up to 10 % of P kept in full, above that half.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from drgpay.payment._exact import fen_array_to_yuan, fraction_round_half_up, yuan_array_to_fen
from drgpay.payment.errors import PaymentInputError, describe_rows
from drgpay.payment.policy import AdvanceRule, ClearingRule, DipPolicy, DrgPolicy, ShareTier

__all__ = [
    "LEDGER_KINDS",
    "advance_eligibility",
    "annual_clearing",
    "build_ledger",
    "compute_advances",
    "tiered_share",
]

#: Ledger entry kinds; amounts are positive when the fund pays the hospital.
LEDGER_KINDS = ("advance", "advance_recovery", "settlement", "clearing")

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def _advance_rule(rule: AdvanceRule | DrgPolicy | DipPolicy) -> AdvanceRule:
    return rule.settlement.advance if isinstance(rule, DrgPolicy | DipPolicy) else rule


def _clearing_rule(rule: ClearingRule | DrgPolicy | DipPolicy) -> ClearingRule:
    return rule.settlement.clearing if isinstance(rule, DrgPolicy | DipPolicy) else rule


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str, hint: str = "") -> None:
    """Raise naming the first of ``columns`` that ``frame`` (``what``) lacks."""
    for column in columns:
        if column not in frame.columns:
            raise PaymentInputError(f"{what}: missing column {column!r}{hint}")


def _fen_column(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    _require(frame, (column,), what)
    fen, ok, bad = yuan_array_to_fen(frame[column].reset_index(drop=True))
    wrong = np.flatnonzero(bad | ~ok)
    if len(wrong):
        raise PaymentInputError(
            f"{what}: column {column!r} missing or not an amount in row(s) {describe_rows(frame, wrong)}"
        )
    return fen


def advance_eligibility(hospitals: pd.DataFrame, rule: AdvanceRule | DrgPolicy | DipPolicy) -> pd.DataFrame:
    """Which hospitals pass every gate of the advance rule: ``hospital_id``, ``eligible``, ``failed`` (gate
    texts).

    A gate compares a column of ``hospitals`` with a value (numbers numerically); a missing value fails it.
    """
    rule = _advance_rule(rule)
    _require(hospitals, ("hospital_id",), "hospitals")
    missing = sorted({g.column for g in rule.gates} - set(hospitals.columns))
    if missing:
        raise PaymentInputError(
            f"hospitals: missing column(s) {', '.join(missing)} named by the advance gates"
        )
    failed: list[list[str]] = [[] for _ in range(len(hospitals))]
    for gate in rule.gates:
        values = hospitals[gate.column]
        target = gate.value
        if isinstance(target, int | float | Decimal) and not isinstance(target, bool):
            values = pd.to_numeric(values, errors="coerce")
            target = float(target)
        for pos, v in enumerate(values):
            ok = not pd.isna(v) and bool(_OPS[gate.op](v, target))
            if not ok:
                failed[pos].append(f"{gate.column} {gate.op} {gate.value}")
    return pd.DataFrame(
        {
            "hospital_id": hospitals["hospital_id"].astype(str).to_numpy(),
            "eligible": [not f for f in failed],
            "failed": ["; ".join(f) for f in failed],
        }
    )


def _round_to(amount: Fraction, step: Decimal) -> int:
    """Fen amount rounded half up to a multiple of ``step`` yuan (a whole number of fen)."""
    step_fen = Fraction(step) * 100
    if step_fen <= 0 or step_fen.denominator != 1:
        raise PaymentInputError(f"advance round_to must be a positive multiple of 0.01 yuan; got {step}")
    return int(fraction_round_half_up(amount / step_fen, 0)) * int(step_fen)


def compute_advances(
    settlements: pd.DataFrame,
    rule: AdvanceRule | DrgPolicy | DipPolicy,
    *,
    hospitals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Advance per hospital from its prior monthly settlements (``hospital_id``, ``period``, ``amount`` yuan).

    advance = (Σ of the last ``history_months`` monthly amounts / number of those months) × ``months`` ×
    ``ratio``, capped at ``cap``, rounded half up to a multiple of ``round_to``; 0 for hospitals that fail a
    gate (``hospitals`` table) or have no history.
    """
    rule = _advance_rule(rule)
    _require(settlements, ("hospital_id", "period", "amount"), "settlements")
    fen = _fen_column(settlements, "amount", "settlements")
    frame = pd.DataFrame(
        {
            "hospital_id": settlements["hospital_id"].astype(str).to_numpy(),
            "period": pd.PeriodIndex(pd.to_datetime(settlements["period"].astype(str)), freq="M").astype(str),
            "fen": fen,
        }
    )
    monthly = frame.groupby(["hospital_id", "period"], sort=True)["fen"].sum().reset_index()
    eligible: dict[str, tuple[bool, str]] = {}
    if hospitals is not None:
        gates = advance_eligibility(hospitals, rule)
        eligible = {h: (e, f) for h, e, f in gates.itertuples(index=False)}
    ids = list(dict.fromkeys(list(monthly["hospital_id"]) + list(eligible)))
    rows = []
    for hid in ids:
        hist = monthly[monthly["hospital_id"] == hid].tail(rule.history_months)
        ok, failed = eligible.get(hid, (True, ""))
        n = len(hist)
        average = Fraction(int(hist["fen"].sum()), n) if n else Fraction(0)
        amount = average * Fraction(rule.months) * Fraction(rule.ratio)
        if rule.cap is not None:
            amount = min(amount, Fraction(rule.cap) * 100)
        advance = _round_to(amount, rule.round_to) if ok and n else 0
        reason = "" if ok and n else ("failed gates: " + failed if not ok else "no settlement history")
        rows.append(
            {
                "hospital_id": hid,
                "months_used": n,
                "monthly_average": float(fraction_round_half_up(average / 100, 2)),
                "advance": advance / 100,
                "eligible": ok,
                "reason": reason,
            }
        )
    return pd.DataFrame(
        rows, columns=["hospital_id", "months_used", "monthly_average", "advance", "eligible", "reason"]
    )


def build_ledger(
    advances: pd.DataFrame,
    settlements: pd.DataFrame,
    *,
    advance_date: dt.date | str | None = None,
) -> pd.DataFrame:
    """A ledger of what the fund paid each hospital: advances and the year's monthly settlements.

    ``advances``: ``hospital_id``, ``advance`` (yuan) and optionally ``date`` (else ``advance_date``);
    ``settlements``: ``hospital_id``, ``period`` (month) and ``amount``. Returns ``date``, ``hospital_id``,
    ``kind`` (``advance`` / ``settlement``), ``amount`` and ``balance`` (running total per hospital), sorted
    by hospital then date. Add ``advance_recovery`` rows (negative amounts) for advances taken back during the
    year.
    """
    fen_a = _fen_column(advances, "advance", "advances")
    if "date" in advances.columns:
        dates_a = pd.to_datetime(advances["date"].astype(str)).to_numpy()
    elif advance_date is not None:
        dates_a = np.full(len(advances), np.datetime64(pd.Timestamp(str(advance_date))))
    else:
        raise PaymentInputError("advances: give a 'date' column or advance_date=")
    fen_s = _fen_column(settlements, "amount", "settlements")
    period = pd.to_datetime(settlements["period"].astype(str))
    dates_s = (period + pd.offsets.MonthEnd(0)).to_numpy()
    kind_s = settlements["kind"].astype(str).to_numpy() if "kind" in settlements.columns else "settlement"
    ledger = pd.concat(
        [
            pd.DataFrame(
                {
                    "date": dates_a,
                    "hospital_id": advances["hospital_id"].astype(str).to_numpy(),
                    "kind": "advance",
                    "fen": fen_a,
                }
            ),
            pd.DataFrame(
                {
                    "date": dates_s,
                    "hospital_id": settlements["hospital_id"].astype(str).to_numpy(),
                    "kind": kind_s,
                    "fen": fen_s,
                }
            ),
        ],
        ignore_index=True,
    )
    bad = sorted(set(ledger["kind"]) - set(LEDGER_KINDS))
    if bad:
        raise PaymentInputError(f"ledger: unknown kind(s) {bad}; use {', '.join(LEDGER_KINDS)}")
    ledger = ledger.sort_values(["hospital_id", "date", "kind"], kind="stable").reset_index(drop=True)
    balance = ledger.groupby("hospital_id")["fen"].cumsum()
    ledger["amount"] = fen_array_to_yuan(ledger["fen"].to_numpy(), np.ones(len(ledger), bool))
    ledger["balance"] = fen_array_to_yuan(balance.to_numpy(), np.ones(len(ledger), bool))
    ledger["date"] = pd.to_datetime(ledger["date"]).dt.date
    return ledger[["date", "hospital_id", "kind", "amount", "balance"]]


def tiered_share(amount_fen: int, payable_fen: int, tiers: tuple[ShareTier, ...]) -> Fraction:
    """Σ share × the part of ``amount`` inside each band (band bounds are fractions of ``payable``), exact."""
    total = Fraction(0)
    lower = Fraction(0)
    amount = Fraction(amount_fen)
    for tier in tiers:
        upper = amount if tier.up_to is None else min(amount, Fraction(tier.up_to) * payable_fen)
        if upper > lower:
            total += (upper - lower) * Fraction(tier.share)
        lower = max(lower, upper)
        if lower >= amount:
            break
    return total


def annual_clearing(
    paid_cases: pd.DataFrame,
    ledger: pd.DataFrame,
    rule: ClearingRule | DrgPolicy | DipPolicy,
    *,
    by: str = "hospital_id",
) -> pd.DataFrame:
    """年度清算 per hospital (see the module notes): payable, item amount, surplus or overspend, retained or
    shared, settled, paid during the year, advance outstanding, balance, and the amounts owed either way.

    ``paid_cases``: the year's cases with ``hospital_id``, ``fund_payment`` (from :func:`pay`) and
    ``fund_paid``; cases without a ``fund_payment`` (not paid under the policy) count in ``unpaid_cases`` and
    are left out of both sums. ``ledger``: from :func:`build_ledger`.
    """
    rule = _clearing_rule(rule)
    _require(paid_cases, (by, "fund_payment", "fund_paid"), "paid cases", " (join pay() output to the cases)")
    pay_fen, pay_ok, _ = yuan_array_to_fen(paid_cases["fund_payment"].reset_index(drop=True))
    item_fen, item_ok, item_bad = yuan_array_to_fen(paid_cases["fund_paid"].reset_index(drop=True))
    wrong = np.flatnonzero(pay_ok & (~item_ok | item_bad))
    if len(wrong):
        raise PaymentInputError(
            f"paid cases: fund_paid missing or not an amount in row(s) {describe_rows(paid_cases, wrong)}"
        )
    _require(ledger, ("hospital_id", "kind", "amount"), "ledger")
    led_fen = _fen_column(ledger, "amount", "ledger")
    led = pd.DataFrame(
        {
            "h": ledger["hospital_id"].astype(str).to_numpy(),
            "kind": ledger["kind"].astype(str).to_numpy(),
            "fen": led_fen,
        }
    )
    cases = pd.DataFrame(
        {
            "h": paid_cases[by].astype(str).to_numpy(),
            "pay": np.where(pay_ok, pay_fen, 0),
            "item": np.where(pay_ok, item_fen, 0),
            "ok": pay_ok,
        }
    )
    ids = sorted(set(cases["h"]) | set(led["h"]))
    per_case = cases.groupby("h").agg(
        cases=("ok", "size"), paid=("ok", "sum"), pay=("pay", "sum"), item=("item", "sum")
    )
    rows = []
    for hid in ids:
        if hid in per_case.index:
            rec = per_case.loc[hid]
            n, n_paid, payable, item = int(rec["cases"]), int(rec["paid"]), int(rec["pay"]), int(rec["item"])
        else:
            n = n_paid = payable = item = 0
        mine = led[led["h"] == hid]
        monthly = int(mine.loc[mine["kind"] == "settlement", "fen"].sum())
        advance = int(mine.loc[mine["kind"].isin(["advance", "advance_recovery"]), "fen"].sum())
        cleared_before = int(mine.loc[mine["kind"] == "clearing", "fen"].sum())
        diff = payable - item
        surplus = max(diff, 0)
        overspend = max(-diff, 0)
        retained = int(fraction_round_half_up(tiered_share(surplus, payable, rule.surplus_tiers), 0))
        shared = int(fraction_round_half_up(tiered_share(overspend, payable, rule.overspend_tiers), 0))
        settled = item + retained if diff >= 0 else payable + shared
        balance = settled - monthly - advance - cleared_before
        rows.append(
            {
                "hospital_id": hid,
                "cases": n,
                "unpaid_cases": n - n_paid,
                "payable": payable,
                "item_fund": item,
                "surplus": surplus,
                "overspend": overspend,
                "retained": retained,
                "shared": shared,
                "settled": settled,
                "monthly_paid": monthly,
                "advance": advance,
                "balance": balance,
                "owed_to_hospital": max(balance, 0),
                "owed_to_fund": max(-balance, 0),
            }
        )
    out = pd.DataFrame(rows)
    money_cols = [c for c in out.columns if c not in ("hospital_id", "cases", "unpaid_cases")]
    for col in money_cols:
        out[col] = out[col].astype("int64") / 100
    return out
