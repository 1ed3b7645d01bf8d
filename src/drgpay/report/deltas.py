"""Baseline-versus-current cost deltas per group, and the same figures from published means.

What county reports print — "mean inpatient cost 9,829.41 → 9,613.29 yuan, −216.12 yuan (−2.20 %), patient
burden reduced by 5.21 million yuan" — is reproduced exactly:

- costs are summed in integer fen; a mean is ``sum / cases`` rounded half up to 0.01 yuan;
- ``mean_cost_change`` is the difference of the two rounded means;
- ``mean_cost_change_pct`` is that change over the rounded baseline mean, in percent, 2 decimals, half up;
- ``burden_reduction = −mean_cost_change × cases_current`` (exact: fen × an integer).

The same rules apply to every row, the ``total`` row included (its means are over all cases of the period,
so its ``burden_reduction`` is generally not the sum of the group rows: the difference is the case-mix
effect).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs
import numpy as np
import pandas as pd

from drgpay.money import fen_to_decimal, round_half_up
from drgpay.report._exact import PCT_PLACES, as_float, delta_units, mean_units
from drgpay.report._frames import (
    as_columns,
    check_frame,
    column_units,
    finish,
    group_sums,
    key_row,
    labels,
    optional_units,
    require_columns,
    total_row,
)

__all__ = ["OPTIONAL_AMOUNTS", "MeanDelta", "cost_deltas", "delta_from_means"]

#: Money columns compared when both periods have them (out-of-pocket, fund paid, policy fund payment).
OPTIONAL_AMOUNTS: tuple[str, ...] = ("self_paid", "fund_paid", "fund_payment")


def _block_columns(name: str) -> list[str]:
    cols = [
        f"total_{name}_baseline",
        f"total_{name}_current",
        f"total_{name}_change",
        f"mean_{name}_baseline",
        f"mean_{name}_current",
        f"mean_{name}_change",
        f"mean_{name}_change_pct",
    ]
    if name == "cost":
        cols.append("burden_reduction")
    elif name == "self_paid":
        cols.append("self_paid_reduction")
    return cols


def _block_values(name: str, sum_b: int, n_b: int, sum_c: int, n_c: int) -> dict[str, float]:
    mean_b, mean_c = mean_units(sum_b, n_b), mean_units(sum_c, n_c)
    change, pct, reduction = delta_units(mean_b, mean_c, n_c)
    cols = _block_columns(name)
    values = [
        as_float(sum_b),
        as_float(sum_c),
        as_float(sum_c - sum_b),
        as_float(mean_b),
        as_float(mean_c),
        as_float(change),
        as_float(pct, PCT_PLACES),
    ]
    if len(cols) > len(values):
        values.append(as_float(reduction))
    return dict(zip(cols, values, strict=True))


def _prepare(frame: pd.DataFrame, keys: list[str], amounts: list[str], what: str) -> pd.DataFrame:
    """Per-group exact fen sums of ``total_cost`` and the optional amounts. An empty ``fund_payment`` is a case
    ``drgpay.pay`` did not pay (invalid, or a rule that pays nothing): the fund paid 0 for it."""
    values: dict[str, np.ndarray] = {
        "cost": column_units(frame, "total_cost", 2, what),
        **{
            name: optional_units(frame, name, 2, what)[0]
            if name == "fund_payment"
            else column_units(frame, name, 2, what)
            for name in amounts
        },
    }
    if not keys:
        sums = {name: int(v.sum()) for name, v in values.items()} | {"_n": len(frame)}
        return pd.DataFrame([sums], index=pd.Index([""]), dtype=np.int64)
    return group_sums(labels(frame, keys), values)


def cost_deltas(
    baseline: pd.DataFrame, current: pd.DataFrame, by: str | Sequence[str] = "drg"
) -> pd.DataFrame:
    """Cases, total and mean cost per group in two periods, the change of the mean and the burden reduction.

    One row per group (sorted by key; a group seen in one period only has NaN means and changes there) and a
    final row labelled ``total`` over all cases. Both frames need the ``by`` column(s) and ``total_cost``.
    When both frames have ``self_paid``, ``fund_paid`` or ``fund_payment``, the same block of columns is
    added for each (``total_<x>_*``, ``mean_<x>_*``; for ``self_paid`` also ``self_paid_reduction``, the
    out-of-pocket reduction). Money is in yuan exact to 0.01, percentages in percent with 2 decimals, both
    rounded half up; missing or non-numeric amounts are errors naming the rows, except an empty
    ``fund_payment`` (a case ``pay`` left unpaid counts as 0 paid by the fund). Group keys are returned as
    strings.
    """
    check_frame(baseline, "baseline")
    check_frame(current, "current")
    keys = as_columns(by)
    require_columns(baseline, [*keys, "total_cost"], "baseline")
    require_columns(current, [*keys, "total_cost"], "current")
    amounts = [c for c in OPTIONAL_AMOUNTS if c in baseline.columns and c in current.columns]
    sums_b = _prepare(baseline, keys, amounts, "baseline")
    sums_c = _prepare(current, keys, amounts, "current")
    names = ["cost", *amounts]
    columns = ["cases_baseline", "cases_current"]
    for name in names:
        columns += _block_columns(name)

    def row(key_cells: dict[str, object], b: pd.Series, c: pd.Series) -> dict[str, object]:
        n_b, n_c = int(b["_n"]), int(c["_n"])
        out: dict[str, object] = {**key_cells, "cases_baseline": n_b, "cases_current": n_c}
        for name in names:
            out |= _block_values(name, int(b[name]), n_b, int(c[name]), n_c)
        return out

    rows: list[dict[str, object]] = []
    if keys:
        index = sums_b.index.union(sums_c.index).sort_values()
        sums_b = sums_b.reindex(index, fill_value=0)
        sums_c = sums_c.reindex(index, fill_value=0)
        for key in index:
            rows.append(row(key_row(keys, key), sums_b.loc[key], sums_c.loc[key]))
    rows.append(row(total_row(keys), sums_b.sum(), sums_c.sum()))
    return finish(rows, keys, columns)


@attrs.frozen
class MeanDelta:
    """Change between two published mean costs (yuan, exact Decimals)."""

    mean_baseline: Decimal
    mean_current: Decimal
    mean_cost_change: Decimal
    #: Percent of the baseline mean, 2 decimals, half up; None when the baseline mean is 0.
    mean_cost_change_pct: Decimal | None
    cases_current: int | None = None
    #: ``−mean_cost_change × cases_current``; None without ``cases_current``.
    burden_reduction: Decimal | None = None

    def as_dict(self) -> dict[str, object]:
        """The fields as a plain dict (e.g. for a one-row DataFrame)."""
        return attrs.asdict(self)


def delta_from_means(
    mean_baseline: object, mean_current: object, cases_current: int | None = None
) -> MeanDelta:
    """:func:`cost_deltas` figures when only the published means (and case count) are known.

    Means may be int, str, Decimal or float (read as typed) and are first rounded half up to 0.01; the rules
    are those of :func:`cost_deltas`: ``delta_from_means("9829.41", "9613.29")`` gives −216.12 and −2.20 %.
    """
    fen_b = int(round_half_up(mean_baseline, 2).scaleb(2))
    fen_c = int(round_half_up(mean_current, 2).scaleb(2))
    if cases_current is not None and (isinstance(cases_current, bool) or int(cases_current) != cases_current):
        raise ValueError(f"cases_current must be a whole number, got {cases_current!r}")
    n_c = None if cases_current is None else int(cases_current)
    change, pct, reduction = delta_units(fen_b, fen_c, n_c)
    assert change is not None
    return MeanDelta(
        mean_baseline=fen_to_decimal(fen_b),
        mean_current=fen_to_decimal(fen_c),
        mean_cost_change=fen_to_decimal(change),
        mean_cost_change_pct=None if pct is None else fen_to_decimal(pct, PCT_PLACES),
        cases_current=n_c,
        burden_reduction=None if reduction is None else fen_to_decimal(reduction),
    )
