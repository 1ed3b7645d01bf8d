"""Reform reports: what changed between a baseline and a current period, exactly as bureaus publish it.

Tables are plain DataFrames with tidy columns (one row per group and a final ``total`` row), money in yuan
exact to 0.01 and percentages in percent with 2 decimals, both rounded half up (ties away from zero); see
:mod:`drgpay.money` for the exact arithmetic. Plots need the ``plot`` extra, Excel output the ``excel`` extra.
"""

from __future__ import annotations

from drgpay.report._frames import MISSING, TOTAL
from drgpay.report.casemix import case_mix, surplus_loss
from drgpay.report.compare import GrouperComparison, compare_groupers, plot_flows
from drgpay.report.deltas import MeanDelta, cost_deltas, delta_from_means
from drgpay.report.excel import write_excel
from drgpay.report.plots import plot_cmi_by_hospital, plot_mean_cost_change, plot_surplus_by_case_type
from drgpay.report.special import pass_rate, special_case_stats
from drgpay.report.tables import report_tables

__all__ = [
    "MISSING",
    "TOTAL",
    "GrouperComparison",
    "MeanDelta",
    "case_mix",
    "compare_groupers",
    "cost_deltas",
    "delta_from_means",
    "pass_rate",
    "plot_cmi_by_hospital",
    "plot_flows",
    "plot_mean_cost_change",
    "plot_surplus_by_case_type",
    "report_tables",
    "special_case_stats",
    "surplus_loss",
    "write_excel",
]
