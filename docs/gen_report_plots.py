"""Regenerate the figures of docs/reports.md: ``python docs/gen_report_plots.py`` (needs drgpay[plot]).

The data are synthetic and seeded, so the images only change when the plotting code does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drgpay.report import (
    case_mix,
    cost_deltas,
    plot_cmi_by_hospital,
    plot_mean_cost_change,
    plot_surplus_by_case_type,
    surplus_loss,
)

OUT = Path(__file__).resolve().parent / "img"

# group: (relative weight, baseline mean cost, current mean cost)
GROUPS = {
    "ES21": (1.10, 9829.41, 9613.29),
    "FM19": (0.85, 7517.30, 7276.05),
    "GB25": (1.20, 10133.00, 9167.00),
    "HC25": (0.70, 6732.00, 6226.00),
    "IC29": (2.40, 21500.00, 21980.00),
    "RE19": (1.60, 14200.00, 13650.00),
}
HOSPITALS = ["H01", "H02", "H03", "H04", "H05"]


def period(rng: np.random.Generator, which: int, n: int) -> pd.DataFrame:
    """Synthetic discharges of one period: gamma-distributed costs around each group's mean."""
    codes = list(GROUPS)
    drg = rng.choice([*codes, "0000"], n, p=[0.17] * 5 + [0.12, 0.03])
    hospital = rng.choice(HOSPITALS, n, p=[0.35, 0.25, 0.2, 0.12, 0.08])
    mean = np.array([GROUPS[g][which] if g in GROUPS else 5000.0 for g in drg])
    skill = pd.Series(hospital).map({"H01": 1.3, "H02": 1.1, "H03": 1.0, "H04": 0.9, "H05": 0.8}).to_numpy()
    cost = np.round(rng.gamma(6.0, mean / 6.0), 2)
    weight = np.array([GROUPS[g][0] if g in GROUPS else np.nan for g in drg]) * np.where(
        drg == "0000", 1, skill
    )
    standard = np.round(weight * 8200.0, 2)
    ratio = cost / np.where(np.isnan(standard), np.inf, standard)
    case_type = np.select(
        [drg == "0000", ratio > 2.0, ratio < 0.4], ["ungroupable", "high_cost", "low_cost"], "normal"
    )
    return pd.DataFrame(
        {
            "hospital_id": hospital,
            "drg": drg,
            "status": np.where(drg == "0000", "ungroupable", "grouped"),
            "weight": np.round(weight, 4),
            "total_cost": cost,
            "los": rng.integers(2, 15, n),
            "case_type": case_type,
            "standard": standard,
        }
    )


def main() -> None:
    rng = np.random.default_rng(2024)
    baseline, current = period(rng, 1, 4000), period(rng, 2, 4200)
    OUT.mkdir(exist_ok=True)
    figures = {
        "report_mean_cost_change.png": plot_mean_cost_change(cost_deltas(baseline, current, by="drg")),
        "report_cmi_by_hospital.png": plot_cmi_by_hospital(case_mix(current, by="hospital_id")),
        "report_surplus_by_case_type.png": plot_surplus_by_case_type(surplus_loss(current, by="case_type")),
    }
    for name, fig in figures.items():
        fig.savefig(OUT / name, dpi=100, metadata={"Software": None})
        print(f"wrote docs/img/{name}")


if __name__ == "__main__":
    main()
