"""Payment at grouping speed: ``drgpay.pay`` in process (DRG and DIP) and ``drgpay settle`` (group + pay in one
streaming pass), at 1M records, and a 10M-record settle in bounded memory.

Why: issue 14 sets targets on a 2-core machine at 1M records: ``drgpay.pay`` in process ≥ 1,500,000 records/s
(DRG) and ≥ 1,000,000 (DIP); ``drgpay settle`` CSV → Parquet, whole process, ≥ 400,000 records/s; peak RSS ≤ 1 GB
at 1M and at 10M rows; a 10M-row settle that ends with every row paid or explained, none lost.

What is measured, each in a fresh process so that its peak memory is its own; the load average of the machine is
recorded with every figure (the benchmark machine is shared):

* **pay, DRG**: the synthetic export (``benchmarks/generate.py``, discharges in 2025, the example policy's year)
  read from Parquet, grouped with ``chs-drg-2.0`` (not timed), joined; then ``drgpay.pay(cases, policy)`` under
  the example policy (``drgpay.payment.example_policy_path()``) is timed alone, best of ``--repeat``. The exact
  reference path (``drgpay.payment.drg_pay.pay_drg``) is timed once beside it, and both outputs compared.
* **pay, DIP**: records over a 10,000-group synthetic catalogue (``bench_dip.synthetic_catalog`` and
  ``synthetic_records``) with costs, levels and dates added, grouped with ``dip-2.0`` (not timed), paid under a
  policy whose scores and mean costs are the catalogue's (point value and coefficients made up).
* **settle CLI**: ``drgpay settle in.csv --policy P -o out.parquet --quiet`` as a subprocess: wall time of the
  whole process and its peak RSS (``RUSAGE_CHILDREN`` of a wrapper that runs nothing else), beside ``drgpay
  group`` of the same file; drgpay's modules byte-compiled first, as an installed package has them
  (``bench.compile_drgpay``), and a first pair of runs, which warms the file cache, not counted.
* **10M** (``--part 10m``, not in CI): ten 1M-record pieces with distinct seeds and case ids written as one CSV
  (cached in ``benchmarks/out/``), settled into Parquet; then the output is read back in batches: 10,000,000 rows,
  the case ids in input order, and every row either paid (a ``standard``) or explained (a ``payment_reason``).

Usage::

    python benchmarks/bench_settle.py                   # pay (DRG, DIP) and settle at 1M records
    python benchmarks/bench_settle.py --part pay --repeat 3
    python benchmarks/bench_settle.py --part cli
    python benchmarks/bench_settle.py --part 10m        # the 10M-record run (minutes; about 2 GB of disk)
    python benchmarks/bench_settle.py --smoke           # CI: 20k records, every part, assertions
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "out"
YEAR = 2025  # the example policy's year
TARGETS = {"pay-drg": 1_500_000, "pay-dip": 1_000_000, "settle-csv-parquet": 400_000, "group-csv-parquet": 0}
MEMORY_TARGET_MIB = 1000**3 / 2**20  # 1 GB
PIECE = 1_000_000


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def _module(name: str) -> Any:
    sys.path.insert(0, str(HERE))
    return __import__(name)  # benchmarks/ is not a package


def _key(*parts: object) -> str:
    import drgpay

    digest = hashlib.sha256((HERE / "generate.py").read_bytes())
    digest.update(drgpay.load_grouper("chs-drg-2.0").content_hash.encode())
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:10]


def export(n: int, seed: int, data_dir: Path) -> tuple[Path, Path]:
    """CSV and Parquet exports of ``n`` records discharged in 2025 (made once, then reused)."""
    name = f"settle-{n}-s{seed}-{_key(n, seed, YEAR)}"
    csv, parquet = data_dir / f"{name}.csv", data_dir / f"{name}.parquet"
    if not (csv.exists() and parquet.exists()):
        gen = _module("generate")
        frame = gen.synthetic_export(n, "chs-drg-2.0", seed, year=YEAR)
        gen.write_export(frame, parquet)
        gen.write_export(frame, csv)
    return csv, parquet


def big_export(n: int, data_dir: Path) -> Path:
    """One CSV of ``n`` records (pieces of 1M with distinct seeds; case ids ``P<piece>-…``), written piece by
    piece, never whole in memory."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = data_dir / f"settle-big-{n}-{_key(n, YEAR, 'big')}.csv"
    if path.exists():
        return path
    gen = _module("generate")
    partial = path.with_suffix(".partial")
    writer, schema = None, None
    try:
        for piece in range((n + PIECE - 1) // PIECE):
            rows = min(PIECE, n - piece * PIECE)
            frame = gen.synthetic_export(rows, "chs-drg-2.0", 100 + piece, year=YEAR)
            frame["case_id"] = f"P{piece:02d}-" + frame["case_id"].astype(str)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pacsv.CSVWriter(
                    partial, schema, write_options=pacsv.WriteOptions(quoting_style="none")
                )
            writer.write_table(table if table.schema == schema else table.cast(schema))
            print(f"  piece {piece + 1}: {rows:,} records", file=sys.stderr)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# child processes: one measurement each, JSON on the last line of stdout
# ---------------------------------------------------------------------------------------------------------------
def _timed_pay(path: str, cases: Any, policy: Any, repeat: int) -> tuple[dict[str, Any], Any]:
    """``drgpay.pay(cases, policy)`` timed ``repeat`` times after a warm-up on 1,000 rows (the best counts), every
    row checked to come out in order; the result row for ``path`` and the last output."""
    import drgpay

    bench = _module("bench")
    drgpay.pay(cases.head(1000), policy)  # warm the code paths
    reset = bench._reset_peak()
    times, out = [], None
    for _ in range(repeat):
        del out
        start = time.perf_counter()
        out = drgpay.pay(cases, policy)
        times.append(time.perf_counter() - start)
    assert out is not None and len(out) == len(cases) and out.index.equals(cases.index), "rows lost"
    result = {
        "path": path,
        "rows": len(cases),
        "seconds": min(times),
        "all_seconds": times,
        "peak_rss_mib": bench._maxrss_mib(resource.RUSAGE_SELF),
        "call_peak_rss_mib": bench._proc_status("VmHWM") if reset else None,
        "load": _load(),
        "case_types": {str(k): int(v) for k, v in out["case_type"].value_counts().items() if v},
    }
    return result, out


def child_pay_drg(parquet: str, repeat: int, reference: bool) -> dict[str, Any]:
    import pandas as pd

    import drgpay
    from drgpay.payment import example_policy_path, load_policy
    from drgpay.payment.drg_pay import pay_drg

    frame = pd.read_parquet(parquet)
    cases = frame.join(drgpay.group(frame, "chs-drg-2.0"))
    del frame
    policy = load_policy(example_policy_path())
    result, out = _timed_pay("pay-drg", cases, policy, repeat)
    if reference:
        start = time.perf_counter()
        ref = pay_drg(cases, policy)
        result["reference_seconds"] = time.perf_counter() - start
        pd.testing.assert_frame_equal(out, ref)  # the fast path is the reference, row for row
        result["equal_to_reference"] = True
    return result


def child_pay_dip(rows: int, repeat: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    import drgpay
    from drgpay.dip import load_catalog
    from drgpay.payment import DipPolicy, PointValue

    bench_dip = _module("bench_dip")
    grouper = drgpay.load_grouper("dip-2.0")
    table = bench_dip.synthetic_catalog(grouper, 10_000)
    table["mean_cost"] = (table["score"] * 10).round(2)  # about 10 yuan per point
    catalog = load_catalog(table)
    records = bench_dip.synthetic_records(grouper, table, rows)
    rng = np.random.default_rng(3)
    groups = grouper.group(records, catalog=catalog)
    score = groups["score"].fillna(1000).to_numpy()
    records["total_cost"] = np.round(score * 10 * rng.lognormal(-0.1, 0.6, rows), 2)
    records["self_paid"] = np.round(records["total_cost"] * rng.uniform(0.1, 0.4, rows), 2)
    records["hospital_level"] = rng.choice(["1", "2", "3"], rows)
    records["insurance_type"] = rng.choice(["310", "390"], rows)
    records["discharge_date"] = pd.Series(rng.integers(0, 365, rows)).map(
        lambda d: (pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(d))).date().isoformat()
    )
    cases = records.join(groups)
    policy = DipPolicy(
        name="DIP benchmark (illustrative)",
        effective_from="2025-01-01",
        effective_to="2025-12-31",
        grouper="dip-2.0",
        scores=table.rename(columns={"group": "dip_group"}),
        point_values=[PointValue("10.5")],
        level_coefficients={"3": "1", "2": "0.9", "1": "0.8"},
    )
    return _timed_pay("pay-dip", cases, policy, repeat)[0]


def child_cli(csv: str, output: str, workers: str, group_only: bool = False) -> dict[str, Any]:
    """``drgpay settle`` (or, for comparison, ``drgpay group`` of the same file) and nothing else in this
    process, so RUSAGE_CHILDREN is the command's own peak."""
    from drgpay.payment import example_policy_path

    if group_only:
        cmd = [sys.executable, "-m", "drgpay", "group", csv, "-o", output, "--quiet"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "drgpay",
            "settle",
            csv,
            "--policy",
            str(example_policy_path()),
            "-o",
            output,
            "--quiet",
        ]
    cmd += ["--workers", workers]
    load = _load()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"settle failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    if group_only:
        import pyarrow.parquet as pq

        return {
            "path": "group-csv-parquet",
            "rows": pq.ParquetFile(output).metadata.num_rows,
            "seconds": wall,
            "all_seconds": [wall],
            "peak_rss_mib": _module("bench")._maxrss_mib(resource.RUSAGE_CHILDREN),
            "load": f"{load} (start), {_load()} (end)",
            "workers": workers,
        }
    return {
        "path": "settle-csv-parquet",
        "seconds": wall,
        "all_seconds": [wall],
        "peak_rss_mib": _module("bench")._maxrss_mib(resource.RUSAGE_CHILDREN),
        "load": f"{load} (start), {_load()} (end)",
        "workers": workers,
        "summary": proc.stdout.strip().splitlines(),
        **verify(output),
    }


def verify(parquet: str, first_id: str | None = None) -> dict[str, Any]:
    """Read a settle output back in batches: rows, case types, and that every row is paid (a standard) or
    explained (a payment reason); the first and last case ids."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = unexplained = 0
    kinds: dict[str, int] = {}
    first = last = None
    source = pq.ParquetFile(parquet)
    for batch in source.iter_batches(
        columns=["case_id", "case_type", "standard", "payment_reason"], batch_size=1 << 20
    ):
        rows += batch.num_rows
        paid = pc.is_valid(batch.column("standard"))
        explained = pc.greater(pc.utf8_length(pc.fill_null(batch.column("payment_reason"), "")), 0)
        unexplained += batch.num_rows - pc.sum(pc.or_(paid, explained)).as_py()
        assert batch.column("case_type").null_count == 0, "a row without a case type"
        for item in pc.value_counts(batch.column("case_type").cast("string")).to_pylist():
            kinds[item["values"]] = kinds.get(item["values"], 0) + int(item["counts"])
        ids = batch.column("case_id")
        first = first if first is not None else ids[0].as_py()
        last = ids[-1].as_py()
    assert unexplained == 0, f"{unexplained} rows neither paid nor explained"
    return {"rows": rows, "unexplained": unexplained, "case_types": kinds, "first_id": first, "last_id": last}


def _run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"measurement {args[:2]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# the parent
# ---------------------------------------------------------------------------------------------------------------
def run(
    parts: list[str], n: int, big: int, seed: int, repeat: int, data_dir: Path, workers: str
) -> list[dict]:
    results = []
    data_dir.mkdir(parents=True, exist_ok=True)
    if "pay" in parts or "cli" in parts:
        csv, parquet = export(n, seed, data_dir)
    if "pay" in parts:
        res = _run_child(["--child-drg", str(parquet), "--repeat", str(repeat), "--reference"])
        print(
            f"pay-drg {n:,}: {res['seconds']:.3f} s (reference {res['reference_seconds']:.2f} s)",
            file=sys.stderr,
        )
        results.append(res)
        res = _run_child(["--child-dip", str(n), "--repeat", str(repeat)])
        print(f"pay-dip {n:,}: {res['seconds']:.3f} s", file=sys.stderr)
        results.append(res)
    if "cli" in parts or "10m" in parts:
        _module("bench").compile_drgpay()
    if "cli" in parts:
        for run_number in range(repeat + 1):  # the first run of each warms the file cache and is not counted
            for extra in ([], ["--group-only"]):  # settle, then drgpay group alone on the same file
                with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
                    out = str(Path(tmp) / "out.parquet")
                    res = _run_child(["--child-cli", str(csv), "--output", out, "--workers", workers, *extra])
                assert res["rows"] == n, f"{res['path']} wrote {res['rows']} rows for {n}"
                print(f"{res['path']} {n:,}: {res['seconds']:.2f} s", file=sys.stderr)
                if run_number:
                    results.append(res)
    if "10m" in parts:
        source = big_export(big, data_dir)
        with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
            res = _run_child(
                ["--child-cli", str(source), "--output", str(Path(tmp) / "out.parquet"), "--workers", workers]
            )
        assert res["rows"] == big, f"settle wrote {res['rows']} rows for {big}"
        assert res["first_id"].startswith("P00-") and res["last_id"].startswith(
            f"P{(big - 1) // PIECE:02d}-"
        ), res
        print(f"settle {big:,}: {res['seconds']:.1f} s, every row paid or explained", file=sys.stderr)
        results.append(res)
    return results


def table(results: list[dict[str, Any]]) -> str:
    """Results as a markdown table. Speed targets are judged at 1M records; the memory target (1 GB) on the
    streaming command, whose peak is its own (``pay`` in process also holds the 1M-row frame and its grouping:
    the peak of the call alone is in brackets)."""
    lines = [
        "| path | rows | seconds | records/s | peak RSS (MiB) | load average (1/5/15 min) | target records/s | "
        "meets targets |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        rate = r["rows"] / r["seconds"]
        target = TARGETS[r["path"]]
        peak = f"{r['peak_rss_mib']:,.0f}"
        if r.get("call_peak_rss_mib"):
            peak += f" (call {r['call_peak_rss_mib']:,.0f})"
        if not target:  # a comparison, not a target
            verdict, shown = "", "(comparison)"
        else:
            streaming = r["path"].startswith("settle")
            speed = rate >= target if r["rows"] <= PIECE else True  # the 10M run: memory and completeness
            memory = r["peak_rss_mib"] <= MEMORY_TARGET_MIB if streaming else True
            verdict = ("yes" if speed and memory else "no") if r["rows"] >= PIECE else "n/a"
            shown = f"{target:,}"
        lines.append(
            f"| {r['path']} | {r['rows']:,} | {r['seconds']:.2f} | {rate:,.0f} | {peak} | {r['load']} | {shown} | "
            f"{verdict} |"
        )
    medians = []
    for path, rows in dict.fromkeys(
        (r["path"], r["rows"]) for r in results if r["path"].endswith("-parquet")
    ):
        runs = [r["seconds"] for r in results if (r["path"], r["rows"]) == (path, rows)]
        if len(runs) > 1:  # the CLI runs of one size (not the 10M run beside them)
            mid = statistics.median(runs)
            medians.append(f"{path}: median of {len(runs)} runs {mid:.2f} s = {rows / mid:,.0f} records/s")
    return "\n".join([*lines, *([""] if medians else []), *medians])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "pay", "cli", "10m"], default="all")
    parser.add_argument("--rows", default="1M", help="records for pay and cli (default 1M)")
    parser.add_argument("--big", default="10M", help="records for --part 10m (default 10M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="pay calls per child (the best counts), CLI runs"
    )
    parser.add_argument("--workers", default="1", help="drgpay settle --workers (default 1: 2 CPUs)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--smoke", action="store_true", help="20k records, every part, assertions (CI)")
    parser.add_argument("--child-drg", help=argparse.SUPPRESS)
    parser.add_argument("--child-dip", help=argparse.SUPPRESS)
    parser.add_argument("--child-cli", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--group-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_drg:
        print(json.dumps(child_pay_drg(args.child_drg, args.repeat, args.reference)))
        return 0
    if args.child_dip:
        print(json.dumps(child_pay_dip(int(args.child_dip), args.repeat)))
        return 0
    if args.child_cli:
        print(json.dumps(child_cli(args.child_cli, args.output, args.workers, args.group_only)))
        return 0
    count = _module("generate").parse_count
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(["pay", "cli", "10m"], 20_000, 30_000, 0, 1, Path(tmp), args.workers)
        assert all(r["rows"] in (20_000, 30_000) for r in results), results
        print(table(results))
        print("\nsmoke run passed")
        return 0
    parts = ["pay", "cli"] if args.part == "all" else [args.part]
    results = run(
        parts, count(args.rows), count(args.big), args.seed, args.repeat, args.data_dir, args.workers
    )
    bench = _module("bench")
    info = bench.machine()
    print(f"\n{bench.machine_line(info)}\n")
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"machine": info, "results": results}, indent=2, ensure_ascii=False) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
