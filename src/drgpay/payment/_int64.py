"""Exact ``round_half_up((a·b + c) / d)`` over int64 arrays, without overflow, for the fast payment path.

Why: every payment amount is one exact fraction rounded once, half up (see :mod:`drgpay.payment._exact`).
Evaluating the fraction with Python integers held in numpy object arrays is exact at any size but costs about
60 ns an operation; int64 arithmetic costs about 1 ns but a product of an amount in fen and the numerator of a
policy factor (``2.5 × 1,234,567 fen``, a DIP score with four decimals over a mean cost with two) can exceed
2**63, where numpy wraps around silently.

How: the quotient is estimated in float64, then corrected exactly. With ``N = a·b + c`` and ``q₀`` the floor of the
float estimate, the remainder ``r = N − q₀·d`` is computed in wrapping 64-bit arithmetic: it is exact modulo
2**64, and the true remainder is known to lie in ``[−d, 2d)`` (the estimate is within one of the true floor), so
for ``d < 2**61`` the wrapped value *is* the remainder. One floor division fixes ``q₀``; the rounding is then
decided on the exact remainder (a tie goes away from zero, as :func:`drgpay.money.div_round_half_up`).

The estimate is within one only when ``(|a·b| + |c|) / d`` is below 2**48 (float64 keeps 53 bits); rows beyond
that bound, or whose factors do not fit in 64 bits at all, are not estimated: they are computed with Python
integers (:func:`drgpay.money.div_round_half_up` on object arrays), so every row is exact and no row overflows
silently. A result that does not fit in int64 raises ``OverflowError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from drgpay.money import div_round_half_up

__all__ = ["keyed_round", "muldiv_round"]

#: Largest |quotient| for which the float64 estimate is within one of the true floor (53-bit mantissa, about six
#: rounding steps of 2**-53 relative error each: the estimate is off by less than 0.2 below this bound).
QUOTIENT_LIMIT = 2.0**48
#: Largest denominator: the remainder, within [-d, 2d), must fit in int64.
DENOMINATOR_LIMIT = 2**61
#: Largest factor held in int64 here (so that 2 · remainder and sums of two factors cannot overflow).
FACTOR_LIMIT = 2**62

_U64 = np.uint64


def _int64(values: np.ndarray | int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _exact(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The same rounding with Python integers (object arrays): exact at any size."""
    num = np.asarray(a, dtype=np.int64).astype(object) * np.asarray(b, dtype=object) + np.asarray(
        c, dtype=object
    )
    return div_round_half_up(num, np.asarray(d, dtype=object))


def _estimated(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``round_half_up((a·b + c) / d)`` for int64 rows already known to be within the bounds (module notes)."""
    fa, fb, fc, fd = (x.astype(np.float64) for x in (a, b, c, d))
    q0 = np.floor((fa * fb + fc) / fd).astype(np.int64)
    # N − q₀·d modulo 2**64: exact, because the true remainder lies in [−d, 2d) ⊂ int64
    r = (a.view(_U64) * b.view(_U64) + c.view(_U64) - q0.view(_U64) * d.view(_U64)).view(np.int64)
    adjust = np.floor_divide(r, d)
    q = q0 + adjust
    twice_rest = 2 * (r - adjust * d)  # 2 × the remainder in [0, d): below 2**62
    # half away from zero: up on a tie when N ≥ 0, down (towards −∞, away from zero) on a tie when N < 0
    return q + np.where(q >= 0, twice_rest >= d, twice_rest > d)


def muldiv_round(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``round_half_up((a·b + c) / d)`` row by row, exact: int64 ``a``, ``b``, ``c`` and ``d > 0`` arrays of one
    length (factors beyond :data:`FACTOR_LIMIT` must go through :func:`keyed_round`). Rows beyond the estimate's
    bounds are computed with Python integers."""
    a, b, c, d = (_int64(x) for x in (a, b, c, d))
    out = np.empty(len(a), dtype=np.int64)
    fa, fb, fc, fd = (x.astype(np.float64) for x in (a, b, c, d))
    fast = ((np.abs(fa) * np.abs(fb) + np.abs(fc)) / fd < QUOTIENT_LIMIT) & (d < DENOMINATOR_LIMIT)
    if fast.all():
        return _estimated(a, b, c, d)
    out[fast] = _estimated(a[fast], b[fast], c[fast], d[fast])
    slow = ~fast
    out[slow] = _exact(a[slow], b[slow], c[slow], d[slow])
    return out


def _reduced(
    b: Sequence[int] | np.ndarray, c: Sequence[int], d: Sequence[int] | np.ndarray
) -> tuple[list[int], list[int], list[int]]:
    """Each key's ``(b, c, d)`` divided by their greatest common divisor (the value is unchanged, the factors
    smaller, so more rows stay within int64)."""
    out_b, out_c, out_d = [], [], []
    for x, y, z in zip(b, c, d, strict=True):
        g = math.gcd(int(x), int(y), int(z)) or 1
        out_b.append(int(x) // g)
        out_c.append(int(y) // g)
        out_d.append(int(z) // g)
    return out_b, out_c, out_d


def keyed_round(
    a: np.ndarray,
    key: np.ndarray,
    b: Sequence[int] | np.ndarray,
    c: Sequence[int] | np.ndarray | int,
    d: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """``round_half_up((a·b[k] + c[k]) / d[k])`` for each row, ``k = key[row]``, exact.

    ``a`` holds one int64 per row (an amount in fen, points in their units); ``b``, ``c`` and ``d > 0`` hold one
    Python integer per key (per combination of group and factors): the exact numerators and denominators of the
    policy's factors, of any size. Keys whose factors do not fit in 64 bits, and rows beyond the estimate's
    bounds, are computed with Python integers.
    """
    a = _int64(a)
    key = np.asarray(key, dtype=np.intp)
    if not len(a):
        return np.zeros(0, dtype=np.int64)
    c_list = [int(c)] * len(b) if isinstance(c, int) else list(c)
    rb, rc, rd = _reduced(b, c_list, d)
    fits = np.array(
        [
            abs(x) < FACTOR_LIMIT and abs(y) < FACTOR_LIMIT and 0 < z < DENOMINATOR_LIMIT
            for x, y, z in zip(rb, rc, rd, strict=True)
        ],
        dtype=bool,
    )
    b64, c64, d64 = (
        np.array([v if ok else 0 for v, ok in zip(vals, fits, strict=True)], dtype=np.int64)
        for vals in (rb, rc, rd)
    )
    d64[~fits] = 1
    row_fits = fits[key]
    out = np.empty(len(a), dtype=np.int64)
    if row_fits.all():
        return muldiv_round(a, b64[key], c64[key], d64[key])
    out[row_fits] = muldiv_round(a[row_fits], b64[key[row_fits]], c64[key[row_fits]], d64[key[row_fits]])
    big = ~row_fits
    keys = key[big]
    ob, oc, od = (np.array(vals, dtype=object) for vals in (rb, rc, rd))
    out[big] = _exact(a[big], ob[keys], oc[keys], od[keys])
    return out
