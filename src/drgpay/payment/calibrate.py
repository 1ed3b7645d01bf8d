"""Calibration from history: DRG weights (RW), DIP scores, base rate from a budget, point value from a fund.

- RW of a group = its mean cost / the all-case mean cost, over the cases kept after trimming. With several
  years and ``year_weights`` (e.g. ``{2021: 1, 2022: 2, 2023: 7}``) each mean is the weighted mean of the
  yearly means (weights renormalised over the years a group has cases).
- DIP score = group mean cost / reference mean cost × ``scale`` (1000 by default, 100 in some cities).
- base rate = budget / Σ expected weight (the weights of the expected cases, × their coefficient when given).
- point value = fund / Σ points (预算点值 from a budget and expected points, 结算点值 from the year's fund and
  actual points).

All sums are exact (integer fen, rationals); each published figure is rounded once, half up: weights and point
values to 4 decimals, scores and money to 2 (parameters).

Trimming (per group and year), off by default: ``iqr`` keeps Q1 − k·IQR … Q3 + k·IQR (k = 1.5), ``log_sd``
keeps costs within k standard deviations of the mean log cost (k = 3), ``percentile`` keeps the ``trim_range``
quantiles (0.05 … 0.95).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import attrs
import numpy as np
import pandas as pd

from drgpay.payment._exact import dec, fraction_round_half_up, yuan_array_to_fen
from drgpay.payment.errors import PaymentInputError, describe_rows
from drgpay.payment.grouping import case_groupers
from drgpay.payment.policy import (
    BaseRate,
    DipGroupScore,
    DipPolicy,
    DrgPolicy,
    GroupWeight,
    PointValue,
    Provenance,
)
from drgpay.schema import parse_numeric_column

__all__ = [
    "calibrate_base_rate",
    "calibrate_dip_policy",
    "calibrate_dip_scores",
    "calibrate_drg_policy",
    "calibrate_point_value",
    "calibrate_weights",
]

_TRIM_DEFAULT_K = {"iqr": 1.5, "log_sd": 3.0}


def _trim(
    frame: pd.DataFrame, method: str | None, k: float | None, trim_range: tuple[float, float] | None
) -> np.ndarray:
    """Keep-mask over ``frame`` (columns g, y, cost) by the trimming method, per group and year."""
    n = len(frame)
    if method is None:
        return np.ones(n, dtype=bool)
    grouped = frame.groupby(["g", "y"], sort=False)["cost"]
    cost = frame["cost"]
    if method == "iqr":
        k = _TRIM_DEFAULT_K["iqr"] if k is None else k
        q1 = grouped.transform(lambda s: s.quantile(0.25))
        q3 = grouped.transform(lambda s: s.quantile(0.75))
        iqr = q3 - q1
        keep = (cost >= q1 - k * iqr) & (cost <= q3 + k * iqr)
    elif method == "log_sd":
        k = _TRIM_DEFAULT_K["log_sd"] if k is None else k
        logs = np.log(cost.clip(lower=0.01))
        lg = logs.groupby([frame["g"], frame["y"]], sort=False)
        mean = lg.transform("mean")
        sd = lg.transform("std").fillna(0.0)
        keep = (logs - mean).abs() <= k * sd + 1e-12
    elif method == "percentile":
        lo, hi = trim_range or (0.05, 0.95)
        if not 0 <= lo < hi <= 1:
            raise ValueError("trim_range must be (low, high) with 0 <= low < high <= 1")
        qlo = grouped.transform(lambda s: s.quantile(lo))
        qhi = grouped.transform(lambda s: s.quantile(hi))
        keep = (cost >= qlo) & (cost <= qhi)
    else:
        raise ValueError(f"trim must be None, 'iqr', 'log_sd' or 'percentile'; got {method!r}")
    return keep.to_numpy(dtype=bool)


def _history(
    history: pd.DataFrame, group: str, cost: str, year: str | None, statuses: tuple[str, ...] | None
) -> pd.DataFrame:
    if not isinstance(history, pd.DataFrame):
        raise PaymentInputError("history must be a DataFrame")
    missing = [c for c in (group, cost, *([year] if year else [])) if c not in history.columns]
    if missing:
        raise PaymentInputError(f"history: missing column(s) {', '.join(missing)}")
    fen, ok, bad = yuan_array_to_fen(history[cost].reset_index(drop=True))
    if bad.any():
        raise PaymentInputError(
            f"history: {cost!r} not an amount in row(s) {describe_rows(history, np.flatnonzero(bad))}"
        )
    keep = ok.copy()
    if statuses is not None and "status" in history.columns:
        keep &= history["status"].astype(str).isin(statuses).to_numpy()
    codes = history[group].astype("string").fillna("").str.strip().to_numpy(dtype=object)
    keep &= codes != ""
    frame = pd.DataFrame(
        {
            "g": codes,
            "y": history[year].astype(str).to_numpy() if year else "all",
            "fen": fen,
            "cost": fen / 100.0,
            # stays read as grouping reads them: unusable ones (negative, over 3,650 days) do not count
            "los": parse_numeric_column(history["los"], "los")[0] if "los" in history.columns else np.nan,
        }
    )
    return frame[keep].reset_index(drop=True)


def _weighted_means(
    frame: pd.DataFrame, year_weights: Mapping[Any, Any] | None
) -> tuple[dict[str, Fraction], Fraction, dict[str, Fraction]]:
    """Exact (weighted) mean cost in fen per group, overall, and mean LOS per group."""
    years = sorted(frame["y"].unique())
    if year_weights is None:
        yw = {y: Fraction(1) for y in years} if len(years) <= 1 else None
    else:
        yw = {str(k): Fraction(dec(v)) for k, v in year_weights.items()}
        unknown = sorted(set(years) - set(yw))
        if unknown:
            raise PaymentInputError(f"year_weights: no weight for year(s) {', '.join(unknown)}")

    sums = frame.groupby(["g", "y"], sort=True).agg(fen=("fen", "sum"), n=("fen", "size"))
    los = frame.groupby("g", sort=True)["los"].mean()

    def combine(parts: pd.DataFrame) -> Fraction:
        if yw is None:  # several years, no weights: pool the cases
            return Fraction(int(parts["fen"].sum()), int(parts["n"].sum()))
        total_w = Fraction(0)
        acc = Fraction(0)
        for _y, rec in parts.iterrows():
            y = _y[-1] if isinstance(_y, tuple) else _y
            w = yw[y]
            acc += w * Fraction(int(rec["fen"]), int(rec["n"]))
            total_w += w
        if total_w == 0:
            return Fraction(int(parts["fen"].sum()), int(parts["n"].sum()))
        return acc / total_w

    group_means = {str(g): combine(part) for g, part in sums.groupby(level="g", sort=True)}
    overall = combine(frame.groupby("y", sort=True).agg(fen=("fen", "sum"), n=("fen", "size")))
    mean_los = {str(g): Fraction(dec(float(v))) for g, v in los.items() if v == v}
    return group_means, overall, mean_los


@attrs.frozen
class _Sample:
    """Which historical cases count and how their means are formed: the options every calibration shares."""

    year: str | None = None
    year_weights: Mapping[Any, Any] | None = None
    trim: str | None = None
    trim_k: float | None = None
    trim_range: tuple[float, float] | None = None
    statuses: tuple[str, ...] | None = ("grouped",)


def _calibrate(
    history: pd.DataFrame,
    sample: _Sample,
    group: str,
    cost: str,
    min_cases: int,
    places: int,
    value_name: str,
    reference: Any = None,
    scale: Decimal = Decimal(1),
) -> pd.DataFrame:
    year, year_weights, trim = sample.year, sample.year_weights, sample.trim
    frame = _history(history, group, cost, year, sample.statuses)
    if not len(frame):
        raise PaymentInputError("history: no usable cases (group and cost present)")
    counts = frame.groupby("g").size()
    kept = frame[_trim(frame, trim, sample.trim_k, sample.trim_range)]
    used = kept.groupby("g").size()
    means, overall, mean_los = _weighted_means(kept, year_weights)
    ref = overall / 100 if reference is None else Fraction(dec(reference))
    rows = []
    for g in sorted(counts.index):
        g = str(g)
        mean = means.get(g)
        value = (
            None
            if mean is None or ref == 0
            else fraction_round_half_up(mean / 100 / ref * Fraction(scale), places)
        )
        rows.append(
            {
                group: g,
                "cases": int(counts[g]),
                "cases_used": int(used.get(g, 0)),
                "mean_cost": None if mean is None else float(fraction_round_half_up(mean / 100, 2)),
                value_name: None if value is None else float(value),
                "mean_los": float(fraction_round_half_up(mean_los[g], 2)) if g in mean_los else None,
                "stable": int(used.get(g, 0)) >= min_cases,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["reference_mean_cost"] = float(fraction_round_half_up(ref, 2))
    out.attrs["trim"] = trim or "none"
    out.attrs["year_weights"] = {str(k): str(v) for k, v in (year_weights or {}).items()}
    return out


def calibrate_weights(
    history: pd.DataFrame,
    *,
    group: str = "drg",
    cost: str = "total_cost",
    year: str | None = None,
    year_weights: Mapping[Any, Any] | None = None,
    trim: str | None = None,
    trim_k: float | None = None,
    trim_range: tuple[float, float] | None = None,
    statuses: tuple[str, ...] | None = ("grouped",),
    min_cases: int = 1,
    places: int = 4,
) -> pd.DataFrame:
    """RW per group from historical cases: ``drg``, ``cases``, ``cases_used``, ``mean_cost``, ``weight``,
    ``mean_los``, ``stable`` (cases used ≥ ``min_cases``); ``attrs['reference_mean_cost']`` is the all-case
    mean.

    Only rows whose ``status`` is in ``statuses`` count (when the column exists), both for the groups and the
    all-case mean. ``year`` names the column holding the year; see the module notes for weighting and
    trimming.
    """
    sample = _Sample(year, year_weights, trim, trim_k, trim_range, statuses)
    return _calibrate(history, sample, group, cost, min_cases, places, "weight")


def calibrate_dip_scores(
    history: pd.DataFrame,
    *,
    group: str = "dip_group",
    cost: str = "total_cost",
    year: str | None = None,
    year_weights: Mapping[Any, Any] | None = None,
    trim: str | None = None,
    trim_k: float | None = None,
    trim_range: tuple[float, float] | None = None,
    statuses: tuple[str, ...] | None = ("grouped",),
    reference: Decimal | float | str | None = None,
    scale: Decimal | int | str = 1000,
    min_cases: int = 1,
    places: int = 2,
) -> pd.DataFrame:
    """DIP score per group: mean cost / reference mean cost × ``scale``; same columns as
    :func:`calibrate_weights` with ``score`` for ``weight``. ``reference`` defaults to the all-case mean."""
    sample = _Sample(year, year_weights, trim, trim_k, trim_range, statuses)
    return _calibrate(history, sample, group, cost, min_cases, places, "score", reference, dec(scale))


def _weight_lookup(weights: Any) -> dict[str, Decimal]:
    if isinstance(weights, DrgPolicy):
        return {k: v.weight for k, v in weights.weights.items() if v.weight is not None}
    if isinstance(weights, DipPolicy):
        return {k: v.score for k, v in weights.scores.items() if v.score is not None}
    if isinstance(weights, pd.DataFrame):
        code = next((c for c in ("drg", "dip_group", "code") if c in weights.columns), None)
        value = next((c for c in ("weight", "score") if c in weights.columns), None)
        if code is None or value is None:
            raise PaymentInputError("weights table needs a drg/dip_group column and a weight/score column")
        return {
            str(c): dec(v)
            for c, v in zip(weights[code], weights[value], strict=True)
            if v == v and v is not None
        }
    return {str(k): dec(v) for k, v in dict(weights).items()}


def calibrate_base_rate(
    volume: pd.DataFrame,
    weights: Any,
    budget: Decimal | float | str,
    *,
    group: str = "drg",
    coefficient: str | None = None,
    places: int = 2,
) -> Decimal:
    """Base rate = ``budget`` / Σ expected weight over the cases of ``volume`` (rounded half up to
    ``places``).

    ``weights``: a DrgPolicy, a weights table or a {group: weight} mapping; rows whose group has no weight do
    not count. ``coefficient`` names a column of ``volume`` multiplying each case's weight (e.g. level
    coefficients).
    """
    lookup = _weight_lookup(weights)
    if group not in volume.columns:
        raise PaymentInputError(f"volume: missing column {group!r}")
    total = Decimal(0)
    codes = volume[group].astype("string").fillna("").str.strip()
    counts = codes.value_counts()
    if coefficient is None:
        for code, n in counts.items():
            if code in lookup:
                total += lookup[str(code)] * int(n)
    else:
        for code, coef in zip(codes, volume[coefficient], strict=True):
            if code in lookup:
                total += lookup[str(code)] * dec(coef)
    if total <= 0:
        raise PaymentInputError("volume: no case has a weight, so the total expected weight is 0")
    return fraction_round_half_up(Fraction(dec(budget)) / Fraction(total), places)


def calibrate_point_value(points: Any, fund: Decimal | float | str, *, places: int = 4) -> Decimal:
    """Point value = ``fund`` / Σ ``points`` (a number, or a Series / array of points; NaN ignored), rounded
    half up to ``places``."""
    if isinstance(points, pd.Series | np.ndarray | list | tuple):
        values = pd.Series(points, dtype="float64")
        total = sum((dec(float(v)) for v in values.dropna()), Decimal(0))
    else:
        total = dec(points)
    if total <= 0:
        raise PaymentInputError("total points must be positive")
    return fraction_round_half_up(Fraction(dec(fund)) / Fraction(total), places)


def _volume(history: pd.DataFrame, year: str | None, volume: pd.DataFrame | None) -> pd.DataFrame:
    if volume is not None:
        return volume
    if year is None:
        return history
    last = history[year].astype(str).max()
    return history[history[year].astype(str) == last]


def calibrate_drg_policy(
    history: pd.DataFrame,
    *,
    name: str,
    effective_from: dt.date | str,
    effective_to: dt.date | str,
    budget: Decimal | float | str | None = None,
    volume: pd.DataFrame | None = None,
    year: str | None = None,
    year_weights: Mapping[Any, Any] | None = None,
    trim: str | None = None,
    trim_k: float | None = None,
    trim_range: tuple[float, float] | None = None,
    min_cases: int = 1,
    places: int = 4,
    provenance: Provenance | None = None,
    **policy_kwargs: Any,
) -> DrgPolicy:
    """A :class:`DrgPolicy` calibrated from history: weights (with mean cost and LOS) and, given a ``budget``,
    one base rate = budget / Σ weight of the ``volume`` cases (default: the last year of history). Other
    policy
    fields (coefficients, outlier rules …) pass through ``policy_kwargs``. ``grouper`` (the grouper whose codes
    the weights are for) defaults to the one the history was grouped by (its ``grouper`` column); a policy
    without one cannot be saved."""
    sample = _Sample(year, year_weights, trim, trim_k, trim_range)
    table = _calibrate(history, sample, "drg", "total_cost", min_cases, places, "weight")
    weights = [
        GroupWeight(
            code=r["drg"],
            weight=_positive(r["weight"]),
            mean_cost=_positive(r["mean_cost"]),
            mean_los=_positive(r["mean_los"]),
        )
        for r in table.to_dict("records")
    ]
    kwargs = dict(policy_kwargs)
    kwargs["grouper"] = _history_grouper(history, kwargs.get("grouper"))
    notes = (
        f"{_calibrated_from(table)}; "
        f"trim {table.attrs['trim']}; year weights {table.attrs['year_weights'] or 'none'}"
    )
    if budget is not None:
        vol = _volume(history, year, volume)
        rate = calibrate_base_rate(vol, {w.code: w.weight for w in weights if w.weight is not None}, budget)
        kwargs.setdefault("base_rates", [BaseRate(rate=rate)])
        notes += f"; base rate = budget {dec(budget)} / expected weight of {len(vol)} cases"
    return _dated(DrgPolicy, name, effective_from, effective_to, provenance, notes, weights=weights, **kwargs)


def calibrate_dip_policy(
    history: pd.DataFrame,
    *,
    name: str,
    effective_from: dt.date | str,
    effective_to: dt.date | str,
    fund: Decimal | float | str | None = None,
    volume: pd.DataFrame | None = None,
    year: str | None = None,
    year_weights: Mapping[Any, Any] | None = None,
    trim: str | None = None,
    trim_k: float | None = None,
    trim_range: tuple[float, float] | None = None,
    scale: Decimal | int | str = 1000,
    min_cases: int = 1,
    places: int = 2,
    provenance: Provenance | None = None,
    **policy_kwargs: Any,
) -> DipPolicy:
    """A :class:`DipPolicy` calibrated from history: scores (with mean cost and LOS) and, given a ``fund``, a
    budget point value (预算点值) = fund / Σ score of the ``volume`` cases (default: the last year of
    history). ``grouper`` defaults to the one the history was grouped by, as for :func:`calibrate_drg_policy`."""
    sample = _Sample(year, year_weights, trim, trim_k, trim_range)
    table = _calibrate(
        history, sample, "dip_group", "total_cost", min_cases, places, "score", scale=dec(scale)
    )
    scores = [
        DipGroupScore(
            code=r["dip_group"],
            score=_positive(r["score"]),
            mean_cost=_positive(r["mean_cost"]),
            mean_los=_positive(r["mean_los"]),
        )
        for r in table.to_dict("records")
    ]
    kwargs = dict(policy_kwargs)
    kwargs["grouper"] = _history_grouper(history, kwargs.get("grouper"))
    notes = _calibrated_from(table)
    if fund is not None:
        vol = _volume(history, year, volume)
        lookup = {s.code: s.score for s in scores if s.score is not None}
        codes = vol["dip_group"].astype("string").fillna("").str.strip()
        total = sum((lookup[c] for c in codes if c in lookup), Decimal(0))
        kwargs.setdefault("point_values", [PointValue(value=calibrate_point_value(total, fund))])
        kwargs.setdefault("point_value_kind", "budget")
        notes += f"; point value = fund {dec(fund)} / {total} points of {len(vol)} cases"
    return _dated(DipPolicy, name, effective_from, effective_to, provenance, notes, scores=scores, **kwargs)


def _positive(value: float | None) -> float | None:
    """A calibrated figure, or None where history gives none worth a policy (no cases, or 0: a group whose
    costs or stays are all 0 has no weight or mean stay, rather than an invalid one)."""
    return value if value is not None and value == value and value > 0 else None


def _history_grouper(history: pd.DataFrame, given: str | None) -> str | None:
    """The grouper a calibrated policy is for: ``given``, else the one the history was grouped by (its
    ``grouper`` column or attrs). A history grouped by several, or by another than ``given``, is refused: its
    codes do not name the same cases."""
    found = sorted(case_groupers(history) or {})
    if len(found) > 1 or (given is not None and found and found != [given]):
        wanted = f" (grouper={given!r} was given)" if given is not None else ""
        raise PaymentInputError(
            f"history was grouped by {', '.join(found)}{wanted}: calibrate from the cases of one grouper"
        )
    return given if given is not None else (found[0] if found else None)


def _calibrated_from(table: pd.DataFrame) -> str:
    """The first words of a calibrated policy's provenance notes."""
    return (
        f"calibrated from {int(table['cases'].sum())} cases; "
        f"reference mean cost {table.attrs['reference_mean_cost']}"
    )


_P = TypeVar("_P", DrgPolicy, DipPolicy)


def _dated(
    cls: type[_P],
    name: str,
    effective_from: dt.date | str,
    effective_to: dt.date | str,
    provenance: Provenance | None,
    notes: str,
    **kwargs: Any,
) -> _P:
    """The calibrated policy, its provenance naming the calibration function unless one is given."""
    source = f"drgpay.payment.calibrate_{'drg' if cls is DrgPolicy else 'dip'}_policy"
    return cls(
        name=name,
        effective_from=effective_from,
        effective_to=effective_to,
        provenance=provenance or Provenance(source=source, notes=notes),
        **kwargs,
    )
