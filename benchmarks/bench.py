"""Throughput and peak memory of CHS-DRG grouping: group-only (in memory) and CSV → result (the CLI).

Why: the issues set targets on a 2-core machine at 1M rows — for CHS-DRG 2.0 (issue 11) group-only ≥ 1,200,000
records/s, CSV → result ≥ 400,000 records/s, peak memory ≤ 1 GB; for 1.1 (issue 6) ≥ 1,000,000, ≥ 300,000 and
≤ 2 GB — and they must be checkable with public tools only (Python, the stdlib and drgpay's own dependencies).

What is measured, each measurement in a fresh Python process so that its peak memory is its own:

* **group-only**: the export is read from Parquet into a DataFrame, the grouper is loaded and compiled (timed and
  reported apart: ``load`` and ``first group`` of 100 rows), then ``drgpay.group(frame, grouper)`` is timed alone.
  Peak memory is the process's peak RSS (``ru_maxrss``: data + grouper + grouping); on Linux the peak of the call
  alone is measured too (the high-water mark is reset through ``/proc/self/clear_refs`` just before the call).
* **CSV → result**: ``drgpay group in.csv --grouper G --output out.parquet --quiet`` as a subprocess: wall time
  (Python start-up, import, grouper load, reading, grouping, writing input + result columns) and the child's peak
  RSS from ``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process that runs nothing else.

Inputs come from ``benchmarks/generate.py`` (seeded) and are cached in ``benchmarks/out/`` under a name that
includes a hash of the generator and the grouper, so a changed generator never reuses stale files.

Usage::

    python benchmarks/bench.py                      # 100k and 1M rows, markdown table
    python benchmarks/bench.py --sizes 100k --repeat 3 --json results.json
    python benchmarks/bench.py --smoke              # 10k rows, one pass, asserts; for CI (< 60 s)
    python benchmarks/bench.py --profile 1M         # cProfile of the group-only call, top functions
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "out"
#: Per grouper: records/s per path and peak memory (MiB); groupers not listed are judged by the default grouper's.
TARGETS = {
    "chs-drg-2.0": ({"group-only": 1_200_000, "csv-to-result": 400_000}, 1024),
    # issue 15 states group-only at 1M; the CSV -> result target is 2.0's (issue 15 sets none)
    "chs-drg-3.0": ({"group-only": 1_200_000, "csv-to-result": 400_000}, 1024),
    "chs-drg-1.1": ({"group-only": 1_000_000, "csv-to-result": 300_000}, 2048),
}
TARGET_ROWS = 1_000_000  # the targets are stated at 1M rows
STATUSES = {"grouped", "ambiguous", "ungroupable", "invalid"}


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------
def _maxrss_mib(who: int) -> float:
    """Peak RSS in MiB from getrusage (KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(who).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def _proc_status(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status in MiB (Linux only)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _drgpay_command() -> list[str]:
    """The ``drgpay`` console script of this interpreter's environment, else ``python -c`` calling the CLI."""
    script = Path(sys.executable).parent / "drgpay"
    if script.exists():
        return [str(script)]
    found = shutil.which("drgpay")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from drgpay.cli import main; sys.exit(main())"]


def compile_drgpay() -> None:
    """Byte-compile drgpay's modules, as ``pip install`` does for an installed package, before a whole-process
    measurement: the figure is then the command's, not that of compiling some 150 modules from source, which an
    environment with ``PYTHONDONTWRITEBYTECODE`` set (or a read-only checkout) repeats in every run (0.1–0.2 s)."""
    import compileall

    import drgpay

    compileall.compile_dir(str(Path(drgpay.__file__).parent), quiet=1)


def _generator() -> Any:
    sys.path.insert(0, str(HERE))
    import generate  # benchmarks/ is not a package

    return generate


def _data_key(grouper: str, n: int, seed: int) -> str:
    import drgpay

    digest = hashlib.sha256((HERE / "generate.py").read_bytes())
    digest.update(drgpay.load_grouper(grouper).content_hash.encode())
    return f"export-{grouper}-{n}-s{seed}-{digest.hexdigest()[:10]}"


def ensure_data(grouper: str, n: int, seed: int, data_dir: Path) -> tuple[Path, Path, float]:
    """CSV and Parquet exports of ``n`` records (generated once, then reused); returns paths and seconds spent."""
    key = _data_key(grouper, n, seed)
    csv_path, parquet_path = data_dir / f"{key}.csv", data_dir / f"{key}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path, 0.0
    gen = _generator()
    start = time.perf_counter()
    frame = gen.synthetic_export(n, grouper, seed)
    gen.write_export(frame, parquet_path)
    gen.write_export(frame, csv_path)
    return csv_path, parquet_path, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------------
# child processes: one measurement each, JSON on the last line of stdout
# ---------------------------------------------------------------------------------------------------------------
def child_group(parquet: str, grouper: str, repeat: int) -> dict[str, Any]:
    """Group-only measurement (runs in its own process)."""
    t0 = time.perf_counter()
    import pandas as pd

    import drgpay

    imported = time.perf_counter() - t0
    frame = pd.read_parquet(parquet)
    t1 = time.perf_counter()
    g = drgpay.load_grouper(grouper)
    loaded = time.perf_counter() - t1
    t2 = time.perf_counter()
    drgpay.group(frame.head(100), grouper)  # compiles the definition and warms the code paths
    first = time.perf_counter() - t2
    rss_before = _proc_status("VmRSS")
    reset = _reset_peak()
    times = []
    out = None
    for _ in range(repeat):
        del out
        start = time.perf_counter()
        out = drgpay.group(frame, grouper)
        times.append(time.perf_counter() - start)
    call_peak = _proc_status("VmHWM") if reset else None
    assert out is not None and len(out) == len(frame) and out.index.equals(frame.index), "rows lost"
    assert out["status"].notna().all() and set(out["status"].astype(str)) <= STATUSES, "a row has no status"
    return {
        "path": "group-only",
        "rows": len(frame),
        "seconds": min(times),
        "all_seconds": times,
        "peak_rss_mib": _maxrss_mib(resource.RUSAGE_SELF),
        "call_peak_rss_mib": call_peak,
        "rss_before_call_mib": rss_before,
        "import_seconds": imported,
        "load_seconds": loaded,
        "first_group_seconds": first,
        "grouper": g.id,
        "status_counts": {str(k): int(v) for k, v in out["status"].value_counts().items()},
    }


def child_cli(csv: str, grouper: str, output: str) -> dict[str, Any]:
    """CSV → result measurement: runs the CLI and nothing else, so RUSAGE_CHILDREN is the CLI's own peak."""
    cmd = [*_drgpay_command(), "group", csv, "--grouper", grouper, "--output", output, "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    peak = _maxrss_mib(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    status = pq.read_table(output, columns=["status"])["status"]
    rows = len(status)
    assert status.null_count == 0, "a row has no status"
    assert set(pc.unique(status.cast("string")).to_pylist()) <= STATUSES, "unexpected status values"
    counts = pc.value_counts(status.cast("string")).to_pylist()
    return {
        "path": "csv-to-result",
        "grouper": grouper,
        "rows": rows,
        "seconds": wall,
        "all_seconds": [wall],
        "peak_rss_mib": peak,
        "command": " ".join(["drgpay", *cmd[-7:]]),
        "cli_summary": proc.stdout.strip().splitlines(),
        "status_counts": {c["values"]: int(c["counts"]) for c in counts},
    }


def _run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"measurement {args[:2]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# the parent: data, measurements, table
# ---------------------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import numpy
    import pandas
    import pyarrow

    import drgpay

    mem = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem, 1) if mem else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "drgpay": drgpay.__version__,
    }


def machine_line(info: dict[str, Any]) -> str:
    """The machine and versions of :func:`machine` as one line, printed above every results table."""
    return (
        f"{info['date']} · {info['cpus']} CPUs ({info['cpu']}) · {info['memory_gib']} GiB · Python "
        f"{info['python']}, numpy {info['numpy']}, pandas {info['pandas']}, pyarrow {info['pyarrow']}, "
        f"drgpay {info['drgpay']}"
    )


def _fmt_rows(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def table(results: list[dict[str, Any]]) -> str:
    """Results as a markdown table (the targets are judged at 1M rows and more only)."""
    lines = [
        "| path | rows | seconds | records/s | peak RSS (MiB) | target records/s | meets targets (at 1M) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rate = r["rows"] / r["seconds"] if r["seconds"] else float("inf")
        rates, memory = TARGETS.get(r.get("grouper", ""), TARGETS["chs-drg-2.0"])
        target = rates[r["path"]]
        ok = rate >= target and r["peak_rss_mib"] <= memory
        verdict = ("yes" if ok else "no") if r["rows"] >= TARGET_ROWS else "n/a"
        peak = f"{r['peak_rss_mib']:,.0f}"
        if r.get("call_peak_rss_mib"):
            peak += f" (call {r['call_peak_rss_mib']:,.0f})"
        lines.append(
            f"| {r['path']} | {_fmt_rows(r['rows'])} | {r['seconds']:.3f} | {rate:,.0f} | {peak} | "
            f"{target:,} | {verdict} |"
        )
    loads = [r for r in results if r["path"] == "group-only"]
    if loads:
        r = loads[-1]
        lines.append("")
        lines.append(
            f"Grouper `{r['grouper']}`: import drgpay {r['import_seconds']:.2f} s, load {r['load_seconds']:.2f} s, "
            f"first group of 100 rows (compiles) {r['first_group_seconds']:.2f} s — not included above."
        )
    return "\n".join(lines)


def measure(sizes: list[int], grouper: str, seed: int, repeat: int, data_dir: Path, cli: bool) -> list[dict]:
    results: list[dict[str, Any]] = []
    for n in sizes:
        csv_path, parquet_path, made = ensure_data(grouper, n, seed, data_dir)
        if made:
            print(f"generated {n:,} records in {made:.1f} s → {csv_path.name}", file=sys.stderr)
        res = _run_child(["--child-group", str(parquet_path), "--grouper", grouper, "--repeat", str(repeat)])
        print(f"group-only {n:,}: {res['seconds']:.3f} s", file=sys.stderr)
        results.append(res)
        if cli:
            compile_drgpay()
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out.parquet"
                res = _run_child(["--child-cli", str(csv_path), "--grouper", grouper, "--output", str(out)])
            assert res["rows"] == n, f"CLI returned {res['rows']} rows for {n}"
            print(f"csv-to-result {n:,}: {res['seconds']:.3f} s", file=sys.stderr)
            results.append(res)
    return results


def smoke(grouper: str, cli: bool) -> list[dict[str, Any]]:
    """10k rows, one pass of each measurement; fails loudly if a row is lost or has no status."""
    n = 10_000
    with tempfile.TemporaryDirectory() as tmp:
        results = measure([n], grouper, seed=0, repeat=1, data_dir=Path(tmp), cli=cli)
    for r in results:
        assert r["rows"] == n, r
        assert sum(r["status_counts"].values()) == n, r
        assert r["status_counts"].get("grouped", 0) > 0.8 * n, r["status_counts"]
    return results


def profile(n: int, grouper: str, seed: int, data_dir: Path, top: int) -> None:
    """cProfile of one group-only call (after warm-up), the top functions by own and by cumulative time."""
    import cProfile
    import pstats

    import pandas as pd

    import drgpay

    _, parquet_path, _ = ensure_data(grouper, n, seed, data_dir)
    frame = pd.read_parquet(parquet_path)
    drgpay.group(frame.head(100), grouper)
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    drgpay.group(frame, grouper)
    prof.disable()
    print(f"group-only {n:,} rows under cProfile: {time.perf_counter() - start:.2f} s")
    stats = pstats.Stats(prof).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1M", help="comma-separated record counts (default 100k,1M)")
    parser.add_argument("--grouper", default="chs-drg-2.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="group-only calls per measurement; the best counts"
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where generated exports are cached")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--smoke", action="store_true", help="10k rows, one pass, assertions (CI)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CSV → result measurement")
    parser.add_argument("--profile", metavar="N", help="profile the group-only call at N records and exit")
    parser.add_argument("--child-group", help=argparse.SUPPRESS)
    parser.add_argument("--child-cli", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_group:
        print(json.dumps(child_group(args.child_group, args.grouper, args.repeat)))
        return 0
    if args.child_cli:
        print(json.dumps(child_cli(args.child_cli, args.grouper, args.output)))
        return 0
    gen = _generator()
    if args.profile:
        profile(gen.parse_count(args.profile), args.grouper, args.seed, args.data_dir, top=30)
        return 0

    start = time.perf_counter()
    if args.smoke:
        results = smoke(args.grouper, cli=not args.no_cli)
    else:
        sizes = [gen.parse_count(s) for s in args.sizes.split(",") if s.strip()]
        results = measure(sizes, args.grouper, args.seed, args.repeat, args.data_dir, cli=not args.no_cli)
    info = machine()
    print(f"\n{machine_line(info)}\n")
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": info, "grouper": args.grouper, "seed": args.seed, "results": results}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.smoke:
        print(f"\nsmoke run passed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
