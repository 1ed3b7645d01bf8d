"""Shared machinery of DRG and DIP payment: input checks, per-row state, fallback rules, fund split, output.

Why one place: both schemes read the same canonical columns, refuse the same bad input, pay off-path cases by
the same fallback rules and split a standard into fund and patient payments the same way. Each scheme module
(``drg_pay``, ``dip_pay``) only decides which rows take which path and what their standard is.

Rows are processed as numpy arrays; exact ``Decimal`` work happens once per distinct combination of factors
(normal cases) or per row only for the few rows that need it (outliers, fallbacks, rules). A :class:`Tracer`
records the steps for the first row when a single case is explained.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

import attrs
import numpy as np
import pandas as pd

from drgpay.money import div_round_half_up
from drgpay.payment._exact import (
    dec,
    decimal_to_fen,
    exact_ints,
    fen_array_to_yuan,
    fen_to_decimal,
    fraction_arrays,
    fraction_round_half_up,
    yuan_array_to_fen,
)
from drgpay.payment.errors import PaymentInputError, PolicyDateError, describe_rows
from drgpay.payment.keys import normalize_many
from drgpay.payment.policy import CASE_TYPES, CaseRule, DipPolicy, DrgPolicy, FallbackRule
from drgpay.schema import DateFormatError, parse_dates, parse_numeric_column

__all__ = [
    "STATUSES",
    "Tracer",
    "Work",
    "check_dates",
    "finish",
    "per_diem_reasons",
    "per_diem_share",
    "prepare",
]

STATUSES = ("grouped", "ambiguous", "ungroupable", "invalid")
_QY = re.compile(r"^[A-Z]QY$")


@attrs.define
class Tracer:
    """Collects readable steps for the first row of a frame (used by ``explain_payment``)."""

    steps: list[str] = attrs.field(factory=list)

    def add(self, text: str) -> None:
        """Record one step."""
        self.steps.append(text)


def yuan(fen: int) -> str:
    """Fen as a readable yuan amount with thousands separators."""
    return f"{fen_to_decimal(fen):,}"


@attrs.define(eq=False)
class Work:
    """Per-row inputs (parsed) and outputs (filled stage by stage) of one payment run."""

    frame: pd.DataFrame
    group: np.ndarray
    status: np.ndarray
    greason: np.ndarray
    #: per row, the first unusable value payment found ("" for none): such rows are paid as ``invalid``
    bad: np.ndarray
    #: whether group codes are matched in upper case (DRG)
    upper: bool
    cost: np.ndarray
    cost_ok: np.ndarray
    self_fen: np.ndarray
    self_ok: np.ndarray
    fund_fen: np.ndarray
    fund_ok: np.ndarray
    los: np.ndarray
    dtype: np.ndarray
    ins: np.ndarray
    level: np.ndarray
    hosp: np.ndarray
    tracer: Tracer | None = None
    case_type: np.ndarray = attrs.field(init=False)
    reason: np.ndarray = attrs.field(init=False)
    std: np.ndarray = attrs.field(init=False)
    std_ok: np.ndarray = attrs.field(init=False)
    amount: np.ndarray = attrs.field(init=False)
    by_item: np.ndarray = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        n = len(self.frame)
        self.case_type = np.full(n, None, dtype=object)
        self.reason = np.full(n, "", dtype=object)
        self.std = np.zeros(n, dtype="int64")
        self.std_ok = np.zeros(n, dtype=bool)
        self.amount = np.full(n, np.nan)  # weight (DRG) or points (DIP)
        self.by_item = np.zeros(n, dtype=bool)

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.frame)

    def per_group(self, func: Callable[[str], object], dtype: str = "bool") -> np.ndarray:
        """``func(code)`` evaluated once per distinct group code, broadcast to the rows."""
        codes, uniques = pd.factorize(pd.Series(self.group, dtype="object"))
        values = np.array([func(str(u)) for u in uniques], dtype=dtype)
        return values[codes] if len(uniques) else np.zeros(self.n, dtype=dtype)

    def codes(self, codes: Sequence[str]) -> list[str]:
        """Group codes named by the policy (case rules, exclusions), in the case the rows' codes are held."""
        return [c.strip().upper() for c in codes] if self.upper else list(codes)

    def pending(self) -> np.ndarray:
        """Rows whose path is not decided yet."""
        return np.asarray(pd.isna(self.case_type), dtype=bool)

    def group_isin(self, codes: Sequence[str]) -> np.ndarray:
        """Rows whose group is one of the policy's ``codes``."""
        return np.isin(self.group, self.codes(codes))

    def mark_rule(self, rows: np.ndarray, rule: CaseRule) -> None:
        """Rows ``rows`` take a case rule: its case type and the reason ``rule:<name>``."""
        self.case_type[rows] = rule.case_type
        self.reason[rows] = f"rule:{rule.name}"

    def assign(self, mask: np.ndarray, case_type: str, reason: str | np.ndarray) -> None:
        """Decide the path of ``mask`` rows."""
        self.case_type[mask] = case_type
        self.reason[mask] = reason if isinstance(reason, str) else reason[mask]

    def traced(self, mask: np.ndarray | bool) -> bool:
        """Whether the traced row (the first) is in ``mask`` and a tracer is on."""
        if self.tracer is None or self.n == 0:
            return False
        return bool(mask if isinstance(mask, bool | np.bool_) else mask[0])

    def trace(self, mask: np.ndarray | bool, text: str | Callable[[], str]) -> None:
        """Record a step when the traced row is in ``mask``."""
        if self.traced(mask):
            assert self.tracer is not None
            self.tracer.add(text() if callable(text) else text)


