"""Realistic synthetic DIP exports drawn from a real catalogue and its statistics, seeded and deterministic.

Why: a DIP benchmark is only meaningful on records shaped like a city's year, so the records come from a published
catalogue (the Pingdingshan 2025 workbook by default: ``shared/data/raw/dip_catalogues``, beside the repository):

- groups in the proportions of their 2024 case counts (``BILL_COUNT``); the default size is the statistics' whole
  year, 1,870,844 cases (26,367 of them in 4 statistics rows that are not catalogue groups, U07 and KBBZ: they are
  shared out over the catalogue's groups like any other size, by largest remainders);
- a core group's record has a principal diagnosis under the group's 亚目 (codes by popularity, Zipf) and exactly
  its main and other procedures (main first); a conservative core group's record has no procedure;
- a comprehensive group's record has a principal diagnosis under its 类目 whose 亚目 has no core group where one
  exists, and one procedure of the group's treatment level that no catalogue group names (none for 保守治疗);
- total cost log-normal with the group's mean cost (``DIP_AVG_FEE``) and coefficient of variation (``CV``); length
  of stay gamma-distributed around ``AVG_IPT_DAYS``; 0–3 secondary diagnoses by popularity; sex and age plausible
  for the chapter (pregnancy: women 18–45, perinatal: newborns); 150 hospitals of three levels, insurance 310 职工 /
  390 居民, ``fund_paid`` a share of the cost by insurance and level, discharge dates over 2024.

``truth=True`` adds ``expected_group``, the group the record was drawn for. Costs, stays and people are invented
(illustrative); the codes, groups, case counts, mean costs, CVs and mean stays are the catalogue's.

    python benchmarks/generate_dip.py --output benchmarks/out/dip_export.parquet         # the whole 2024 year
    python benchmarks/generate_dip.py --rows 200000 --seed 1 --output dip_200k.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import drgpay
from drgpay.dip import DipCatalog
from drgpay.dip.layouts import import_catalog, read_statistics

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = (
    REPO.parent / "shared" / "data" / "raw" / "dip_catalogues" / "pingdingshan_2025_dip2.0_catalogue.xlsx"
)
N_HOSPITALS = 150
YEAR = 2024


def load_source(path: str | Path = CATALOGUE) -> tuple[DipCatalog, pd.DataFrame]:
    """The catalogue (through its layout) and its statistics sheet."""
    return import_catalog(path).catalog, read_statistics(path)


def _shares(counts: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in proportion to ``counts`` by largest remainders."""
    exact = counts / counts.sum() * total
    out = np.floor(exact).astype(np.int64)
    rest = total - int(out.sum())
    out[np.argsort(-(exact - out), kind="stable")[:rest]] += 1
    return out


