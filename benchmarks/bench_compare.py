"""Time of a version comparison: ``compare_groupers`` on a generated year, CHS-DRG 2.0 → 3.0.

Why: issue 15 asks for the comparison of 1M cases in under 10 s on 2 cores. What is timed is the whole
``drgpay.report.compare.compare_groupers`` call on a frame in memory: grouping the records with both groupers,
the weights on each side, flows, splits, merges, MDC changes and the CMI / weight tables by hospital and
department; with ``--pay`` also paying each side under its own policy (``drgpay.pay``) and the per-hospital
payment shift. Loading and compiling both groupers is done first (reported apart, not included). The export is
``benchmarks/generate.py``'s 2.0 export (seed 0), cached by ``bench.py``'s ``ensure_data``. Weights and policies
are synthetic (a fixed weight per DRG code, one base rate per side): the figures time the code, not a real policy.

Usage::

    python benchmarks/bench_compare.py                 # 1M records, best of 3
    python benchmarks/bench_compare.py --sizes 100k,1M --repeat 3 --pay
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import DATA_DIR, _fmt_rows, _generator, _maxrss_mib, ensure_data, machine  # noqa: E402

OLD, NEW = "chs-drg-2.0", "chs-drg-3.0"
TARGET_SECONDS = 10.0  # issue 15, at 1M records on 2 cores


def synthetic_weights(grouper: str) -> dict[str, str]:
    """A fixed weight (0.3 to 3.9, 4 decimals) for every DRG of ``grouper``, by its row in drg.csv."""
    import drgpay

    codes = drgpay.load_grouper(grouper).definition.tables["drg.csv"]["drg"]
    return {code: f"{0.3 + (i % 37) / 10:.4f}" for i, code in enumerate(codes)}


def synthetic_policy(grouper: str, weights: dict[str, str], rate: str) -> Any:
    """A 2024 DRG policy for ``grouper`` (the generator's discharge year): one base rate, coefficient 1."""
    from drgpay.payment import BaseRate, DrgPolicy, GroupWeight

    return DrgPolicy(
        name=f"benchmark {grouper}",
        grouper=grouper,
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        weights=[GroupWeight(code, weight=w) for code, w in weights.items()],
        base_rates=[BaseRate(rate)],
    )


def measure(n: int, seed: int, repeat: int, pay: bool, data_dir: Path) -> dict[str, Any]:
    """Best-of-``repeat`` seconds of one comparison of ``n`` generated records, with its checks."""
    import pandas as pd

    import drgpay
    from drgpay.report.compare import compare_groupers

    _, parquet, _ = ensure_data(OLD, n, seed, data_dir)
    frame = pd.read_parquet(parquet)
    start = time.perf_counter()
    for gid in (OLD, NEW):
        drgpay.load_grouper(gid).group(frame.head(100))  # load and compile, outside the timing
    warm = time.perf_counter() - start
    weights = {gid: synthetic_weights(gid) for gid in (OLD, NEW)}
    options: dict[str, Any] = {
        "weights": {g: {k: float(v) for k, v in w.items()} for g, w in weights.items()}
    }
    if pay:
        options["old_policy"] = synthetic_policy(OLD, weights[OLD], "9575.25")
        options["new_policy"] = synthetic_policy(NEW, weights[NEW], "9861.37")
    times, loads = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        c = compare_groupers(frame, OLD, NEW, **options)
        times.append(time.perf_counter() - start)
        loads.append(os.getloadavg()[0])
    assert int(c.flows["cases"].sum()) == len(frame), "a case is not counted once"
    assert (c.summary["cases"] == len(frame)).all()
    if pay:
        assert int(c.payments.set_index("hospital_id").loc["total", "cases"]) == len(frame)
    return {
        "rows": len(frame),
        "pay": pay,
        "seconds": min(times),
        "all_seconds": times,
        "load": loads,
        "warm_seconds": warm,
        "peak_rss_mib": _maxrss_mib(resource.RUSAGE_SELF),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M", help="comma-separated record counts (default 1M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pay", action="store_true", help="also pay each side and compute the payment shift")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where generated exports are cached")
    args = parser.parse_args(argv)
    sizes = [_generator().parse_count(s) for s in args.sizes.split(",") if s.strip()]
    info = machine()
    print(f"{info.get('date', '')} · {info.get('cpus', '')} CPUs · Python {sys.version.split()[0]}")
    print(
        f"| {OLD} → {NEW} | rows | seconds (best of {args.repeat}) | all runs | load (1 min) | peak RSS (MiB) |"
    )
    print("|---|---:|---:|---|---|---:|")
    for n in sizes:
        r = measure(n, args.seed, args.repeat, args.pay, args.data_dir)
        what = (
            "compare_groupers + payment shift"
            if r["pay"]
            else "compare_groupers (weights, flows, by hospital)"
        )
        runs = ", ".join(f"{s:.2f}" for s in r["all_seconds"])
        loads = ", ".join(f"{x:.1f}" for x in r["load"])
        print(
            f"| {what} | {_fmt_rows(r['rows'])} | {r['seconds']:.2f} | {runs} | {loads} | "
            f"{r['peak_rss_mib']:,.0f} |"
        )
        print(
            f"(load and compile both groupers: {r['warm_seconds']:.2f} s, not included; target < {TARGET_SECONDS} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
