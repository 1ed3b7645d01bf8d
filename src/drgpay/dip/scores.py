"""DIP scores from statistics: ``score = mean_cost / reference × scale``, exact, rounded once half up.

A city publishes each group's mean cost (``DIP_AVG_FEE``), the region's mean cost per case (``REGION_AVE_VAL``)
and the score (``WEIGHT_SCORE``), all already rounded (Pingdingshan: 6 decimals). :func:`score_from_mean` is
the formula; :func:`score_agreement` says whether a published score is what the formula gives from the published
inputs: ``equal`` to the digit, ``input_rounding`` (it differs, but lies within what inputs that round to the
published ones give: the city computed from unrounded figures), or ``different``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

from drgpay.money import div_round_half_up, to_decimal

__all__ = ["Agreement", "score_agreement", "score_from_mean", "scores_from_means"]

Agreement = Literal["equal", "input_rounding", "different"]


def _fraction(value: object) -> Fraction:
    return Fraction(to_decimal(value))


def _round(value: Fraction, decimals: int) -> Decimal:
    units = div_round_half_up(value.numerator * 10**decimals, value.denominator)
    return Decimal(units).scaleb(-decimals)


def score_from_mean(
    mean_cost: object, reference: object, *, scale: object = 1000, decimals: int = 6
) -> Decimal:
    """``mean_cost / reference × scale`` rounded half up to ``decimals`` (floats are read by their shortest
    spelling, text exactly). ``score_from_mean("7617.038868", "5718.153489")`` is ``Decimal("1332.080169")``."""
    ref = _fraction(reference)
    if ref <= 0:
        raise ValueError(f"the reference mean cost must be positive, not {reference!r}")
    return _round(_fraction(mean_cost) * _fraction(scale) / ref, decimals)


def scores_from_means(
    mean_cost: npt.ArrayLike, reference: float, *, scale: float = 1000.0, decimals: int = 4
) -> npt.NDArray[np.float64]:
    """:func:`score_from_mean` over an array of mean costs (NaN stays NaN), as floats."""
    means = np.asarray(mean_cost, dtype=np.float64)
    out = np.full(means.shape, np.nan)
    for i in np.flatnonzero(np.isfinite(means)).tolist():
        out[i] = float(score_from_mean(float(means[i]), reference, scale=scale, decimals=decimals))
    return out


def _half_unit(text: str) -> Fraction:
    """Half a unit of the last decimal written in ``text`` (``"5718.153489"`` → 0.0000005)."""
    digits = text.strip().partition(".")[2]
    return Fraction(1, 2 * 10 ** len(digits))


def score_agreement(
    mean_cost: str, reference: str, published: str, *, scale: object = 1000, decimals: int = 6
) -> Agreement:
    """How the published score compares with :func:`score_from_mean` of the published (rounded) inputs.

    ``input_rounding`` means: some mean cost and reference that round to the published ones give, after the
    same rounding, the published score; the difference is then the inputs' own rounding, not another formula.
    """
    target = to_decimal(published)
    if score_from_mean(mean_cost, reference, scale=scale, decimals=decimals) == target:
        return "equal"
    m, r, s = _fraction(mean_cost), _fraction(reference), _fraction(scale)
    dm, dr = _half_unit(mean_cost), _half_unit(reference)
    low = _round((m - dm) * s / (r + dr), decimals)
    high = _round((m + dm) * s / (r - dr), decimals)
    return "input_rounding" if low <= target <= high else "different"
