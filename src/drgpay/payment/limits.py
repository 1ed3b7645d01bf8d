"""Valid ranges of the numbers of a payment policy, checked when a policy is built or loaded.

Why: a policy is data typed by people. A negative coefficient, a high-cost multiplier of 0, a cost ratio of 70
instead of 0.7 or a weight of ``1e30`` would otherwise be paid from without a word. Every number of a policy has
one kind below, and every kind a documented interval (``docs/payment.md``, "Valid ranges"); a value outside it is
a :class:`~drgpay.payment.errors.PolicyError` naming the key (and the file and table row when loaded).

The maxima are far above any real policy and far below nonsense: they catch typing errors and unit mistakes, not
unusual local choices. Stays use the length-of-stay bound that grouping applies to records
(:func:`drgpay.schema.plausible_range`), so a policy cannot name a stay that ``group`` calls invalid.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

from drgpay.payment.errors import PolicyError
from drgpay.schema import plausible_range

__all__ = ["LIMITS", "MAX_LOS", "Limit", "check_range"]

#: Longest stay, in days, that grouping accepts in a record (the ``los`` bound of :mod:`drgpay.schema`).
MAX_LOS = Decimal(int(plausible_range("los")[1]))


@attrs.frozen
class Limit:
    """An interval ``low … high``; ``low_open`` / ``high_open`` exclude the bound itself."""

    low: Decimal
    high: Decimal
    low_open: bool = False
    high_open: bool = False
    unit: str = ""
    applies_to: str = ""

    def contains(self, value: Decimal) -> bool:
        """Whether ``value`` lies in the interval."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        low = f"{self.low:,}"
        high = f"{self.high:,}"
        text = f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        return f"{text} {self.unit}".rstrip()


def _limit(low: int | str, high: int | str | Decimal, **kwargs: object) -> Limit:
    return Limit(Decimal(low), Decimal(high), **kwargs)  # type: ignore[arg-type]


_MILLION = 1_000_000

#: Every kind of policy number and its valid interval (the table of ``docs/payment.md`` is checked against it).
LIMITS: Mapping[str, Limit] = MappingProxyType(
    {
        "coefficient": _limit(
            0, 10, low_open=True, applies_to="level_coefficients, hospital coefficients, default_coefficient"
        ),
        "weight": _limit(
            0,
            _MILLION,
            low_open=True,
            applies_to="DRG weight (RW, or 点数 in a city's score table), DIP score (分值), a fallback rule's "
            "weight, an outlier tier's max_weight",
        ),
        "base_rate": _limit(0, _MILLION, low_open=True, unit="yuan", applies_to="base_rates rate (费率)"),
        "point_value": _limit(
            0, _MILLION, low_open=True, unit="yuan", applies_to="point_values value (点值)"
        ),
        "amount": _limit(
            0,
            100 * _MILLION,
            low_open=True,
            unit="yuan",
            applies_to="published standards (支付标准), mean_cost of the weights or scores table",
        ),
        "mean_los": _limit(
            0, MAX_LOS, low_open=True, unit="days", applies_to="mean_los of the weights or scores table"
        ),
        "stay": _limit(
            0,
            MAX_LOS,
            unit="days",
            applies_to="case rules min_los / max_los, exclusions max_los (whole days)",
        ),
        "high_multiplier": _limit(
            1, 100, low_open=True, applies_to="high_cost multiplier (each tier): above 1, see below"
        ),
        "low_multiplier": _limit(
            0, 1, high_open=True, applies_to="low_cost multiplier (each tier): below 1, so below the high one"
        ),
        "cost_ratio": _limit(
            0,
            1,
            applies_to="ratio of cost_ratio fallback rules, outlier rules and case rules; the high-cost "
            "standard_plus_excess ratio",
        ),
        "standard_ratio": _limit(0, 10, applies_to="ratio of a standard_ratio case rule"),
        "quota": _limit(0, 1, applies_to="special_quota (特例单议)"),
        "share": _limit(0, 1, applies_to="clearing surplus / overspend tier share"),
        "share_bound": _limit(
            0, 10, low_open=True, applies_to="clearing tier up_to (a fraction of the payable amount)"
        ),
        "low_threshold": _limit(
            0, 1, low_open=True, applies_to="DIP [deviation.low] threshold (national 0.5)"
        ),
        "high_threshold": _limit(1, 100, applies_to="DIP [deviation.high] threshold (national 2)"),
        "slope": _limit(0, 10, applies_to="DIP deviation slope"),
        "intercept": _limit(-10, 10, applies_to="DIP deviation intercept"),
        "advance_months": _limit(0, 12, low_open=True, applies_to="[settlement.advance] months"),
        "advance_history": _limit(1, 120, applies_to="[settlement.advance] history_months (whole months)"),
        "advance_ratio": _limit(0, 1, applies_to="[settlement.advance] ratio"),
        "advance_cap": _limit(0, 100_000 * _MILLION, unit="yuan", applies_to="[settlement.advance] cap"),
        "rounding": _limit(
            0, 100 * _MILLION, low_open=True, unit="yuan", applies_to="[settlement.advance] round_to"
        ),
    }
)


def check_range(kind: str, value: Decimal | int | None, what: str) -> None:
    """Refuse ``value`` (``what`` names its key) outside the interval of ``kind``; None (not given) passes."""
    if value is None:
        return
    limit = LIMITS[kind]
    if not limit.contains(Decimal(value)):
        raise PolicyError(f"{what} = {value} is outside the valid range {limit} ({kind.replace('_', ' ')})")
