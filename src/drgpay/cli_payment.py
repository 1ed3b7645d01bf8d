"""``drgpay pay`` and ``drgpay calibrate``: payment and calibration from files.

The main CLI calls :func:`register` with its ``add_subparsers()`` object; each parsed namespace carries
``func`` (:func:`run_pay` or :func:`run_calibrate`) wrapped by :func:`drgpay.cli.explained`, which turns an error
into one line on stderr and exit status 2. The work is done by :func:`pay_file` and :func:`calibrate_file`, usable
from Python as well. Outputs are written whole or not at all (:mod:`drgpay._atomic`), and an output that is one
of the inputs is refused before anything is read.

- ``drgpay pay GROUPED --policy POLICY [--output OUT] [--special APPLICATIONS]``: GROUPED is a CSV or Parquet
  file of cases joined with their grouping (``drg`` or ``dip_group``, ``status``, ``reason``); POLICY a policy
  folder or TOML file. OUT (``.csv`` or ``.parquet``) gets the input columns followed by the payment columns
  (the payment reason is ``payment_reason``; a payment column the input already has gets ``_payment``);
  without OUT a summary by case type is printed.
  Cases grouped by another grouper than the policy's (their ``grouper`` column) are refused.
- ``drgpay calibrate HISTORY [--scheme drg|dip] [--budget AMOUNT] [--output DIR] [--grouper ID]``: weights
  (DIP: scores) from historical grouped cases; with ``--budget`` (DIP: the fund) also the base rate (point
  value). With ``--output`` a policy folder is written, else the weights table is printed as CSV. The policy's
  grouper is the one the history was grouped by (its ``grouper`` column) or ``--grouper``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from drgpay._atomic import atomic_folder, atomic_path, check_not_inputs, check_writable
from drgpay._inputs import check_input
from drgpay.io import output_format, read_frame
from drgpay.payment import (
    calibrate_dip_policy,
    calibrate_dip_scores,
    calibrate_drg_policy,
    calibrate_weights,
    load_policy,
    pay,
    save_policy,
)
from drgpay.payment.policy import DipPolicy, DrgPolicy, policy_files

__all__ = ["calibrate_file", "pay_file", "read_cases", "register", "run_calibrate", "run_pay", "write_table"]

_CSV = {".csv", ".txt", ".tsv"}
_PARQUET = {".parquet", ".pq"}


def read_cases(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV (``.tsv``: tab-separated) or Parquet file of cases exactly as ``drgpay group`` reads its input
    (:func:`drgpay.io.read_frame`): every CSV column as text, so codes like ``0000`` and amounts survive exactly;
    only an empty cell is missing (``NA``, ``NULL`` … stay text); one encoding for the file (UTF-8 with or without
    BOM, GB18030/GBK, UTF-16 with a BOM), a file mixing encodings refused naming its lines; Parquet integers
    exact (a hospital id stays ``1``, never ``1.0``)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _CSV | _PARQUET:
        raise ValueError(f"{p.name}: unsupported file type {suffix or '(none)'}; use .csv, .tsv or .parquet")
    return read_frame(p)


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV (UTF-8, no index; ``.tsv``: tab-separated) or Parquet, by the file's suffix (the
    suffixes of :func:`drgpay.io.output_format`), whole or not at all."""
    p = Path(path)
    kind = output_format(p)
    with atomic_path(p) as temporary:
        if kind == "parquet":
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False, sep="\t" if kind == "tsv" else ",", lineterminator="\n")
    return p


