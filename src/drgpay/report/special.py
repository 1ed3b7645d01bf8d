"""Special-case review (特例单议) statistics: applications, approvals, pass rate and the extra amount paid.

Pass rate = approved / applied, in percent with 2 decimals, rounded half up — or truncated toward zero with
``truncate=True``, as some county reports print it (143 of 219: 65.30 %, truncated 65.29 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from drgpay.money import fen_to_decimal
from drgpay.report._exact import PCT_PLACES, as_float, pct_hundredths
from drgpay.report._frames import (
    IntArray,
    as_columns,
    check_frame,
    column_units,
    describe_rows,
    finish,
    group_sums,
    iter_sums,
    key_row,
    labels,
    require_columns,
    total_row,
)

__all__ = ["DECISIONS", "pass_rate", "special_case_stats"]

#: Accepted values of the ``decision`` column (case and surrounding blanks ignored).
DECISIONS = ("approved", "rejected")


def pass_rate(approved: int, applied: int, *, truncate: bool = False) -> Decimal | None:
    """``approved / applied`` in percent, 2 decimals, half up or truncated; None when nothing was applied."""
    if approved < 0 or applied < 0 or approved > applied:
        raise ValueError(f"need 0 <= approved <= applied, got approved={approved}, applied={applied}")
    hundredths = pct_hundredths(approved, applied, truncate=truncate)
    return None if hundredths is None else fen_to_decimal(hundredths, PCT_PLACES)


def special_case_stats(
    applications: pd.DataFrame,
    truncate: bool = False,
    *,
    by: str | Sequence[str] | None = None,
    decision: str = "decision",
    amount: str = "amount",
) -> pd.DataFrame:
    """Applied, approved and rejected counts, pass rate and extra amount paid, per ``by`` value and in total.

    *applications* has one row per application with a *decision* column (``approved`` / ``rejected``; any
    other value, missing included, is an error naming the rows) and optionally an *amount* column: the extra
    payment granted on review, required for approved rows and ignored for rejected ones; ``extra_paid`` is
    its sum over approved rows, each rounded to the fen (yuan, exact). Without ``by`` the result is one row.
    """
    check_frame(applications, "applications")
    keys = as_columns(by)
    require_columns(applications, [*keys, decision], "applications")
    norm = applications[decision].astype("str").str.strip().str.lower()
    bad = np.flatnonzero(~np.asarray(norm.isin(DECISIONS), dtype=bool))
    if len(bad):
        raise ValueError(
            f"applications: column {decision!r} must be one of {', '.join(DECISIONS)}; "
            f"{len(bad)} row(s) are not: {describe_rows(applications, bad)}"
        )
    approved = np.asarray(norm == "approved", dtype=bool)
    extra = None
    if amount in applications.columns:
        extra = np.zeros(len(applications), dtype=np.int64)
        if approved.any():
            idx = np.flatnonzero(approved)
            extra[idx] = column_units(applications.iloc[idx], amount, 2, "applications (approved rows)")
    return decision_stats(
        applications, norm.to_numpy(dtype=object), DECISIONS, truncate=truncate, by=keys, extra=extra
    )


def decision_stats(
    applications: pd.DataFrame,
    decisions: npt.NDArray[np.object_],
    kinds: Sequence[str],
    *,
    truncate: bool = False,
    by: Sequence[str] = (),
    extra: IntArray | None = None,
) -> pd.DataFrame:
    """Applications counted by decision, per ``by`` value and in total: ``applied``, one count column per
    decision in ``kinds`` (``approved`` first), ``pass_rate_pct`` = approved / applied and, given ``extra`` (fen
    per application), ``extra_paid`` in yuan.

    ``decisions`` holds each application's normalised decision, one of ``kinds``. The figures of
    :func:`special_case_stats` and of :func:`drgpay.payment.special_case_summary` (which also counts
    ``pending``).
    """
    keys = list(by)
    values = {kind: np.asarray(decisions == kind, dtype=bool).astype(np.int64) for kind in kinds}
    if extra is not None:
        values["extra"] = extra
    columns = ["applied", *kinds, "pass_rate_pct"] + (["extra_paid"] if extra is not None else [])

    def row(key_cells: dict[str, object], s: dict[str, int]) -> dict[str, object]:
        out: dict[str, object] = {
            **key_cells,
            "applied": s["_n"],
            **{kind: s[kind] for kind in kinds},
            "pass_rate_pct": as_float(pct_hundredths(s["approved"], s["_n"], truncate=truncate), PCT_PLACES),
        }
        if extra is not None:
            out["extra_paid"] = as_float(s["extra"])
        return out

    rows: list[dict[str, object]] = []
    if keys:
        for key, s in iter_sums(group_sums(labels(applications, keys), values)):
            rows.append(row(key_row(keys, key), s))
    totals = {name: int(v.sum()) for name, v in values.items()} | {"_n": len(applications)}
    rows.append(row(total_row(keys), totals))
    return finish(rows, keys, columns)
