"""The ``drgpay`` command: ``group``, ``groupers``, ``explain`` here; ``pay``, ``calibrate``, ``report`` and ``dip``
from their own modules when present."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import pandas as pd

from drgpay import __version__
from drgpay._atomic import check_not_inputs
from drgpay._inputs import check_input, read_input_chunks
from drgpay.api import DEFAULT_GROUPER
from drgpay.definitions import list_groupers
from drgpay.grouper import GrouperIncompleteError, load_grouper
from drgpay.io import count_rows_hint, output_format, use_command_allocator
from drgpay.parallel import auto_workers, group_file, resolve_workers

__all__ = ["Interrupted", "main", "usage_error"]

#: Modules that add subcommands with a ``register(subparsers)`` function.
PLUGINS = (
    "drgpay.cli_payment",
    "drgpay.cli_report",
    "drgpay.cli_dip",
    "drgpay.cli_serve",
    "drgpay.cli_compare",
    "drgpay.cli_settle",
)
#: Subcommands defined here; the plugins add the others.
CORE_COMMANDS = ("group", "groupers", "explain")


class Interrupted(BaseException):
    """SIGINT or SIGTERM, raised in the main thread so that every ``finally`` runs: temporary outputs are
    removed, worker processes stopped, the reader thread joined. Not an :class:`Exception`, so no error
    handler takes it for a failure of its own."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def usage_error(message: str) -> NoReturn:
    """A bad option value: one line on stderr and exit status 2, as argparse does for its own checks."""
    print(f"drgpay: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_column_map(text: str | None) -> dict[str, str] | None:
    """``--columns``: ``'主诊断=principal_dx,性别=sex'``, a JSON object, or a path to a JSON file."""
    if not text:
        return None
    path = Path(text)
    if path.suffix.lower() == ".json" and path.is_file():
        text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            usage_error(f"--columns: not valid JSON ({exc})")
        if not isinstance(data, dict):
            usage_error("--columns JSON must be an object of header → canonical name")
        return {str(k): str(v) for k, v in data.items()}
    mapping = {}
    for part in text.split(","):
        if "=" not in part:
            usage_error(f"--columns: expected HEADER=canonical, got {part!r}")
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


def row_number(text: str) -> int:
    """A 0-based row number (``explain --row``): negative numbers are refused, not counted from the end."""
    return _count(text, 0, "a row number")


def parse_workers(text: str) -> int | None:
    """``--workers``: ``auto`` (None), ``0`` (every CPU) or a count."""
    return None if text == "auto" else _count(text, 0, "'auto' or a number of processes")


def grouper_options(grouper: Any, catalog: str | None) -> dict[str, Any]:
    """The grouper's keyword options from ``--catalog``; a DIP grouper without one is refused up front."""
    if getattr(grouper, "scheme", "") == "dip" and not catalog:
        raise ValueError(
            f"{grouper.id} is a DIP grouper: give --catalog CAT.csv (a city's catalogue, or one built from "
            "history with drgpay dip build-catalog)"
        )
    return {"catalog": catalog} if catalog else {}


def _cap_workers(workers: int) -> int:
    """More worker processes than CPUs only add memory and start-up time: cap them, with a note."""
    cpus = resolve_workers(None)
    if workers > cpus:
        print(f"drgpay: note: --workers {workers} capped at {cpus}, the CPUs available", file=sys.stderr)
        return cpus
    return workers


class Streaming:
    """What ``drgpay group`` and ``drgpay settle`` share while they stream a file: the worker count (capped at the
    CPUs), a progress bar, the first rows as a preview when there is no output file, and the closing summary
    (on stderr without an output file, so a preview piped elsewhere stays clean). Used as a context manager
    around the streaming call: the progress bar is finished however it ends."""

    def __init__(self, args: argparse.Namespace):
        chosen = args.workers
        self.workers = auto_workers(args.input) if chosen is None else _cap_workers(resolve_workers(chosen))
        self.progress = Progress(count_rows_hint(args.input), enabled=not args.quiet and sys.stderr.isatty())
        self._preview = args.output is None and not args.quiet
        self._summary_to = sys.stderr if args.output is None else sys.stdout
        self.seconds = 0.0

    def __enter__(self) -> Streaming:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.finish()
        self.seconds = time.perf_counter() - self._start

    def on_chunk(self, chunk: pd.DataFrame, result: pd.DataFrame) -> None:
        if self._preview:  # the first rows of the first chunk, when there is no output file
            print(result.head(20).to_string())
            self._preview = False
        self.progress.update(len(chunk))

    def loaded(self, what: str, seconds: float) -> str:
        """The summary's first line: what was loaded, in how long, on how many worker processes."""
        processes = f", {self.workers} worker processes" if self.workers > 1 else ""
        return f"{what} loaded in {seconds:.2f} s{processes}"

    def report(self, lines: list[str]) -> None:
        for line in lines:
            print(line, file=self._summary_to)


def cmd_group(args: argparse.Namespace) -> int:
    columns = parse_column_map(args.columns)
    if args.output is not None:
        output_format(args.output)
    check_not_inputs([args.output], [args.input, args.catalog, args.columns])
    sheet = check_input(args.input, columns=columns, sheet=args.sheet).sheet
    loading = time.perf_counter()
    grouper = load_grouper(args.grouper)
    if getattr(grouper, "complete", True) and hasattr(grouper, "compiled"):
        grouper.compiled  # noqa: B018 - compile before the clock starts
    loaded = time.perf_counter() - loading
    options = grouper_options(grouper, args.catalog)
    with Streaming(args) as stream:
        summary = group_file(
            args.input,
            args.output,
            grouper,
            workers=stream.workers,
            chunk_rows=args.chunk_rows,
            columns=columns,
            only_results=args.only_results,
            on_chunk=stream.on_chunk,
            sheet=sheet,
            **options,
        )
    counts = Counter(summary["status"])
    reasons = Counter(summary["reason"])
    stream.report(
        [
            stream.loaded(f"grouper {grouper.id}", loaded),
            *summary_lines(counts, reasons, summary["rows"], stream.seconds),
        ]
    )
    return 0


def cmd_groupers(args: argparse.Namespace) -> int:
    table = list_groupers()
    if not args.paths:
        table = table.drop(columns=["path"])
    print(table.to_string(index=False))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    columns = parse_column_map(args.columns)
    grouper = load_grouper(args.grouper)
    if args.input:
        sheet = check_input(args.input, columns=columns, sheet=args.sheet).sheet
        size = max(args.row + 1, 1000)
        with contextlib.closing(read_input_chunks(args.input, size, sheet=sheet, columns=columns)) as chunks:
            frame = next(chunks, None)
        rows = 0 if frame is None else len(frame)
        if frame is None or args.row >= rows:
            where = f"{args.input} has {rows} records" if rows < size else f"its first {rows} rows were read"
            raise ValueError(f"--row {args.row} is past the end: {where} (rows are numbered from 0)")
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
    print(grouper.explain(record, columns=columns, **grouper_options(grouper, args.catalog)))
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
        "--output",
        "-o",
        type=Path,
        help="CSV (.csv, .tsv) or Parquet file for the results (default: print a preview)",
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
    g.add_argument(
        "--sheet", help="Excel input: the sheet to read (default: the first with a principal_dx column)"
    )
    g.set_defaults(func=explained(cmd_group))

    ls = sub.add_parser("groupers", help="list the available groupers")
    ls.add_argument("--paths", action="store_true", help="show each grouper's folder")
    ls.set_defaults(func=explained(cmd_groupers))

    e = sub.add_parser("explain", help="show step by step how one record is grouped")
    e.add_argument("input", nargs="?", type=Path, help="an export; explain its row --row")
    e.add_argument("--row", type=row_number, default=0, help="0-based row of INPUT (default 0)")
    e.add_argument(
        "--sheet", help="Excel input: the sheet to read (default: the first with a principal_dx column)"
    )
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
    e.set_defaults(func=explained(cmd_explain))

    for name in PLUGINS if plugins else ():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    for number in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the clean-up short
        signal.signal(number, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while a command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        number: signal.signal(number, _raise_interrupted) for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Warnings as one ``drgpay: warning: …`` line each, without the source line Python adds."""

    def show(message: Warning | str, category: type[Warning], *rest: object, **kw: object) -> None:
        print(f"drgpay: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def describe_error(exc: BaseException) -> str:
    """One line for an error the command line explains (no traceback)."""
    if isinstance(exc, BrokenProcessPool):
        return (
            "a worker process ended abruptly (killed, or out of memory?); try fewer --workers or a smaller "
            "--chunk-rows"
        )
    if isinstance(exc, IsADirectoryError) and exc.filename:
        return f"{exc.filename} is a folder, not a file"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot decode the input as {exc.encoding} at byte {exc.start}: {exc.reason}"
    return str(exc) or type(exc).__name__


def _output_note(args: argparse.Namespace) -> str:
    """What an error means for the command's output file: nothing was written, an earlier file is as it was."""
    output = getattr(args, "output", None)
    if output is None:
        return ""
    if Path(output).is_dir():
        return ""
    if Path(output).exists():
        return f"; nothing was written ({output} is unchanged and is not from this run)"
    return f"; nothing was written to {output}"


#: Errors the command line explains in one line (exit status 2): bad input, definitions or policies (all
#: ValueError), files (OSError), an incomplete grouper, a killed worker, a missing optional package.
EXPLAINED_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    GrouperIncompleteError,
    BrokenProcessPool,
    ImportError,
)


Command = Callable[[argparse.Namespace], int]


def explained(func: Command) -> Command:
    """Wrap a subcommand's function: an explained error (:data:`EXPLAINED_ERRORS`) becomes one line
    ``drgpay: error: …`` on stderr, saying that nothing was written to the command's ``output``, and exit status
    2. Every subcommand is registered wrapped, so its function gives the status the command line documents
    even when called without :func:`main`."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except BrokenPipeError:
            # the reader of the output went away (``| head``): stop quietly, as SIGPIPE would
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return 128 + signal.SIGPIPE
        except EXPLAINED_ERRORS as exc:
            print(f"drgpay: error: {describe_error(exc).rstrip('.')}{_output_note(args)}", file=sys.stderr)
            return 2

    return run


def main(argv: list[str] | None = None) -> int:
    """Run one ``drgpay`` command; returns the exit status: 0 done, 2 an explained error (nothing written),
    128 + the signal number after SIGINT (130) or SIGTERM (143)."""
    words = sys.argv[1:] if argv is None else argv
    use_command_allocator()
    # the grouping commands need no plugin: skip importing payment, reports and DIP for them (start-up time)
    parser = build_parser(plugins=not (words and words[0] in CORE_COMMANDS))
    args = parser.parse_args(argv)
    try:
        with _signals_raise(), _warnings_as_lines():
            return int(args.func(args))
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        print(f"drgpay: interrupted by {name}{_output_note(args)}", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:  # Ctrl-C before the handler was set, or main() called off the main thread
        print(f"drgpay: interrupted{_output_note(args)}", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
