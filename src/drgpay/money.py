"""Exact money arithmetic: yuan ↔ fen (分), round half up, integer division rounded half up.

Insurance figures are published to the fen and must be reproducible to the fen, so drgpay never rounds a
binary float. Amounts are converted once to integers in a fixed decimal unit (fen for money: ``places=2``),
summed and divided as integers, and converted back to yuan only for display.

Rounding rule, everywhere: **half up** as in :data:`decimal.ROUND_HALF_UP` — a tie goes away from zero
(``2.345 → 2.35``, ``-2.345 → -2.35``). Truncation (:func:`div_toward_zero`) goes toward zero.

Floats are read as the shortest decimal that round-trips (``repr``), i.e. the number that was typed or
exported: ``1.005`` is taken as 1.005 and rounds to 1.01, although the binary double is slightly below it.
Strings and :class:`~decimal.Decimal` values are read exactly. Text follows one rule everywhere (payment inputs,
policy tables, catalogues, reports), :func:`parse_amount_text`: digits with an optional ``.`` fraction, commas only
as well-formed thousands separators (``12,345.67``, ``1,234``); ``12,5``, ``1.200,50`` or ``1,2`` are not amounts,
never read as 125, 1.20 or 12. Missing values (None, NaN, NA), booleans, infinities and text that is not an amount
are errors (:class:`InvalidAmountError`, which lists the positions), as are amounts too large for 64-bit units
(:class:`AmountTooLargeError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "AmountTooLargeError",
    "InvalidAmountError",
    "div_round_half_up",
    "div_toward_zero",
    "fen_to_decimal",
    "fen_to_yuan",
    "parse_amount_text",
    "plain_amount_texts",
    "round_half_up",
    "to_decimal",
    "to_fen",
    "to_units",
    "truncate",
    "units_to_float",
]

IntArray = npt.NDArray[np.int64]

# Above this magnitude a float64 no longer holds every integer, so the fast path is not trusted.
_FLOAT_EXACT_LIMIT = float(2**52)
_MAX_LISTED = 10


class InvalidAmountError(ValueError):
    """Values that are not finite numbers; ``positions`` are their 0-based positions in the input."""

    problem = "missing or not a finite number"

    def __init__(self, positions: Iterable[int] | npt.NDArray[np.integer[Any]], what: str = "values") -> None:
        self.positions: tuple[int, ...] = tuple(int(p) for p in positions)
        shown = ", ".join(str(p) for p in self.positions[:_MAX_LISTED])
        more = len(self.positions) - _MAX_LISTED
        suffix = f" and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.positions)} {what} {self.problem} at position(s) {shown}{suffix}")


class AmountTooLargeError(InvalidAmountError, OverflowError):
    """Amounts whose integer units do not fit in 64 bits (about 9.2e16 yuan in fen); an
    :class:`InvalidAmountError` naming the positions, and an :class:`OverflowError`."""

    problem = "too large for 64-bit integer units"


_INT64_MAX = 2**63 - 1

#: The one rule for amounts written as text (ASCII): an optional sign, then digits grouped by thousands with commas
#: (the first group 1-3 digits without a leading zero, every later group exactly 3) and an optional fraction, or
#: plain digits with an optional fraction and exponent (``2e3``).
_AMOUNT_TEXT = re.compile(
    r"[+-]?(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]*)?|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)


def parse_amount_text(text: str) -> Decimal:
    """The exact amount written in ``text`` (surrounding white space ignored), or :class:`ValueError`.

    Commas are accepted only as well-formed thousands separators: ``12,345.67`` and ``1,234`` are amounts, but
    ``12,5``, ``1.200,50``, ``1,2`` and ``0,5`` are refused rather than guessed (a decimal comma would otherwise
    multiply the value). Infinity, NaN, underscores and non-ASCII digits are not amounts either.
    """
    stripped = text.strip()
    if not _AMOUNT_TEXT.fullmatch(stripped):
        raise ValueError(
            f"not an amount: {text!r} (expected digits with an optional '.' fraction; commas only as thousands "
            "separators, as in 12,345.67)"
        )
    return Decimal(stripped.replace(",", ""))


def plain_amount_texts(values: pd.Series) -> pd.Series:
    """:func:`parse_amount_text`'s rule over a column of text: each amount without its thousands separators, as
    text (``"12,345.67"`` → ``"12345.67"``), and ``<NA>`` where a cell is missing or not an amount.

    For vectorised readers that parse numbers themselves (``pd.to_numeric``) but must not guess at commas.
    """
    text = values.astype("string").str.strip()
    amounts = text.str.fullmatch(_AMOUNT_TEXT.pattern).fillna(False).astype(bool)
    return text.where(amounts).str.replace(",", "", regex=False)


def to_decimal(value: object) -> Decimal:
    """Return *value* as an exact :class:`~decimal.Decimal` (floats via their shortest ``repr``).

    Raises :class:`ValueError` for missing values, booleans, infinities, NaN and non-numeric text.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        dec = Decimal(repr(value))
    elif isinstance(value, str):
        dec = parse_amount_text(value)
    else:
        raise ValueError(f"not a number: {value!r}")
    if not dec.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return dec


