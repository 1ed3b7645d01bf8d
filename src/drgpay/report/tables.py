"""The standard set of report tables for a baseline and a current period (what ``drgpay report`` writes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from drgpay.report._frames import MISSING, TOTAL, as_columns
from drgpay.report.casemix import case_mix, surplus_loss
from drgpay.report.deltas import cost_deltas
from drgpay.report.special import special_case_stats

__all__ = ["RESERVED_SUFFIX", "RULES", "report_key", "report_tables"]

#: Appended to a group key that reads like a label of the report itself (a DRG or hospital named ``total``,
#: which would look like the total row, or ``(missing)``, which would merge with the missing keys).
RESERVED_SUFFIX = " (group)"

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
    (
        "group keys",
        "numeric keys that are whole numbers are written as integers (hospital 1.0 from Parquet = 1 from CSV); "
        f"a key equal to {TOTAL!r} or {MISSING!r} gets the suffix {RESERVED_SUFFIX!r}",
    ),
)


def _missing(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def report_key(values: pd.Series) -> pd.Series:
    """Group keys as the report compares and shows them.

    - A number's whole values become integer text: a hospital id ``1.0`` (a Parquet float column, one with a
      missing value, or a float in an object column) is the ``1`` of a CSV; other numbers keep their shortest
      spelling. This is the key ``pay`` gives a hospital id to find its coefficient. Text keys are never
      reinterpreted (``"1.0"`` stays ``"1.0"``: codes are text).
    - A key equal to a label of the report, ``total`` (the total row's) or ``(missing)``, gets
      :data:`RESERVED_SUFFIX`.

    Missing values stay missing.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        text = values.astype(object).map(str, na_action="ignore")
    else:  # numeric columns, and numbers among the values of an object column
        text = values.astype(object).map(_key_text, na_action="ignore")
    return text.map(lambda v: v + RESERVED_SUFFIX if v in (TOTAL, MISSING) else v, na_action="ignore")


def _key_text(value: object) -> str:
    """A number as :func:`_number_text` spells it; anything else (text, a boolean, a date) as ``str`` does."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_):
        return _number_text(value)
    return str(value)


def _number_text(value: object) -> str:
    """An integer exactly; a float with a whole value as an integer, else in its shortest spelling."""
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


def _with_report_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with :func:`report_key` applied to those of ``columns`` it has; the input is not changed."""
    changed = {col: report_key(frame[col]) for col in dict.fromkeys(columns) if col in frame.columns}
    return frame.assign(**changed) if changed else frame


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
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    if doubled:
        raise ValueError(f"the group columns (by=, --by) name {doubled} more than once; give each once")
    key_columns = [*keys, hospital, "case_type"]  # every column some table groups by
    baseline = _with_report_keys(baseline, key_columns)
    current = _with_report_keys(current, key_columns)
    if applications is not None:
        applications = _with_report_keys(applications, [hospital])
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
