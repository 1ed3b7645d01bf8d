"""Load benchmark of ``drgpay serve``, against 127.0.0.1 only, bounded in requests and time.

    python benchmarks/bench_serve.py                    # 2,000 one-record requests, then 5 batches of 10,000
    python benchmarks/bench_serve.py --requests 500 --batches 3 --batch-rows 5000
    python benchmarks/bench_serve.py --smoke            # 200 requests and one batch of 2,000 (CI-sized)

The service runs as ``drgpay serve --port 0`` in its own process (as a user runs it: its event loop and worker
threads do not share an interpreter with the client). The client, this process, sends requests one after another
on one keep-alive connection with the standard library's ``http.client`` and times each from the first byte sent
to the last byte of the answer read; bodies are encoded beforehand. Records are the synthetic CHS-DRG 2.0 export
of ``generate.py`` (seed 0), sent as JSON with their canonical columns.

Reported: p50, p90, p99 and max of the one-record ``POST /group`` latency (after 50 warm-up requests), and each
10,000-record batch's time (``POST /group``, JSON in and out), with the load average of the machine before and after
and the service process's CPU time per request and per batch (from ``/proc``: what the service itself spent, which
other load on the machine does not change).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"  # never anything else: the benchmark loads only this machine
WARMUP = 50
#: The service's targets on 2 cores (issue 16).
TARGET_P99_MS = 20.0
TARGET_BATCH_MS = 300.0


def records(n: int) -> list[dict[str, Any]]:
    """``n`` synthetic records as JSON objects (missing values null, numbers as numbers, codes as text)."""
    sys.path.insert(0, str(HERE))
    import generate  # benchmarks/ is not a package

    frame = generate.synthetic_export(n, "chs-drg-2.0", seed=0)
    out = []
    for row in frame.to_dict("records"):
        out.append({str(k): None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})
    return out


def start_service(threads: int | None) -> tuple[subprocess.Popen[str], int]:
    """``drgpay serve`` on 127.0.0.1 and a free port; returns the process and the port once it answers."""
    command = [
        sys.executable,
        "-m",
        "drgpay",
        "serve",
        "--host",
        HOST,
        "--port",
        "0",
        "--log-level",
        "warning",
    ]
    if threads:
        command += ["--threads", str(threads)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        process.kill()
        raise RuntimeError(f"drgpay serve did not start: {line}{process.stderr.read()}")
    port = int(found.group(1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("drgpay serve did not answer /healthz within 60 s")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; None elsewhere): the service's own work,
    whatever else the machine is running."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[float, bytes]:
    """Seconds from sending ``body`` to ``POST /group`` to having read the whole answer, and the answer."""
    start = time.perf_counter()
    connection.request("POST", "/group", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    seconds = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"POST /group answered {response.status}: {data[:300]!r}")
    return seconds, data


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0–1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="one-record requests (default 2000)")
    parser.add_argument("--batch-rows", type=int, default=10_000, help="records per batch (default 10000)")
    parser.add_argument("--batches", type=int, default=5, help="batches (default 5)")
    parser.add_argument("--threads", type=int, help="the service's worker threads (default: its own)")
    parser.add_argument("--smoke", action="store_true", help="200 requests and one batch of 2,000 records")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.batch_rows, args.batches = 200, 2000, 1

    pool = records(max(args.batch_rows, args.requests))
    singles = [json.dumps([r], ensure_ascii=False).encode() for r in pool[: args.requests]]
    batch = json.dumps(pool[: args.batch_rows], ensure_ascii=False).encode()
    load_before = os.getloadavg()
    process, port = start_service(args.threads)
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        for body in singles[:WARMUP]:
            post(connection, body)
        cpu = [cpu_seconds(process.pid)]
        latencies = [post(connection, body)[0] * 1000 for body in singles]
        cpu.append(cpu_seconds(process.pid))
        batch_ms = []
        for _ in range(args.batches):
            seconds, data = post(connection, batch)
            assert json.loads(data)["rows"] == args.batch_rows
            batch_ms.append(seconds * 1000)
        cpu.append(cpu_seconds(process.pid))
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    load_after = os.getloadavg()

    p50, p90, p99 = (percentile(latencies, s) for s in (0.5, 0.9, 0.99))
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"one-record POST /group, {len(latencies)} requests (after {WARMUP} warm-up):")
    print(f"  p50 {p50:.2f} ms  p90 {p90:.2f} ms  p99 {p99:.2f} ms  max {max(latencies):.2f} ms")
    print(f"  target p99 <= {TARGET_P99_MS:g} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}")
    if None not in cpu:
        per_request = (cpu[1] - cpu[0]) / len(singles) * 1000  # type: ignore[operator]
        per_batch = (cpu[2] - cpu[1]) / max(len(batch_ms), 1) * 1000  # type: ignore[operator]
        print(f"  service CPU time: {per_request:.2f} ms a request")
    print(
        f"{args.batch_rows:,}-record POST /group ({len(batch) / 1e6:.1f} MB of JSON), {len(batch_ms)} batches:"
    )
    print(f"  {'  '.join(f'{ms:.0f} ms' for ms in batch_ms)}  (median {statistics.median(batch_ms):.0f} ms)")
    if None not in cpu:
        print(f"  service CPU time: {per_batch:.0f} ms a batch")
    if args.batch_rows == 10_000:
        best = min(batch_ms)
        print(f"  target <= {TARGET_BATCH_MS:g} ms: {'met' if best <= TARGET_BATCH_MS else 'MISSED'} (best)")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
