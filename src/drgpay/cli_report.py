"""``drgpay report``: compare a baseline and a current period and write the tables to one Excel workbook.

The main CLI calls :func:`register` with its ``add_subparsers()`` object; the parsed namespace carries
``func=run_report`` wrapped by :func:`drgpay.cli.explained`, which turns an error into one line on stderr and exit
status 2. The workbook is written whole or not at all, and never over one of the inputs.

``drgpay report compare ...`` is ``drgpay compare ...`` (grouper versions, :mod:`drgpay.cli_compare`), the
spelling issue 15 names: ``compare`` is a subcommand of ``report``, so the period report's own required options are
checked only when it runs (:func:`run_report`).
"""

from __future__ import annotations

import argparse
import codecs
import os
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay._atomic import check_not_inputs, check_writable
from drgpay._inputs import check_input
from drgpay.io import InputError, _detect_encoding, read_frame
from drgpay.report import report_tables, write_excel
from drgpay.report.excel import workbook_path

__all__ = ["build_report", "check_encoding", "read_table", "register", "run_report"]

_CSV = {".csv", ".txt", ".tsv"}
_PARQUET = {".parquet", ".pq"}


def read_table(path: str | os.PathLike[str], *, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV (``.tsv``: tab-separated) or Parquet file exactly as ``drgpay group`` reads its input
    (:func:`drgpay.io.read_frame`): CSV columns as text (codes like ``0000`` survive, amounts stay exact; only an
    empty cell is missing), one encoding for the file, detected; Parquet integers exact. The report functions
    parse amounts exactly from the text.

    ``encoding`` (``--encoding``), when given, is checked against the detected encoding, never used instead of
    it: a file that is not in the encoding named is refused (:func:`check_encoding`).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _CSV | _PARQUET:
        raise ValueError(f"{p.name}: unsupported file type {suffix or '(none)'}; use .csv, .tsv or .parquet")
    if encoding is not None and suffix in _CSV:
        check_encoding(p, encoding)
    return read_frame(p)


#: Encodings by the one drgpay reads them as: GBK and GB2312 text is GB18030 text, ASCII text UTF-8 text.
_SAME_ENCODING = {"gbk": "gb18030", "gb2312": "gb18030", "utf-8-sig": "utf-8", "ascii": "utf-8"}


def check_encoding(path: str | os.PathLike[str], encoding: str) -> None:
    """Refuse a CSV whose detected encoding (:func:`drgpay.io.read_text`'s rule) is not ``encoding``: an
    ``--encoding gbk`` given for a UTF-8 file is a mistake to report, not a decoding to apply."""
    p = Path(path)
    try:
        named = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"--encoding {encoding!r} is not an encoding Python knows") from None
    detected = codecs.lookup(_detect_encoding(p)).name
    family = {name: _SAME_ENCODING.get(name, name) for name in (named, detected)}
    if family[named].split("-")[:2] != family[detected].split("-")[:2]:  # utf-16 and utf-16-le agree
        raise InputError(
            f"{p.name} is {detected} text, not {encoding}: drgpay detects a CSV's encoding (UTF-8, GB18030/GBK, "
            "UTF-16 with a byte-order mark); leave out --encoding, or export the file in one of those"
        )


def build_report(
    baseline: str | os.PathLike[str],
    current: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    by: str | list[str] = "drg",
    applications: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Read the two periods (and special-case applications), build the tables and write them to *output*.

    *output* must be an Excel workbook name (``.xlsx``) and none of the inputs; both are checked before reading.
    """
    check_not_inputs([output], [baseline, current, applications])
    workbook_path(output)
    tables = report_tables(
        read_table(baseline, encoding=encoding),
        read_table(current, encoding=encoding),
        by=by,
        applications=None if applications is None else read_table(applications, encoding=encoding),
    )
    write_excel(tables, output)
    return tables


#: The period report's options that argparse cannot require (``report compare`` does not take them).
_REQUIRED = (("baseline", "--baseline"), ("current", "--current"), ("output", "--output/-o"))


def run_report(args: argparse.Namespace) -> int:
    """Run the ``report`` subcommand from parsed arguments; print what was written; return the exit code."""
    missing = [flag for name, flag in _REQUIRED if getattr(args, name) is None]
    if missing:
        from drgpay.cli import usage_error

        usage_error(f"report: the following arguments are required: {', '.join(missing)}")
    by = [c.strip() for c in str(args.by).split(",") if c.strip()]
    check_not_inputs([args.output], [args.baseline, args.current, args.applications])
    check_writable(workbook_path(args.output))
    for path in (args.baseline, args.current, args.applications):
        if path is not None:
            check_input(path, required=(), formats=(*_CSV, *_PARQUET))
    tables = build_report(
        args.baseline,
        args.current,
        args.output,
        by=by,
        applications=args.applications,
        encoding=args.encoding,
    )
    sheets = ", ".join(f"{name} ({len(t)} rows)" for name, t in tables.items())
    print(f"wrote {args.output}: {sheets}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to an ``argparse`` subparsers object and return its parser."""
    from drgpay import cli_compare
    from drgpay.cli import explained

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="compare a baseline and a current period; write the tables to Excel",
        description=(
            "Per-group cost deltas (cases, mean cost, change in yuan and percent, patient burden), case mix and "
            "efficiency indices, surplus/loss by case type and special-case statistics, one sheet per table. "
            "Money is exact to 0.01 yuan, rounded half up. 'drgpay report compare INPUT ...' compares two "
            "grouper versions instead (the same as 'drgpay compare')."
        ),
    )
    parser.add_argument("--baseline", help="baseline period cases (.csv or .parquet); required")
    parser.add_argument("--current", help="current period cases (.csv or .parquet); required")
    parser.add_argument("--output", "-o", help="Excel workbook to write (.xlsx); required")
    parser.add_argument("--by", default="drg", help="group column(s), comma separated (default: drg)")
    parser.add_argument(
        "--applications", default=None, help="special-case applications with a decision column (optional)"
    )
    parser.add_argument(
        "--encoding",
        default=None,
        help="CSV encoding the files must be in (default: detected, as for group: UTF-8, GB18030/GBK, UTF-16 with "
        "a byte-order mark); a file in another encoding is refused",
    )
    parser.set_defaults(func=explained(run_report))
    versions = parser.add_subparsers(dest="report_command", metavar="{compare}")
    cli_compare.register(versions)
    return parser
