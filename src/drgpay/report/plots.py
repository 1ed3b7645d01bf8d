"""Figures for reform reports (optional ``plot`` extra: matplotlib, imported only when a figure is made).

Each function takes a table built by this package and returns a :class:`matplotlib.figure.Figure` drawn on the
Agg canvas: no pyplot, no global state, no display needed, so they run headless (servers, CI). Save with
``fig.savefig("x.png")``. Titles and axis labels are ASCII because default fonts often lack CJK glyphs; group
codes and hospital ids are printed as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from drgpay.report._frames import TOTAL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_cmi_by_hospital", "plot_mean_cost_change", "plot_surplus_by_case_type"]

_INSTALL_HINT = "drgpay plots need matplotlib: pip install 'drgpay[plot]'"
_DOWN, _UP, _NEUTRAL = "#2b8a3e", "#c92a2a", "#1c7ed6"


def _new_figure(width: float, height: float) -> Figure:
    """A Figure attached to an Agg canvas (headless), or an ImportError naming the extra to install."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _split(table: pd.DataFrame, label: str | None, metrics: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Rows other than ``total`` and the label column (default: the first column that is not a metric)."""
    if label is None:
        candidates = [c for c in table.columns if c not in metrics and table[c].dtype.kind in "OSUT"]
        if not candidates:
            candidates = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if not candidates:
            raise ValueError("cannot tell which column labels the rows; pass label=")
        label = str(candidates[0])
    for m in metrics:
        if m not in table.columns:
            raise ValueError(f"table has no column {m!r}")
    body = table[table[label].astype("str") != TOTAL]
    return body, label


def _height(rows: int) -> float:
    return min(max(2.5, 0.32 * rows + 1.2), 14.0)


def plot_mean_cost_change(
    deltas: pd.DataFrame, *, label: str | None = None, top: int | None = 30, pct: bool = False
) -> Figure:
    """Horizontal bars of the mean cost change per group (yuan, or percent with ``pct=True``).

    *deltas* is a :func:`~drgpay.report.cost_deltas` table; the ``total`` row is drawn as a dashed line.
    Groups missing in one period are skipped; with *top*, only the groups with the largest absolute change
    are shown.
    """
    metric = "mean_cost_change_pct" if pct else "mean_cost_change"
    body, label = _split(deltas, label, [metric])
    body = body[body[metric].notna()]
    if top is not None:
        body = body.loc[body[metric].abs().sort_values(ascending=False, kind="stable").index[:top]]
    body = body.sort_values(metric, kind="stable")
    fig = _new_figure(7.0, _height(len(body)))
    ax = fig.add_subplot()
    values = body[metric].to_numpy(dtype=float)
    ax.barh(body[label].astype("str"), values, color=[_DOWN if v < 0 else _UP for v in values])
    total = deltas.loc[deltas[label].astype("str") == TOTAL, metric]
    if len(total) and pd.notna(total.iloc[0]):
        ax.axvline(float(total.iloc[0]), color="black", linestyle="--", linewidth=1, label="all cases")
        ax.legend(loc="lower right")
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("Mean cost change (%)" if pct else "Mean cost change (yuan)")
    ax.set_ylabel(label)
    ax.set_title("Mean cost per case: current vs baseline")
    return fig


def plot_cmi_by_hospital(mix: pd.DataFrame, *, label: str | None = None) -> Figure:
    """Bars of CMI per hospital (a :func:`~drgpay.report.case_mix` table); ``total`` CMI as a dashed line."""
    body, label = _split(mix, label, ["cmi"])
    body = body.sort_values("cmi", ascending=False, kind="stable")
    fig = _new_figure(max(5.0, 0.45 * len(body) + 2.0), 4.0)
    ax = fig.add_subplot()
    ax.bar(body[label].astype("str"), body["cmi"].to_numpy(dtype=float), color=_NEUTRAL)
    total = mix.loc[mix[label].astype("str") == TOTAL, "cmi"]
    if len(total) and pd.notna(total.iloc[0]):
        ax.axhline(float(total.iloc[0]), color="black", linestyle="--", linewidth=1, label="all cases")
        ax.legend(loc="upper right")
    ax.set_xlabel(label)
    ax.set_ylabel("CMI")
    ax.set_title("Case mix index by hospital")
    ax.tick_params(axis="x", labelrotation=45)
    return fig


def plot_surplus_by_case_type(table: pd.DataFrame, *, label: str | None = None) -> Figure:
    """Surplus (above zero) and loss (below) per case type.

    *table* is a :func:`~drgpay.report.surplus_loss` table; the net surplus is marked per case type.
    """
    body, label = _split(table, label, ["surplus_amount", "loss_amount", "net_surplus"])
    fig = _new_figure(max(6.0, 0.9 * len(body) + 2.5), 4.2)
    from matplotlib.ticker import (
        StrMethodFormatter,
    )  # after _new_figure: a missing matplotlib names the extra

    ax = fig.add_subplot()
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    names = body[label].astype("str").tolist()
    kw: dict[str, Any] = {"width": 0.6}
    ax.bar(names, body["surplus_amount"].to_numpy(dtype=float), color=_DOWN, label="surplus", **kw)
    ax.bar(names, body["loss_amount"].to_numpy(dtype=float), color=_UP, label="loss", **kw)
    ax.plot(names, body["net_surplus"].to_numpy(dtype=float), "D", color="black", label="net")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("Yuan")
    ax.set_title("Surplus and loss against the payment standard")
    ax.legend(loc="best")
    return fig
