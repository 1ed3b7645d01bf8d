"""The ``drgpay`` command: ``group``, ``groupers``, ``explain`` here; ``pay``, ``calibrate``, ``report`` and ``dip``
from their own modules when present."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay import __version__
from drgpay.api import DEFAULT_GROUPER
from drgpay.definitions import DefinitionError, list_groupers
from drgpay.grouper import GrouperIncompleteError, load_grouper
from drgpay.io import count_rows_hint, read_chunks
from drgpay.parallel import auto_workers, group_file, resolve_workers
from drgpay.schema import SchemaError

__all__ = ["main"]

#: Modules that add subcommands with a ``register(subparsers)`` function.
PLUGINS = ("drgpay.cli_payment", "drgpay.cli_report", "drgpay.cli_dip")
#: Subcommands defined here; the plugins add the others.
CORE_COMMANDS = ("group", "groupers", "explain")


def parse_column_map(text: str | None) -> dict[str, str] | None:
    """``--columns``: ``'主诊断=principal_dx,性别=sex'``, a JSON object, or a path to a JSON file."""
    if not text:
        return None
    path = Path(text)
    if path.suffix.lower() == ".json" and path.is_file():
        text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise SystemExit("--columns JSON must be an object of header → canonical name")
        return {str(k): str(v) for k, v in data.items()}
    mapping = {}
    for part in text.split(","):
        if "=" not in part:
            raise SystemExit(f"--columns: expected HEADER=canonical, got {part!r}")
        key, value = part.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


class Progress:
    """A one-line progress display on stderr (only when it is a terminal)."""

    def __init__(self, total: int | None, enabled: bool):
        self.total, self.enabled, self.start, self.done = total, enabled, time.perf_counter(), 0

    def update(self, rows: int) -> None:
        self.done += rows
        if not self.enabled:
            return
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        of = f"/{self.total:,}" if self.total else ""
        print(f"\r{self.done:,}{of} rows  {rate:,.0f} rows/s", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def summary_lines(counts: Counter[str], reasons: Counter[str], rows: int, seconds: float) -> list[str]:
    """The closing summary of ``drgpay group``."""
    lines = [f"rows: {rows:,} in {seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"]
    for status in ("grouped", "ambiguous", "ungroupable", "invalid"):
        share = 100 * counts[status] / rows if rows else 0.0
        lines.append(f"  {status:<12}{counts[status]:>12,}  {share:6.2f} %")
    if reasons:
        top = ", ".join(f"{r} {n:,}" for r, n in reasons.most_common(5))
        lines.append(f"top reasons: {top}")
    return lines


def _count(text: str, minimum: int, what: str) -> int:
    """``text`` as a whole number of at least ``minimum``, or an argparse error naming ``what`` was expected."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
    return value


def positive_int(text: str) -> int:
    """A count of at least 1 (``--chunk-rows``)."""
    return _count(text, 1, "a whole number")


def parse_workers(text: str) -> int | None:
    """``--workers``: ``auto`` (None), ``0`` (every CPU) or a count."""
    return None if text == "auto" else _count(text, 0, "'auto' or a number of processes")


def cmd_group(args: argparse.Namespace) -> int:
    columns = parse_column_map(args.columns)
    loading = time.perf_counter()
    grouper = load_grouper(args.grouper)
    if getattr(grouper, "complete", True) and hasattr(grouper, "compiled"):
        grouper.compiled  # noqa: B018 - compile before the clock starts
    loaded = time.perf_counter() - loading
    options: dict[str, Any] = {}
    if args.catalog:
        options["catalog"] = args.catalog
    workers = resolve_workers(args.workers) if args.workers is not None else auto_workers(args.input)
    progress = Progress(count_rows_hint(args.input), enabled=not args.quiet and sys.stderr.isatty())
    preview = args.output is None and not args.quiet

    def on_chunk(chunk: pd.DataFrame, result: pd.DataFrame) -> None:
        nonlocal preview
        if preview:  # the first rows of the first chunk, when there is no output file
            print(result.head(20).to_string())
            preview = False
        progress.update(len(chunk))

    start = time.perf_counter()
    try:
        summary = group_file(
            args.input,
            args.output,
            grouper,
            workers=workers,
            chunk_rows=args.chunk_rows,
            columns=columns,
            only_results=args.only_results,
            on_chunk=on_chunk,
            **options,
        )
    finally:
        progress.finish()
    seconds = time.perf_counter() - start
    counts = Counter(summary["status"])
    reasons = Counter(summary["reason"])
    processes = f", {workers} worker processes" if workers > 1 else ""
    lines = [
        f"grouper {grouper.id} loaded in {loaded:.2f} s{processes}",
        *summary_lines(counts, reasons, summary["rows"], seconds),
    ]
    for line in lines:
        print(line, file=sys.stderr if args.output is None else sys.stdout)
    return 0