# --------------------------------------------------------------------------------------------- input


def _money(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    if column not in frame.columns:
        n = len(frame)
        return np.zeros(n, dtype="int64"), np.zeros(n, dtype=bool)
    fen, ok, bad = yuan_array_to_fen(frame[column].reset_index(drop=True))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise PaymentInputError(f"column {column!r}: not an amount in row(s) {describe_rows(frame, rows)}")
    negative = np.flatnonzero(ok & (fen < 0))
    if len(negative):
        raise PaymentInputError(
            f"column {column!r}: negative amount in row(s) {describe_rows(frame, negative)}; "
            "refunds and reversals are not discharges"
        )
    return fen, ok


def _text_column(frame: pd.DataFrame, column: str, *, upper: bool = False, lower: bool = False) -> np.ndarray:
    """A column as stripped text (object array, "" where missing); floats like ``3.0`` read as ``3``; in
    upper or lower case when asked (each distinct value converted once)."""
    if column not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    series = frame[column]
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [_cell_text(u) for u in uniques]
    if upper or lower:
        texts = [s.upper() if upper else s.lower() for s in texts]
    return np.array([*texts, ""], dtype=object)[codes]


def _flag(bad: np.ndarray, mask: np.ndarray, word: str) -> None:
    """Give rows of ``mask`` not flagged yet the reason ``word`` (the first problem found names the row)."""
    bad[mask & (bad == "")] = word


def _checked_numbers(frame: pd.DataFrame, column: str, bad: np.ndarray) -> np.ndarray:
    """A numeric column read and range-checked as grouping reads it (:func:`drgpay.schema.parse_numeric_column`:
    LOS 0–3650 days …); unusable values are NaN and flag their rows ``invalid_<column>``, as ``group`` does."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values, unusable = parse_numeric_column(frame[column], column)
    _flag(bad, unusable, f"invalid_{column}")
    return values


def _cell_text(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def factorize_rows(*arrays: np.ndarray) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Codes of each row's combination of values and the distinct combinations, in order of appearance."""
    n = len(arrays[0])
    if not n:
        return np.zeros(0, dtype="int64"), []
    key = np.zeros(n, dtype="int64")
    levels = []
    for values in arrays:  # one integer key per row, compacted after each column so it never overflows
        codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
        key, _ = pd.factorize(key * len(uniques) + codes)
        levels.append((codes, np.asarray(uniques, dtype=object)))
    key = np.asarray(key, dtype="int64")
    first = np.zeros(int(key.max()) + 1, dtype="int64")
    first[key[::-1]] = np.arange(n - 1, -1, -1)  # the first row of each combination
    columns = [uniques[codes[first]] for codes, uniques in levels]
    return key, list(zip(*columns, strict=True))


def coefficient(policy: DrgPolicy | DipPolicy, level: str, hosp: str) -> tuple[Decimal, str] | None:
    """The coefficient of a hospital and level, with where it comes from: the hospital's own, else its level's,
    else the policy default; None when there is none."""
    if hosp and hosp in policy.hospital_coefficients:
        return policy.hospital_coefficients[hosp], f"hospital {hosp}"
    if level in policy.level_coefficients:
        return policy.level_coefficients[level], f"level {level}"
    if policy.default_coefficient is not None:
        return policy.default_coefficient, "default"
    return None


def resolve_factors(
    w: Work,
    policy: DrgPolicy | DipPolicy,
    price: Callable[[str, str], int],
    uniform: np.ndarray,
    uniform_text: str,
) -> tuple[np.ndarray, np.ndarray, list[tuple[Decimal, str] | None]]:
    """Per row: the index of its price (base rate or point value, -1 for none) and of its coefficient.

    ``price(insurance, level)`` and :func:`coefficient` are called once per distinct key; rows flagged
    ``uniform`` (basic groups paid alike everywhere) get coefficient 1.
    """
    codes, uniques = factorize_rows(w.ins, w.level, w.hosp)
    coefs: list[tuple[Decimal, str] | None] = []
    price_u = np.zeros(len(uniques), dtype="int64")
    coef_u = np.zeros(len(uniques), dtype="int64")
    for k, (ins, level, hosp) in enumerate(uniques):
        price_u[k] = price(str(ins), str(level))
        coef_u[k] = len(coefs)
        coefs.append(coefficient(policy, str(level), str(hosp)))
    price_id = price_u[codes] if len(codes) else np.zeros(0, dtype="int64")
    coef_id = coef_u[codes] if len(codes) else np.zeros(0, dtype="int64")
    if uniform.any():
        coef_id = coef_id.copy()
        coef_id[uniform] = len(coefs)
        coefs.append((Decimal(1), uniform_text))
    return price_id, coef_id, coefs


def _needs(policy: DrgPolicy | DipPolicy) -> tuple[bool, bool]:
    """Whether the policy reads ``los`` and ``discharge_type``."""
    rules: Sequence[CaseRule] = policy.case_rules
    needs_los = policy.exclusions.max_los is not None or any(r.needs_los for r in rules)
    needs_type = any(r.discharge_types for r in rules)
    return needs_los, needs_type


def prepare(
    cases: pd.DataFrame, group_column: str, policy: DrgPolicy | DipPolicy, tracer: Tracer | None = None
) -> Work:
    """Check and parse the columns payment reads; raise :class:`PaymentInputError` naming columns or rows."""
    if not isinstance(cases, pd.DataFrame):
        raise PaymentInputError(f"cases must be a pandas DataFrame, got {type(cases).__name__}")
    needs_los, needs_type = _needs(policy)
    required = [group_column, "total_cost"]
    if needs_los:
        required.append("los")
    if needs_type:
        required.append("discharge_type")
    missing = [c for c in required if c not in cases.columns]
    if missing:
        hint = (
            " (join the grouping output first: cases = df.join(drgpay.group(df)))"
            if group_column in missing
            else ""
        )
        raise PaymentInputError(f"missing column(s) {', '.join(missing)}{hint}")
    n = len(cases)
    upper = isinstance(policy, DrgPolicy)  # DRG codes are matched as the groupers write them: upper case
    group = _text_column(cases, group_column, upper=upper)
    greason = _text_column(cases, "reason")
    bad = np.full(n, "", dtype=object)
    if "status" in cases.columns:
        status = _text_column(cases, "status", lower=True)
        unknown = np.flatnonzero(~np.isin(status, [*STATUSES, ""]))
        if len(unknown):
            values = sorted({str(v) for v in status[unknown]})
            raise PaymentInputError(
                f"column 'status': unknown value(s) {', '.join(map(repr, values))} in row(s) "
                f"{describe_rows(cases, unknown)}; expected one of {', '.join(STATUSES)}"
            )
        _flag(bad, status == "", "missing_status")  # a row the grouping did not reach is not grouped
    else:
        # codes from an insurer's own file, no grouping columns: infer the status from the code
        status = np.where(
            np.isin(group, ["", "0000"]),
            "ungroupable",
            np.where([bool(_QY.match(g)) for g in group], "ambiguous", "grouped"),
        ).astype(object)
    los, dtype = (_checked_numbers(cases, column, bad) for column in ("los", "discharge_type"))
    cost, cost_ok = _money(cases, "total_cost")
    self_fen, self_ok = _money(cases, "self_paid")
    fund_fen, fund_ok = _money(cases, "fund_paid")
    _flag(bad, cost_ok & fund_ok & (fund_fen > cost), "fund_paid_above_total_cost")
    _flag(bad, cost_ok & self_ok & (self_fen > cost), "self_paid_above_total_cost")
    _flag(bad, cost_ok & fund_ok & self_ok & (fund_fen + self_fen > cost), "paid_above_total_cost")
    return Work(
        frame=cases,
        group=group,
        status=status,
        greason=greason,
        bad=bad,
        upper=upper,
        cost=cost,
        cost_ok=cost_ok,
        self_fen=self_fen,
        self_ok=self_ok,
        fund_fen=fund_fen,
        fund_ok=fund_ok,
        los=los,
        dtype=dtype,
        ins=normalize_many(cases["insurance_type"], "insurance")
        if "insurance_type" in cases.columns
        else np.full(n, "", dtype=object),
        level=normalize_many(cases["hospital_level"], "level")
        if "hospital_level" in cases.columns
        else np.full(n, "", dtype=object),
        hosp=_text_column(cases, "hospital_id"),
        tracer=tracer,
    )


def check_dates(cases: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> np.ndarray:
    """Refuse cases discharged outside the policy's range (:class:`PolicyDateError` naming rows).

    Returns the mask of rows with no discharge date (paid as ``excluded``, ``payment_reason``
    ``missing_discharge_date``). Without a ``discharge_date`` column nothing can be checked: a ``UserWarning``
    says so and every row is paid.
    """
    n = len(cases)
    if "discharge_date" not in cases.columns:
        warnings.warn(
            f"no discharge_date column: the date range of policy {policy.name!r} "
            f"({policy.effective_from} to {policy.effective_to}) was not checked",
            UserWarning,
            stacklevel=3,
        )
        return np.zeros(n, dtype=bool)
    try:  # one form for the whole column, never day/month guessed value by value (drgpay.schema.parse_dates)
        parsed = parse_dates(cases["discharge_date"])
    except DateFormatError as exc:
        raise PaymentInputError(
            f"column 'discharge_date': {exc.problem}: row(s) {describe_rows(cases, exc.positions)}"
        ) from None
    missing = parsed.isna().to_numpy()
    start = pd.Timestamp(policy.effective_from)
    end = pd.Timestamp(policy.effective_to) + pd.Timedelta(days=1)
    values = pd.DatetimeIndex(parsed)
    if values.tz is not None:
        values = values.tz_localize(None)
    outside = np.flatnonzero(~missing & ((values < start) | (values >= end)))
    if len(outside):
        raise PolicyDateError(
            f"{len(outside)} case(s) discharged outside policy {policy.name!r} "
            f"(effective {policy.effective_from} to {policy.effective_to}): "
            f"row(s) {describe_rows(cases, outside)}",
            rows=[cases.index[int(i)] for i in outside],
        )
    return missing


# --------------------------------------------------------------------------------------------- paying


def round_fen(value: Decimal | Fraction) -> int:
    """Exact yuan amount → fen, rounded once half up."""
    if isinstance(value, Fraction):
        return int(fraction_round_half_up(value * 100, 0))
    return decimal_to_fen(value)


def times_ratio(fen: np.ndarray, ratio: Decimal) -> np.ndarray:
    """Amounts in fen × an exact ratio, each rounded once, half up (vectorised, exact)."""
    num, den = Fraction(ratio).as_integer_ratio()
    return div_round_half_up(exact_ints(fen) * num, den)


#: How a fallback's "weight" is priced for one row: (unit price per weight or point, description) or a reason.
UnitPrice = Callable[[int], tuple[Decimal, str] | str]
TableValue = Callable[[str], Decimal | None]


def pay_fallback(
    w: Work,
    mask: np.ndarray,
    rule: FallbackRule,
    case_type: str,
    reason: str | np.ndarray,
    unit_price: UnitPrice,
    table_value: TableValue,
    unit_word: str,
) -> None:
    """Pay ``mask`` rows by a fallback rule and record case type and reason."""
    w.assign(mask, case_type, reason)
    rows = np.flatnonzero(mask)
    if not len(rows):
        return
    w.trace(mask, lambda: f"path: {case_type} ({w.reason[0]}); paid by the policy's rule: {rule.method}")
    if rule.method == "none":
        w.trace(mask, "rule 'none': not paid under this policy; amounts left empty")
        return
    if rule.method in ("by_item", "cost_ratio"):
        no_cost = rows[~w.cost_ok[rows]]
        w.reason[no_cost] = [f"{r};missing_total_cost" for r in w.reason[no_cost]]
        rows = rows[w.cost_ok[rows]]
        if rule.method == "by_item":
            w.std[rows] = w.cost[rows]
            w.std_ok[rows] = True
            w.by_item[rows] = True
            w.trace(w.cost_ok[0] and mask[0], lambda: f"by item: standard = total cost {yuan(w.cost[0])}")
            return
        assert rule.ratio is not None
        w.std[rows] = times_ratio(w.cost[rows], rule.ratio)
        w.std_ok[rows] = True
        w.trace(
            w.cost_ok[0] and mask[0],
            lambda: (
                f"cost ratio: standard = total cost {yuan(w.cost[0])} × {rule.ratio} → {yuan(w.std[0])}"
                " (rounded once, half up)"
            ),
        )
        return
    # method == "weight": a fixed weight (or the table's value for the code) × unit price
    for i in rows:
        weight = rule.weight if rule.weight is not None else table_value(w.group[i])
        if weight is None:
            w.reason[i] = f"{w.reason[i]};no_{unit_word}_for_{w.group[i] or 'blank'}"
            continue
        priced = unit_price(int(i))
        if isinstance(priced, str):
            w.reason[i] = f"{w.reason[i]};{priced}"
            continue
        unit, text = priced
        exact = weight * unit
        w.std[i] = round_fen(exact)
        w.std_ok[i] = True
        w.amount[i] = float(weight)
        if i == 0:
            w.trace(
                True, f"{unit_word} {weight} × {text} = {exact} → {yuan(w.std[0])} (rounded once, half up)"
            )


#: ``fallback(mask, rule_name, case_type, reason)``: pay ``mask`` rows by the policy's fallback rule ``rule_name``.
Fallback = Callable[[np.ndarray, str, str, str | np.ndarray], None]


def fallback_payer(
    w: Work, policy: DrgPolicy | DipPolicy, unit_price: UnitPrice, table_value: TableValue, unit_word: str
) -> Fallback:
    """The :data:`Fallback` of one payment run (see :func:`pay_fallback`)."""

    def fallback(mask: np.ndarray, rule_name: str, case_type: str, reason: str | np.ndarray) -> None:
        rule = getattr(policy, rule_name)
        pay_fallback(w, mask, rule, case_type, reason, unit_price, table_value, unit_word)

    return fallback


def off_path_stage(
    w: Work,
    policy: DrgPolicy | DipPolicy,
    missing_date: np.ndarray,
    fallback: Fallback,
    *,
    ambiguous_rule: bool,
) -> None:
    """Pay, in this order, invalid rows, rows excluded before grouping (:func:`exclusion_stage`), ungroupable
    rows, ambiguous rows (by their own rule when the scheme has one, else as ungroupable) and rows of a group
    the policy excludes, each by its fallback rule."""
    invalid, ungroupable, ambiguous = invalid_and_offpath(w)
    if not ambiguous_rule:
        ungroupable |= ambiguous
    reason = with_grouping_reason(w, invalid, "invalid")
    flagged = invalid & (w.status != "invalid")  # grouped, but a value payment reads is unusable
    reason[flagged] = [f"invalid:{word}" for word in w.bad[flagged]]
    fallback(invalid, "invalid", "excluded", reason)
    excluded = exclusion_stage(w, policy, missing_date)
    fallback(excluded, "excluded", "excluded", w.reason.copy())
    ungroupable &= w.pending()
    fallback(ungroupable, "ungroupable", "ungroupable", with_grouping_reason(w, ungroupable, "ungroupable"))
    if ambiguous_rule:
        ambiguous &= w.pending()
        fallback(ambiguous, "ambiguous", "ambiguous", with_grouping_reason(w, ambiguous, "ambiguous"))
    listed = w.pending() & np.isin(w.group, w.codes(policy.exclusions.groups))
    fallback(listed, "excluded", "excluded", "excluded_group")


def unpaid_stage(
    w: Work, no_price: np.ndarray, price_reason: str, price_text: str, no_coefficient: np.ndarray
) -> None:
    """Pending rows without a price (base rate or point value), a coefficient or a total cost: ``excluded``,
    not paid, in that order of reasons."""
    for mask, reason, text in (
        (no_price, price_reason, price_text),
        (
            no_coefficient,
            "no_coefficient",
            "no coefficient for this hospital or level and no default: not paid",
        ),
        (~w.cost_ok, "missing_total_cost", "no total cost: not paid"),
    ):
        unpaid = w.pending() & mask
        w.assign(unpaid, "excluded", reason)
        w.trace(unpaid, text)


def per_diem_share(
    los: np.ndarray, mean_los: Sequence[Decimal | None], of: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """min(1, LOS / mean LOS) of each row, exact (numerators, denominators), and whether it is known: the row has
    a LOS and its group a mean LOS.

    ``mean_los`` holds one value per group (None or not positive: none) and ``of`` each row's group; a LOS is
    read as its shortest decimal, once per distinct value. A row without a LOS (NaN) gets share 1 and is not
    known (see :func:`per_diem_reasons`).
    """
    usable = [m if m is not None and m > 0 else None for m in mean_los]
    known = np.array([m is not None for m in usable], dtype=bool)[of] & ~np.isnan(los)
    m_num, m_den = (part[of] for part in fraction_arrays([m or 1 for m in usable]))
    day_of, days = pd.factorize(np.where(np.isnan(los), 0.0, los))
    l_num, l_den = (part[day_of] for part in fraction_arrays([dec(float(x)) for x in days]))
    whole = (l_num * m_den >= l_den * m_num) | np.isnan(los)  # at or beyond the mean: the full amount
    return np.where(whole, 1, l_num * m_den), np.where(whole, 1, l_den * m_num), known


def per_diem_reasons(rule: str, los: np.ndarray) -> np.ndarray:
    """The reason of per-diem rows that cannot be paid: ``rule:<name>;missing_los`` for a row without a LOS (a
    per-diem rule that names no LOS bounds matches it), else ``rule:<name>;no_mean_los`` (the group has none)."""
    return np.where(np.isnan(los), f"rule:{rule};missing_los", f"rule:{rule};no_mean_los").astype(object)


def high_bounds(t_num: np.ndarray, t_den: np.ndarray, inclusive: bool) -> np.ndarray:
    """Smallest cost in fen that counts as high, for thresholds of ``t_num / t_den`` fen (exact; arrays of
    Python ints, see :func:`~drgpay.payment._exact.exact_ints`)."""
    floor, ceil = _floor_ceil(t_num, t_den)
    return np.asarray(ceil if inclusive else floor + 1, dtype="int64")


def low_bounds(t_num: np.ndarray, t_den: np.ndarray, inclusive: bool) -> np.ndarray:
    """Largest cost in fen that counts as low, for thresholds of ``t_num / t_den`` fen (exact)."""
    floor, ceil = _floor_ceil(t_num, t_den)
    return np.asarray(floor if inclusive else ceil - 1, dtype="int64")


def _floor_ceil(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return num // den, -((-num) // den)


def apply_amounts(
    w: Work, idx: np.ndarray, method: str, ratio: Decimal | None, standard_fen: np.ndarray
) -> None:
    """Standards of rows ``idx`` under a simple method: ``by_item`` (cost), ``standard`` (the group standard),
    ``standard_ratio`` (standard × ratio) or ``cost_ratio`` (cost × ratio); each rounded once, half up."""
    if method == "by_item":
        w.std[idx] = w.cost[idx]
        w.by_item[idx] = True
    elif method == "standard":
        w.std[idx] = standard_fen
    elif method in ("standard_ratio", "cost_ratio"):
        assert ratio is not None
        base = standard_fen if method == "standard_ratio" else w.cost[idx]
        w.std[idx] = times_ratio(base, ratio)
    else:  # pragma: no cover - methods are validated by the policy classes
        raise ValueError(f"unknown method {method!r}")
    w.std_ok[idx] = True


def outlier_bands(
    policy: DrgPolicy, decided: np.ndarray, cost: np.ndarray, high_bound: np.ndarray, low_bound: np.ndarray
) -> list[tuple[np.ndarray, Any, str, str]]:
    """The DRG outlier bands of priced rows no case rule ``decided``: ``(mask, rule, case type, reason)`` for
    high-cost (cost at or past the high bound), then low-cost (the rest at or under the low bound); a band's mask is
    all False when the policy has no such rule. Rows in neither band are normal."""
    none = np.zeros(len(cost), dtype=bool)
    high = ~decided & (cost >= high_bound) if policy.high_cost is not None else none
    low = ~decided & ~high & (cost <= low_bound) if policy.low_cost is not None else none
    return [
        (high, policy.high_cost, "high_cost", "cost_above_high_threshold"),
        (low, policy.low_cost, "low_cost", "cost_below_low_threshold"),
    ]


class RuleRows(Protocol):
    """What the case-rule matching reads and writes: :class:`Work` here, the fast path's work arrays too."""

    @property
    def n(self) -> int: ...

    @property
    def los(self) -> np.ndarray: ...

    @property
    def dtype(self) -> np.ndarray: ...

    def group_isin(self, codes: Sequence[str]) -> np.ndarray: ...

    def mark_rule(self, rows: np.ndarray, rule: CaseRule) -> None: ...


def rule_matches(w: RuleRows, rule: CaseRule, candidates: np.ndarray) -> np.ndarray:
    """Rows among ``candidates`` that a case rule applies to (missing los / discharge type never match)."""
    mask = candidates.copy()
    if rule.discharge_types:
        mask &= np.isin(w.dtype, np.array(rule.discharge_types, dtype="float64"))
    if rule.min_los is not None:
        mask &= w.los >= rule.min_los
    if rule.max_los is not None:
        mask &= w.los <= rule.max_los
    if rule.groups:
        mask &= w.group_isin(rule.groups)
    return mask


def case_rule_matches(
    w: RuleRows, rules: Sequence[CaseRule], rows: np.ndarray, decided: np.ndarray
) -> Iterator[tuple[CaseRule, np.ndarray]]:
    """Local case rules in order, first match wins: each rule that matches some of ``rows`` not yet
    ``decided``, with the positions (into ``rows``) of those rows; they are marked decided and get the rule's
    case type and the reason ``rule:<name>`` before the caller pays them."""
    for rule in rules:
        candidates = np.zeros(w.n, dtype=bool)
        candidates[rows[~decided]] = True
        hits = np.flatnonzero(rule_matches(w, rule, candidates)[rows])
        if not len(hits):
            continue
        decided[hits] = True
        w.mark_rule(rows[hits], rule)
        yield rule, hits


def exclusion_stage(w: Work, policy: DrgPolicy | DipPolicy, missing_date: np.ndarray) -> np.ndarray:
    """Rows excluded before grouping is looked at: missing date, uncovered insurance, overlong stay.

    Returns the mask of those rows with their reason set (the caller pays them by the ``excluded`` rule).
    """
    ex = policy.exclusions
    out = np.zeros(w.n, dtype=bool)
    reasons = np.full(w.n, "", dtype=object)
    pend = w.pending()
    checks = [(missing_date, "missing_discharge_date")]
    if ex.insurance_types:
        checks.append((np.isin(w.ins, list(ex.insurance_types)), "insurance_not_covered"))
    if ex.max_los is not None:
        checks.append((w.los > ex.max_los, f"los_over_{ex.max_los}"))
    for cond, word in checks:
        m = pend & ~out & cond
        reasons[m] = word
        out |= m
    w.reason[out] = reasons[out]
    return out


def invalid_and_offpath(w: Work) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of pending invalid rows (by status, or with a value payment cannot use), ungroupable and ambiguous
    rows (by status, or by code when no status)."""
    pend = w.pending()
    invalid = pend & ((w.status == "invalid") | (w.bad != ""))
    ungroupable = pend & ~invalid & ((w.status == "ungroupable") | np.isin(w.group, ["", "0000"]))
    ambiguous = pend & ~invalid & ~ungroupable & (w.status == "ambiguous")
    return invalid, ungroupable, ambiguous


def with_grouping_reason(w: Work, mask: np.ndarray, word: str) -> np.ndarray:
    """Reason text ``word`` or ``word:<grouping reason>`` for each row."""
    out = np.full(w.n, word, dtype=object)
    for i in np.flatnonzero(mask & (w.greason != "")):
        out[i] = f"{word}:{w.greason[i]}"
    return out


def split_and_finish(w: Work, policy: DrgPolicy | DipPolicy, amount_column: str) -> pd.DataFrame:
    """Split each standard into fund and patient payments, compute the surplus, and build the output frame.

    ``patient_payment`` is what the patient pays under the ordinary benefit rules: ``self_paid``, else total
    cost − ``fund_paid``; payment reform does not change it. ``fund_payment``: ``standard_minus_patient`` pays
    standard − patient payment (never below 0); ``fund_share`` pays standard × fund_paid / total_cost (rounded
    once). A ``by_item`` row is paid what the fund paid by item (``fund_paid`` when present).
    """
    patient = np.where(w.self_ok, w.self_fen, w.cost - w.fund_fen)
    patient_ok = w.self_ok | (w.cost_ok & w.fund_ok)
    fund = np.zeros(w.n, dtype="int64")
    fund_ok = w.std_ok & patient_ok
    if policy.fund_method == "standard_minus_patient":
        fund = np.maximum(w.std - patient, 0)
        item = w.by_item & w.fund_ok
        fund[item] = w.fund_fen[item]
        fund_ok = fund_ok | (w.std_ok & item)
    else:
        fund_ok = w.std_ok & patient_ok & w.cost_ok & w.fund_ok
        share = np.flatnonzero(fund_ok & (w.cost != 0))  # nothing paid by the fund of a zero cost
        fund[share] = div_round_half_up(
            exact_ints(w.std[share]) * exact_ints(w.fund_fen[share]), exact_ints(w.cost[share])
        )
    surplus_ok = w.std_ok & w.cost_ok
    surplus = w.std - w.cost
    if w.traced(w.std_ok):
        if w.traced(fund_ok):
            if policy.fund_method == "standard_minus_patient" and not (w.by_item[0] and w.fund_ok[0]):
                src = "self_paid" if w.self_ok[0] else "total_cost − fund_paid"
                w.trace(
                    True,
                    f"patient payment = {yuan(patient[0])} ({src}, unchanged by the policy); fund payment = "
                    f"standard {yuan(w.std[0])} − patient {yuan(patient[0])} = {yuan(fund[0])}"
                    + (" (not below 0)" if w.std[0] < patient[0] else ""),
                )
            elif policy.fund_method == "standard_minus_patient":
                w.trace(True, f"fund payment = fund_paid by item {yuan(fund[0])}; patient {yuan(patient[0])}")
            else:
                w.trace(
                    True,
                    f"fund payment = standard {yuan(w.std[0])} × fund_paid {yuan(w.fund_fen[0])} / total "
                    f"cost {yuan(w.cost[0])} = {yuan(fund[0])} (rounded once, half up); "
                    f"patient {yuan(patient[0])}",
                )
        else:
            w.trace(True, "no self_paid / fund_paid: fund and patient payments left empty")
        if w.cost_ok[0]:
            w.trace(True, f"surplus = standard − total cost = {yuan(surplus[0])}")
    normal = w.pending()
    w.case_type[normal] = "normal"
    index = w.frame.index
    out = pd.DataFrame(
        {
            "case_type": pd.Categorical(w.case_type.astype(str), categories=list(CASE_TYPES)),
            amount_column: w.amount,
            "standard": fen_array_to_yuan(w.std, w.std_ok),
            "fund_payment": fen_array_to_yuan(fund, fund_ok),
            "patient_payment": fen_array_to_yuan(patient, patient_ok & w.std_ok),
            "surplus": fen_array_to_yuan(surplus, surplus_ok),
            "payment_reason": w.reason.astype(str),
        },
        index=index,
    )
    out["payment_reason"] = out["payment_reason"].astype("str")
    return out


def _version() -> str:
    from drgpay import __version__

    return __version__


def finish(out: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> pd.DataFrame:
    """Record the policy identity in ``out.attrs['drgpay_payment']``."""
    out.attrs["drgpay_payment"] = {
        "scheme": policy.scheme,
        "policy": policy.name,
        "version": policy.version,
        "effective_from": policy.effective_from.isoformat(),
        "effective_to": policy.effective_to.isoformat(),
        "content_hash": policy.content_hash(),
        "drgpay_version": _version(),
    }
    return out