def pay_file(
    grouped: str | os.PathLike[str],
    policy: str | os.PathLike[str] | DrgPolicy | DipPolicy,
    *,
    output: str | os.PathLike[str] | None = None,
    special: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Pay the cases of a file under a policy; returns (and writes to ``output``) cases + payment columns."""
    if output is not None:
        output_format(output)  # an unsupported suffix is refused before the work
    cases = read_cases(grouped)
    pol = policy if isinstance(policy, DrgPolicy | DipPolicy) else load_policy(policy)
    apps = read_cases(special) if special is not None else None
    paid = pay(cases, pol, special_cases=apps)
    renamed = paid.rename(columns={c: f"{c}_payment" for c in paid.columns if c in cases.columns})
    result = cases.join(renamed)
    result.attrs = dict(paid.attrs)
    if output is not None:
        write_table(result, output)
    return result


def _year_weights(text: str | None, history: pd.DataFrame, year: str | None) -> dict[str, str] | None:
    """``2021=1,2022=2,2023=7`` or ``1:2:7`` (in increasing year order)."""
    if not text:
        return None
    if "=" in text:
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        return {k.strip(): v.strip() for k, v in pairs}
    if year is None:
        raise ValueError("--year-weights 1:2:7 needs --year-column")
    parts = [p.strip() for p in text.replace(",", ":").split(":") if p.strip()]
    years = sorted(history[year].astype(str).unique())
    if len(parts) != len(years):
        raise ValueError(
            f"--year-weights gives {len(parts)} weights for {len(years)} years ({', '.join(years)})"
        )
    return dict(zip(years, parts, strict=True))


def calibrate_file(
    history: str | os.PathLike[str],
    *,
    scheme: str = "drg",
    budget: str | None = None,
    output: str | os.PathLike[str] | None = None,
    name: str | None = None,
    effective_from: str | None = None,
    effective_to: str | None = None,
    year: str | None = None,
    year_weights: str | None = None,
    trim: str | None = None,
    min_cases: int = 1,
    grouper: str | None = None,
) -> DrgPolicy | DipPolicy | pd.DataFrame:
    """Calibrate from a history file: a policy written to ``output`` (returned), or the weights table.

    Dates default to the year after the last history year (needs ``year``); they are required for a policy. The
    policy's ``grouper`` is the history's (its ``grouper`` column) unless given; a DRG policy needs one.
    """
    hist = read_cases(history)
    weights = _year_weights(year_weights, hist, year)
    common: dict[str, Any] = {"year": year, "year_weights": weights, "trim": trim, "min_cases": min_cases}
    if output is None:
        if scheme == "drg":
            return calibrate_weights(hist, **common)
        return calibrate_dip_scores(hist, **common)
    if effective_from is None or effective_to is None:
        if year is None:
            raise ValueError(
                "give --effective-from and --effective-to (or --year-column to default to the next year)"
            )
        next_year = int(max(hist[year].astype(str))) + 1
        effective_from = effective_from or f"{next_year}-01-01"
        effective_to = effective_to or f"{next_year}-12-31"
    label = name or f"calibrated from {Path(history).name}"
    policy: DrgPolicy | DipPolicy
    if grouper is not None:
        common["grouper"] = grouper
    if scheme == "drg":
        policy = calibrate_drg_policy(
            hist,
            name=label,
            effective_from=effective_from,
            effective_to=effective_to,
            budget=budget,
            **common,
        )
        if policy.grouper is None:
            raise ValueError(
                f"{Path(history).name} has no grouper column: give --grouper, the grouper whose DRG codes it holds "
                "(e.g. chs-drg-2.0), so that the policy refuses cases of another grouper"
            )
    else:
        policy = calibrate_dip_policy(
            hist, name=label, effective_from=effective_from, effective_to=effective_to, fund=budget, **common
        )
    check_not_inputs([Path(output) / name for name in policy_files(policy)], [history])
    with atomic_folder(output) as staging:
        save_policy(policy, staging)
    return policy


def _policy_inputs(policy: str) -> list[Path]:
    """The files a ``--policy`` argument reads: the TOML file, or every file of the policy folder."""
    path = Path(policy)
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]


def _check_case_file(path: str) -> None:
    """Refuse an empty, header-only, doubled-header or UTF-16-without-a-byte-order-mark file of cases before
    paying or calibrating."""
    check_input(path, required=(), formats=(*_CSV, *_PARQUET))


def run_pay(args: argparse.Namespace) -> int:
    """Entry point of ``drgpay pay``."""
    if args.output is not None:
        output_format(args.output)
    check_not_inputs([args.output], [args.grouped, args.special, *_policy_inputs(args.policy)])
    check_writable(args.output)
    for path in (args.grouped, args.special):
        if path is not None:
            _check_case_file(path)
    from drgpay.cli_settle import run_pay_stream  # chunks in, chunks out (whole-year checks first)

    return run_pay_stream(args)


def run_calibrate(args: argparse.Namespace) -> int:
    """Entry point of ``drgpay calibrate``."""
    check_not_inputs([args.output], [args.history])
    _check_case_file(args.history)
    result = calibrate_file(
        args.history,
        scheme=args.scheme,
        budget=args.budget,
        output=args.output,
        name=args.name,
        effective_from=args.effective_from,
        effective_to=args.effective_to,
        year=args.year_column,
        year_weights=args.year_weights,
        trim=args.trim,
        min_cases=args.min_cases,
        grouper=args.grouper,
    )
    if isinstance(result, pd.DataFrame):
        sys.stdout.write(result.to_csv(index=False, lineterminator="\n"))
    else:
        print(f"policy {result.name!r} written to {args.output}")
    return 0


def register(subparsers: Any) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Add the ``pay`` and ``calibrate`` subcommands to an argparse subparsers object."""
    from drgpay.cli import explained

    p = subparsers.add_parser(
        "pay",
        help="pay grouped cases under a dated policy",
        description="Pay every case of GROUPED under POLICY (DRG or DIP by the policy file).",
    )
    p.add_argument(
        "grouped", help="CSV or Parquet: cases joined with their grouping (drg or dip_group, status)"
    )
    p.add_argument("--policy", required=True, help="policy folder (with policy.toml) or TOML file")
    p.add_argument("--output", "-o", help="write cases + payment columns here (.csv or .parquet)")
    p.add_argument("--special", help="特例单议 applications (CSV or Parquet) to apply")
    p.set_defaults(func=explained(run_pay))

    c = subparsers.add_parser(
        "calibrate",
        help="calibrate weights / scores and a base rate from history",
        description="Calibrate DRG weights (or DIP scores) from historical grouped cases.",
    )
    c.add_argument("history", help="CSV or Parquet of grouped historical cases with total_cost")
    c.add_argument("--scheme", choices=["drg", "dip"], default="drg")
    c.add_argument("--budget", help="yuan: DRG budget for the base rate, or DIP fund for the point value")
    c.add_argument("--output", "-o", help="write a policy folder here (policy.toml + tables)")
    c.add_argument("--name", help="policy name")
    c.add_argument("--effective-from", help="first discharge date the policy applies to (YYYY-MM-DD)")
    c.add_argument("--effective-to", help="last discharge date the policy applies to (YYYY-MM-DD)")
    c.add_argument("--year-column", help="column holding each case's year")
    c.add_argument("--year-weights", help="e.g. 1:2:7 (oldest to newest) or 2021=1,2022=2,2023=7")
    c.add_argument(
        "--trim", choices=["iqr", "log_sd", "percentile"], help="outlier trimming before the means"
    )
    c.add_argument("--min-cases", type=int, default=1, help="groups with fewer cases are flagged unstable")
    c.add_argument(
        "--grouper",
        help="id of the grouper whose codes the history holds (e.g. chs-drg-2.0); default: its grouper column",
    )
    c.set_defaults(func=explained(run_calibrate))
    return p, c