def _zipf_pick(rng: np.random.Generator, pool: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws from ``pool``, the first entries (in a fixed shuffled order) the most common (1 / rank)."""
    weights = 1.0 / np.arange(1, len(pool) + 1)
    return pool[rng.choice(len(pool), size=size, p=weights / weights.sum())]


def _under(vocab: np.ndarray, key: str) -> np.ndarray:
    lo, hi = np.searchsorted(vocab, key), np.searchsorted(vocab, key + "\uffff")
    return vocab[lo:hi]


def dip_export(
    catalog: DipCatalog,
    statistics: pd.DataFrame,
    rows: int | None = None,
    *,
    seed: int = 0,
    grouper: str = "dip-2.0",
    truth: bool = False,
) -> pd.DataFrame:
    """A synthetic export of ``rows`` records (default: the statistics' total case count); see the module doc."""
    rng = np.random.default_rng(seed)
    rules = drgpay.load_grouper(grouper).rules  # type: ignore[attr-defined]
    table = catalog.table[catalog.table["kind"] != "fallback"].reset_index(drop=True)
    stats = statistics.set_index(statistics["group"].str.upper())
    ids = table["group"].str.upper()
    counts = pd.to_numeric(stats["cases"].reindex(ids), errors="coerce").fillna(0).to_numpy(np.float64)
    mean = pd.to_numeric(stats["mean_cost"].reindex(ids), errors="coerce").to_numpy(np.float64)
    mean = np.where(np.isfinite(mean), mean, table["mean_cost"].to_numpy(np.float64))
    cv = pd.to_numeric(stats["cv"].reindex(ids), errors="coerce").fillna(0.5).to_numpy(np.float64)
    los = pd.to_numeric(stats["mean_los"].reindex(ids), errors="coerce").fillna(8.0).to_numpy(np.float64)
    year = int(
        pd.to_numeric(statistics["cases"], errors="coerce").fillna(0).sum()
    )  # the year's cases, all groups
    total = (year or int(counts.sum())) if rows is None else rows
    per_group = _shares(counts, total)

    vocab = rng.permutation(rules.dx_vocab)  # popularity order of the codes: fixed by the seed
    vocab_sorted = np.sort(rules.dx_vocab)
    order = {c: i for i, c in enumerate(vocab)}
    named = {item for e in catalog.expressions for comp in e.components for item in comp}
    levels = rules.proc_level[:-1]
    free = np.array([p not in named for p in rules.proc_vocab])
    level_pool = {
        t: rng.permutation(rules.proc_vocab[(levels == t) & free]) for t in range(1, len(rules.treatments))
    }
    core_keys = set(table.loc[table["kind"] != "comprehensive", "dx_key"])

    group = np.repeat(np.arange(len(table)), per_group)
    n = len(group)
    pdx = np.empty(n, dtype=object)
    procs = np.empty(n, dtype=object)
    start = 0
    for g, (key, kind, treatment, expr) in enumerate(
        zip(
            table["dx_key"], table["kind"], table["treatment"], catalog.expressions[: len(table)], strict=True
        )
    ):
        k = int(per_group[g])
        if k == 0:
            continue
        rows_g = slice(start, start + k)
        start += k
        codes = _under(vocab_sorted, key)
        if kind == "comprehensive":
            free_codes = np.array([c for c in codes if c[:5] not in core_keys])
            codes = free_codes if len(free_codes) else codes
            level = rules.treatments.index(treatment)
            procs[rows_g] = _zipf_pick(rng, level_pool[level], k) if level else ""
        else:
            procs[rows_g] = "|".join(comp[0] for comp in expr.components)
        codes = np.array(sorted(codes, key=order.__getitem__), dtype=object)
        pdx[rows_g] = _zipf_pick(rng, codes, k)
    chapter = np.array([c[0] for c in pdx])

    sigma = np.sqrt(np.log1p(cv[group] ** 2))
    mu = np.log(mean[group]) - sigma**2 / 2
    cost = np.round(np.exp(mu + sigma * rng.standard_normal(n)), 2)
    stay = np.maximum(1, np.round(rng.gamma(4.0, los[group] / 4.0))).astype(np.int64)
    n_sdx = rng.choice(4, size=n, p=[0.35, 0.3, 0.2, 0.15])
    pool = vocab[:5000]
    sdx_codes = _zipf_pick(rng, pool, int(n_sdx.sum()))
    ends = np.cumsum(n_sdx)
    sdx = np.array(["|".join(sdx_codes[e - m : e]) for e, m in zip(ends, n_sdx, strict=True)], dtype=object)
    age = rng.integers(1, 91, n)
    sex = rng.choice([1, 2], n)
    pregnant = chapter == "O"
    age[pregnant] = rng.integers(18, 46, int(pregnant.sum()))
    sex[pregnant] = 2
    newborn = chapter == "P"
    age[newborn] = 0
    age_days = np.where(newborn, rng.integers(0, 29, n), -1)
    discharge = rng.choice([1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 5], n)
    hosp_level = np.repeat([3, 2, 1], [25, 45, 80])
    weight = np.where(hosp_level == 3, 6.0, np.where(hosp_level == 2, 2.0, 0.5))
    hospital = rng.choice(N_HOSPITALS, size=n, p=weight / weight.sum())
    insurance = rng.choice(["310", "390"], n, p=[0.45, 0.55])
    share = np.where(insurance == "310", 0.72, 0.6) + np.array([0, -0.06, 0.0, 0.06])[hosp_level[hospital]]
    fund = np.round(cost * np.clip(share + rng.normal(0, 0.03, n), 0.3, 0.95), 2)
    day = rng.integers(0, 366, n)
    dates = pd.Timestamp(f"{YEAR}-01-01") + pd.to_timedelta(day, unit="D")

    frame = pd.DataFrame(
        {
            "case_id": [f"PDS{YEAR}{i:08d}" for i in range(n)],
            "sex": sex,
            "age": age,
            "age_days": pd.Series(age_days, dtype="Int64").where(age_days >= 0),
            "los": stay,
            "discharge_type": discharge,
            "principal_dx": pdx.astype(str),
            "secondary_dx": sdx.astype(str),
            "procedures": procs.astype(str),
            "total_cost": cost,
            "fund_paid": fund,
            "self_paid": np.round(cost - fund, 2),
            "hospital_id": np.array([f"H4104{i:04d}" for i in range(N_HOSPITALS)])[hospital],
            "hospital_level": hosp_level[hospital].astype(str),
            "insurance_type": insurance,
            "discharge_date": dates.strftime("%Y-%m-%d"),
        }
    )
    if truth:
        frame["expected_group"] = table["group"].to_numpy()[group]
    shuffle = rng.permutation(n)
    out = frame.iloc[shuffle].reset_index(drop=True)
    out["case_id"] = [f"PDS{YEAR}{i:08d}" for i in range(n)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE, help="the published workbook")
    parser.add_argument("--rows", type=int, help="records (default: the catalogue year's case count)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", action="store_true", help="add expected_group")
    parser.add_argument("--output", "-o", type=Path, required=True, help=".csv or .parquet")
    args = parser.parse_args(argv)
    if not args.catalogue.is_file():
        print(f"no catalogue at {args.catalogue}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    catalog, stats = load_source(args.catalogue)
    frame = dip_export(catalog, stats, args.rows, seed=args.seed, truth=args.truth)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.output.suffix == ".parquet":
        frame.to_parquet(args.output, index=False)
    else:
        frame.to_csv(args.output, index=False)
    print(f"{len(frame):,} records → {args.output} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
