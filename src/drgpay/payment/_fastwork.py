"""The fast payment path's rows: columns read as integer codes over their distinct values, amounts as int64 fen,
and the stages shared by DRG and DIP (fallback rules, exclusions, case rules, fund split), on those codes.

Why: paying a million cases with one Python string per row and cell (group, status, reason, insurance type,
level, hospital) spends most of its time creating, hashing and comparing strings. Here every text column is
encoded once (Arrow's dictionary encoding for Arrow-backed text), each distinct value is read once with the
reference path's own rules (:mod:`drgpay.payment._engine`: ``_cell_text``, the key normalisers, the numeric and
date readers), and rows carry small integers. Reasons and case types are codes into vocabularies, turned into
text once, at the end, by Arrow.

This path must give the reference path's results (:func:`drgpay.payment.drg_pay.pay_drg`,
:func:`drgpay.payment.dip_pay.pay_dip`) row for row. Where the reference raises (a missing column, an amount
that is not an amount, dates outside the policy …) this path does not build its own message: it raises
:class:`Delegate`, and :func:`drgpay.payment._fast.pay_fast` lets the reference raise the error, word for word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from drgpay import money
from drgpay.payment import _engine as eng
from drgpay.payment._exact import yuan_array_to_fen
from drgpay.payment._int64 import keyed_round, muldiv_round
from drgpay.payment.keys import normalize_insurance, normalize_level
from drgpay.payment.policy import CASE_TYPES, CaseRule, DipPolicy, DrgPolicy, FallbackRule
from drgpay.schema import DateFormatError, parse_dates, parse_numeric_column

__all__ = ["Coded", "Delegate", "FastWork", "Reasons", "combine", "first_rows", "prepare"]

STATUS = {name: k for k, name in enumerate(eng.STATUSES)}
GROUPED, AMBIGUOUS, UNGROUPABLE, INVALID = (STATUS[s] for s in eng.STATUSES)
NO_STATUS = len(eng.STATUSES)
#: Values a row's "bad" code names, in the order the reference flags them (the first problem wins).
BAD_WORDS = (
    "",
    "missing_status",
    "invalid_los",
    "invalid_discharge_type",
    "fund_paid_above_total_cost",
    "self_paid_above_total_cost",
    "paid_above_total_cost",
)
CASE = {name: k for k, name in enumerate(CASE_TYPES)}
PENDING = -1


class Delegate(Exception):
    """The frame holds something only the reference path reports exactly (an error to raise)."""


# --------------------------------------------------------------------------------------------- columns


def _arrow_text(series: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The column as Arrow text when it is Arrow-backed text (``str``, ``string[pyarrow]``, ``large_string``)."""
    dtype = series.dtype
    arrow = isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    )
    if not arrow and not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    return pa.array(series.array)


def factorize(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 where missing) and distinct values, as ``pd.factorize(series, use_na_sentinel=True)`` gives
    them; Arrow-backed text is encoded by Arrow (twice as fast)."""
    text = _arrow_text(series)
    if text is None:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.intp), list(uniques)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    encoded = pc.dictionary_encode(text)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    return codes, encoded.dictionary.to_pylist()


def first_rows(codes: np.ndarray, k: int) -> np.ndarray:
    """The first row of each code ``0 … k-1`` (every code must occur)."""
    first = np.zeros(k, dtype=np.intp)
    n = len(codes)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    return first


def combine(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each row's combination of integer codes (at least -1) and the first row of each combination.

    The codes of a combination are its rank among the combinations present when the key space is small (a
    counting pass, no hashing), else its order of appearance."""
    n = len(arrays[0])
    if not n:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    key = np.zeros(n, dtype=np.int64)
    space = 1
    for values in arrays:
        values = np.asarray(values, dtype=np.int64) + 1  # ids may be -1 (none)
        size = int(values.max()) + 1
        if space * size > 4 * n + 4096:  # compact first, so the key stays small and never overflows
            key, uniques = pd.factorize(key, use_na_sentinel=False)
            space = len(uniques)
            key = np.asarray(key, dtype=np.int64)
        key = key * size + values
        space *= size
    if space <= 4 * n + 4096:
        present = np.zeros(space, dtype=bool)
        present[key] = True
        rank = np.cumsum(present) - 1
        codes = rank[key].astype(np.intp)
        k = int(rank[-1]) + 1
    else:
        codes_, uniques = pd.factorize(key, use_na_sentinel=False)
        codes, k = np.asarray(codes_, dtype=np.intp), len(uniques)
    return codes, first_rows(codes, k)


