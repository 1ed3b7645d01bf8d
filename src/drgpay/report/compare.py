"""What moving from one grouper version to another does to a year of cases: the flow of cases from each old DRG to
each new DRG, case mix (CMI) and total weight on each side by hospital or department, the groups that split or
merge, the cases that change MDC and, with a payment policy for each side, the payment shift per hospital.

Both sides group the same records; every record is counted once on each side (ungroupable and 歧义组 records
included, under ``0000`` / ``xQY``), so the flows add up to the number of cases. Weights are the caller's (a
grouper ships none): a mapping of DRG code to relative weight for each side; a DRG without a weight counts as a
case without weight, outside the CMI. Payments are :func:`drgpay.pay` under each side's own policy, summed
exactly in fen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from drgpay.money import fen_to_yuan, to_fen
from drgpay.payment.policy import DipPolicy, DrgPolicy
from drgpay.report._exact import PCT_PLACES, as_float, pct_hundredths
from drgpay.report._frames import MISSING, TOTAL, as_columns, check_frame
from drgpay.report.tables import report_key

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["GrouperComparison", "compare_groupers", "plot_flows"]

Weights = Mapping[str, float] | pd.Series
#: A payment policy, or the path of one for :func:`drgpay.load_policy`.
PolicyLike = DrgPolicy | DipPolicy | str | os.PathLike[str]
#: Grouping columns that :func:`drgpay.pay` reads (the DRG code, or the DIP group, with status and grouper).
_PAY_COLUMNS = ("drg", "dip_group", "status", "reason", "grouper")
#: Decimal places of CMI and weights in the tables (weights are published with 4).
PLACES = 4


@attrs.frozen
class GrouperComparison:
    """The tables of one comparison (all plain DataFrames; :meth:`tables` names them for Excel)."""

    old: str
    new: str
    summary: (
        pd.DataFrame
    )  # one row per side: cases, grouped, ungroupable, ambiguous, weighted cases, weight, CMI
    flows: pd.DataFrame  # old_drg, new_drg, cases, share: every pair with a case, largest first
    by_group: pd.DataFrame  # per hospital / department (``by``): cases, weight and CMI on each side, changes
    splits: pd.DataFrame  # old DRGs whose cases go to two or more new DRGs
    merges: pd.DataFrame  # new DRGs that receive cases of two or more old DRGs
    mdc_changes: pd.DataFrame  # old_mdc, new_mdc, cases, for the records whose MDC changes
    groups: pd.DataFrame  # per record: old and new mdc / drg / weight (and payment) (same index as the cases)
    #: per hospital, then ``total``: cases, paid cases, payment and fund payment on each side, change, change %
    #: (empty unless both policies are given)
    payments: pd.DataFrame = attrs.field(factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by sheet name, for :func:`drgpay.report.write_excel` (``payments`` when computed)."""
        tables = {
            "summary": self.summary,
            "flows": self.flows,
            "by_group": self.by_group,
            "splits": self.splits,
            "merges": self.merges,
            "mdc_changes": self.mdc_changes,
        }
        return tables | ({"payments": self.payments} if not self.payments.empty else {})


def _grouped(grouper: Any, cases: pd.DataFrame, columns: Mapping[str, str] | None) -> pd.DataFrame:
    """The grouping output of ``cases`` (``mdc``, ``drg``, ``status`` and what :func:`drgpay.pay` reads)."""
    import drgpay

    g = drgpay.load_grouper(grouper) if isinstance(grouper, str) else grouper
    out = g.group(cases, columns=columns)
    return out[["mdc", *(c for c in _PAY_COLUMNS if c in out.columns)]]


