"""Scaling benchmarks: 10M records through the streaming CLI (bounded memory, 1 or more worker processes), and
1M records grouped and paid on Dask (LocalCluster, 2 worker processes) against pandas in one process.

Why: issue 5 asks that one machine stream any file in bounded memory using both cores, and that the Dask path's
overhead be known. Every figure here is measured, not estimated.

- **CLI, 10M records**: a 10M-record export (ten 1M-record synthetic exports with distinct seeds and case ids,
  written once as Parquet and CSV to ``benchmarks/out/``, cached under a hash of the generator and the grouper)
  through ``drgpay group IN --output OUT.parquet --quiet --workers W``. Peak memory is the whole process
  tree's: the largest sum of the processes' RSS seen while sampling every 50 ms, and the sum of every process's
  own peak (VmHWM), an upper bound that holds even if sampling missed a spike. Target: under 1.5 GB.
- **Dask vs pandas, 1M records**: group + pay (a policy calibrated from the same records) on a Parquet dataset of
  8 files; pandas reads, groups and pays in one process; Dask does the same on a ``LocalCluster`` of 2 worker
  processes with 1 thread each, results gathered to the client. Cluster start-up is reported apart.

Usage::

    python benchmarks/bench_scale.py                         # both parts, markdown tables
    python benchmarks/bench_scale.py --part cli --formats parquet --workers 2
    python benchmarks/bench_scale.py --part dask --json benchmarks/out/scale.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "out"
PIECE = 1_000_000
MEMORY_TARGET_MIB = 1.5 * 1000**3 / 2**20  # 1.5 GB
STATUSES = {"grouped", "ambiguous", "ungroupable", "invalid"}


def _generator() -> Any:
    sys.path.insert(0, str(HERE))
    import generate  # benchmarks/ is not a package

    return generate


def _bench() -> Any:
    sys.path.insert(0, str(HERE))
    import bench  # benchmarks/ is not a package

    return bench


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


# ---------------------------------------------------------------------------------------------------------------
# the 10M-record export, written piece by piece (never whole in memory)
# ---------------------------------------------------------------------------------------------------------------
def _key(grouper: str, n: int, seed: int) -> str:
    import drgpay

    digest = hashlib.sha256((HERE / "generate.py").read_bytes())
    digest.update(Path(__file__).name.encode())
    digest.update(drgpay.load_grouper(grouper).content_hash.encode())
    return f"scale-{grouper}-{n}-s{seed}-{digest.hexdigest()[:10]}"


def ensure_big(grouper: str, n: int, seed: int, data_dir: Path, formats: list[str]) -> dict[str, Path]:
    """Parquet and/or CSV exports of ``n`` records made of 1M-record pieces; generated once, then reused."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    key = _key(grouper, n, seed)
    paths = {fmt: data_dir / f"{key}.{fmt}" for fmt in formats}
    missing = {fmt: p for fmt, p in paths.items() if not p.exists()}
    if not missing:
        return paths
    gen = _generator()
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = {fmt: p.with_suffix(p.suffix + ".part") for fmt, p in missing.items()}
    writers: dict[str, Any] = {}
    schema: pa.Schema | None = None
    start = time.perf_counter()
    try:
        for i, offset in enumerate(range(0, n, PIECE)):
            frame = gen.synthetic_export(min(PIECE, n - offset), grouper, seed * 1000 + i)
            frame["case_id"] = [f"ZY{offset + j + 1:010d}" for j in range(len(frame))]
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            schema = schema or table.schema
            table = table.cast(schema)
            for fmt, path in tmp.items():
                if fmt not in writers:
                    writers[fmt] = (
                        pq.ParquetWriter(path, schema)
                        if fmt == "parquet"
                        else pacsv.CSVWriter(
                            path, schema, write_options=pacsv.WriteOptions(quoting_style="needed")
                        )
                    )
                if fmt == "parquet":
                    writers[fmt].write_table(table, row_group_size=250_000)
                else:
                    writers[fmt].write_table(table)
            print(f"  generated {offset + len(frame):,} / {n:,} records", file=sys.stderr)
            del frame, table
    finally:
        for w in writers.values():
            w.close()
    for fmt, path in tmp.items():
        path.replace(missing[fmt])
    print(f"generated {n:,} records in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return paths


# ---------------------------------------------------------------------------------------------------------------
# memory of a process tree, sampled
# ---------------------------------------------------------------------------------------------------------------
def _status_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB; (0, 0) once it is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0, 0
    return rss, hwm


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class TreeMemory:
    """Samples a process tree every ``interval`` s: peak of the summed RSS, and each process's own peak."""

    def __init__(self, root: int, interval: float = 0.05):
        self.root, self.interval = root, interval
        self.peak_sum_kib = 0
        self.hwm_kib: dict[int, int] = {}
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            pids = _descendants(self.root)
            for pid in pids:
                rss, hwm = _status_kib(pid)
                total += rss
                if hwm:
                    self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), hwm)
            self.processes = max(self.processes, len(pids))
            self.peak_sum_kib = max(self.peak_sum_kib, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------------------------
# part 1: the CLI on 10M records
# ---------------------------------------------------------------------------------------------------------------
def run_cli(source: Path, grouper: str, workers: int, chunk_rows: int) -> dict[str, Any]:
    bench = _bench()
    with tempfile.TemporaryDirectory(dir=DATA_DIR) as tmp:
        output = Path(tmp) / "out.parquet"
        cmd = [*bench._drgpay_command(), "group", str(source), "--grouper", grouper, "--output", str(output)]
        cmd += ["--quiet", "--workers", str(workers), "--chunk-rows", str(chunk_rows)]
        shown = f"drgpay group {source.name} --output out.parquet --quiet --workers {workers} --chunk-rows {chunk_rows}"
        load_before = _load()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with TreeMemory(proc.pid) as mem:
            stdout, stderr = proc.communicate()
        wall = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-4000:]}")
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        status = pq.read_table(output, columns=["status"])["status"]
        rows = len(status)
        assert status.null_count == 0, "a row has no status"
        assert set(pc.unique(status.cast("string")).to_pylist()) <= STATUSES
        first_ids = pq.ParquetFile(output).read_row_group(0, columns=["case_id"])["case_id"].to_pylist()[:3]
        assert first_ids == ["ZY0000000001", "ZY0000000002", "ZY0000000003"], first_ids  # input order
    return {
        "path": f"cli {source.suffix.lstrip('.')}",
        "command": shown,
        "workers": workers,
        "chunk_rows": chunk_rows,
        "rows": rows,
        "seconds": wall,
        "records_per_s": rows / wall,
        "cpu_seconds": cpu,
        "peak_tree_rss_mib": mem.peak_sum_kib / 1024,
        "sum_process_peaks_mib": sum(mem.hwm_kib.values()) / 1024,
        "largest_process_peak_mib": bench._maxrss_mib(resource.RUSAGE_CHILDREN),
        "processes": mem.processes,
        "summary": stdout.strip().splitlines()[-4:],
        "load_before": load_before,
        "load_after": _load(),
    }