def cmd_groupers(args: argparse.Namespace) -> int:
    table = list_groupers()
    if not args.paths:
        table = table.drop(columns=["path"])
    print(table.to_string(index=False))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    grouper = load_grouper(args.grouper)
    if args.input:
        frame = next(read_chunks(args.input, max(args.row + 1, 1000)))
        if args.row >= len(frame):
            raise SystemExit(f"--row {args.row} is past the end of the first chunk ({len(frame)} rows)")
        record: dict[str, Any] = frame.iloc[args.row].to_dict()
    else:
        record = {
            k: v
            for k, v in {
                "principal_dx": args.principal_dx,
                "secondary_dx": args.secondary_dx,
                "procedures": args.procedures,
                "sex": args.sex,
                "age": args.age,
                "age_days": args.age_days,
                "birth_weight": args.birth_weight,
                "ventilation_hours": args.ventilation_hours,
            }.items()
            if v is not None
        }
    options: dict[str, Any] = {"catalog": args.catalog} if args.catalog else {}
    print(grouper.explain(record, columns=parse_column_map(args.columns), **options))
    return 0


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drgpay", description="CHS-DRG / DIP grouping, payment and reports."
    )
    parser.add_argument("--version", action="version", version=f"drgpay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("group", help="group an export (CSV, Parquet or Excel) in chunks")
    g.add_argument("input", type=Path)
    g.add_argument(
        "--grouper", default=DEFAULT_GROUPER, help=f"grouper name or folder (default {DEFAULT_GROUPER})"
    )
    g.add_argument(
        "--output", "-o", type=Path, help="CSV or Parquet file for the results (default: print a preview)"
    )
    g.add_argument("--columns", help="header mapping: 'HEADER=canonical,…', a JSON object or a .json file")
    g.add_argument("--catalog", help="DIP catalogue (for DIP groupers)")
    g.add_argument(
        "--chunk-rows",
        type=positive_int,
        help="rows per chunk, the memory bound (default 250,000 on one process, 100,000 per chunk on several)",
    )
    g.add_argument(
        "--workers",
        type=parse_workers,
        default="auto",
        help="worker processes: a number, 0 for one per CPU, or auto (default: on 4+ CPUs, one per CPU but one "
        "for inputs of 500,000 rows / 64 MiB of CSV or more; else 1)",
    )
    g.add_argument(
        "--only-results",
        action="store_true",
        help="write the case id and the grouping columns, not the other input columns",
    )
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar or preview")
    g.set_defaults(func=cmd_group)

    ls = sub.add_parser("groupers", help="list the available groupers")
    ls.add_argument("--paths", action="store_true", help="show each grouper's folder")
    ls.set_defaults(func=cmd_groupers)

    e = sub.add_parser("explain", help="show step by step how one record is grouped")
    e.add_argument("input", nargs="?", type=Path, help="an export; explain its row --row")
    e.add_argument("--row", type=int, default=0, help="0-based row of INPUT (default 0)")
    e.add_argument("--grouper", default=DEFAULT_GROUPER)
    e.add_argument("--columns", help="header mapping, as for group")
    e.add_argument("--catalog", help="DIP catalogue (for DIP groupers)")
    e.add_argument("--principal-dx")
    e.add_argument("--secondary-dx", help="'|'-joined codes")
    e.add_argument("--procedures", help="'|'-joined codes, principal first")
    e.add_argument("--sex")
    e.add_argument("--age", type=float)
    e.add_argument("--age-days", type=float)
    e.add_argument("--birth-weight", type=float)
    e.add_argument("--ventilation-hours", type=float)
    e.set_defaults(func=cmd_explain)

    for name in PLUGINS if plugins else ():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # the grouping commands need no plugin: skip importing payment, reports and DIP for them (start-up time)
    parser = build_parser(plugins=not (words and words[0] in CORE_COMMANDS))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (SchemaError, DefinitionError, GrouperIncompleteError, FileNotFoundError, ValueError) as exc:
        print(f"drgpay: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