def round_half_up(value: object, places: int = 2) -> Decimal:
    """Round *value* to *places* decimals, ties away from zero, exactly (floats read via ``repr``)."""
    return to_decimal(value).quantize(_quantum(places), rounding=ROUND_HALF_UP)


def _decimal_to_units(dec: Decimal, places: int) -> int:
    """Exact units, half up, as a Python int; beyond int64 only some value beyond it (for :func:`_check_int64`
    to name), so that an exponent such as ``1e999999`` or ``1e-999999`` costs nothing."""
    magnitude = dec.adjusted() + places  # the units' most significant digit is 10**magnitude
    if magnitude > 19:
        return (_INT64_MAX + 1) * (-1 if dec.is_signed() else 1)
    if magnitude < -1:  # below 0.1 units: rounds to 0
        return 0
    numerator, denominator = dec.as_integer_ratio()
    return div_round_half_up(numerator * 10**places, denominator)


def _check_int64(units: Iterable[int]) -> IntArray:
    values = list(units)
    large = [i for i, v in enumerate(values) if abs(v) > _INT64_MAX]
    if large:
        raise AmountTooLargeError(large)
    return np.asarray(values, dtype=np.int64)


def _float_to_units(x: npt.NDArray[np.float64], places: int) -> IntArray:
    bad = ~np.isfinite(x)
    if bad.any():
        raise InvalidAmountError(np.flatnonzero(bad))
    scale = 10**places
    y = x * scale
    a = np.abs(y)
    whole = np.floor(a)
    frac = a - whole
    # |y - scale*d| (d: the shortest decimal of x) is at most scale*ulp(x)/2 + ulp(y)/2; only values
    # that close to a tie can round differently from the decimal, so they take the exact Decimal path.
    tol = scale * np.spacing(np.abs(x)) + np.spacing(a)
    slow = (np.abs(frac - 0.5) <= tol) | (a >= _FLOAT_EXACT_LIMIT)
    rounded = np.where(frac >= 0.5, whole + 1.0, whole)
    out = np.where(y < 0, -rounded, rounded)
    result = np.zeros(x.shape, dtype=np.int64)
    fast = ~slow
    result[fast] = out[fast].astype(np.int64)
    if slow.any():
        idx = np.flatnonzero(slow)
        result[idx] = _check_int64(_decimal_to_units(Decimal(repr(float(x[i]))), places) for i in idx)
    return result


def _objects_to_units(values: npt.NDArray[Any], places: int) -> IntArray:
    units: list[int] = []
    bad: list[int] = []
    for i, v in enumerate(values):
        try:
            units.append(_decimal_to_units(to_decimal(v), places))
        except ValueError:  # not a number (too large ones are named by _check_int64)
            bad.append(i)
            units.append(0)
    if bad:
        raise InvalidAmountError(bad)
    return _check_int64(units)


def _strings_to_units(text: pd.Series, places: int) -> IntArray:
    """Numeric text to units: plain decimals short enough for a double take a vectorised exact path."""
    int_digits = max(1, 15 - places)
    # At most 15 significant digits and no more decimals than *places*: float parsing is exact enough that
    # value * 10**places is within far less than half a unit of an integer, so the float path is exact.
    pattern = rf"\s*[-+]?[0-9]{{1,{int_digits}}}(?:\.[0-9]{{0,{places}}})?\s*"  # ASCII digits only
    plain = text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)  # missing → exact path → error
    out = np.zeros(len(text), dtype=np.int64)
    if plain.any():
        floats = pd.to_numeric(text[plain].str.strip()).to_numpy(dtype=np.float64)
        out[plain] = _float_to_units(floats, places)
    rest = np.flatnonzero(~plain)
    if len(rest):
        try:
            out[rest] = _objects_to_units(text.iloc[rest].to_numpy(dtype=object), places)
        except InvalidAmountError as err:
            raise InvalidAmountError(rest[list(err.positions)]) from None
    return out


def to_units(values: object, places: int = 2) -> IntArray:
    """Convert numbers to int64 integers of ``10**-places`` (fen for ``places=2``), rounding half up.

    Accepts a pandas Series / Index / array, a NumPy array or any sequence of ints, floats, Decimals and
    numeric strings. Integers are scaled exactly; floats are exact to their shortest decimal (see module
    notes) and vectorised; other values go through :class:`~decimal.Decimal`. Any missing or non-numeric
    value raises :class:`InvalidAmountError` naming the positions: nothing is silently dropped.
    """
    if places < 0:
        raise ValueError("places must be >= 0")
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    if isinstance(values, pd.api.extensions.ExtensionArray):
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype):
            raise InvalidAmountError(range(len(values)))
        if pd.api.types.is_integer_dtype(dtype):
            missing = np.asarray(pd.isna(values), dtype=bool)
            if missing.any():
                raise InvalidAmountError(np.flatnonzero(missing))
            arr: npt.NDArray[Any] = values.to_numpy(dtype=np.int64)
        elif pd.api.types.is_float_dtype(dtype):
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)  # NaN and inf both rejected below
        elif isinstance(dtype, pd.StringDtype):
            return _strings_to_units(pd.Series(values, copy=False), places)
        else:
            arr = values.to_numpy(dtype=object)
    else:
        arr = np.asarray(values)
        if arr.ndim == 0:
            arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError("to_units expects one-dimensional values")
    scale = 10**places
    if arr.dtype.kind in "iu":
        limit = _INT64_MAX // scale  # compared in the input's own type: uint64 above 2**63 is not wrapped
        large = (arr > limit) if arr.dtype.kind == "u" else (arr > limit) | (arr < -limit)
        if large.any():
            raise AmountTooLargeError(np.flatnonzero(large))
        return arr.astype(np.int64) * np.int64(scale)
    if arr.dtype.kind == "f":
        return _float_to_units(arr.astype(np.float64), places)
    if arr.dtype.kind == "b":
        raise InvalidAmountError(range(arr.size))
    return _objects_to_units(arr.astype(object), places)


def to_fen(values: object) -> IntArray:
    """Convert yuan amounts to int64 fen, exactly, rounding half up (see :func:`to_units`)."""
    return to_units(values, 2)


def units_to_float(units: object, places: int = 2) -> npt.NDArray[np.float64]:
    """Integer units of ``10**-places`` → float64; each result is the double nearest the exact decimal."""
    return np.asarray(units, dtype=np.int64) / float(10**places)


def fen_to_yuan(fen: object) -> npt.NDArray[np.float64]:
    """Fen → float64 yuan; ``fen_to_yuan(982941)`` is the double nearest 9829.41 (compares equal to it)."""
    return units_to_float(fen, 2)


def fen_to_decimal(fen: int, places: int = 2) -> Decimal:
    """Integer units → exact Decimal yuan with *places* decimals (``982941`` → ``Decimal('9829.41')``)."""
    return Decimal(int(fen)).scaleb(-places)


@overload
def div_round_half_up(numerator: int, denominator: int) -> int: ...
@overload
def div_round_half_up(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> IntArray: ...
def div_round_half_up(numerator: Any, denominator: Any) -> Any:
    """Integer division rounded half up (ties away from zero); exact for Python ints, vectorised for arrays.

    ``div_round_half_up(5, 2) == 3``, ``div_round_half_up(-5, 2) == -3``. A zero denominator raises
    :class:`ZeroDivisionError`. Arrays are int64 (magnitudes below 2**62), or object arrays of Python ints, exact
    at any size (products of amounts and exact fractions); the result is int64.
    """
    return _divide(numerator, denominator, half_up=True)


@overload
def div_toward_zero(numerator: int, denominator: int) -> int: ...
@overload
def div_toward_zero(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> IntArray: ...
def div_toward_zero(numerator: Any, denominator: Any) -> Any:
    """Integer division truncated toward zero (``-7 / 2 → -3``), as reports that "truncate" print it."""
    return _divide(numerator, denominator, half_up=False)


def _is_int_scalar(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _divide(numerator: Any, denominator: Any, *, half_up: bool) -> Any:
    if _is_int_scalar(numerator) and _is_int_scalar(denominator):
        n, d = int(numerator), int(denominator)
        if d == 0:
            raise ZeroDivisionError("division by zero")
        q, r = divmod(abs(n), abs(d))
        if half_up and 2 * r >= abs(d):
            q += 1
        return q if (n >= 0) == (d > 0) or q == 0 else -q
    exact = any(isinstance(x, np.ndarray) and x.dtype.kind == "O" for x in (numerator, denominator))
    n_arr = np.asarray(numerator, dtype=object if exact else np.int64)
    d_arr = np.asarray(denominator, dtype=object if exact else np.int64)
    if (d_arr == 0).any():
        raise ZeroDivisionError("division by zero")
    an, ad = np.abs(n_arr), np.abs(d_arr)
    q_arr = an // ad
    if half_up:
        q_arr = q_arr + (2 * (an - q_arr * ad) >= ad)
    negative = (n_arr < 0) != (d_arr < 0)
    return np.where(negative, -q_arr, q_arr).astype(np.int64)


def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def truncate(value: object, places: int = 2) -> Decimal:
    """Cut *value* to *places* decimals toward zero (``65.2968 → 65.29``)."""
    return to_decimal(value).quantize(_quantum(places), rounding=ROUND_DOWN)
