"""``drgpay dip``: build a DIP catalogue from history, and check a catalogue against a grouper.

    drgpay dip build-catalog HISTORY.csv --output CAT.csv [--threshold 15] [--year-weights 1,2,7] …
    drgpay dip check-catalog CAT.csv [--grouper dip-2.0]

The main CLI calls :func:`register` with its ``add_subparsers()`` object. Grouping with a catalogue is
``drgpay group --grouper dip-2.0 --catalog CAT.csv``, which calls :func:`drgpay.dip.group_chunk` semantics
(``grouper.group(chunk, catalog=CAT)``; the catalogue is loaded and compiled once and cached).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay.dip.build import build_catalog
from drgpay.dip.catalog import load_catalog

__all__ = ["register", "run_build_catalog", "run_check_catalog"]


def _floats(text: str | None, name: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--{name}: expected comma-separated numbers, got {text!r}") from None


def _read_history(path: Path) -> pd.DataFrame:
    from drgpay.io import read_chunks

    chunks = list(read_chunks(path))
    if not chunks:
        raise ValueError(f"{path}: no rows")
    return pd.concat(chunks, ignore_index=True)


def run_build_catalog(args: argparse.Namespace) -> int:
    """``dip build-catalog``: read the history, build, write CSV + TOML, print a summary."""
    from drgpay.cli import parse_column_map

    trim = _floats(args.trim, "trim")
    if trim is not None and len(trim) != 2:
        raise SystemExit("--trim: expected two quantiles LO,HI such as 0.025,0.975")
    weights = _floats(args.year_weights, "year-weights")
    history = _read_history(args.history)
    catalog = build_catalog(
        history,
        grouper=args.grouper,
        columns=parse_column_map(args.columns),
        cost_column=args.cost_column,
        year_column=args.year_column,
        year_weights=weights,
        threshold=args.threshold,
        related_threshold=args.related_threshold,
        scale=args.scale,
        reference=args.reference,
        trim=(trim[0], trim[1]) if trim else None,
        decimals=args.decimals,
        catalog_id=args.id or args.output.stem,
    )
    path = catalog.save(args.output)
    p = catalog.provenance
    kinds = catalog.table["kind"].value_counts()
    print(
        f"wrote {path} ({len(catalog)} groups: {int(kinds.get('core', 0))} core, "
        f"{int(kinds.get('comprehensive', 0))} comprehensive) and {path.with_suffix('.toml').name}"
    )
    print(
        f"history: {p['history_rows']:,} rows, {p['history_used']:,} used; years {p['years']}; "
        f"reference mean cost {p['reference_mean_cost']:,.2f}"
    )
    excluded = {k: v for k, v in p["excluded"].items() if v}
    if excluded:
        print(f"left out: {excluded}")
    return 0


def run_check_catalog(args: argparse.Namespace) -> int:
    """``dip check-catalog``: load and compile a catalogue; print its counts and any unknown codes."""
    from drgpay.grouper import load_grouper

    catalog = load_catalog(args.catalog)
    grouper: Any = load_grouper(args.grouper)
    compiled = grouper.compile(catalog)
    print(repr(catalog))
    print(f"catalogue hash {catalog.content_hash}")
    if compiled.unknown_items:
        shown = ", ".join(compiled.unknown_items[:20])
        more = f" … ({len(compiled.unknown_items) - 20} more)" if len(compiled.unknown_items) > 20 else ""
        print(f"procedure items that match no {grouper.id} code (they never match): {shown}{more}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``dip build-catalog`` and ``dip check-catalog`` to the main CLI."""
    dip = subparsers.add_parser("dip", help="DIP catalogues: build one from history, check one")
    sub = dip.add_subparsers(dest="dip_command", required=True)

    b = sub.add_parser("build-catalog", help="build a DIP catalogue from historical cases with costs")
    b.add_argument("history", type=Path, help="CSV, Parquet or Excel export of past cases with total cost")
    b.add_argument(
        "--output", "-o", type=Path, default=Path("catalog.csv"), help="catalogue CSV (TOML beside it)"
    )
    b.add_argument("--grouper", default="dip-2.0", help="DIP grouper (default dip-2.0)")
    b.add_argument("--columns", help="header mapping, as for group")
    b.add_argument("--cost-column", default="total_cost", help="cost column (default total_cost / 总费用)")
    b.add_argument("--year-column", default="year", help="year column (default year; else discharge_date)")
    b.add_argument("--year-weights", help="weights of the most recent years, oldest first (default 1,2,7)")
    b.add_argument("--threshold", type=int, default=15, help="cases for a core group (default 15)")
    b.add_argument(
        "--related-threshold",
        type=float,
        default=0.10,
        help="cost change that keeps a related procedure (0.10)",
    )
    b.add_argument("--scale", type=float, default=1000.0, help="score scale (default 1000)")
    b.add_argument(
        "--reference", type=float, help="reference mean cost (default: weighted mean of all cases)"
    )
    b.add_argument("--trim", help="cost quantiles kept within each group, e.g. 0.025,0.975 (default none)")
    b.add_argument("--decimals", type=int, default=4, help="score decimals (default 4)")
    b.add_argument("--id", help="catalogue id (default: the output file name)")
    b.set_defaults(func=_guard(run_build_catalog))

    c = sub.add_parser("check-catalog", help="load and compile a catalogue against a grouper")
    c.add_argument("catalog", type=Path)
    c.add_argument("--grouper", default="dip-2.0")
    c.set_defaults(func=_guard(run_check_catalog))
    return dip


def _guard(func: Any) -> Any:
    """Errors of reading and building become a message and exit code 1 (the main CLI maps others to 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (ValueError, OSError) as err:
            print(f"drgpay dip: error: {err}", file=sys.stderr)
            return 1

    return run
