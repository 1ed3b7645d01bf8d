"""DIP grouping throughput: N synthetic records against a synthetic catalogue of about G groups.

    python benchmarks/bench_dip.py                      # 1,000,000 records, 10,000 groups
    python benchmarks/bench_dip.py --rows 200000 --groups 2000 --repeat 1

Reports records/s for the whole ``drgpay.group(df, grouper="dip-2.0", catalog=cat)`` call (input parsing
included) and for the engine alone (already-parsed records), plus the share each stage takes. The catalogue is
built from the grouper's own code lists: every 亚目 gets a conservative group and procedure groups (one or two
components), every 类目 the four comprehensive groups; scores are made up for the benchmark only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import drgpay
from drgpay.dip import DipGrouper, load_catalog
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

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
