"""Input checks and exact aggregation shared by the report tables.

Every report reads plain DataFrames in the canonical schema. Checks are strict because a published figure that
silently left out rows is worse than an error: a missing column is a :class:`ValueError` naming the column, a
missing or non-numeric amount is a :class:`ValueError` naming the rows (by ``case_id`` when present).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from drgpay.money import InvalidAmountError, to_units

#: Label of the final row of every grouped table.
TOTAL = "total"
#: Label used for a missing group key (the row is kept, never dropped).
MISSING = "(missing)"

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_MAX_LISTED = 10


def as_columns(by: str | Sequence[str] | None) -> list[str]:
    """Normalise a ``by=`` argument to a list of column names."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def check_frame(frame: object, what: str) -> pd.DataFrame:
    """Return *frame* if it is a DataFrame, else raise TypeError."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ValueError naming every required column that *frame* lacks."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing required column(s): {', '.join(missing)}")


def _shown(value: object) -> str:
    """An id as the message shows it: as written when printable, quoted and escaped otherwise (a line break or
    control character in an id must not break a one-line error)."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def describe_rows(frame: pd.DataFrame, positions: Iterable[int] | npt.NDArray[np.integer[Any]]) -> str:
    """Name rows for an error message: by ``case_id`` if the frame has one, else by index label."""
    pos = [int(p) for p in positions]
    if "case_id" in frame.columns:
        names = [_shown(x) for x in frame["case_id"].iloc[pos[:_MAX_LISTED]]]
        head = "case_id " + ", ".join(names)
    else:
        names = [_shown(x) for x in frame.index[pos[:_MAX_LISTED]]]
        head = "index " + ", ".join(names)
    more = len(pos) - _MAX_LISTED
    return head + (f" and {more} more" if more > 0 else "")


def column_units(frame: pd.DataFrame, column: str, places: int, what: str) -> IntArray:
    """Exact integer units (``10**-places``) of a column that must be numeric in every row."""
    try:
        return to_units(frame[column], places)
    except InvalidAmountError as err:
        raise ValueError(
            f"{what}: column {column!r} is missing or not numeric in {len(err.positions)} row(s): "
            f"{describe_rows(frame, err.positions)} (missing amounts are errors, never dropped)"
        ) from None


def optional_units(frame: pd.DataFrame, column: str, places: int, what: str) -> tuple[IntArray, BoolArray]:
    """Exact units of a column where missing means "not available" (0 there) and text is an error."""
    present = ~np.asarray(frame[column].isna(), dtype=bool)
    out = np.zeros(len(frame), dtype=np.int64)
    if present.any():
        sub = frame.iloc[np.flatnonzero(present)]
        out[present] = column_units(sub, column, places, what)
    return out, present


def labels(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, npt.NDArray[np.object_]]:
    """Group keys as strings (``MISSING`` for a missing key) so a ``total`` label can share the column."""
    out: dict[str, npt.NDArray[np.object_]] = {}
    for col in columns:
        values = frame[col].astype("str").fillna(MISSING)
        out[col] = values.to_numpy(dtype=object)
    return out


def group_sums(keys: Mapping[str, npt.NDArray[Any]], values: Mapping[str, npt.NDArray[Any]]) -> pd.DataFrame:
    """Exact integer sums of *values* per key combination, sorted by key, with a ``_n`` row count column."""
    data: dict[str, npt.NDArray[Any]] = {**keys, **values}
    n = len(next(iter(values.values()))) if values else 0
    data["_n"] = np.ones(n, dtype=np.int64)
    frame = pd.DataFrame(data)
    cols = list(keys)
    summed = frame.groupby(cols, sort=True, dropna=False)[[*values, "_n"]].sum()
    return summed.astype(np.int64)


def finish(rows: list[dict[str, object]], key_columns: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Build the output frame: key columns as strings, counts as int64, the rest float64."""
    frame = pd.DataFrame(rows, columns=[*key_columns, *columns])
    for col in key_columns:
        frame[col] = frame[col].astype("str")
    for col in columns:
        if col == "cases" or col.startswith(("cases_", "n_")) or col.endswith("_cases") or col in _COUNTS:
            frame[col] = frame[col].astype(np.int64)
        else:
            frame[col] = frame[col].astype(np.float64)
    return frame


_COUNTS = frozenset({"applied", "approved", "rejected", "pending"})


def key_row(key_columns: Sequence[str], key: object) -> dict[str, object]:
    """The key cells of one output row (a tuple key for several columns)."""
    if len(key_columns) == 1:
        return {key_columns[0]: key}
    assert isinstance(key, tuple)
    return dict(zip(key_columns, key, strict=True))


def total_row(key_columns: Sequence[str]) -> dict[str, object]:
    """Key cells of the final ``total`` row: ``total`` in the first key column, empty in the others."""
    return {col: (TOTAL if i == 0 else "") for i, col in enumerate(key_columns)}


def iter_sums(sums: pd.DataFrame) -> Iterator[tuple[object, dict[str, int]]]:
    """Rows of a :func:`group_sums` frame as (key, {column: int})."""
    for key, srow in sums.iterrows():
        yield key, {str(k): int(v) for k, v in srow.items()}
