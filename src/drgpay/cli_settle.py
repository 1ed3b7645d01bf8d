"""``drgpay settle``: group and pay an export in one pass over its chunks, in bounded memory.

``drgpay settle INPUT --policy POLICY [--grouper G] [--catalog CAT] -o OUT`` reads INPUT (CSV, TSV, Parquet or
Excel) in chunks, groups each chunk, pays it under POLICY and appends the input columns, the grouping columns and
the payment columns to OUT (CSV, TSV or Parquet by its suffix): the rows ``drgpay group`` then ``drgpay pay`` write,
without the grouped file in between and without holding the year in memory. Progress, summary, ``--workers``,
``--chunk-rows``, ``--columns``, ``--only-results``, whole-or-nothing output and exit statuses are those of
``drgpay group`` (0 done, 2 an explained error and nothing written, 130/143 interrupted).

The grouper defaults to the one the policy names. ``--special`` applies 特例单议 decisions; ``--budget`` (DIP) pays
with the point value budget / total points of the year, computed by a first pass over the file. The work is
:func:`drgpay.payment.settle.settle_file`; ``drgpay pay`` streams the same way through
:func:`drgpay.payment.settle.pay_stream` (see :func:`run_pay_stream`).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from drgpay._atomic import check_not_inputs, check_writable
from drgpay._inputs import CSV_SUFFIXES, PARQUET_SUFFIXES, check_input
from drgpay.api import DEFAULT_GROUPER
from drgpay.cli import (
    Streaming,
    explained,
    grouper_options,
    parse_column_map,
    parse_workers,
    positive_int,
    summary_lines,
)
from drgpay.grouper import load_grouper
from drgpay.io import output_format, read_frame
from drgpay.payment import load_policy
from drgpay.payment.settle import PaymentTotals, pay_stream, settle_file

__all__ = ["payment_lines", "register", "run_pay_stream", "run_settle"]


def _policy_inputs(policy: str) -> list[Path]:
    """The files a ``--policy`` argument reads: the TOML file, or every file of the policy folder."""
    path = Path(policy)
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]


def payment_lines(totals: PaymentTotals) -> list[str]:
    """The payment part of the closing summary: cases and exact sums by case type."""
    table = totals.frame()
    if table.empty:
        return []
    return ["payment by case type (yuan):", *("  " + line for line in table.to_string().splitlines())]


def run_settle(args: argparse.Namespace) -> int:
    """Entry point of ``drgpay settle``."""
    columns = parse_column_map(args.columns)
    if args.output is not None:
        output_format(args.output)
    inputs = [args.input, args.catalog, args.columns, args.special, *_policy_inputs(args.policy)]
    check_not_inputs([args.output], inputs)
    check_writable(args.output)
    sheet = check_input(args.input, columns=columns, sheet=args.sheet).sheet
    if args.special is not None:
        check_input(args.special, required=(), formats=CSV_SUFFIXES + PARQUET_SUFFIXES)
    loading = time.perf_counter()
    policy = load_policy(args.policy)
    grouper = load_grouper(args.grouper or policy.grouper or DEFAULT_GROUPER)
    options = grouper_options(grouper, args.catalog)
    if getattr(grouper, "complete", True) and hasattr(grouper, "compiled"):
        grouper.compiled  # noqa: B018 - compile before the clock starts
    special = read_frame(args.special) if args.special is not None else None
    loaded = time.perf_counter() - loading
    with Streaming(args) as stream:
        summary = settle_file(
            args.input,
            args.output,
            policy,
            grouper=grouper,
            catalog=options.get("catalog"),
            special=special,
            budget=args.budget,
            only_results=args.only_results,
            on_chunk=stream.on_chunk,
            workers=stream.workers,
            chunk_rows=args.chunk_rows,
            columns=columns,
            sheet=sheet,
        )
    lines = [stream.loaded(f"grouper {grouper.id} and policy {policy.name!r}", loaded)]
    if summary["point_value"] is not None:
        lines.append(f"point value from the budget (first pass): {summary['point_value']}")
    lines += summary_lines(
        Counter(summary["status"]), Counter(summary["reason"]), summary["rows"], stream.seconds
    )
    lines += payment_lines(summary["payment"])
    stream.report(lines)
    return 0


def run_pay_stream(args: argparse.Namespace) -> int:
    """``drgpay pay``'s work, streamed (:func:`drgpay.payment.settle.pay_stream`): after ``run_pay``'s checks,
    the summary by case type without an output, ``paid N cases → OUT`` with one."""
    summary = pay_stream(args.grouped, args.policy, output=args.output, special=args.special)
    if args.output is None:
        print(summary["payment"].frame().to_string())
    else:
        print(f"paid {summary['rows']} cases → {args.output}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``settle`` subcommand to an argparse subparsers object."""
    s = subparsers.add_parser(
        "settle",
        help="group and pay an export in one pass over its chunks (bounded memory)",
        description="Group every record of INPUT and pay it under POLICY, chunk by chunk: input columns, grouping "
        "columns and payment columns, as drgpay group then drgpay pay write them.",
    )
    s.add_argument("input", type=Path, help="export: CSV, TSV, Parquet or Excel")
    s.add_argument("--policy", required=True, help="policy folder (with policy.toml) or TOML file")
    s.add_argument(
        "--grouper", help=f"grouper name or folder (default: the policy's, else {DEFAULT_GROUPER})"
    )
    s.add_argument("--catalog", help="DIP catalogue (for DIP groupers)")
    s.add_argument(
        "--output",
        "-o",
        type=Path,
        help="CSV (.csv, .tsv) or Parquet file for the results (default: a preview)",
    )
    s.add_argument("--columns", help="header mapping: 'HEADER=canonical,…', a JSON object or a .json file")
    s.add_argument(
        "--chunk-rows",
        type=positive_int,
        help="rows per chunk, the memory bound (default 250,000 on one process, 100,000 per chunk on several)",
    )
    s.add_argument(
        "--workers",
        type=parse_workers,
        default="auto",
        help="worker processes: a number, 0 for one per CPU, or auto (as for drgpay group)",
    )
    s.add_argument(
        "--only-results",
        action="store_true",
        help="write the case id, the grouping and the payment columns, not the other input columns",
    )
    s.add_argument("--special", help="特例单议 applications (CSV or Parquet) to apply")
    s.add_argument(
        "--budget",
        help="DIP: the fund for the year in yuan; the point value is budget / total points (a first pass)",
    )
    s.add_argument("--quiet", "-q", action="store_true", help="no progress bar or preview")
    s.add_argument(
        "--sheet", help="Excel input: the sheet to read (default: the first with a principal_dx column)"
    )
    s.set_defaults(func=explained(run_settle))
    return s
