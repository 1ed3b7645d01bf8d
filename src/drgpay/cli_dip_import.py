"""``drgpay dip import-catalog``: a city's published DIP catalogue (``.xlsx`` or CSV) → drgpay's catalogue format.

    drgpay dip import-catalog FILE [--layout NAME|TOML] [--sheet NAME] [--statistics CSV] -o catalog.csv

Writes ``catalog.csv``, ``catalog.toml`` (provenance: source file and its sha256, layout, counts) and the import
report ``catalog.import.txt``: rows read, kept, refused with the reason, duplicates, codes unknown to the grouper,
the score check. A refused row stops the import (exit 2, nothing written) unless ``--allow-refused``, which
writes the kept rows and lists the refused ones in the report. The files are written whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "report_path", "run"]


def report_path(output: Path) -> Path:
    """Where the import report goes: ``<stem>.import.txt`` beside the catalogue."""
    return output.with_name(output.stem + ".import.txt")


def run(args: argparse.Namespace) -> int:
    """Import, write the catalogue and its report; print the report. Returns the exit status; a bad file or
    layout is an explained error (``drgpay: error: …``, status 2, nothing written)."""
    from drgpay._atomic import atomic_folder, check_not_inputs, check_writable
    from drgpay.cli import usage_error
    from drgpay.dip.layouts import import_catalog

    output: Path = args.output
    if output.suffix.lower() != ".csv":
        usage_error(f"--output must be a .csv file, not {output.name}")
    written = [output, output.with_suffix(".toml"), report_path(output)]
    check_not_inputs(written, [args.file, args.layout, args.statistics])
    check_writable(output)
    result = import_catalog(
        args.file,
        args.layout,
        sheet=args.sheet,
        statistics=args.statistics,
        strict=False,
        grouper=args.grouper,
    )
    report = result.report
    text = report.text()
    if report.refused and not args.allow_refused:
        print(text, file=sys.stderr)
        print(
            f"drgpay: error: {len(report.refused)} row(s) refused; nothing written "
            "(fix the file, or --allow-refused to write the rest)",
            file=sys.stderr,
        )
        return 2
    with atomic_folder(output.parent) as staging:
        result.catalog.save(staging / output.name)
        (staging / report_path(output).name).write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"wrote {output}, {output.with_suffix('.toml').name} and {report_path(output).name}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import-catalog`` to the ``drgpay dip`` subcommands."""
    p = subparsers.add_parser(
        "import-catalog",
        help="read a city's published DIP catalogue (.xlsx or CSV) into drgpay's format",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, help="the published catalogue: .xlsx workbook or CSV")
    p.add_argument("--output", "-o", type=Path, required=True, help="catalogue CSV to write (TOML beside it)")
    p.add_argument(
        "--layout", help="a shipped layout's name or a layout TOML (default: recognised from the header)"
    )
    p.add_argument("--sheet", help="the catalogue sheet of a workbook (default: the layout's)")
    p.add_argument(
        "--statistics", type=Path, help="CSV of the statistics sheet, for a catalogue given as CSV"
    )
    p.add_argument("--grouper", default="dip-2.0", help="grouper whose codes are checked (default dip-2.0)")
    p.add_argument(
        "--allow-refused", action="store_true", help="write the kept rows even when some were refused"
    )
    from drgpay.cli import explained

    p.set_defaults(func=explained(run))
    return p
