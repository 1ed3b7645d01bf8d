"""Errors raised by payment: each names the rows, columns, files or keys at fault."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "GrouperMismatchError",
    "PaymentError",
    "PaymentInputError",
    "PolicyDateError",
    "PolicyError",
    "SpecialCaseError",
    "SpecialQuotaError",
    "describe_rows",
]


class PaymentError(ValueError):
    """Base class of every payment error."""


class PolicyError(PaymentError):
    """A policy file, table or object is malformed (the message names the file, key or row)."""


class PaymentInputError(PaymentError):
    """Cases handed to payment are unusable (the message names the columns or rows)."""


class GrouperMismatchError(PaymentError):
    """Cases were grouped by another grouper (or version) than the one the policy's weights or scores are for.

    ``policy_grouper`` is the policy's grouper id, ``found`` the other ids with their number of rows (0 when
    they were not counted: a lazy Dask frame refused before any work).
    """

    def __init__(self, message: str, policy_grouper: str, found: dict[str, int]) -> None:
        super().__init__(message)
        self.policy_grouper = policy_grouper
        self.found = dict(found)


class PolicyDateError(PaymentError):
    """Cases were discharged outside the policy's effective date range."""

    def __init__(self, message: str, rows: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.rows = list(rows)


class SpecialCaseError(PaymentError):
    """A 特例单议 application table is malformed or refers to unknown cases."""


class SpecialQuotaError(SpecialCaseError):
    """More special-case applications than the quota allows (the message names each period over quota)."""

    def __init__(self, message: str, table: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        self.table = table


def describe_rows(frame: pd.DataFrame, positions: Sequence[int] | np.ndarray, limit: int = 10) -> str:
    """Short text naming rows by index label (and case_id when present), at most ``limit`` of them."""
    shown = []
    has_id = "case_id" in frame.columns
    for pos in list(positions)[:limit]:
        label = frame.index[pos]
        if has_id:
            shown.append(f"{label!r} (case_id {frame['case_id'].iloc[pos]!r})")
        else:
            shown.append(repr(label))
    more = len(positions) - len(shown)
    text = ", ".join(shown)
    if more > 0:
        text += f" and {more} more"
    return text
