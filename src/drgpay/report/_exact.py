"""Exact ratios for the report tables: means to the fen, percentages and indices rounded half up.

All inputs are integers (fen, or units of ``10**-places``); results are integers in the output unit, or
None when undefined (no cases, zero denominator). Conversion to float happens only when a table is
assembled, and each float is the double nearest the exact decimal, so ``9829.41`` in a table compares equal
to the literal.
"""

from __future__ import annotations

import math
from fractions import Fraction

from drgpay.money import div_round_half_up, div_toward_zero

PCT_PLACES = 2


def mean_units(total: int, count: int) -> int | None:
    """Mean of *count* values summing to *total*, rounded half up in the same unit; None for no values."""
    return None if count == 0 else div_round_half_up(int(total), int(count))


def pct_hundredths(numerator: int, denominator: int, *, truncate: bool = False) -> int | None:
    """``numerator / denominator`` in percent, as hundredths of a percent, half up or truncated."""
    if denominator == 0:
        return None
    num = int(numerator) * 100 * 10**PCT_PLACES
    return div_toward_zero(num, int(denominator)) if truncate else div_round_half_up(num, int(denominator))


def fraction_units(value: Fraction, places: int) -> int:
    """An exact fraction rounded half up to *places* decimals, as integer units."""
    return div_round_half_up(value.numerator * 10**places, value.denominator)


def as_float(units: int | None, places: int = 2) -> float:
    """Integer units → float (NaN for None); the double nearest the exact decimal."""
    return math.nan if units is None else units / 10**places


def delta_units(
    mean_baseline: int | None, mean_current: int | None, cases_current: int | None
) -> tuple[int | None, int | None, int | None]:
    """Change of a mean (current − baseline), its percentage of the baseline and −change × current cases.

    The change is the difference of the two *rounded* means and the percentage is that change over the
    rounded baseline mean, so every printed figure can be re-derived from the printed means (this is how
    county reports compute them: 9,829.41 → 9,613.29 is −216.12, −216.12 / 9,829.41 = −2.20 %).
    """
    if mean_baseline is None or mean_current is None:
        return None, None, None
    change = mean_current - mean_baseline
    pct = pct_hundredths(change, mean_baseline)
    reduction = None if cases_current is None else -change * int(cases_current)
    return change, pct, reduction