def _paid(cases: pd.DataFrame, grouped: pd.DataFrame, policy: PolicyLike) -> pd.DataFrame:
    """:func:`drgpay.pay` of ``cases`` under ``policy`` with this side's grouping (result columns of the cases
    replaced by the grouping's), as ``payment`` and ``fund`` in fen and a ``paid`` flag (unpaid rows: 0 fen)."""
    import drgpay

    chosen = policy if isinstance(policy, DrgPolicy | DipPolicy) else drgpay.load_policy(policy)
    own = cases.drop(columns=[c for c in grouped.columns if c in cases.columns])
    with_groups = own.assign(**{c: grouped[c].to_numpy() for c in grouped.columns if c != "mdc"})
    out = drgpay.pay(with_groups, chosen)
    paid = out["standard"].notna().to_numpy()
    fen = {name: np.zeros(len(out), dtype=np.int64) for name in ("payment", "fund")}
    for name, column in (("payment", "standard"), ("fund", "fund_payment")):
        values = out[column].to_numpy(dtype="float64", na_value=np.nan)
        fen[name][paid] = to_fen(values[paid])
    return pd.DataFrame({"paid": paid, **fen}, index=cases.index)


def _payments(cases: pd.DataFrame, old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Per hospital, then ``total``: cases, paid cases, payment (standard) and fund payment on each side in yuan,
    the change and the change in percent of the old payment (2 places, half up), all summed exactly in fen.
    Hospitals are keyed as the period report keys them (:func:`drgpay.report.tables.report_key`)."""
    hospital = report_key(cases["hospital_id"]).fillna(MISSING).to_numpy(dtype=object)  # never ``total``
    parts = pd.DataFrame(
        {
            "hospital_id": hospital,
            "cases": 1,
            **{
                f"{side}_{k}": frame[k].to_numpy()
                for side, frame in (("old", old), ("new", new))
                for k in frame
            },
        }
    )
    sums = parts.groupby("hospital_id", sort=True).sum()
    sums.loc[TOTAL] = sums.sum()
    rows = []
    for key, s in sums.astype("int64").iterrows():
        change, fund_change = s["new_payment"] - s["old_payment"], s["new_fund"] - s["old_fund"]
        rows.append(
            {
                "hospital_id": key,
                "cases": s["cases"],
                "old_paid_cases": s["old_paid"],
                "new_paid_cases": s["new_paid"],
                "old_payment": s["old_payment"],
                "new_payment": s["new_payment"],
                "payment_change": change,
                "payment_change_pct": as_float(pct_hundredths(change, s["old_payment"]), PCT_PLACES),
                "old_fund_payment": s["old_fund"],
                "new_fund_payment": s["new_fund"],
                "fund_payment_change": fund_change,
            }
        )
    out = pd.DataFrame(rows)
    money = [c for c in out.columns if c.endswith(("payment", "change"))]
    out[money] = fen_to_yuan(out[money].to_numpy(dtype="int64"))
    return out


def _text(values: pd.Series) -> pd.Series:
    """Codes as plain text, a missing value (a record without MDC) as ""."""
    return values.astype(object).where(values.notna(), "").astype(str)


def _weights_of(drg: pd.Series, weights: Weights | None) -> np.ndarray:
    """The weight of each record's DRG (NaN where the DRG has none, or when no weights are given)."""
    if weights is None:
        return np.full(len(drg), np.nan)
    table = pd.Series(weights, dtype="float64")
    codes = drg.astype(str)
    return codes.map(table).to_numpy(dtype="float64", na_value=np.nan)


def _side(name: str, grouped: pd.DataFrame, weight: np.ndarray) -> dict[str, object]:
    status = grouped["status"].astype(str)
    weighted = ~np.isnan(weight)
    total = float(weight[weighted].sum())
    return {
        "side": name,
        "cases": len(grouped),
        "grouped": int((status == "grouped").sum()),
        "ambiguous": int((status == "ambiguous").sum()),
        "ungroupable": int(status.isin(["ungroupable", "invalid"]).sum()),
        "drgs_used": int(grouped["drg"].astype(str)[status == "grouped"].nunique()),
        "weighted_cases": int(weighted.sum()),
        "total_weight": round(total, PLACES),
        "cmi": round(total / weighted.sum(), PLACES) if weighted.any() else np.nan,
    }


def _by_group(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Cases, total weight and CMI on each side per ``keys``, with a total row."""
    if not keys:
        return pd.DataFrame()
    parts = frame.assign(
        old_weighted=~frame["old_weight"].isna(),
        new_weighted=~frame["new_weight"].isna(),
        changed=frame["old_drg"].astype(str) != frame["new_drg"].astype(str),
    )
    sums = parts.groupby(keys, observed=True, sort=True, dropna=False).agg(
        cases=("old_drg", "size"),
        changed_drg=("changed", "sum"),
        old_weighted=("old_weighted", "sum"),
        old_weight=("old_weight", "sum"),
        new_weighted=("new_weighted", "sum"),
        new_weight=("new_weight", "sum"),
    )
    total = sums.sum(numeric_only=True).to_frame().T
    total.index = pd.MultiIndex.from_tuples([(TOTAL,) * len(keys)], names=keys) if len(keys) > 1 else [TOTAL]
    out = pd.concat([sums, total]).reset_index()
    if len(keys) == 1:
        out = out.rename(columns={"index": keys[0]})
    for side in ("old", "new"):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{side}_cmi"] = (out[f"{side}_weight"] / out[f"{side}_weighted"]).round(PLACES)
        out[f"{side}_weight"] = out[f"{side}_weight"].round(PLACES)
    out["cmi_change"] = (out["new_cmi"] - out["old_cmi"]).round(PLACES)
    out["weight_change"] = (out["new_weight"] - out["old_weight"]).round(PLACES)
    for column in ("cases", "changed_drg", "old_weighted", "new_weighted"):
        out[column] = out[column].astype("int64")
    return out[
        [
            *keys,
            "cases",
            "changed_drg",
            "old_weight",
            "old_cmi",
            "new_weight",
            "new_cmi",
            "weight_change",
            "cmi_change",
        ]
    ]


def _fan(flows: pd.DataFrame, key: str, other: str, label: str) -> pd.DataFrame:
    """Per ``key`` DRG whose cases spread over two or more ``other`` DRGs: the count and the largest part."""
    counts = flows.groupby(key, observed=True, sort=False).agg(
        cases=("cases", "sum"), **{label: (other, "nunique")}
    )
    many = counts[counts[label] >= 2]
    main = flows.sort_values("cases", ascending=False, kind="stable").drop_duplicates(key).set_index(key)
    out = many.join(main[[other]].rename(columns={other: f"largest_{other}"}))
    out = out.join(main[["cases"]].rename(columns={"cases": "largest_cases"}))
    return out.sort_values(["cases", label], ascending=False, kind="stable").reset_index()


def compare_groupers(
    cases: pd.DataFrame,
    old: Any,
    new: Any,
    *,
    weights: Mapping[str, Weights] | tuple[Weights | None, Weights | None] | None = None,
    by: str | Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    old_policy: PolicyLike | None = None,
    new_policy: PolicyLike | None = None,
) -> GrouperComparison:
    """Group ``cases`` with ``old`` and ``new`` (grouper ids or loaded groupers) and compare the results.

    ``weights`` gives each side's relative weights, as ``{grouper_id: {drg: weight}}`` or ``(old, new)``;
    without them the CMI columns are empty. ``by`` names the columns of ``cases`` to break CMI and weight down
    by (default: ``hospital_id`` and ``department`` where present). ``columns`` maps export headers as for
    :meth:`drgpay.Grouper.group`.

    With ``old_policy`` and ``new_policy`` (policies or policy paths, each naming its side's grouper), each side
    is paid with :func:`drgpay.pay` under its own policy and :attr:`GrouperComparison.payments` holds the
    payment shift per hospital (the cases then need the columns ``pay`` reads: ``hospital_id``,
    ``total_cost``, ``discharge_date``, ...). ``pay``'s errors (a policy for another grouper, a case outside
    the policy's dates, unreadable amounts) are raised as they are.
    """
    frame = check_frame(cases, "cases")
    if (old_policy is None) != (new_policy is None):
        raise ValueError(
            "the payment shift needs a policy for each side: give both old_policy and new_policy"
        )
    old_id = old if isinstance(old, str) else old.id
    new_id = new if isinstance(new, str) else new.id
    if isinstance(weights, tuple):
        old_w, new_w = weights
    else:
        old_w = (weights or {}).get(old_id)
        new_w = (weights or {}).get(new_id)
    a, b = _grouped(old, frame, columns), _grouped(new, frame, columns)
    keys = as_columns(by) if by is not None else [c for c in ("hospital_id", "department") if c in frame]
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"cases have no column {missing[0]!r} to compare by")
    groups = pd.DataFrame(
        {
            "old_mdc": a["mdc"].to_numpy(),
            "old_drg": a["drg"].to_numpy(),
            "new_mdc": b["mdc"].to_numpy(),
            "new_drg": b["drg"].to_numpy(),
            "old_weight": _weights_of(a["drg"], old_w),
            "new_weight": _weights_of(b["drg"], new_w),
        },
        index=frame.index,
    )
    payments = pd.DataFrame()
    if old_policy is not None and new_policy is not None:
        if "hospital_id" not in frame.columns:
            raise ValueError("cases have no column 'hospital_id' to show the payment shift by")
        old_paid, new_paid = _paid(frame, a, old_policy), _paid(frame, b, new_policy)
        payments = _payments(frame, old_paid, new_paid)
        for side, paid in (("old", old_paid), ("new", new_paid)):
            groups[f"{side}_payment"] = np.where(
                paid["paid"], fen_to_yuan(paid["payment"].to_numpy()), np.nan
            )
    summary = pd.DataFrame(
        [_side(old_id, a, groups["old_weight"].to_numpy()), _side(new_id, b, groups["new_weight"].to_numpy())]
    )
    flows = (
        groups.groupby(["old_drg", "new_drg"], observed=True, sort=False)
        .size()
        .rename("cases")
        .reset_index()
        .sort_values(["cases", "old_drg", "new_drg"], ascending=[False, True, True], kind="stable")
        .reset_index(drop=True)
    )
    flows["old_drg"] = flows["old_drg"].astype(str)
    flows["new_drg"] = flows["new_drg"].astype(str)
    flows["share"] = (flows["cases"] / max(len(groups), 1)).round(6)
    mdcs = pd.DataFrame({f"{side}_mdc": _text(groups[f"{side}_mdc"]) for side in ("old", "new")})
    mdc_changes = mdcs[mdcs["old_mdc"] != mdcs["new_mdc"]].value_counts().rename("cases").reset_index()
    with_keys = groups.join(frame[keys]) if keys else groups
    return GrouperComparison(
        old=old_id,
        new=new_id,
        summary=summary,
        flows=flows,
        by_group=_by_group(with_keys, keys),
        splits=_fan(flows, "old_drg", "new_drg", "new_drgs"),
        merges=_fan(flows, "new_drg", "old_drg", "old_drgs"),
        mdc_changes=mdc_changes,
        groups=groups,
        payments=payments,
    )


def plot_flows(comparison: GrouperComparison, *, top: int = 25) -> Figure:
    """A heatmap of the largest flows: the ``top`` old → new DRG pairs that change code, cases in each cell."""
    from drgpay.report.plots import _new_figure

    flows = comparison.flows
    changed = flows[flows["old_drg"] != flows["new_drg"]].head(top)
    rows = list(dict.fromkeys(changed["old_drg"]))
    cols = list(dict.fromkeys(changed["new_drg"]))
    grid = np.zeros((len(rows), len(cols)))
    for old, new, n in zip(changed["old_drg"], changed["new_drg"], changed["cases"], strict=True):
        grid[rows.index(old), cols.index(new)] = n
    fig = _new_figure(min(2.0 + 0.45 * max(len(cols), 1), 16.0), min(1.8 + 0.35 * max(len(rows), 1), 14.0))
    ax = fig.add_subplot()
    image = ax.imshow(np.where(grid > 0, grid, np.nan), cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel(f"new DRG ({comparison.new})")
    ax.set_ylabel(f"old DRG ({comparison.old})")
    ax.set_title(f"Largest DRG changes, {comparison.old} to {comparison.new} (cases)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig
