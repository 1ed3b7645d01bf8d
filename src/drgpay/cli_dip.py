"""``drgpay dip``: build a DIP catalogue from history, and check a catalogue against a grouper.

    drgpay dip build-catalog HISTORY.csv --output CAT.csv [--threshold 15] [--year-weights 1,2,7] …
    drgpay dip check-catalog CAT.csv [--grouper dip-2.0]

The main CLI calls :func:`register` with its ``add_subparsers()`` object. Grouping with a catalogue is
``drgpay group --grouper dip-2.0 --catalog CAT.csv``, which calls :func:`drgpay.dip.group_chunk` semantics
(``grouper.group(chunk, catalog=CAT)``; the catalogue is loaded and compiled once and cached).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay.dip.build import build_catalog
from drgpay.dip.catalog import load_catalog

__all__ = ["register", "run_build_catalog", "run_check_catalog"]


def _floats(text: str | None, name: str) -> list[float] | None:
    from drgpay.cli import usage_error

    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        usage_error(f"--{name}: expected comma-separated numbers, got {text!r}")


def _read_history(path: Path, columns: dict[str, str] | None, sheet: str | None) -> pd.DataFrame:
    """The whole history, after the checks every input gets (a file with a header, principal_dx, records)."""
    from drgpay._inputs import check_input, read_input_chunks
    from drgpay.io import DEFAULT_CHUNK_ROWS

    chosen = check_input(path, columns=columns, sheet=sheet).sheet
    chunks = list(read_input_chunks(path, DEFAULT_CHUNK_ROWS, sheet=chosen, columns=columns))
    if not chunks:
        raise ValueError(f"{path} has no records")
    return pd.concat(chunks, ignore_index=True)


def _catalog_files(path: Path) -> list[Path]:
    """The files ``DipCatalog.save(path)`` writes: the table, its TOML and the auxiliary table."""
    return [path, path.with_suffix(".toml"), path.with_name(path.stem + ".aux.csv")]


def run_build_catalog(args: argparse.Namespace) -> int:
    """``dip build-catalog``: read the history, build, write CSV + TOML, print a summary.

    The catalogue files are written whole or not at all, and never over the history."""
    from drgpay._atomic import atomic_folder, check_not_inputs, check_writable
    from drgpay.cli import parse_column_map, usage_error

    trim = _floats(args.trim, "trim")
    if trim is not None and len(trim) != 2:
        usage_error("--trim: expected two quantiles LO,HI such as 0.025,0.975")
    weights = _floats(args.year_weights, "year-weights")
    columns = parse_column_map(args.columns)
    check_not_inputs(_catalog_files(args.output), [args.history, args.columns])
    check_writable(args.output)
    history = _read_history(args.history, columns, args.sheet)
    catalog = build_catalog(
        history,
        grouper=args.grouper,
        columns=columns,
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
    with atomic_folder(args.output.parent) as staging:
        catalog.save(staging / args.output.name)
    path = args.output
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
    """Add ``dip build-catalog``, ``dip check-catalog`` and ``dip import-catalog`` to the main CLI."""
    from drgpay import cli_dip_import
    from drgpay.cli import explained

    dip = subparsers.add_parser(
        "dip", help="DIP catalogues: import a city's published one, build one from history, check one"
    )
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
    b.add_argument("--sheet", help="Excel history: the sheet to read (default: the first with principal_dx)")
    b.set_defaults(func=explained(run_build_catalog))

    c = sub.add_parser("check-catalog", help="load and compile a catalogue against a grouper")
    c.add_argument("catalog", type=Path)
    c.add_argument("--grouper", default="dip-2.0")
    c.set_defaults(func=explained(run_check_catalog))
    cli_dip_import.add_parser(sub)
    return dip
