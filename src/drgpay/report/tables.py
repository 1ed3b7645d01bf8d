"""The standard set of report tables for a baseline and a current period (what ``drgpay report`` writes)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from drgpay.report._frames import as_columns
from drgpay.report.casemix import case_mix, surplus_loss
from drgpay.report.deltas import cost_deltas
from drgpay.report.special import special_case_stats

__all__ = ["RULES", "report_tables"]

#: Rounding and formula notes written to the ``notes`` sheet.
RULES: tuple[tuple[str, str], ...] = (
    (
        "money",
        "yuan, summed exactly in fen; means = sum / cases rounded half up (ties away from zero) to 0.01",
    ),
    ("mean change", "current mean − baseline mean (both rounded); pct = change / baseline mean, 2 decimals"),
    ("burden_reduction", "−mean_cost_change × cases_current"),
    ("cmi", "Σ weight / cases with a weight, 4 decimals half up"),
    ("grouping rate", "grouped cases / all cases, percent"),
    (
        "efficiency index",
        "Σ_g (unit mean in g / reference mean in g × unit cases in g) / unit cases in groups",
    ),
    ("pass rate", "approved / applied, percent, 2 decimals half up"),
)


def _missing(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def report_tables(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    by: str | Sequence[str] = "drg",
    hospital: str = "hospital_id",
    applications: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Build every table the inputs allow: cost deltas always; case mix and surplus/loss per period when the
    payment columns are there; special-case statistics when *applications* is given; and a ``notes`` table
    recording the rules and which tables were skipped (with the missing columns).
    """
    keys = as_columns(by)
    tables: dict[str, pd.DataFrame] = {"cost_deltas": cost_deltas(baseline, current, by=keys)}
    notes: list[tuple[str, str]] = [("by", ", ".join(keys) or "(none)")]
    for period, frame in (("baseline", baseline), ("current", current)):
        group = (
            keys[0]
            if len(keys) == 1 and keys[0] in ("drg", "dip_group")
            else ("drg" if "drg" in frame.columns else "dip_group")
        )
        weight = "weight" if "weight" in frame.columns or "points" not in frame.columns else "points"
        need = [hospital, "status", group, weight, "total_cost"]
        missing = _missing(frame, need)
        name = f"case_mix_{period}"
        if missing:
            notes.append((name, "skipped, missing column(s): " + ", ".join(missing)))
        else:
            tables[name] = case_mix(frame, by=hospital, group=group, weight=weight)
        name = f"surplus_loss_{period}"
        missing = _missing(frame, ["case_type", "total_cost"])
        if "surplus" not in frame.columns and "standard" not in frame.columns:
            missing.append("surplus or standard")
        if missing:
            notes.append((name, "skipped, missing column(s): " + ", ".join(missing)))
        else:
            tables[name] = surplus_loss(frame, by="case_type")
    if applications is not None:
        special_by = hospital if hospital in applications.columns else None
        tables["special_cases"] = special_case_stats(applications, by=special_by)
    else:
        notes.append(("special_cases", "skipped, no applications given"))
    notes += list(RULES)
    tables["notes"] = pd.DataFrame(notes, columns=["item", "value"])
    return tables
