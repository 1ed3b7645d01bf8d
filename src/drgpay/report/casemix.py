"""Case mix (CMI, weights, grouping rate), cost and time efficiency indices, and surplus/loss tables.

Formulas (all exact, rounded half up only at the end):

- grouping rate (入组率) = cases with ``status == "grouped"`` / all cases, in percent;
- CMI (病例组合指数) = Σ weight / number of cases that have a weight (payment gives grouped cases their RW;
  ungroupable or excluded cases without a weight are counted in ``cases`` but not in the CMI);
- cost efficiency index (费用消耗指数) of a unit h (hospital, department…) against a reference population
  (by default the whole input, i.e. the region)::

      CEI_h = Σ_g (mean cost of h in g / reference mean cost in g) × n_hg / Σ_g n_hg

  over the groups g of h's grouped cases; the time efficiency index (时间消耗指数) is the same with
  length of stay. Over the reference population itself the index is exactly 1; below 1 means cheaper
  (shorter) than the region for the same case mix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pandas as pd

from drgpay.report._exact import PCT_PLACES, as_float, fraction_units, mean_units, pct_hundredths
from drgpay.report._frames import (
    as_columns,
    check_frame,
    column_units,
    finish,
    group_sums,
    iter_sums,
    key_row,
    labels,
    optional_units,
    require_columns,
    total_row,
)

__all__ = ["case_mix", "efficiency_indices", "surplus_loss"]

#: Weights are read to this many decimals (RW tables publish 4) before summing.
WEIGHT_PLACES = 6
#: Length of stay is read to this many decimals (days are whole numbers; half days exist in some exports).
LOS_PLACES = 2


def _grouped_mask(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    return np.asarray(frame["status"].astype("str").str.strip().str.lower() == "grouped", dtype=bool)


def _group_totals(
    group: npt.NDArray[np.object_], values: npt.NDArray[np.int64]
) -> dict[object, tuple[int, int]]:
    """Per group: (sum of values, cases)."""
    sums = group_sums({"_g": group}, {"_v": values})
    return {k: (int(v), int(n)) for k, v, n in zip(sums.index, sums["_v"], sums["_n"], strict=True)}


def efficiency_indices(
    unit_keys: dict[str, npt.NDArray[np.object_]],
    group: npt.NDArray[np.object_],
    values: npt.NDArray[np.int64],
    reference: dict[object, tuple[int, int]],
) -> tuple[dict[object, tuple[Fraction | None, int]], tuple[Fraction | None, int]]:
    """Exact efficiency index per unit key and over all rows, with the number of cases it covers.

    *values* are integer costs (or LOS units) of grouped cases, *group* their group labels and *reference* the
    per-group (sum, cases) of the reference population. Cases in a group absent from the reference cannot be
    compared and are left out of the index (its case count says how many were used). A reference group with a
    zero sum contributes a ratio of 1.
    """

    def term(g: object, s: int, n: int) -> Fraction | None:
        if g not in reference:
            return None
        ref_sum, ref_n = reference[g]
        return Fraction(n) if ref_sum == 0 else Fraction(s * ref_n, ref_sum)

    per_unit: dict[object, list[Fraction | int]] = defaultdict(lambda: [Fraction(0), 0])
    if len(values) and unit_keys:
        sums = group_sums({**unit_keys, "_g": group}, {"_v": values})
        for idx, s, n in zip(sums.index, sums["_v"], sums["_n"], strict=True):
            *unit, g = idx
            t = term(g, int(s), int(n))
            if t is not None:
                acc = per_unit[unit[0] if len(unit) == 1 else tuple(unit)]
                acc[0] += t
                acc[1] += int(n)
    total_acc: list[Fraction | int] = [Fraction(0), 0]
    for g, (s, n) in _group_totals(group, values).items() if len(values) else []:
        t = term(g, s, n)
        if t is not None:
            total_acc[0] += t
            total_acc[1] += n

    def result(acc: list[Fraction | int]) -> tuple[Fraction | None, int]:
        num, n = acc
        return (None if n == 0 else Fraction(num) / int(n)), int(n)

    return {k: result(v) for k, v in per_unit.items()}, result(total_acc)


def case_mix(
    paid: pd.DataFrame,
    by: str | Sequence[str] = "hospital_id",
    *,
    group: str = "drg",
    weight: str = "weight",
    reference: pd.DataFrame | None = None,
    places: int = 4,
) -> pd.DataFrame:
    """CMI, total weight, grouping rate, mean cost and LOS, cost and time efficiency indices per ``by`` value.

    Needs ``by``, ``status``, *group* (``drg`` or ``dip_group``), *weight* (``weight``, or ``points`` for
    DIP) and ``total_cost``; ``los`` adds the time efficiency index and mean LOS. *reference* is the
    population the efficiency indices compare with (default: *paid* itself, so the ``total`` row's indices
    are 1). CMI, total weight and indices have *places* decimals, the grouping rate 2 (percent), money 0.01,
    all half up. A missing weight means "no weight"; a missing cost or LOS is an error naming the rows.
    """
    check_frame(paid, "paid")
    keys = as_columns(by)
    if not 0 <= places <= WEIGHT_PLACES:
        raise ValueError(f"places must be between 0 and {WEIGHT_PLACES}")
    require_columns(paid, [*keys, "status", group, weight, "total_cost"], "paid")
    has_los = "los" in paid.columns
    ref = paid if reference is None else check_frame(reference, "reference")
    if reference is not None:
        require_columns(ref, [group, "status", "total_cost"], "reference")
        has_los = has_los and "los" in ref.columns

    key_labels = labels(paid, keys)
    grouped = _grouped_mask(paid)
    w_units, w_present = optional_units(paid, weight, WEIGHT_PLACES, "paid")
    cost = column_units(paid, "total_cost", 2, "paid")
    los = column_units(paid, "los", LOS_PLACES, "paid") if has_los else np.zeros(len(paid), dtype=np.int64)

    values = {
        "grouped": grouped.astype(np.int64),
        "weighted": w_present.astype(np.int64),
        "weight": w_units,
        "cost": cost,
        "los": los,
    }
    if keys:
        sums = group_sums(key_labels, values)
    else:
        sums = pd.DataFrame(index=pd.Index([], dtype=object), columns=[*values, "_n"], dtype=np.int64)
    totals = {name: int(v.sum()) for name, v in values.items()} | {"_n": len(paid)}

    # Efficiency: grouped cases only, against the reference population's group means.
    g_labels = labels(paid, [group])[group][grouped]
    unit_g = {k: v[grouped] for k, v in key_labels.items()}
    ref_grouped = _grouped_mask(ref) if reference is not None else grouped
    ref_labels = labels(ref, [group])[group][ref_grouped]
    ref_cost = (column_units(ref, "total_cost", 2, "reference") if reference is not None else cost)[
        ref_grouped
    ]
    cei, cei_total = efficiency_indices(unit_g, g_labels, cost[grouped], _group_totals(ref_labels, ref_cost))
    if has_los:
        ref_los = (column_units(ref, "los", LOS_PLACES, "reference") if reference is not None else los)[
            ref_grouped
        ]
        tei, tei_total = efficiency_indices(
            unit_g, g_labels, los[grouped], _group_totals(ref_labels, ref_los)
        )

    columns = [
        "cases",
        "grouped_cases",
        "grouping_rate_pct",
        "weighted_cases",
        "total_weight",
        "cmi",
        "total_cost",
        "mean_cost",
        "efficiency_cases",
        "cost_efficiency_index",
    ]
    if has_los:
        columns[8:8] = ["mean_los"]
        columns.append("time_efficiency_index")
    scale = 10 ** (WEIGHT_PLACES - places)

    def row(
        key_cells: dict[str, object],
        s: dict[str, int],
        cost_idx: tuple[Fraction | None, int],
        time_idx: tuple[Fraction | None, int] | None,
    ) -> dict[str, object]:
        n = s["_n"]
        cmi = mean_units(s["weight"], s["weighted"] * scale) if s["weighted"] else None
        out: dict[str, object] = {
            **key_cells,
            "cases": n,
            "grouped_cases": s["grouped"],
            "grouping_rate_pct": as_float(pct_hundredths(s["grouped"], n), PCT_PLACES),
            "weighted_cases": s["weighted"],
            "total_weight": as_float(mean_units(s["weight"], scale), places),
            "cmi": as_float(cmi, places),
            "total_cost": as_float(s["cost"]),
            "mean_cost": as_float(mean_units(s["cost"], n)),
            "efficiency_cases": cost_idx[1],
            "cost_efficiency_index": as_float(
                None if cost_idx[0] is None else fraction_units(cost_idx[0], places), places
            ),
        }
        if time_idx is not None:
            out["mean_los"] = as_float(mean_units(s["los"], n), LOS_PLACES)
            out["time_efficiency_index"] = as_float(
                None if time_idx[0] is None else fraction_units(time_idx[0], places), places
            )
        return out

    rows: list[dict[str, object]] = []
    none: tuple[Fraction | None, int] = (None, 0)
    for key, s in iter_sums(sums):
        rows.append(row(key_row(keys, key), s, cei.get(key, none), tei.get(key, none) if has_los else None))
    rows.append(row(total_row(keys), totals, cei_total, tei_total if has_los else None))
    return finish(rows, keys, columns)


def surplus_loss(paid: pd.DataFrame, by: str | Sequence[str] = "case_type") -> pd.DataFrame:
    """Surplus (结余) and loss (超支) of the payment standard against cost, per ``by`` value and in total.

    Needs ``by``, ``total_cost`` and ``surplus`` or ``standard`` (then surplus = standard − total_cost). A
    case without a surplus (no standard, e.g. excluded) is counted in ``cases`` but not in ``paid_cases`` or
    the sums.
    ``net_surplus`` = Σ surplus = ``surplus_amount`` (over cases with surplus > 0) + ``loss_amount`` (< 0);
    ``surplus_rate_pct`` = net surplus / Σ standard, in percent (only when ``standard`` is present).
    """
    check_frame(paid, "paid")
    keys = as_columns(by)
    require_columns(paid, [*keys, "total_cost"], "paid")
    has_standard = "standard" in paid.columns
    if "surplus" not in paid.columns and not has_standard:
        raise ValueError("paid: missing required column(s): surplus or standard")
    cost = column_units(paid, "total_cost", 2, "paid")
    if has_standard:
        standard, std_present = optional_units(paid, "standard", 2, "paid")
    if "surplus" in paid.columns:
        surplus, present = optional_units(paid, "surplus", 2, "paid")
    else:
        surplus, present = np.where(std_present, standard - cost, 0), std_present
    values = {
        "paid": present.astype(np.int64),
        "cost": cost,
        "standard": standard if has_standard else np.zeros(len(paid), dtype=np.int64),
        "net": surplus,
        "gain": np.where(surplus > 0, surplus, 0),
        "loss": np.where(surplus < 0, surplus, 0),
        "n_gain": (surplus > 0).astype(np.int64),
        "n_loss": (surplus < 0).astype(np.int64),
    }
    columns = ["cases", "paid_cases", "total_cost"]
    if has_standard:
        columns.append("total_standard")
    columns += ["net_surplus", "surplus_amount", "loss_amount", "surplus_cases", "loss_cases"]
    if has_standard:
        columns.append("surplus_rate_pct")

    def row(key_cells: dict[str, object], s: dict[str, int]) -> dict[str, object]:
        out: dict[str, object] = {
            **key_cells,
            "cases": s["_n"],
            "paid_cases": s["paid"],
            "total_cost": as_float(s["cost"]),
            "net_surplus": as_float(s["net"]),
            "surplus_amount": as_float(s["gain"]),
            "loss_amount": as_float(s["loss"]),
            "surplus_cases": s["n_gain"],
            "loss_cases": s["n_loss"],
        }
        if has_standard:
            out["total_standard"] = as_float(s["standard"])
            out["surplus_rate_pct"] = as_float(pct_hundredths(s["net"], s["standard"]), PCT_PLACES)
        return out

    rows: list[dict[str, object]] = []
    if keys:
        for key, s in iter_sums(group_sums(labels(paid, keys), values)):
            rows.append(row(key_row(keys, key), s))
    totals = {name: int(np.sum(v)) for name, v in values.items()} | {"_n": len(paid)}
    rows.append(row(total_row(keys), totals))
    return finish(rows, keys, columns)
