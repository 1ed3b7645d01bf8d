"""``drgpay compare``: group one export with two groupers (e.g. CHS-DRG 2.0 and 3.0) and write what moves.

The workbook has the sheets of :meth:`drgpay.report.compare.GrouperComparison.tables` (summary, flows of cases
from each old DRG to each new DRG, CMI and weight by hospital / department, splits, merges, MDC changes; with
``--old-policy`` and ``--new-policy`` the payment shift per hospital); ``--plot`` writes a heatmap of the largest
flows. The main CLI calls :func:`register` with its ``add_subparsers()`` object.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay._atomic import atomic_path, check_not_inputs, check_writable
from drgpay._inputs import check_input
from drgpay.io import read_frame
from drgpay.payment import load_policy
from drgpay.report._frames import TOTAL
from drgpay.report.compare import compare_groupers, plot_flows
from drgpay.report.excel import workbook_path, write_excel

__all__ = ["read_weights", "register", "run_compare"]

#: Headers a weight table may use for the DRG code and its weight (the published lists use the Chinese ones).
_DRG_HEADERS = ("drg", "DRG编码", "编码")
_WEIGHT_HEADERS = ("weight", "rw", "参考权重", "权重")


def read_weights(path: str | os.PathLike[str]) -> pd.Series:
    """A weight table (CSV or Parquet): DRG code → relative weight; rows without a weight are left out."""
    frame = read_frame(Path(path))
    drg = next((c for c in _DRG_HEADERS if c in frame.columns), None)
    weight = next((c for c in _WEIGHT_HEADERS if c in frame.columns), None)
    if drg is None or weight is None:
        raise ValueError(
            f"{Path(path).name}: a weight table needs a DRG column ({' / '.join(_DRG_HEADERS)}) and a weight "
            f"column ({' / '.join(_WEIGHT_HEADERS)})"
        )
    values = pd.to_numeric(frame[weight], errors="coerce")
    codes = frame[drg].astype(str).str.strip().str.upper()
    return pd.Series(values.to_numpy(), index=codes).dropna()


def run_compare(args: argparse.Namespace) -> int:
    """Read the export and the weights, compare, write the workbook (and the plot)."""
    if bool(args.old_policy) != bool(args.new_policy):
        raise ValueError("the payment shift needs a policy for each side: give --old-policy and --new-policy")
    weight_files = [p for p in (args.old_weights, args.new_weights) if p]
    policies = [p for p in (args.old_policy, args.new_policy) if p]
    inputs = [args.input, *weight_files, *policies]
    check_input(args.input)
    for path in weight_files:
        check_input(path, required=())
    out = workbook_path(args.output)
    outputs = [out, *([Path(args.plot)] if args.plot else [])]
    check_not_inputs(outputs, inputs)
    for path in outputs:
        check_writable(path)
    cases = read_frame(Path(args.input))
    weights = (
        read_weights(args.old_weights) if args.old_weights else None,
        read_weights(args.new_weights) if args.new_weights else None,
    )
    by = [c.strip() for c in args.by.split(",") if c.strip()] if args.by else None
    comparison = compare_groupers(
        cases,
        args.old,
        args.new,
        weights=weights,
        by=by,
        old_policy=load_policy(args.old_policy) if args.old_policy else None,
        new_policy=load_policy(args.new_policy) if args.new_policy else None,
    )
    write_excel(comparison.tables(), out)
    if args.plot:
        figure = plot_flows(comparison, top=args.top)
        with atomic_path(Path(args.plot)) as temporary:
            figure.savefig(temporary, dpi=120, format=Path(args.plot).suffix.lstrip(".") or "png")
    summary = comparison.summary.set_index("side")
    print(
        f"wrote {out}: {len(cases)} cases; "
        + "; ".join(
            f"{side}: CMI {row['cmi']}, {int(row['drgs_used'])} DRGs used" for side, row in summary.iterrows()
        )
        + f"; {len(comparison.flows)} old → new DRG pairs"
        + (_shift(comparison.payments) if not comparison.payments.empty else "")
    )
    return 0


def _shift(payments: pd.DataFrame) -> str:
    """The total payment shift, for the closing line."""
    total = payments.set_index("hospital_id").loc[TOTAL]
    return (
        f"; payment {total['old_payment']:.2f} → {total['new_payment']:.2f} "
        f"({total['payment_change']:+.2f}, {total['payment_change_pct']:+.2f} %)"
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to an ``argparse`` subparsers object and return its parser."""
    from drgpay.cli import explained

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="group one export with two groupers and report what moves (cases, CMI, weights)",
        description=(
            "Group INPUT with --old and --new (e.g. chs-drg-2.0 and chs-drg-3.0) and write an Excel workbook: "
            "the flow of cases from each old DRG to each new DRG, CMI and total weight on each side by hospital "
            "and department, groups that split or merge, cases that change MDC and, with --old-policy and "
            "--new-policy, the payment shift per hospital."
        ),
    )
    parser.add_argument("input", help="export to group (.csv or .parquet)")
    parser.add_argument("--old", default="chs-drg-2.0", help="grouper of the old side (default chs-drg-2.0)")
    parser.add_argument("--new", default="chs-drg-3.0", help="grouper of the new side (default chs-drg-3.0)")
    parser.add_argument(
        "--old-weights", help="weights of the old side: CSV with drg/DRG编码 and weight/参考权重"
    )
    parser.add_argument("--new-weights", help="weights of the new side, same form")
    parser.add_argument(
        "--by", help="columns to break CMI down by (default: hospital_id, department if present)"
    )
    parser.add_argument(
        "--old-policy", help="payment policy of the old side (policy.toml or its folder; names its grouper)"
    )
    parser.add_argument(
        "--new-policy", help="payment policy of the new side; with both, a 'payments' sheet per hospital"
    )
    parser.add_argument("--output", "-o", required=True, help="Excel workbook to write (.xlsx)")
    parser.add_argument("--plot", help="also write a heatmap of the largest flows (.png or .svg)")
    parser.add_argument("--top", type=int, default=25, help="flows in the plot (default 25)")
    parser.set_defaults(func=explained(run_compare))
    return parser