@attrs.define(eq=False)
class Coded:
    """A text column as codes (``codes``, one per row) into its distinct normalised texts (``values``)."""

    codes: np.ndarray
    values: np.ndarray

    def lookup(self, func: Callable[[str], Any], dtype: Any = bool) -> np.ndarray:
        """``func(text)`` evaluated once per distinct text, one value per row."""
        table = np.array([func(str(v)) for v in self.values], dtype=dtype)
        return table[self.codes] if len(self.values) else np.zeros(len(self.codes), dtype=dtype)

    def isin(self, texts: Sequence[str]) -> np.ndarray:
        """Rows whose text is one of ``texts``."""
        wanted = set(texts)
        return self.lookup(lambda v: v in wanted)

    def text(self, rows: np.ndarray) -> np.ndarray:
        """The texts of ``rows`` (object array)."""
        return self.values[self.codes[rows]]


def coded(values: Sequence[Any], codes: np.ndarray, read: Callable[[Any], str], n: int) -> Coded:
    """Codes over ``read(value)`` of each distinct value (several values may read alike); missing rows read
    ``""``."""
    texts = [read(v) for v in values]
    index: dict[str, int] = {}
    remap = np.array([index.setdefault(t, len(index)) for t in texts] + [index.setdefault("", len(index))])
    out = remap[codes] if n else np.zeros(0, dtype=np.intp)
    return Coded(np.asarray(out, dtype=np.intp), np.array(list(index), dtype=object))


def text_codes(frame: pd.DataFrame, column: str, *, upper: bool = False, lower: bool = False) -> Coded:
    """:func:`drgpay.payment._engine._text_column` as codes: stripped text, ``3.0`` read as ``3``, "" where
    missing, in upper or lower case when asked."""
    n = len(frame)
    if column not in frame.columns:
        return Coded(np.zeros(n, dtype=np.intp), np.array([""], dtype=object))
    codes, uniques = factorize(frame[column])

    def read(value: Any) -> str:
        text = eng._cell_text(value)
        return text.upper() if upper else text.lower() if lower else text

    return coded(uniques, codes, read, n)


def key_codes(frame: pd.DataFrame, column: str, kind: str) -> Coded:
    """:func:`drgpay.payment.keys.normalize_many` as codes (insurance type or hospital level)."""
    n = len(frame)
    if column not in frame.columns:
        return Coded(np.zeros(n, dtype=np.intp), np.array([""], dtype=object))
    codes, uniques = factorize(frame[column])
    read = normalize_insurance if kind == "insurance" else normalize_level
    return coded(uniques, codes, read, n)


def _distinct_rows(series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes per row (missing rows share one code) and the column's rows holding each distinct value, once."""
    codes, uniques = factorize(series)
    k = len(uniques)
    if (codes < 0).any():
        codes = np.where(codes < 0, k, codes)
        k += 1
    return codes, series.iloc[first_rows(codes, k)] if len(codes) else series


def checked_numbers(frame: pd.DataFrame, column: str, bad: np.ndarray, word: int) -> np.ndarray:
    """A numeric column read as the reference reads it (:func:`drgpay.schema.parse_numeric_column`), once per
    distinct value; unusable values are NaN and flag their rows ``word`` (when not flagged yet)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    codes, distinct = _distinct_rows(frame[column])
    values, unusable = parse_numeric_column(distinct.reset_index(drop=True), column)
    flagged = unusable[codes]
    bad[flagged & (bad == 0)] = word
    return values[codes]


#: Plain amounts Arrow parses exactly enough for :func:`drgpay.money.to_fen`: at most 15 significant digits and
#: 2 decimals, no sign, separator or white space (anything else takes the reference's reader).
_PLAIN_AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"


def money_column(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """An amount column as int64 fen and the mask of rows that have one, as the reference reads it
    (:func:`drgpay.payment._exact.yuan_array_to_fen`); raises :class:`Delegate` for a value that is not an
    amount or is negative (the reference names those rows)."""
    n = len(frame)
    if column not in frame.columns:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    series = frame[column].reset_index(drop=True)
    text = _arrow_text(series)
    if text is not None:
        fen, ok, bad = _text_fen(series, text)
    elif series.dtype == np.float64:
        fen, ok, bad = _float_fen(series)
    else:
        fen, ok, bad = yuan_array_to_fen(series)
    if bad.any() or (ok & (fen < 0)).any():
        raise Delegate(column)
    return fen, ok


#: Below this magnitude (yuan) a double and 100 × it are within 5e-4 fen of the decimals they stand for.
_FLOAT_FAST_LIMIT = 2.0**33


def _float_fen(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float yuan → fen as :func:`drgpay.money.to_fen` reads floats (their shortest decimal, half up), in fewer
    passes: a value whose 100 × is farther than 0.499 fen from half a fen rounds to the nearest integer whatever
    its last bits; the others (ties such as 0.125, huge values) take :func:`drgpay.money.to_fen` itself."""
    x = series.to_numpy()
    present = ~np.isnan(x)
    bad = present & ~np.isfinite(x)
    ok = present & ~bad
    y = np.where(ok, x, 0.0) * 100
    nearest = np.rint(y)
    sure = (np.abs(y - nearest) < 0.499) & (np.abs(y) < _FLOAT_FAST_LIMIT * 100)
    fen = nearest.astype(np.int64) * sure
    rest = np.flatnonzero(ok & ~sure)
    if len(rest):
        fen[rest] = money.to_fen(x[rest])
    return fen, ok, bad


def _text_fen(
    series: pd.Series, text: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Amounts written as Arrow text: a column Arrow reads whole as decimals with two places (digits, an
    optional sign, fraction and exponent: a subset of :func:`drgpay.money.parse_amount_text`'s rule) is taken from
    Arrow's exact decimal; otherwise plain amounts are parsed by Arrow and the others by the reference's reader."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    try:
        decimals = pc.cast(text, _DECIMAL)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _plain_text_fen(series, text)
    ok = np.asarray(decimals.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    words = np.frombuffer(decimals.buffers()[1], dtype=np.int64)
    if _DECIMAL.bit_width == 64:  # one int64 per value: the fen themselves
        fen = np.where(ok, words[decimals.offset : decimals.offset + len(decimals)], 0)
        return fen, ok, np.zeros(len(fen), dtype=bool)
    start = 2 * decimals.offset  # little-endian 128-bit: low word first
    fen = np.where(ok, words[start : start + 2 * len(decimals) : 2], 0)
    high = words[start + 1 : start + 2 * len(decimals) : 2]
    # 18 digits fit in the low word; the high word is its sign extension
    assert bool(np.all(high[ok] == (fen[ok] >> 63))), "decimal beyond 64 bits"
    return fen, ok, np.zeros(len(fen), dtype=bool)


#: Amounts as Arrow reads them exactly: 18 digits, 2 decimals (a fen count fits 64 bits). Arrow's 64-bit decimal
#: (pyarrow 18 and later) is cast a third faster than its 128-bit one, to the same values.
_DECIMAL = pa.decimal64(18, 2) if hasattr(pa, "decimal64") else pa.decimal128(18, 2)


def _plain_text_fen(series: pd.Series, text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain amounts parsed by Arrow, the others (white space, separators, more decimals …) by the reference's
    reader."""
    n = len(series)
    fen = np.zeros(n, dtype=np.int64)
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_AMOUNT), False)
    plain_mask = np.asarray(plain.to_numpy(zero_copy_only=False), dtype=bool)
    if plain_mask.any():
        floats = pc.cast(pc.filter(text, plain), pa.float64()).to_numpy(zero_copy_only=False)
        fen[plain_mask] = money.to_fen(np.asarray(floats, dtype=np.float64))
    ok = plain_mask.copy()
    bad = np.zeros(n, dtype=bool)
    rest = np.flatnonzero(
        ~plain_mask & np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
    )
    if len(rest):
        r_fen, r_ok, r_bad = yuan_array_to_fen(series.iloc[rest].reset_index(drop=True))
        fen[rest], ok[rest], bad[rest] = r_fen, r_ok, r_bad
    return fen, ok, bad


def missing_dates(cases: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> np.ndarray:
    """:func:`drgpay.payment._engine.check_dates`, once per distinct date: rows without a discharge date; raises
    :class:`Delegate` where the reference raises (a date it cannot read, a case outside the policy's dates)."""
    if "discharge_date" not in cases.columns:
        return eng.check_dates(cases, policy)  # the reference's warning, word for word
    codes, distinct = _distinct_rows(cases["discharge_date"])
    values = _parsed_dates(distinct.reset_index(drop=True))
    if values.tz is not None:
        values = values.tz_localize(None)
    missing = np.asarray(pd.isna(values), dtype=bool)
    start = pd.Timestamp(policy.effective_from)
    end = pd.Timestamp(policy.effective_to) + pd.Timedelta(days=1)
    outside = ~missing & np.asarray((values < start) | (values >= end), dtype=bool)
    if outside[codes].any():
        raise Delegate("discharge_date")
    return missing[codes] if len(codes) else np.zeros(0, dtype=bool)


#: Parsed distinct dates of recent calls, by their texts: the chunks of one year share their few hundred dates.
_DATES: dict[tuple[str, tuple[Any, ...]], pd.DatetimeIndex] = {}
_DATES_MAX = 8


def _parsed_dates(distinct: pd.Series) -> pd.DatetimeIndex:
    """:func:`drgpay.schema.parse_dates` of a column's distinct values (raises :class:`Delegate` where it
    raises), remembered for the next chunks with the same values (in any order: the form is decided by the set
    of values, and a row's date by its value)."""
    values = distinct.tolist()
    order = sorted(range(len(values)), key=lambda i: (type(values[i]).__name__, str(values[i])))
    key = (str(distinct.dtype), tuple((type(values[i]).__name__, str(values[i])) for i in order))
    found = _DATES.get(key)
    if found is None:
        try:
            found = pd.DatetimeIndex(parse_dates(distinct.iloc[order].reset_index(drop=True)))
        except DateFormatError:
            raise Delegate("discharge_date") from None
        if len(_DATES) >= _DATES_MAX:
            _DATES.pop(next(iter(_DATES)))
        _DATES[key] = found
    unsorted = np.empty(len(values), dtype=np.intp)
    unsorted[order] = np.arange(len(values))
    return found[unsorted]


# --------------------------------------------------------------------------------------------- rows


class Reasons:
    """The ``payment_reason`` vocabulary of one run: each row holds a code into :attr:`texts`."""

    def __init__(self) -> None:
        self.texts: list[str] = [""]
        self._index: dict[str, int] = {"": 0}

    def code(self, text: str) -> int:
        """The code of ``text`` (added when new)."""
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.texts)
            self.texts.append(text)
        return found

    def derive(self, codes: np.ndarray, func: Callable[[str], str]) -> np.ndarray:
        """``func`` of each code's text, evaluated once per distinct code."""
        if not len(codes):
            return np.zeros(0, dtype=np.int32)
        distinct, inverse = np.unique(codes, return_inverse=True)
        table = np.array([self.code(func(self.texts[int(c)])) for c in distinct], dtype=np.int32)
        return table[inverse]

    def column(self, codes: np.ndarray) -> pd.Series:
        """The reasons as a text column (the reference's ``str`` dtype), decoded once by Arrow."""
        dictionary = pa.array(self.texts, type=pa.large_string())
        decoded = pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.int32()), dictionary
        ).dictionary_decode()
        return pd.Series(pd.array(decoded, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


@attrs.define(eq=False)
class FastWork:
    """Per-row inputs (codes, fen) and outputs (codes, fen) of one fast payment run."""

    frame: pd.DataFrame
    group: Coded
    status: np.ndarray
    greason: Coded
    bad: np.ndarray
    cost: np.ndarray
    cost_ok: np.ndarray
    self_fen: np.ndarray
    self_ok: np.ndarray
    fund_fen: np.ndarray
    fund_ok: np.ndarray
    los: np.ndarray
    dtype: np.ndarray
    ins: Coded
    level: Coded
    hosp: Coded
    upper: bool
    reasons: Reasons = attrs.field(factory=Reasons)
    case_type: np.ndarray = attrs.field(init=False)
    reason: np.ndarray = attrs.field(init=False)
    std: np.ndarray = attrs.field(init=False)
    std_ok: np.ndarray = attrs.field(init=False)
    amount: np.ndarray = attrs.field(init=False)
    by_item: np.ndarray = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        n = len(self.frame)
        self.case_type = np.full(n, PENDING, dtype=np.int8)
        self.reason = np.zeros(n, dtype=np.int32)
        self.std = np.zeros(n, dtype=np.int64)
        self.std_ok = np.zeros(n, dtype=bool)
        self.amount = np.full(n, np.nan)
        self.by_item = np.zeros(n, dtype=bool)

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.frame)

    def pending(self) -> np.ndarray:
        """Rows whose path is not decided yet."""
        return self.case_type == PENDING

    def assign(self, mask: np.ndarray, case_type: str, reason: int | np.ndarray) -> None:
        """Decide the path of ``mask`` rows (``reason``: one code, or one per row)."""
        self.case_type[mask] = CASE[case_type]
        self.reason[mask] = reason if isinstance(reason, int) else reason[mask]

    def group_isin(self, codes: Sequence[str]) -> np.ndarray:
        """Rows whose group is one of the policy's ``codes`` (in upper case for DRG, as the reference)."""
        return self.group.isin([c.strip().upper() for c in codes] if self.upper else list(codes))

    def mark_rule(self, rows: np.ndarray, rule: CaseRule) -> None:
        """Rows ``rows`` take a case rule: its case type and the reason ``rule:<name>``."""
        self.case_type[rows] = CASE[rule.case_type]
        self.reason[rows] = self.reasons.code(f"rule:{rule.name}")

    def with_grouping_reason(self, word: str) -> np.ndarray:
        """Reason code of ``word`` or ``word:<grouping reason>`` for every row."""
        table = np.array(
            [self.reasons.code(f"{word}:{g}" if g else word) for g in self.greason.values], dtype=np.int32
        )
        return table[self.greason.codes]

    def append(self, rows: np.ndarray, suffix: np.ndarray, texts: Sequence[str]) -> None:
        """Add ``;<texts[suffix]>`` to the reasons of ``rows``, once per distinct (reason, suffix)."""
        if not len(rows):
            return
        pair, first = combine(self.reason[rows], suffix)
        table = np.array(
            [
                self.reasons.code(f"{self.reasons.texts[int(self.reason[rows[f]])]};{texts[int(suffix[f])]}")
                for f in first
            ],
            dtype=np.int32,
        )
        self.reason[rows] = table[pair]


def check_columns(cases: pd.DataFrame, group_column: str, policy: DrgPolicy | DipPolicy) -> None:
    """Raise :class:`Delegate` for a frame the reference refuses outright (not a frame, missing columns): checked
    first, so that the reference, not this path too, warns about a missing discharge date before refusing it."""
    if not isinstance(cases, pd.DataFrame):
        raise Delegate("cases")
    needs_los, needs_type = eng._needs(policy)
    required = [group_column, "total_cost"] + ["los"] * needs_los + ["discharge_type"] * needs_type
    if any(c not in cases.columns for c in required):
        raise Delegate("columns")


def prepare(cases: pd.DataFrame, group_column: str, policy: DrgPolicy | DipPolicy) -> FastWork:
    """:func:`drgpay.payment._engine.prepare` on codes; raises :class:`Delegate` where it raises."""
    check_columns(cases, group_column, policy)
    n = len(cases)
    upper = isinstance(policy, DrgPolicy)
    group = text_codes(cases, group_column, upper=upper)
    greason = text_codes(cases, "reason")
    bad = np.zeros(n, dtype=np.int8)
    if "status" in cases.columns:
        words = text_codes(cases, "status", lower=True)
        known = {**STATUS, "": NO_STATUS}
        if any(str(v) not in known for v in words.values[np.unique(words.codes)] if len(words.codes)):
            raise Delegate("status")
        status = np.array([known.get(str(v), NO_STATUS) for v in words.values], dtype=np.int8)[words.codes]
        bad[status == NO_STATUS] = BAD_WORDS.index("missing_status")
    else:  # codes from an insurer's own file: the status inferred from the code, as the reference does
        kind = group.lookup(
            lambda g: UNGROUPABLE if g in ("", "0000") else AMBIGUOUS if eng._QY.match(g) else GROUPED,
            dtype=np.int8,
        )
        status = kind
    los = checked_numbers(cases, "los", bad, BAD_WORDS.index("invalid_los"))
    dtype = checked_numbers(cases, "discharge_type", bad, BAD_WORDS.index("invalid_discharge_type"))
    cost, cost_ok = money_column(cases, "total_cost")
    self_fen, self_ok = money_column(cases, "self_paid")
    fund_fen, fund_ok = money_column(cases, "fund_paid")
    for mask, word in (
        (cost_ok & fund_ok & (fund_fen > cost), "fund_paid_above_total_cost"),
        (cost_ok & self_ok & (self_fen > cost), "self_paid_above_total_cost"),
        (cost_ok & fund_ok & self_ok & (fund_fen + self_fen > cost), "paid_above_total_cost"),
    ):
        bad[mask & (bad == 0)] = BAD_WORDS.index(word)
    return FastWork(
        frame=cases,
        group=group,
        status=status,
        greason=greason,
        bad=bad,
        cost=cost,
        cost_ok=cost_ok,
        self_fen=self_fen,
        self_ok=self_ok,
        fund_fen=fund_fen,
        fund_ok=fund_ok,
        los=los,
        dtype=dtype,
        ins=key_codes(cases, "insurance_type", "insurance"),
        level=key_codes(cases, "hospital_level", "level"),
        hosp=text_codes(cases, "hospital_id"),
        upper=upper,
    )


# --------------------------------------------------------------------------------------------- factors


def resolve_factors(
    w: FastWork,
    policy: DrgPolicy | DipPolicy,
    price: Callable[[str, str], int],
    uniform: np.ndarray,
    uniform_text: str,
) -> tuple[np.ndarray, np.ndarray, list[tuple[Decimal, str] | None]]:
    """:func:`drgpay.payment._engine.resolve_factors` on codes: per row the index of its price (-1: none) and
    of its coefficient, each looked up once per distinct (insurance type, level, hospital)."""
    key, first = combine(w.ins.codes, w.level.codes, w.hosp.codes)
    coefs: list[tuple[Decimal, str] | None] = []
    index: dict[tuple[Decimal, str] | None, int] = {}
    price_u = np.zeros(len(first), dtype=np.int64)
    coef_u = np.zeros(len(first), dtype=np.int64)
    for k, row in enumerate(first):
        ins, level, hosp = (str(c.values[c.codes[row]]) for c in (w.ins, w.level, w.hosp))
        price_u[k] = price(ins, level)
        coef = eng.coefficient(policy, level, hosp)
        coef_u[k] = index.setdefault(coef, len(index))  # one id per distinct coefficient (fewer combinations)
        if coef_u[k] == len(coefs):
            coefs.append(coef)
    price_id = price_u[key]
    coef_id = coef_u[key]
    if uniform.any():
        coef_id[uniform] = len(coefs)
        coefs.append((Decimal(1), uniform_text))
    return price_id, coef_id, coefs


@attrs.define(eq=False)
class Prices:
    """Unit prices of a fallback rule's ``weight`` method: per row the id of its (price, coefficient) pair, and
    per pair the exact unit price or the reason there is none; ``table`` gives a group's own value."""

    pair: np.ndarray
    units: list[tuple[Decimal, str] | str]
    table: Callable[[str], Decimal | None]
    word: str


def prices(
    price_id: np.ndarray,
    coef_id: np.ndarray,
    coefs: list[tuple[Decimal, str] | None],
    unit: Callable[[int, tuple[Decimal, str] | None], tuple[Decimal, str] | str],
    table: Callable[[str], Decimal | None],
    word: str,
) -> Prices:
    """The :class:`Prices` of a run, ``unit(price_id, coefficient)`` evaluated once per distinct pair."""
    pair, first = combine(price_id, coef_id)
    units = [unit(int(price_id[r]), coefs[int(coef_id[r])]) for r in first]
    return Prices(pair, units, table, word)


# --------------------------------------------------------------------------------------------- stages


def times_ratio(fen: np.ndarray, ratio: Decimal) -> np.ndarray:
    """Amounts × an exact ratio, each rounded once, half up (:func:`drgpay.payment._engine.times_ratio`)."""
    num, den = ratio.as_integer_ratio()
    return keyed_round(fen, np.zeros(len(fen), dtype=np.intp), [num], 0, [den])


def pay_fallback(
    w: FastWork, mask: np.ndarray, rule: FallbackRule, case_type: str, reason: int | np.ndarray, p: Prices
) -> None:
    """:func:`drgpay.payment._engine.pay_fallback` on codes."""
    w.assign(mask, case_type, reason)
    rows = np.flatnonzero(mask)
    if not len(rows) or rule.method == "none":
        return
    if rule.method in ("by_item", "cost_ratio"):
        no_cost = rows[~w.cost_ok[rows]]
        w.append(no_cost, np.zeros(len(no_cost), dtype=np.intp), ["missing_total_cost"])
        rows = rows[w.cost_ok[rows]]
        if rule.method == "by_item":
            w.std[rows] = w.cost[rows]
            w.by_item[rows] = True
        else:
            assert rule.ratio is not None
            w.std[rows] = times_ratio(w.cost[rows], rule.ratio)
        w.std_ok[rows] = True
        return
    # method "weight": per distinct (group when the weight is the table's, price pair)
    group = np.zeros(len(rows), dtype=np.intp) if rule.weight is not None else w.group.codes[rows]
    key, first = combine(group, p.pair[rows])
    suffixes: list[str] = []
    std_k = np.zeros(len(first), dtype=np.int64)
    paid_k = np.zeros(len(first), dtype=bool)
    amount_k = np.full(len(first), np.nan)
    suffix_k = np.full(len(first), -1, dtype=np.intp)
    for k, f in enumerate(first):
        row = rows[f]
        code = str(w.group.values[w.group.codes[row]])
        weight = rule.weight if rule.weight is not None else p.table(code)
        priced = p.units[int(p.pair[row])]
        if weight is None:
            suffix_k[k] = len(suffixes)
            suffixes.append(f"no_{p.word}_for_{code or 'blank'}")
        elif isinstance(priced, str):
            suffix_k[k] = len(suffixes)
            suffixes.append(priced)
        else:
            std_k[k] = eng.round_fen(weight * priced[0])
            paid_k[k] = True
            amount_k[k] = float(weight)
    paid = paid_k[key]
    w.std[rows[paid]] = std_k[key[paid]]
    w.std_ok[rows[paid]] = True
    w.amount[rows[paid]] = amount_k[key[paid]]
    w.append(rows[~paid], suffix_k[key[~paid]], suffixes)


#: ``fallback(mask, rule_name, case_type, reason)``, as :data:`drgpay.payment._engine.Fallback`.
Fallback = Callable[[np.ndarray, str, str, "int | np.ndarray"], None]


def fallback_payer(w: FastWork, policy: DrgPolicy | DipPolicy, p: Prices) -> Fallback:
    """Pay ``mask`` rows by the policy's fallback rule ``rule_name``."""

    def fallback(mask: np.ndarray, rule_name: str, case_type: str, reason: int | np.ndarray) -> None:
        pay_fallback(w, mask, getattr(policy, rule_name), case_type, reason, p)

    return fallback


def off_path_stage(
    w: FastWork,
    policy: DrgPolicy | DipPolicy,
    missing_date: np.ndarray,
    fallback: Fallback,
    *,
    ambiguous_rule: bool,
) -> None:
    """:func:`drgpay.payment._engine.off_path_stage` on codes: invalid rows, exclusions, ungroupable,
    ambiguous and excluded groups, each paid by its rule."""
    no_group = w.group.isin(["", "0000"])
    invalid = (w.status == INVALID) | (w.bad != 0)
    ungroupable = ~invalid & ((w.status == UNGROUPABLE) | no_group)
    ambiguous = ~invalid & ~ungroupable & (w.status == AMBIGUOUS)
    if not ambiguous_rule:
        ungroupable |= ambiguous
    reason = w.with_grouping_reason("invalid")
    flagged = invalid & (w.status != INVALID)
    if flagged.any():
        words = np.array([w.reasons.code(f"invalid:{word}") for word in BAD_WORDS], dtype=np.int32)
        reason[flagged] = words[w.bad[flagged]]
    fallback(invalid, "invalid", "excluded", reason)
    excluded, why = exclusion_stage(w, policy, missing_date)
    fallback(excluded, "excluded", "excluded", why)
    ungroupable &= w.pending()
    fallback(ungroupable, "ungroupable", "ungroupable", w.with_grouping_reason("ungroupable"))
    if ambiguous_rule:
        ambiguous &= w.pending()
        fallback(ambiguous, "ambiguous", "ambiguous", w.with_grouping_reason("ambiguous"))
    listed = w.pending() & w.group_isin(policy.exclusions.groups)
    fallback(listed, "excluded", "excluded", w.reasons.code("excluded_group"))


def exclusion_stage(
    w: FastWork, policy: DrgPolicy | DipPolicy, missing_date: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows excluded before grouping is looked at (missing date, uncovered insurance, overlong stay) and their
    reason codes, first reason wins (:func:`drgpay.payment._engine.exclusion_stage`)."""
    ex = policy.exclusions
    out = np.zeros(w.n, dtype=bool)
    reasons = np.zeros(w.n, dtype=np.int32)
    pend = w.pending()
    checks = [(missing_date, "missing_discharge_date")]
    if ex.insurance_types:
        checks.append((w.ins.isin(ex.insurance_types), "insurance_not_covered"))
    if ex.max_los is not None:
        checks.append((w.los > ex.max_los, f"los_over_{ex.max_los}"))
    for cond, word in checks:
        m = pend & ~out & cond
        reasons[m] = w.reasons.code(word)
        out |= m
    return out, reasons


def unpaid_stage(w: FastWork, no_price: np.ndarray, price_reason: str, no_coefficient: np.ndarray) -> None:
    """Pending rows without a price, a coefficient or a total cost: ``excluded``, not paid, in that order."""
    for mask, reason in (
        (no_price, price_reason),
        (no_coefficient, "no_coefficient"),
        (~w.cost_ok, "missing_total_cost"),
    ):
        w.assign(w.pending() & mask, "excluded", w.reasons.code(reason))


def apply_amounts(
    w: FastWork, idx: np.ndarray, method: str, ratio: Decimal | None, standard_fen: np.ndarray
) -> None:
    """Standards of rows ``idx`` under ``by_item``, ``standard``, ``standard_ratio`` or ``cost_ratio``
    (:func:`drgpay.payment._engine.apply_amounts`)."""
    if method == "by_item":
        w.std[idx] = w.cost[idx]
        w.by_item[idx] = True
    elif method == "standard":
        w.std[idx] = standard_fen
    elif method in ("standard_ratio", "cost_ratio"):
        assert ratio is not None
        w.std[idx] = times_ratio(standard_fen if method == "standard_ratio" else w.cost[idx], ratio)
    else:  # pragma: no cover - methods are validated by the policy classes
        raise ValueError(f"unknown method {method!r}")
    w.std_ok[idx] = True


def split_and_finish(w: FastWork, policy: DrgPolicy | DipPolicy, amount_column: str) -> pd.DataFrame:
    """Fund and patient payments, surplus and the output frame (:func:`drgpay.payment._engine.split_and_finish`:
    same rules, same columns and dtypes)."""
    patient = np.where(w.self_ok, w.self_fen, w.cost - w.fund_fen)
    patient_ok = w.self_ok | (w.cost_ok & w.fund_ok)
    fund = np.zeros(w.n, dtype=np.int64)
    if policy.fund_method == "standard_minus_patient":
        fund = np.maximum(w.std - patient, 0)
        item = w.by_item & w.fund_ok
        fund[item] = w.fund_fen[item]
        fund_ok = (w.std_ok & patient_ok) | (w.std_ok & item)
    else:
        fund_ok = w.std_ok & patient_ok & w.cost_ok & w.fund_ok
        share = np.flatnonzero(fund_ok & (w.cost != 0))  # nothing paid by the fund of a zero cost
        fund[share] = muldiv_round(
            w.std[share], w.fund_fen[share], np.zeros(len(share), np.int64), w.cost[share]
        )
    case_type = np.where(w.case_type == PENDING, CASE["normal"], w.case_type)
    out = pd.DataFrame(
        {
            "case_type": pd.Categorical.from_codes(case_type, dtype=pd.CategoricalDtype(list(CASE_TYPES))),
            amount_column: w.amount,
            "standard": _yuan(w.std, w.std_ok),
            "fund_payment": _yuan(fund, fund_ok),
            "patient_payment": _yuan(patient, patient_ok & w.std_ok),
            "surplus": _yuan(w.std - w.cost, w.std_ok & w.cost_ok),
        },
        index=w.frame.index,
    )
    out["payment_reason"] = w.reasons.column(w.reason).set_axis(w.frame.index)
    return out


def _yuan(fen: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Fen → float64 yuan, NaN where absent (:func:`drgpay.payment._exact.fen_array_to_yuan`)."""
    return np.where(present, fen / 100, np.nan)