# ---------------------------------------------------------------------------------------------------------------
# part 2: Dask vs pandas on 1M records
# ---------------------------------------------------------------------------------------------------------------
def ensure_dataset(parquet: Path, parts: int) -> Path:
    """The 1M-record export split into ``parts`` Parquet files (a dataset folder), with a ``row`` index."""
    import numpy as np
    import pyarrow.parquet as pq

    folder = parquet.with_name(parquet.stem + f"-{parts}parts")
    if folder.is_dir() and len(list(folder.glob("*.parquet"))) == parts:
        return folder
    table = pq.read_table(parquet)
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bounds = np.linspace(0, table.num_rows, parts + 1).astype(int)
    for i in range(parts):
        piece = table.slice(bounds[i], bounds[i + 1] - bounds[i])
        piece = piece.append_column("row", [np.arange(bounds[i], bounds[i + 1], dtype=np.int64)])
        pq.write_table(piece, tmp / f"part-{i:02d}.parquet")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return folder


def _warm_worker() -> None:
    import drgpay.payment  # noqa: F401


def dask_vs_pandas(grouper: str, seed: int, parts: int, repeat: int) -> dict[str, Any]:
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    import drgpay
    import drgpay.dask
    from drgpay.payment import calibrate_drg_policy, pay

    bench = _bench()
    _, parquet, _ = bench.ensure_data(grouper, PIECE, seed, DATA_DIR)
    folder = ensure_dataset(parquet, parts)
    frame = pd.read_parquet(folder).set_index("row")
    groups = drgpay.group(frame, grouper)
    policy = calibrate_drg_policy(
        frame.join(groups), name="bench", effective_from="2024-01-01", effective_to="2024-12-31", budget=1e10
    )
    del frame, groups

    def pandas_once() -> dict[str, float]:
        t0 = time.perf_counter()
        df = pd.read_parquet(folder).set_index("row")
        t1 = time.perf_counter()
        g = drgpay.group(df, grouper)
        t2 = time.perf_counter()
        p = pay(df.join(g), policy)
        t3 = time.perf_counter()
        assert len(p) == PIECE
        return {"read": t1 - t0, "group": t2 - t1, "pay": t3 - t2, "total": t3 - t0}

    pandas_runs = [pandas_once() for _ in range(repeat)]
    load_before = _load()
    t0 = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.run(
            lambda: __import__("drgpay.payment")
        )  # import drgpay on the workers, as a warm cluster has
        started = time.perf_counter() - t0

        def dask_once() -> dict[str, float]:
            t0 = time.perf_counter()
            ddf = dd.read_parquet(str(folder), index="row", calculate_divisions=True)
            g = drgpay.dask.group(ddf, grouper=grouper)
            gathered = g.compute()
            t1 = time.perf_counter()
            p = drgpay.dask.pay(ddf.join(g), policy).compute()
            t2 = time.perf_counter()
            assert len(gathered) == len(p) == PIECE
            return {"group": t1 - t0, "pay": t2 - t1}

        def dask_pipeline() -> float:
            t0 = time.perf_counter()
            ddf = dd.read_parquet(str(folder), index="row", calculate_divisions=True)
            g = drgpay.dask.group(ddf, grouper=grouper)
            p = drgpay.dask.pay(ddf.join(g), policy).compute()
            assert len(p) == PIECE
            return time.perf_counter() - t0

        dask_runs = [dask_once() for _ in range(repeat)]
        pipeline = [dask_pipeline() for _ in range(repeat)]
        loads = client.run(drgpay.dask.worker_loads)
    best_pandas = min(pandas_runs, key=lambda r: r["total"])
    best_dask = min(pipeline)
    return {
        "path": "dask vs pandas",
        "rows": PIECE,
        "partitions": parts,
        "pandas": best_pandas,
        "pandas_all": pandas_runs,
        "dask_cluster_start_s": started,
        "dask_group_s": min(r["group"] for r in dask_runs),
        "dask_read_group_pay_s": best_dask,
        "dask_all": pipeline,
        "overhead_s": best_dask - best_pandas["total"],
        "ratio": best_dask / best_pandas["total"],
        "worker_loads": {k: sum(v.values()) for k, v in loads.items()},
        "load_before": load_before,
        "load_after": _load(),
    }


