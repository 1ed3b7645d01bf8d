"""DIP benchmarks: grouping throughput on a synthetic catalogue, and a real city's year end to end.

    python benchmarks/bench_dip.py                      # 1,000,000 records, 10,000 synthetic groups
    python benchmarks/bench_dip.py --rows 200000 --groups 2000 --repeat 1
    python benchmarks/bench_dip.py --pingdingshan       # the Pingdingshan 2025 catalogue, its 1.87M-case year
    python benchmarks/bench_dip.py --settle             # the worked settlement of that year (docs/dip.md)

Synthetic: records/s for the whole ``drgpay.group(df, grouper="dip-2.0", catalog=cat)`` call (input parsing
included) and for the engine alone (already-parsed records). The catalogue is built from the grouper's own code
lists: every 亚目 gets a conservative group and procedure groups (one or two components), every 类目 the four
comprehensive groups; scores are made up for the benchmark only.

``--pingdingshan``: the published workbook (``shared/data/raw/dip_catalogues``, beside the repository) and an
export of its year from ``generate_dip.py`` (1,870,844 records, cached in ``benchmarks/out/``). Measured, median of
``--repeat`` runs: the import of the workbook (``load_catalog``, in this process); group-only
(``drgpay.group`` on the export already in memory; and the engine alone); and through the CLI, each a fresh
process: ``drgpay dip import-catalog``, ``drgpay group`` (Parquet in, Parquet out) and ``drgpay pay`` under an
illustrative DIP policy (scores and mean costs from the catalogue, point value and coefficients made up). Peak RSS
is each process's own (``RUSAGE_CHILDREN`` of a wrapper that runs only that command).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import drgpay
from drgpay.dip import DipCatalog, DipGrouper, load_catalog
from drgpay.dip.engine import run_engine
from drgpay.schema import prepare_records


def synthetic_catalog(grouper: DipGrouper, groups: int, seed: int = 1) -> pd.DataFrame:
    """About ``groups`` catalogue rows over real 医保 2.0 codes (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    rules = grouper.rules
    subs = np.array(sorted({s for s in rules.dx_sub if s}))
    procs = rules.proc_vocab[rules.proc_level[:-1] > 0]
    per_sub = 4
    n_sub = max(1, groups // (per_sub + 1))
    chosen = np.sort(rng.choice(subs, size=min(n_sub, len(subs)), replace=False))
    rows = []
    for s in chosen:
        rows.append((f"{s}:conservative", s, "", "core", ""))
        picks = rng.choice(procs, size=4, replace=False)
        rows.append((f"{s}:{picks[0]}", s, str(picks[0]), "core", ""))
        rows.append((f"{s}:{picks[1]}/{picks[2]}", s, f"{picks[1]}/{picks[2]}", "core", ""))
        rows.append((f"{s}:{picks[0]}+{picks[3]}", s, f"{picks[0]}+{picks[3]}", "basic", ""))
    cats = sorted({s[:3] for s in chosen})
    for c in cats[: max(0, groups - len(rows)) // 4 + 1]:
        for code, name in zip(rules.treatment_codes, rules.treatments, strict=True):
            rows.append((f"{c}:comprehensive:{code}", c, "", "comprehensive", name))
    frame = pd.DataFrame(rows[:groups], columns=["group", "dx_key", "procedures", "kind", "treatment"])
    frame["score"] = np.round(rng.uniform(100, 5000, len(frame)), 4)
    return frame


def synthetic_records(grouper: DipGrouper, catalog: pd.DataFrame, rows: int, seed: int = 2) -> pd.DataFrame:
    """Records whose diagnoses and procedures mostly come from the catalogue (70 %), the rest at random."""
    rng = np.random.default_rng(seed)
    rules = grouper.rules
    dx = rules.dx_vocab
    subs = catalog.loc[catalog["dx_key"].str.len() == 5, "dx_key"].unique()
    under = {s: dx[(dx >= s) & (dx < s + "\uffff")] for s in subs}
    pool = np.concatenate([v[:3] for v in under.values() if len(v)])
    from_cat = rng.random(rows) < 0.7
    pdx = np.where(from_cat, pool[rng.integers(0, len(pool), rows)], dx[rng.integers(0, len(dx), rows)])
    items = catalog["procedures"].str.split(r"[+/]").explode().dropna()
    items = items[items != ""].to_numpy(dtype=str)
    proc_pool = np.concatenate([items, rules.proc_vocab[rng.integers(0, rules.n_proc, len(items))]])
    p1 = proc_pool[rng.integers(0, len(proc_pool), rows)]
    p2 = proc_pool[rng.integers(0, len(proc_pool), rows)]
    k = rng.integers(0, 3, rows)
    procedures = np.where(k == 0, "", np.where(k == 1, p1, np.char.add(np.char.add(p1, "|"), p2)))
    sdx = dx[rng.integers(0, len(dx), rows)]
    return pd.DataFrame(
        {
            "principal_dx": pdx,
            "secondary_dx": sdx,
            "procedures": procedures,
            "age": rng.integers(0, 95, rows),
            "age_days": np.where(rng.random(rows) < 0.02, rng.integers(0, 365, rows), -1),
            "discharge_type": rng.choice([1, 1, 1, 2, 5], rows),
        }
    ).replace({"age_days": {-1: None}})


HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

#: An illustrative DIP policy for the year: scores and mean costs are the catalogue's; the point value, the level
#: coefficients and the deviation bands are made up (the high band at the city's UPLMT_REDC_MAG = 3).
POLICY = """scheme = "dip"
name = "Pingdingshan-shaped DIP settlement (illustrative)"
grouper = "dip-2.0"
effective_from = 2024-01-01
effective_to = 2025-12-31
point_value_kind = "budget"

[provenance]
source = "scores and mean costs: Pingdingshan 2025 DIP catalogue; every other number illustrative"
illustrative = true

[tables]
scores = "scores.csv"

[[point_values]]
value = "{point_value}"

[level_coefficients]
"3" = "1.00"
"2" = "0.90"
"1" = "0.80"

[deviation]
basis = "mean_cost"
low = {{threshold = 0.5}}
high = {{threshold = {high}, intercept = -1}}
"""


def _median(values: list[float]) -> float:
    return statistics.median(values)


def year_export(workbook: Path, seed: int = 0) -> Path:
    """The cached export of the catalogue's year (made once per generator version, workbook and seed)."""
    sys.path.insert(0, str(HERE))
    import generate_dip

    key = hashlib.sha256((HERE / "generate_dip.py").read_bytes() + workbook.read_bytes()).hexdigest()[:10]
    path = OUT / f"dip-year-s{seed}-{key}.parquet"
    if not path.is_file():
        catalog, stats = generate_dip.load_source(workbook)
        OUT.mkdir(exist_ok=True)
        generate_dip.dip_export(catalog, stats, seed=seed).to_parquet(path, index=False)
    return path


def write_policy(catalog: DipCatalog, folder: Path, point_value: str = "5.6", high: str = "3") -> Path:
    """The illustrative policy folder (``POLICY`` + ``scores.csv`` from the catalogue)."""
    folder.mkdir(parents=True, exist_ok=True)
    scores = catalog.to_frame().rename(columns={"group": "dip_group"})
    scores[["dip_group", "name", "kind", "score", "mean_cost"]].to_csv(folder / "scores.csv", index=False)
    (folder / "policy.toml").write_text(POLICY.format(point_value=point_value, high=high), encoding="utf-8")
    return folder


def _drgpay(args: list[str]) -> list[str]:
    """The command line for ``drgpay ARGS``; ``dip import-catalog`` through its own module while the ``drgpay
    dip`` command does not list it yet."""
    cli = ["drgpay"] if shutil.which("drgpay") else [sys.executable, "-m", "drgpay"]
    if args[:2] == ["dip", "import-catalog"]:
        listed = (
            subprocess.run([*cli, "dip", "import-catalog", "--help"], capture_output=True).returncode == 0
        )
        if not listed:
            return [sys.executable, "-m", "drgpay.cli_dip_import", *args[1:]]
    return [*cli, *args]


def _timed_cli(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one CLI process, measured by a wrapper that runs only it."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *_drgpay(args)], capture_output=True, text=True)
    seconds, rss, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"drgpay {' '.join(args)} failed (exit {code})")
    return float(seconds), int(rss) / 1024


def pingdingshan(workbook: Path, repeat: int) -> None:
    """The real catalogue's year: import, group-only, and group + pay through the CLI."""
    load = [0.0] * repeat
    for i in range(repeat):
        t0 = time.perf_counter()
        catalog = load_catalog(workbook)
        load[i] = time.perf_counter() - t0
    print(f"catalogue: {catalog!r}")
    print(f"import of the workbook (load_catalog, in process): median {_median(load):.2f} s of {repeat}")
    export = year_export(workbook)
    records = pd.read_parquet(export)
    n = len(records)
    grouper = drgpay.load_grouper("dip-2.0")
    compiled = grouper.compile(catalog)  # type: ignore[attr-defined]
    grouper.group(records.head(100), catalog=catalog)
    whole, engine = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = grouper.group(records, catalog=catalog)
        whole.append(time.perf_counter() - t0)
        prepared = prepare_records(records)
        t0 = time.perf_counter()
        run_engine(compiled, prepared)
        engine.append(time.perf_counter() - t0)
    shares = result["dip_kind"].value_counts().to_dict()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"records: {n:,} ({export.name}); kinds {shares}")
    print(f"group-only, drgpay.group: median {_median(whole):.2f} s  {n / _median(whole):,.0f} records/s")
    print(f"  engine alone:          median {_median(engine):.2f} s  {n / _median(engine):,.0f} records/s")
    print(f"  peak RSS of this process (catalogue, export frame, grouping): {rss:,.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        policy = write_policy(catalog, folder / "policy")
        steps = {
            "import-catalog": ["dip", "import-catalog", str(workbook), "-o", str(folder / "cat.csv")],
            "group": [
                "group",
                str(export),
                "--grouper",
                "dip-2.0",
                "--catalog",
                str(folder / "cat.csv"),
                "--output",
                str(folder / "grouped.parquet"),
                "--quiet",
            ],
            "pay": [
                "pay",
                str(folder / "grouped.parquet"),
                "--policy",
                str(policy),
                "-o",
                str(folder / "paid.parquet"),
            ],
        }
        times: dict[str, list[float]] = {k: [] for k in steps}
        peaks: dict[str, float] = dict.fromkeys(steps, 0.0)
        for _ in range(repeat):
            for name, args in steps.items():
                seconds, peak = _timed_cli(args)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
    for name in steps:
        med = _median(times[name])
        rate = "" if name == "import-catalog" else f"  {n / med:,.0f} records/s"
        print(f"CLI {name}: median {med:.2f} s{rate}; peak RSS {peaks[name]:,.0f} MiB")
    total = _median(times["group"]) + _median(times["pay"])
    print(f"CLI group + pay, whole processes: {total:.2f} s  {n / total:,.0f} records/s")
    print(f"load average while measuring: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def settle(workbook: Path) -> None:
    """The worked DIP settlement of the catalogue's year (docs/dip.md): group, points, point value from a budget,
    deviation cases, level coefficients, the reform report. [source] figures come from the published workbook;
    every other figure is illustrative (a synthetic year, a made-up budget and coefficients)."""
    from drgpay.payment import load_policy, pay
    from drgpay.payment.calibrate import calibrate_point_value
    from drgpay.report import case_mix, cost_deltas, surplus_loss

    catalog = load_catalog(workbook)
    prov = catalog.provenance
    kinds = catalog.table["kind"].value_counts()
    print(
        f"[source] catalogue {prov['source']}: {int(kinds['core']):,} core + {int(kinds['comprehensive']):,} "
        f"comprehensive groups, {int(kinds['fallback'])} fallback groups (score 1000); region mean cost "
        f"{prov['region_mean_cost']} yuan = 1000 points; UPLMT_REDC_MAG {prov['high_multiple']}"
    )
    year = pd.read_parquet(year_export(workbook))
    n = len(year)
    grouped = drgpay.group(year, "dip-2.0", catalog=catalog)
    cases = year.join(grouped)
    by_kind = cases["dip_kind"].value_counts()
    print(
        f"[illustrative] year: {n:,} cases (the [source] 2024 case count), "
        f"{(cases['status'] == 'grouped').mean():.2%} grouped: "
        + ", ".join(f"{k} {int(by_kind.get(k, 0)):,}" for k in ("core", "comprehensive", "fallback"))
    )
    pd.set_option("display.float_format", "{:,.2f}".format)
    pd.set_option("display.width", 200)
    budget = 10_000_000_000  # yuan, made up: the year's DIP expenditure budget (fund and patients' shares)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for high in ("2", "3"):
            folder = write_policy(catalog, Path(tmp) / f"p{high}", point_value="1", high=high)
            points = pay(cases, load_policy(folder))["points"]
            value = calibrate_point_value(points, budget)
            folder = write_policy(catalog, Path(tmp) / f"p{high}", point_value=str(value), high=high)
            results[high] = (pay(cases, load_policy(folder)), value, float(points.sum()))
    paid, value, total_points = results["3"]
    print(
        f"[illustrative] budget {budget:,} yuan / total points {total_points:,.1f} = point value {value} yuan"
    )
    for high, (frame, v, pts) in results.items():
        types = frame["case_type"].value_counts()
        print(
            f"[illustrative] deviation, r <= 0.5 and r >= {high}: low {int(types.get('low_cost', 0)):,}, "
            f"high {int(types.get('high_cost', 0)):,}, normal {int(types.get('normal', 0)):,}; "
            f"total points {pts:,.1f}, point value {v}"
        )
    out = cases.join(paid[["case_type", "points", "standard", "fund_payment", "surplus"]])
    levels = out.groupby("hospital_level", observed=True).agg(
        cases=("points", "size"),
        points=("points", "sum"),
        standard=("standard", "sum"),
        cost=("total_cost", "sum"),
    )
    levels["coefficient"] = levels.index.map({"3": "1.00", "2": "0.90", "1": "0.80"})
    print("[illustrative] by hospital level (coefficient illustrative):")
    print(levels.round(2).to_string())
    surplus = surplus_loss(out)
    print("[illustrative] surplus / loss by case type:")
    print(
        surplus[
            ["case_type", "cases", "total_cost", "total_standard", "net_surplus", "surplus_rate_pct"]
        ].to_string(index=False)
    )
    mix = case_mix(out, by="hospital_level", group="dip_group", weight="points")
    print("[illustrative] case mix by hospital level:")
    print(
        mix[["hospital_level", "cases", "total_weight", "cmi", "mean_cost", "mean_los"]].to_string(
            index=False
        )
    )
    sys.path.insert(0, str(HERE))
    import generate_dip

    source_catalog, stats = generate_dip.load_source(workbook)
    later = generate_dip.dip_export(source_catalog, stats, seed=1)
    for column in ("total_cost", "fund_paid", "self_paid"):  # made up: costs 3 % lower under DIP
        later[column] = (later[column] * 0.97).round(2)
    deltas = cost_deltas(year, later, by=[])
    shown = ["cases_baseline", "cases_current", "mean_cost_baseline", "mean_cost_current", "mean_cost_change"]
    shown += ["mean_cost_change_pct", "burden_reduction", "mean_self_paid_change", "self_paid_reduction"]
    print(
        "[illustrative] reform report, all cases (baseline: the year; current: a second synthetic year, costs -3 %):"
    )
    print(deltas[shown].T.to_string(header=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    workbook = HERE.parent.parent / "shared" / "data" / "raw" / "dip_catalogues"
    workbook = workbook / "pingdingshan_2025_dip2.0_catalogue.xlsx"
    parser.add_argument(
        "--pingdingshan", nargs="?", type=Path, const=workbook, help="benchmark the real catalogue's year"
    )
    parser.add_argument("--settle", nargs="?", type=Path, const=workbook, help="the worked settlement")
    args = parser.parse_args(argv)
    if args.pingdingshan is not None:
        pingdingshan(args.pingdingshan, args.repeat)
        return
    if args.settle is not None:
        settle(args.settle)
        return

    grouper = drgpay.load_grouper("dip-2.0")
    table = synthetic_catalog(grouper, args.groups)
    catalog = load_catalog(table, aux_combine="product")
    t0 = time.perf_counter()
    compiled = grouper.compile(catalog)
    compile_s = time.perf_counter() - t0
    records = synthetic_records(grouper, table, args.rows)
    print(f"catalogue: {len(catalog):,} groups (compiled in {compile_s:.2f} s); records: {len(records):,}")

    best_total = best_prep = best_engine = float("inf")
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = drgpay.group(records, grouper, catalog=catalog)
        best_total = min(best_total, time.perf_counter() - t0)
        t0 = time.perf_counter()
        prepared = prepare_records(records)
        best_prep = min(best_prep, time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_engine(compiled, prepared)
        best_engine = min(best_engine, time.perf_counter() - t0)
    assert result is not None
    n = len(records)
    print(f"drgpay.group (parse + engine + frame): {best_total:.2f} s  {n / best_total:,.0f} records/s")
    print(f"  prepare_records (input parsing):     {best_prep:.2f} s  {n / best_prep:,.0f} records/s")
    print(f"  engine alone (grouping + auxiliary):  {best_engine:.2f} s  {n / best_engine:,.0f} records/s")
    shares = result["status"].value_counts(normalize=True).round(4).to_dict()
    kinds = result["dip_kind"].value_counts(normalize=True).round(4).to_dict()
    print(f"status shares: {shares}; kinds: {kinds}")


if __name__ == "__main__":
    main()