# ---------------------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------------------
def cli_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| input | workers | rows | seconds | records/s | CPU s (cores busy) | peak RSS, whole tree (MiB) "
        "| sum of process peaks (MiB) | < 1.5 GB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ok = "yes" if r["sum_process_peaks_mib"] < MEMORY_TARGET_MIB else "no"
        cpu = f"{r['cpu_seconds']:.0f} ({r['cpu_seconds'] / r['seconds']:.2f})" if "cpu_seconds" in r else "–"
        lines.append(
            f"| {r['path']} | {r['workers']} | {r['rows']:,} | "
            f"{r['seconds']:.1f} | {r['records_per_s']:,.0f} | {cpu} | {r['peak_tree_rss_mib']:,.0f} | "
            f"{r['sum_process_peaks_mib']:,.0f} | {ok} |"
        )
    return "\n".join(lines)


def dask_table(r: dict[str, Any]) -> str:
    p = r["pandas"]
    return "\n".join(
        [
            "| 1M records | read | group | pay | total (s) | records/s |",
            "|---|---:|---:|---:|---:|---:|",
            f"| pandas, 1 process | {p['read']:.2f} | {p['group']:.2f} | {p['pay']:.2f} | {p['total']:.2f} | "
            f"{r['rows'] / p['total']:,.0f} |",
            f"| Dask LocalCluster, 2 workers × 1 thread, {r['partitions']} partitions | | {r['dask_group_s']:.2f} "
            f"(read + group, gathered) | | {r['dask_read_group_pay_s']:.2f} | "
            f"{r['rows'] / r['dask_read_group_pay_s']:,.0f} |",
            "",
            f"Dask overhead: {r['overhead_s']:+.2f} s ({r['ratio']:.2f}× the pandas time); cluster start-up "
            f"{r['dask_cluster_start_s']:.1f} s, not included. Grouper/policy unpickles per worker: "
            f"{r['worker_loads']}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "cli", "dask"], default="all")
    parser.add_argument("--rows", default="10M", help="records for the CLI part (default 10M)")
    parser.add_argument("--formats", default="parquet,csv", help="CLI inputs: parquet, csv or both")
    parser.add_argument("--workers", default="1,2", help="CLI worker counts to measure (default 1,2)")
    parser.add_argument(
        "--chunk-rows", type=int, help="rows per chunk (default: 250k for 1 worker, 100k for more)"
    )
    parser.add_argument("--partitions", type=int, default=8, help="Dask partitions for the 1M part")
    parser.add_argument("--repeat", type=int, default=2, help="Dask and pandas runs; the best counts")
    parser.add_argument("--grouper", default="chs-drg-2.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from drgpay.parallel import default_chunk_rows

    gen = _generator()
    payload: dict[str, Any] = {"machine": _bench().machine(), "grouper": args.grouper, "seed": args.seed}
    info = payload["machine"]
    print(
        f"{info['date']} · {info['cpus']} CPUs ({info['cpu']}) · {info['memory_gib']} GiB · load {_load()}\n"
    )
    if args.part in ("all", "cli"):
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        paths = ensure_big(args.grouper, gen.parse_count(args.rows), args.seed, DATA_DIR, formats)
        results = []
        for fmt in formats:
            for w in [int(x) for x in args.workers.split(",")]:
                rows = args.chunk_rows or default_chunk_rows(w)
                r = run_cli(paths[fmt], args.grouper, w, rows)
                print(
                    f"{r['path']} workers={w}: {r['seconds']:.1f} s, {r['sum_process_peaks_mib']:,.0f} MiB",
                    file=sys.stderr,
                )
                results.append(r)
        payload["cli"] = results
        print(cli_table(results))
        print("\ncommands: " + "; ".join(sorted({r["command"] for r in results})) + "\n")
    if args.part in ("all", "dask"):
        r = dask_vs_pandas(args.grouper, args.seed, args.partitions, args.repeat)
        payload["dask"] = r
        print(dask_table(r))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
