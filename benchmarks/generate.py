"""Realistic synthetic discharge exports for any CHS-DRG grouper, seeded and deterministic.

Why: the benchmarks and tests need large exports that look like a city's 医保结算清单 extract, that group (so
the engine walks its real paths rather than bailing out early), and that carry the noise real exports carry. No
code is hard-coded: every code is drawn from the grouper's own tables (``mdc_dx``, ``adrg_clause``/``adrg_code``,
``cc``, ``proc_codes``, ``grey_dx``), so the generator works for the national groupers and for any city variant.

The mix (exact counts per export, largest-remainder rounding, then shuffled):

============================  ======  =======================================================================
scenario                      share   how the record is built
============================  ======  =======================================================================
general                       96.9 %  MDC drawn by ``MDC_WEIGHTS`` (common MDCs weigh more); age 1–100 (1 % are
                                      infants of 29–364 days with a non-perinatal diagnosis); principal dx from
                                      the MDC's ``mdc_dx`` table (only codes that resolve to that MDC, not grey)
  ↳ surgical                  35 %    of general (per-MDC shares ``SURGICAL_SHARES`` rescaled so the mean is 35 %):
                                      an alternative of a surgical ADRG of the MDC is satisfied: principal
                                      procedure from its section, principal dx from its section where it has one
  ↳ operative                 5 %     of general where the MDC has 非手术室操作 ADRGs: their non-OR procedures
  ↳ medical                   rest    an alternative of a medical ADRG (principal dx from its section);
                                      25 % of them also get 1–2 non-OR procedures
newborn                       1.6 %   age 0, age_days 0–28, an MDCP ADRG's rule satisfied (birth weights across
                                      the PS bands with their P07 codes, surgery, ventilation …); others
                                      2,500–4,800 g
infant                        0.4 %   age 0, age_days 29–364, a perinatal (MDCP) principal dx (PV1 path)
premdc_a                      0.4 %   an MDCA rule (transplant procedures, ECMO, ventilation ≥ 96 h weighted ×6)
trauma                        0.6 %   principal dx from an MDCZ body region + 1–2 secondary dx from other regions,
                                      an MDCZ ADRG's rule (surgery or none)
hiv                           0.1 %   principal (and, for the surgical ADRG, secondary) dx from MDCY, OR surgery
============================  ======  =======================================================================

Codes within any pool are drawn by popularity: Zipf weights (1 / rank) over a fixed random ranking of the
grouper's codes, so a few codes are common and most are rare, as in real exports.

Secondary diagnoses: 0–8 per record (Poisson, mean rising with age), each an MCC with probability 4.5 %, a CC with
12 % (from ``cc.csv``), otherwise a random code; trauma-region, perinatal and HIV codes are kept out of the random
pools so that they do not change the MDC. Non-OR procedures are added to 60 % of surgical cases. 1.5 % of other
records get 1–95 ventilation hours (below the MDCA threshold).

Noise (one kind per record, exact shares): unknown secondary dx 1.0 %, unknown procedure 0.5 %, unknown principal
dx 0.3 %, grey principal dx 0.3 %, missing principal dx 0.2 %, a random OR principal procedure (mostly outside the
MDC's surgical ADRGs, so 歧义组) 0.4 %, lower-case and space-padded codes 3.0 %; optionally
full-width dots (``fullwidth_fraction``, default 0). Bad rows (``bad_fraction``, default 1 %): age ``abc``,
sex ``x`` or a negative length of stay, one third each. A column that holds junk is text (as a CSV reader would
give it); clean columns are numeric.

Money: ``total_cost`` log-normal around an MDC median (``COST_MEDIANS``) × 2.2 for surgery, scaled by length of
stay; ``fund_paid`` = cost × a fund share by insurance type (310 职工 / 390 城乡居民) and hospital level; ``self_paid``
the rest; 2 decimals. 150 hospitals (三级 25 %, 二级 45 %, 一级 30 %, larger hospitals see more cases), discharge
dates uniform over ``year``.

CLI: ``python benchmarks/generate.py 1M --grouper chs-drg-2.0 --seed 0 --output export.parquet``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import drgpay

__all__ = ["CANONICAL_ORDER", "parse_count", "synthetic_export", "write_export"]

#: Output columns, in order (DESIGN.md §3).
CANONICAL_ORDER = (
    "case_id",
    "sex",
    "age",
    "age_days",
    "birth_weight",
    "los",
    "discharge_type",
    "principal_dx",
    "secondary_dx",
    "procedures",
    "ventilation_hours",
    "total_cost",
    "fund_paid",
    "self_paid",
    "hospital_id",
    "hospital_level",
    "insurance_type",
    "discharge_date",
)

#: Relative share of discharges per general MDC (roughly a Chinese city's case mix); MDCs not named weigh 1.
MDC_WEIGHTS: dict[str, float] = {
    "MDCB": 9.0,
    "MDCC": 3.0,
    "MDCD": 4.0,
    "MDCE": 13.0,
    "MDCF": 14.0,
    "MDCG": 9.0,
    "MDCH": 5.0,
    "MDCI": 8.0,
    "MDCJ": 3.0,
    "MDCK": 4.0,
    "MDCL": 4.0,
    "MDCM": 1.5,
    "MDCN": 3.5,
    "MDCO": 7.0,
    "MDCQ": 1.5,
    "MDCR": 3.5,
    "MDCS": 1.0,
    "MDCT": 1.0,
    "MDCU": 0.3,
    "MDCV": 3.0,
    "MDCW": 0.3,
    "MDCX": 2.0,
}
#: Relative surgical share per MDC before rescaling to ``SURGICAL_SHARE``; MDCs not named use 0.35.
SURGICAL_SHARES: dict[str, float] = {
    "MDCB": 0.25,
    "MDCC": 0.75,
    "MDCD": 0.45,
    "MDCE": 0.10,
    "MDCF": 0.30,
    "MDCG": 0.35,
    "MDCH": 0.35,
    "MDCI": 0.65,
    "MDCJ": 0.55,
    "MDCK": 0.15,
    "MDCL": 0.30,
    "MDCM": 0.60,
    "MDCN": 0.60,
    "MDCO": 0.45,
    "MDCQ": 0.05,
    "MDCR": 0.10,
    "MDCS": 0.05,
    "MDCT": 0.0,
    "MDCU": 0.0,
    "MDCV": 0.45,
    "MDCW": 0.30,
    "MDCX": 0.15,
}
SURGICAL_SHARE = 0.35
OPERATIVE_SHARE = 0.05
#: Median total cost (yuan) of a medical case per MDC; MDCs not named use 7,000.
COST_MEDIANS: dict[str, float] = {
    "MDCA": 60000.0,
    "MDCB": 8500.0,
    "MDCC": 5500.0,
    "MDCD": 5500.0,
    "MDCE": 7000.0,
    "MDCF": 10000.0,
    "MDCG": 6500.0,
    "MDCH": 8000.0,
    "MDCI": 9000.0,
    "MDCJ": 5500.0,
    "MDCL": 7000.0,
    "MDCO": 5000.0,
    "MDCP": 6000.0,
    "MDCR": 11000.0,
    "MDCV": 6500.0,
    "MDCW": 9000.0,
    "MDCX": 4000.0,
    "MDCY": 12000.0,
    "MDCZ": 18000.0,
}
SCENARIOS: dict[str, float] = {
    "general": 0.966,
    "newborn": 0.016,
    "infant": 0.004,
    "premdc_a": 0.004,
    "trauma": 0.006,
    "hiv": 0.001,
    "_spare": 0.003,  # folded into general; keeps the shares summing to 1 with readable figures
}
NOISE: dict[str, float] = {
    "unknown_secondary": 0.010,
    "unknown_procedure": 0.005,
    "unknown_principal": 0.003,
    "grey_principal": 0.003,
    "missing_principal": 0.002,
    "outside_procedure": 0.004,
    "messy_case": 0.030,
}
BAD_KINDS = ("bad_age", "bad_sex", "bad_los")
N_HOSPITALS = 150
#: Code popularity: within any pool, codes are drawn with weight 1 / rank ** ZIPF_EXPONENT (fixed ranking).
ZIPF_EXPONENT = 1.0


# ---------------------------------------------------------------------------------------------------------------
# The grouper's tables, as index arrays
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _Clause:
    role: str
    codes: np.ndarray  # vocabulary indices of the section (dx or proc), empty for non-list roles
    low: float
    high: float


@dataclass
class _Alt:
    adrg: str
    mdc: int
    kind: str
    clauses: list[_Clause]
    weight: float = 1.0


@dataclass
class _Catalogue:
    """Everything the generator draws from, as numpy index arrays into two vocabularies."""

    dx_vocab: pa.Array
    proc_vocab: pa.Array
    mdc_codes: list[str]
    mdc_sex: np.ndarray  # 0 any, 1 male, 2 female
    premdc: dict[str, int]
    general_mdcs: list[int]
    pools: dict[int, np.ndarray]  # MDC → principal dx that resolve to it
    perinatal: np.ndarray  # MDCP principal-dx table
    hiv: np.ndarray
    regions: list[np.ndarray]  # MDCZ body regions → dx
    mcc: np.ndarray
    cc: np.ndarray
    other_dx: np.ndarray
    or_procs: np.ndarray
    non_or_procs: np.ndarray
    grey: np.ndarray
    unknown_dx: np.ndarray
    unknown_proc: np.ndarray
    valid_principal: np.ndarray  # bool per dx vocabulary index
    dx_pop: np.ndarray  # popularity weight per dx (Zipf over a fixed random ranking)
    proc_pop: np.ndarray
    alts: list[_Alt] = field(default_factory=list)
    newborn_max_age_days: int = 28
    infant_max_age_days: int = 364
    mdcz_min_regions: int = 2


def _indexer(vocab: pa.Array) -> pd.Index:
    return pd.Index(vocab.to_pylist())


def _ids(index: pd.Index, codes: Sequence[str] | pd.Series) -> np.ndarray:
    found = index.get_indexer(list(codes))
    return np.unique(found[found >= 0]).astype(np.int64)


def _unknown_codes(known: pd.Index, seeds: np.ndarray, vocab: pa.Array, suffix: str) -> list[str]:
    """Plausible-looking codes that are not in the vocabulary (category of a real code + an unused subcode)."""
    out = []
    for code in pc.take(vocab, pa.array(seeds)).to_pylist():
        candidate = code.split(".")[0] + suffix
        if candidate not in known and candidate not in out:
            out.append(candidate)
    return out


def _zipf(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zipf weights (exponent ``ZIPF_EXPONENT``) over a random ranking: a few codes are common, most are rare."""
    weights = np.empty(size)
    weights[rng.permutation(size)] = 1.0 / np.arange(1, size + 1) ** ZIPF_EXPONENT
    return weights


@functools.lru_cache(maxsize=8)
def _catalogue(grouper_id: str) -> _Catalogue:
    g = drgpay.load_grouper(grouper_id)
    if getattr(g, "scheme", "") != "chs-drg":
        raise ValueError(f"{grouper_id} is not a CHS-DRG grouper")
    t = g.definition.tables
    algorithm = g.manifest.algorithm
    clauses = t["adrg_clause.csv"]
    codes = t["adrg_code.csv"]
    dx_roles = {"principal_dx", "any_dx", "secondary_dx"}
    proc_roles = {"principal_proc", "any_proc"}
    dx_sections = set(map(tuple, clauses.loc[clauses["role"].isin(dx_roles), ["adrg", "section"]].to_numpy()))
    proc_sections = set(
        map(tuple, clauses.loc[clauses["role"].isin(proc_roles), ["adrg", "section"]].to_numpy())
    )
    keys = list(zip(codes["adrg"], codes["section"], strict=True))
    is_dx = np.array([k in dx_sections for k in keys], bool)
    is_proc = np.array([k in proc_sections for k in keys], bool)

    dx_all = set(t["dx_codes.csv"]["dx"]) | set(t["mdc_dx.csv"]["dx"]) | set(t["grey_dx.csv"]["dx"])
    dx_all |= set(t["cc.csv"]["dx"]) | set(codes.loc[is_dx, "code"])
    proc_all = set(t["proc_codes.csv"]["proc"]) | set(codes.loc[is_proc, "code"])
    # a fixed seed: the unknown codes belong to the catalogue, not to one sample
    rng = np.random.default_rng(20240601)
    dx_known = pd.Index(sorted(dx_all))
    proc_known = pd.Index(sorted(proc_all))
    unknown_dx = _unknown_codes(
        dx_known, rng.integers(0, len(dx_known), 96), pa.array(list(dx_known), pa.large_string()), ".99x99"
    )
    unknown_proc = _unknown_codes(
        proc_known,
        rng.integers(0, len(proc_known), 96),
        pa.array(list(proc_known), pa.large_string()),
        ".99x99",
    )
    dx_vocab = pa.array([*dx_known, *unknown_dx], pa.large_string())
    proc_vocab = pa.array([*proc_known, *unknown_proc], pa.large_string())
    dxi, proci = _indexer(dx_vocab), _indexer(proc_vocab)

    grey = _ids(dxi, t["grey_dx.csv"]["dx"])
    valid_principal = np.zeros(len(dx_vocab), bool)
    valid_principal[_ids(dxi, t["dx_codes.csv"]["dx"])] = True
    valid_principal[grey] = False

    mdcs = t["mdc.csv"]
    mdc_codes = list(mdcs["mdc"])
    mdc_index = {m: i for i, m in enumerate(mdc_codes)}
    mdc_sex = np.array([{"M": 1, "F": 2}.get(s, 0) for s in mdcs["sex"]], np.int8)
    premdc = {m: mdc_index[m] for m in algorithm.get("premdc_order", []) if m in mdc_index}
    premdc_ids = set(premdc.values())

    mdc_dx = t["mdc_dx.csv"].copy()
    mdc_dx["m"] = mdc_dx["mdc"].map(mdc_index)
    mdc_dx["i"] = dxi.get_indexer(mdc_dx["dx"])
    mdc_dx = mdc_dx[mdc_dx["i"] >= 0]

    def table(m: str) -> np.ndarray:
        if m not in mdc_index:
            return np.zeros(0, np.int64)
        ids = np.unique(mdc_dx.loc[mdc_dx["m"] == mdc_index[m], "i"].to_numpy(np.int64))
        return ids[valid_principal[ids]]

    perinatal = table("MDCP")
    hiv = table("MDCY")
    special = np.zeros(len(dx_vocab), bool)
    special[perinatal] = True
    special[hiv] = True
    # a general principal dx belongs to the first non-pre-MDC MDC (table order) whose table holds it
    general_rows = mdc_dx[~mdc_dx["m"].isin(premdc_ids)].sort_values(["i", "m"], kind="stable")
    first = general_rows.drop_duplicates("i")
    pools: dict[int, np.ndarray] = {}
    for m, grp in first.groupby("m"):
        ids = grp["i"].to_numpy(np.int64)
        pools[int(m)] = ids[valid_principal[ids] & ~special[ids]]
    general_mdcs = [m for m in range(len(mdc_codes)) if m not in premdc_ids and len(pools.get(m, ())) > 0]

    with_region = mdc_dx[mdc_dx["region"] != ""]
    regions = []
    for _, grp in with_region.groupby("region", sort=True):
        ids = np.unique(grp["i"].to_numpy(np.int64))
        ids = ids[valid_principal[ids]]
        if len(ids):
            regions.append(ids)
    region_codes = np.zeros(len(dx_vocab), bool)
    region_codes[with_region["i"].to_numpy(np.int64)] = True
    keep_out = region_codes | special

    cc = t["cc.csv"]
    mcc = _ids(dxi, cc.loc[cc["level"] == "mcc", "dx"])
    ccs = _ids(dxi, cc.loc[cc["level"] == "cc", "dx"])
    mcc, ccs = mcc[~keep_out[mcc]], ccs[~keep_out[ccs]]
    in_cc = np.zeros(len(dx_vocab), bool)
    in_cc[_ids(dxi, cc["dx"])] = True
    other_dx = _ids(dxi, t["dx_codes.csv"]["dx"])
    other_dx = other_dx[~keep_out[other_dx] & ~in_cc[other_dx]]

    procs = t["proc_codes.csv"]
    premdc_a_procs = np.zeros(len(proc_vocab), bool)
    if "MDCA" in premdc:
        a_adrgs = set(t["adrg.csv"].loc[t["adrg.csv"]["mdc"] == "MDCA", "adrg"])
        premdc_a_procs[_ids(proci, codes.loc[is_proc & codes["adrg"].isin(a_adrgs), "code"])] = True
    or_procs = _ids(proci, procs.loc[procs["operating_room"] == "1", "proc"])
    non_or = _ids(proci, procs.loc[procs["operating_room"] != "1", "proc"])
    or_procs, non_or = or_procs[~premdc_a_procs[or_procs]], non_or[~premdc_a_procs[non_or]]
    if len(or_procs) == 0:  # a grouper without OR designation: any procedure stands in for surgery
        or_procs = non_or

    section_ids: dict[tuple[str, str, bool], np.ndarray] = {}
    for (a, s), grp in codes.groupby(["adrg", "section"], sort=False):
        section_ids[(str(a), str(s), True)] = _ids(dxi, grp["code"])
        section_ids[(str(a), str(s), False)] = _ids(proci, grp["code"])
    adrgs = t["adrg.csv"].set_index("adrg")
    alts: list[_Alt] = []
    for (a, _alt), grp in clauses.groupby(["adrg", "alt"], sort=False):
        built = []
        for row in grp.itertuples(index=False):
            kind = True if row.role in dx_roles else False if row.role in proc_roles else None
            ids = (
                section_ids.get((row.adrg, row.section, kind), np.zeros(0, np.int64))
                if kind is not None
                else None
            )
            low = float(row.low) if row.low != "" else np.nan
            high = float(row.high) if row.high != "" else np.nan
            built.append(_Clause(row.role, ids if ids is not None else np.zeros(0, np.int64), low, high))
        info = adrgs.loc[a]
        weight = 6.0 if any(c.role == "ventilation_hours" for c in built) else 1.0
        alts.append(_Alt(str(a), mdc_index[info["mdc"]], str(info["kind"]), built, weight))

    return _Catalogue(
        dx_vocab=dx_vocab,
        proc_vocab=proc_vocab,
        mdc_codes=mdc_codes,
        mdc_sex=mdc_sex,
        premdc=premdc,
        general_mdcs=general_mdcs,
        pools=pools,
        perinatal=perinatal,
        hiv=hiv,
        regions=regions,
        mcc=mcc,
        cc=ccs,
        other_dx=other_dx,
        or_procs=or_procs,
        non_or_procs=non_or,
        grey=grey,
        unknown_dx=dxi.get_indexer(unknown_dx).astype(np.int64),
        unknown_proc=proci.get_indexer(unknown_proc).astype(np.int64),
        valid_principal=valid_principal,
        dx_pop=_zipf(rng, len(dx_vocab)),
        proc_pop=_zipf(rng, len(proc_vocab)),
        alts=alts,
        newborn_max_age_days=int(algorithm.get("newborn_max_age_days", 28)),
        infant_max_age_days=int(algorithm.get("infant_max_age_days", 364)),
        mdcz_min_regions=int(algorithm.get("mdcz_min_regions", 2)),
    )


# ---------------------------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------------------------
def _exact(rng: np.random.Generator, n: int, shares: dict[str, float]) -> tuple[np.ndarray, list[str]]:
    """A shuffled category code per row with exactly the given shares (largest remainder); the rest is code -1."""
    names = list(shares)
    raw = np.array([shares[k] for k in names]) * n
    counts = np.floor(raw).astype(np.int64)
    rest = n - counts.sum() if sum(shares.values()) >= 1 - 1e-9 else round(raw.sum()) - counts.sum()
    if rest > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    labels = np.full(n, -1, np.int64)
    labels[: counts.sum()] = np.repeat(np.arange(len(names)), counts)
    return rng.permutation(labels), names


def _pick(rng: np.random.Generator, pool: np.ndarray, size: int, pop: np.ndarray | None = None) -> np.ndarray:
    """``size`` draws (with replacement) from ``pool``, weighted by code popularity ``pop`` when given; -1 when
    the pool is empty."""
    if len(pool) == 0:
        return np.full(size, -1, np.int64)
    if pop is None:
        return pool[rng.integers(0, len(pool), size)]
    cdf = np.cumsum(pop[pool])
    return pool[np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(pool) - 1)]


class _Builder:
    """Per-record arrays filled scenario by scenario, then joined into strings once."""

    def __init__(self, n: int, cat: _Catalogue, rng: np.random.Generator):
        self.n, self.cat, self.rng = n, cat, rng
        self.pdx = np.full(n, -1, np.int64)
        self.pproc = np.full(n, -1, np.int64)
        self.forced_dx = np.full((n, 3), -1, np.int64)
        self.forced_proc = np.full((n, 4), -1, np.int64)
        self.mdc = np.full(n, -1, np.int64)  # intended MDC (for money and sex)
        self.kind = np.zeros(n, np.int8)  # 0 medical, 1 surgical, 2 operative
        self.sex = rng.integers(1, 3, n).astype(np.int8)
        self.age = np.full(n, -1, np.int64)
        self.age_days = np.full(n, np.nan)
        self.birth_weight = np.full(n, np.nan)
        self.vent = np.full(n, np.nan)

    def satisfy(self, rows: np.ndarray, alt: _Alt, pool: np.ndarray | None) -> None:
        """Make ``rows`` meet every clause of ``alt`` (``pool`` restricts a principal-dx section to the MDC)."""
        rng, cat, k = self.rng, self.cat, len(rows)
        n_dx = n_proc = 0
        has_or = False
        for cl in alt.clauses:
            if cl.role == "principal_dx":
                codes = np.intersect1d(cl.codes, pool) if pool is not None else cl.codes
                if len(codes) == 0:
                    codes = cl.codes[cat.valid_principal[cl.codes]]
                if len(codes):
                    self.pdx[rows] = _pick(rng, codes, k, cat.dx_pop)
            elif cl.role in ("any_dx", "secondary_dx") and n_dx < self.forced_dx.shape[1]:
                self.forced_dx[rows, n_dx] = _pick(rng, cl.codes, k, cat.dx_pop)
                n_dx += 1
            elif cl.role == "principal_proc":
                self.pproc[rows] = _pick(rng, cl.codes, k, cat.proc_pop)
                has_or = True
            elif cl.role == "any_proc" and n_proc < self.forced_proc.shape[1]:
                self.forced_proc[rows, n_proc] = _pick(rng, cl.codes, k, cat.proc_pop)
                n_proc += 1
                has_or = True
            elif cl.role == "or_procedure" and not has_or and n_proc < self.forced_proc.shape[1]:
                self.forced_proc[rows, n_proc] = _pick(rng, cat.or_procs, k, cat.proc_pop)
                n_proc += 1
            elif cl.role == "birth_weight":
                lo = 600.0 if np.isnan(cl.low) else cl.low
                hi = 4800.0 if np.isnan(cl.high) else cl.high
                self.birth_weight[rows] = np.round(rng.uniform(lo, hi + 1, k) // 10 * 10)
                self.birth_weight[rows] = np.clip(self.birth_weight[rows], lo, hi)
            elif cl.role == "age_days":
                lo = 0 if np.isnan(cl.low) else int(cl.low)
                hi = cat.infant_max_age_days if np.isnan(cl.high) else int(cl.high)
                self.age_days[rows] = rng.integers(lo, hi + 1, k)
            elif cl.role == "ventilation_hours":
                self.vent[rows] = np.round(cl.low + rng.exponential(max(cl.low, 24.0), k), 1)

    def satisfy_groups(self, rows: np.ndarray, choice: np.ndarray, alts: list[_Alt], pools: Any) -> None:
        """Apply ``alts[choice[i]]`` to ``rows[i]``, one vectorised call per alternative."""
        order = np.argsort(choice, kind="stable")
        bounds = np.searchsorted(choice[order], np.arange(len(alts) + 1))
        for j, alt in enumerate(alts):
            sel = rows[order[bounds[j] : bounds[j + 1]]]
            if len(sel):
                self.satisfy(sel, alt, pools(alt) if callable(pools) else pools)


def _choose(rng: np.random.Generator, size: int, weights: np.ndarray) -> np.ndarray:
    p = np.asarray(weights, float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _general(b: _Builder, rows: np.ndarray, rng: np.random.Generator, wrng: np.random.Generator) -> None:
    cat = b.cat
    if not len(rows) or not cat.general_mdcs:
        return
    mdcs = cat.general_mdcs
    codes = [cat.mdc_codes[m] for m in mdcs]
    w = np.array([MDC_WEIGHTS.get(c, 1.0) for c in codes])
    by_kind = {
        kind: {m: [a for a in cat.alts if a.mdc == m and a.kind == kind] for m in mdcs}
        for kind in ("surgical", "operative", "medical")
    }
    s = np.array(
        [
            SURGICAL_SHARES.get(c, 0.35) if by_kind["surgical"][m] else 0.0
            for c, m in zip(codes, mdcs, strict=True)
        ]
    )
    if not any(by_kind["surgical"].values()):  # no rules (an incomplete grouper): surgery by OR procedure
        s = np.array([SURGICAL_SHARES.get(c, 0.35) for c in codes])
    s = np.clip(s * SURGICAL_SHARE / max((s * w).sum() / w.sum(), 1e-9), 0.0, 0.95)
    m_of = np.array(mdcs)[_choose(rng, len(rows), w)]
    u = rng.random(len(rows))
    has_operative = np.array([bool(by_kind["operative"][m]) for m in mdcs])
    pos = np.searchsorted(mdcs, m_of)
    kind = np.where(u < s[pos], 1, np.where((u < s[pos] + OPERATIVE_SHARE) & has_operative[pos], 2, 0))
    b.mdc[rows] = m_of
    b.kind[rows] = kind
    sex = cat.mdc_sex[m_of]
    b.sex[rows] = np.where(sex > 0, sex, b.sex[rows])
    for m in mdcs:
        in_m = rows[m_of == m]
        b.pdx[in_m] = _pick(rng, cat.pools[m], len(in_m), cat.dx_pop)
        for k, name in enumerate(("medical", "surgical", "operative")):
            sel = in_m[b.kind[in_m] == k]
            alts = by_kind[name][m]
            if not len(sel):
                continue
            if alts:
                # which ADRGs are common is a property of the seed
                weights = wrng.lognormal(0.0, 1.0, len(alts))
                b.satisfy_groups(sel, _choose(rng, len(sel), weights), alts, cat.pools[m])
            elif k == 1:
                b.pproc[sel] = _pick(rng, cat.or_procs, len(sel), cat.proc_pop)
    # ages: adults mostly, 8 % children, 1 % infants, obstetrics 18–45
    n = len(rows)
    adult = np.clip(np.round(rng.normal(57, 18, n)), 15, 100)
    child = rng.integers(1, 15, n)
    r = rng.random(n)
    age = np.where(r < 0.08, child, adult).astype(np.int64)
    if "MDCO" in cat.mdc_codes:
        obst = m_of == cat.mdc_codes.index("MDCO")
        age[obst] = np.clip(np.round(rng.normal(30, 5, int(obst.sum()))), 18, 45)
    infant = (r > 0.99) & (cat.mdc_sex[m_of] == 0)
    age[infant] = 0
    b.age[rows] = age
    b.age_days[rows[infant]] = rng.integers(
        cat.newborn_max_age_days + 1, cat.infant_max_age_days + 1, infant.sum()
    )


def _special(b: _Builder, name: str, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Newborns, infants, MDCA, multiple trauma and HIV: an alternative of one of the pre-MDC's ADRGs."""
    cat, k = b.cat, len(rows)
    if not k:
        return
    code = {"newborn": "MDCP", "infant": "MDCP", "premdc_a": "MDCA", "trauma": "MDCZ", "hiv": "MDCY"}[name]
    m = cat.premdc.get(code, -1)
    alts = [a for a in cat.alts if a.mdc == m]
    b.mdc[rows] = m
    b.age[rows] = np.clip(np.round(rng.normal(50, 18, k)), 1, 95).astype(np.int64)
    if name in ("newborn", "infant"):
        b.age[rows] = 0
        b.pdx[rows] = _pick(rng, cat.perinatal, k, cat.dx_pop)
        if name == "newborn":
            b.age_days[rows] = np.minimum(rng.geometric(0.3, k) - 1, cat.newborn_max_age_days)
            b.birth_weight[rows] = np.round(np.clip(rng.normal(3300, 420, k), 2500, 4800) / 10) * 10
        else:
            b.age_days[rows] = rng.integers(cat.newborn_max_age_days + 1, cat.infant_max_age_days + 1, k)
            has_bw = rng.random(k) < 0.5
            b.birth_weight[rows[has_bw]] = np.round(
                np.clip(rng.normal(3200, 500, has_bw.sum()), 900, 4800), -1
            )

        def infant_rule(a: _Alt) -> bool:
            return any(c.role == "age_days" and c.low > cat.newborn_max_age_days for c in a.clauses)

        alts = [a for a in alts if infant_rule(a) == (name == "infant")]
        weights = np.array([3.0 if any(c.role == "birth_weight" for c in a.clauses) else 1.0 for a in alts])
    elif name == "premdc_a":
        general = (
            np.concatenate([cat.pools[g] for g in cat.general_mdcs]) if cat.general_mdcs else cat.other_dx
        )
        b.pdx[rows] = _pick(rng, general, k, cat.dx_pop)
        weights = np.array([a.weight for a in alts])
        if not alts:  # no rules: ventilation is the MDCA case every grouper has
            b.vent[rows] = np.round(96 + rng.exponential(96, k), 1)
    elif name == "hiv":
        b.pdx[rows] = _pick(rng, cat.hiv, k, cat.dx_pop)
        weights = np.ones(len(alts))
    else:  # trauma: principal and 1–2 secondary diagnoses from distinct body regions
        nreg = len(cat.regions)
        if nreg < 2:
            return
        first = rng.integers(0, nreg, k)
        extra = np.where(rng.random(k) < 0.3, cat.mdcz_min_regions, cat.mdcz_min_regions - 1)
        b.pdx[rows] = _from_regions(rng, cat.regions, first, cat.dx_pop)
        for j in range(int(extra.max())):
            other = (first + 1 + j + rng.integers(0, max(nreg - 1 - j, 1), k)) % nreg
            other = np.where(other == first, (first + 1) % nreg, other)
            codes = _from_regions(rng, cat.regions, other, cat.dx_pop)
            b.forced_dx[rows, j] = np.where(j < extra, codes, -1)
        weights = np.ones(len(alts))
    if alts:
        b.satisfy_groups(rows, _choose(rng, k, weights), alts, None)
    b.kind[rows] = np.where(b.pproc[rows] >= 0, 1, 0)


def _from_regions(
    rng: np.random.Generator, regions: list[np.ndarray], which: np.ndarray, pop: np.ndarray
) -> np.ndarray:
    out = np.empty(len(which), np.int64)
    for r, ids in enumerate(regions):
        sel = np.flatnonzero(which == r)
        out[sel] = _pick(rng, ids, len(sel), pop)
    return out


def _csr(n: int, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) pairs in part order → offsets and codes, codes of a row in the order the parts were given."""
    rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    codes = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    keep = codes >= 0
    rows, codes = rows[keep], codes[keep]
    order = np.argsort(rows, kind="stable")
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return offsets, codes[order]


def _join(vocab: pa.Array, offsets: np.ndarray, codes: np.ndarray) -> pa.Array:
    """'|'-joined code strings per row, null where a row has none."""
    values = pc.take(vocab, pa.array(codes, pa.int64()))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)
    joined = pc.binary_join(lists, pa.scalar("|", pa.large_string()))
    empty = pa.array(offsets[1:] == offsets[:-1])
    return pc.if_else(empty, pa.scalar(None, pa.large_string()), joined)


def _messy(values: pa.Array, mask: np.ndarray, lists: bool) -> pa.Array:
    """Lower-case and space-pad the codes of the masked rows, as typed by hand."""
    m = pa.array(mask)
    lower = pc.utf8_lower(values)
    if lists:
        lower = pc.replace_substring(lower, "|", " | ")
    padded = pc.binary_join_element_wise(_s(" "), lower, _s("  "), _s(""))
    return pc.if_else(m, padded, values)


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.large_string())


def synthetic_export(
    n: int,
    grouper: str = "chs-drg-2.0",
    seed: int = 0,
    bad_fraction: float = 0.01,
    *,
    year: int = 2024,
    fullwidth_fraction: float = 0.0,
    truth: bool = False,
) -> pd.DataFrame:
    """A synthetic export of ``n`` discharges in the canonical schema, identical for the same arguments.

    ``truth=True`` adds ``scenario``, ``noise`` and ``target_mdc`` columns (how each record was built), for tests
    and for checking the generator itself; the grouper ignores them.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0 <= bad_fraction <= 1 or not 0 <= fullwidth_fraction <= 1:
        raise ValueError("bad_fraction and fullwidth_fraction must be within [0, 1]")
    cat = _catalogue(grouper)
    streams = np.random.SeedSequence(seed).spawn(6)
    rng, wrng, nrng, mrng, brng, lrng = (np.random.default_rng(s) for s in streams)
    b = _Builder(n, cat, rng)

    scenario, names = _exact(rng, n, SCENARIOS)
    scenario[scenario == names.index("_spare")] = names.index("general")
    for j, name in enumerate(names):
        rows = np.flatnonzero(scenario == j)
        if name == "general":
            _general(b, rows, rng, wrng)
        elif name != "_spare":
            _special(b, name, rows, rng)

    # secondary diagnoses: forced (rules, trauma regions) first, then 0–8 random with CC/MCC at realistic rates
    adult_age = np.clip(b.age, 0, 100)
    count = np.minimum(lrng.poisson(0.8 + adult_age / 25.0), 8)
    row = np.repeat(np.arange(n), count)
    u = lrng.random(len(row))
    codes = np.where(
        u < 0.045,
        _pick(lrng, cat.mcc, len(row), cat.dx_pop),
        np.where(
            u < 0.165,
            _pick(lrng, cat.cc, len(row), cat.dx_pop),
            _pick(lrng, cat.other_dx, len(row), cat.dx_pop),
        ),
    )
    newborn_rows = b.age_days[row] <= cat.infant_max_age_days
    codes[newborn_rows & (u >= 0.165)] = _pick(
        lrng, cat.perinatal, int((newborn_rows & (u >= 0.165)).sum()), cat.dx_pop
    )
    dx_parts = [(np.arange(n), b.forced_dx[:, j]) for j in range(b.forced_dx.shape[1])]
    dx_parts.append((row, codes))

    # procedures: principal, forced by the rule, then non-OR extras
    proc_parts = [(np.arange(n), b.pproc)] + [(np.arange(n), b.forced_proc[:, j]) for j in range(4)]
    extra = np.where(
        b.kind == 1,
        np.where(lrng.random(n) < 0.6, lrng.integers(1, 4, n), 0),
        np.where(lrng.random(n) < 0.25, lrng.integers(1, 3, n), 0),
    )
    # (extras are non-OR, so "no OR procedure" rules keep holding)
    erow = np.repeat(np.arange(n), extra)
    proc_parts.append((erow, _pick(lrng, cat.non_or_procs, len(erow), cat.proc_pop)))

    # noise: one kind per record, exact shares
    noise, noise_names = _exact(nrng, n, NOISE)
    has = {name: noise == j for j, name in enumerate(noise_names)}
    r = np.flatnonzero(has["unknown_secondary"])
    dx_parts.append((r, _pick(nrng, cat.unknown_dx, len(r))))
    r = np.flatnonzero(has["unknown_procedure"])
    proc_parts.append((r, _pick(nrng, cat.unknown_proc, len(r))))
    r = np.flatnonzero(has["unknown_principal"])
    b.pdx[r] = _pick(nrng, cat.unknown_dx, len(r))
    r = np.flatnonzero(has["grey_principal"])
    b.pdx[r] = _pick(nrng, cat.grey, len(r))
    r = np.flatnonzero(has["outside_procedure"])  # an OR procedure no surgical ADRG of the MDC takes → 歧义组
    b.pproc[r] = _pick(nrng, cat.or_procs, len(r))

    # ventilation below the MDCA threshold for a few others
    vent_rows = np.isnan(b.vent) & (lrng.random(n) < 0.015)
    b.vent[vent_rows] = np.round(lrng.uniform(1, 95, int(vent_rows.sum())), 1)

    # strings
    missing = has["missing_principal"] | (b.pdx < 0)
    pdx = pc.take(cat.dx_vocab, pa.array(np.where(missing, 0, b.pdx)))
    pdx = pc.if_else(pa.array(missing), pa.scalar(None, pa.large_string()), pdx)
    secondary = _join(cat.dx_vocab, *_csr(n, dx_parts))
    procedures = _join(cat.proc_vocab, *_csr(n, proc_parts))
    messy = has["messy_case"]
    pdx = _messy(pdx, messy, lists=False)
    secondary = _messy(secondary, messy, lists=True)
    procedures = _messy(procedures, messy, lists=True)
    if fullwidth_fraction > 0:
        fw = nrng.random(n) < fullwidth_fraction
        pdx = pc.if_else(pa.array(fw), pc.replace_substring(pdx, ".", "．"), pdx)

    # length of stay, discharge type, money
    mdc_code = np.array([*cat.mdc_codes, ""], dtype=object)[b.mdc]
    is_a = b.mdc == cat.premdc.get("MDCA", -2)
    los_median = np.where(is_a, 20.0, np.where(b.kind == 1, 9.0, np.where(b.age == 0, 6.0, 7.0)))
    los = np.clip(np.round(los_median * mrng.lognormal(0.0, 0.55, n)), 1, 180).astype(np.int64)
    dtype_codes = np.array([1, 2, 3, 4, 5, 9])
    discharge_type = dtype_codes[_choose(mrng, n, np.array([0.915, 0.03, 0.01, 0.025, 0.01, 0.01]))].astype(
        np.int64
    )
    discharge_type[is_a & (mrng.random(n) < 0.1)] = 5
    medians = np.array([COST_MEDIANS.get(c, 7000.0) for c in [*cat.mdc_codes, ""]])[b.mdc]
    factor = np.where(b.kind == 1, 2.2, np.where(b.kind == 2, 1.3, 1.0))
    cost = medians * factor * (los / los_median) ** 0.7 * mrng.lognormal(0.0, 0.35, n)
    total = np.round(np.clip(cost, 200.0, 3_000_000.0), 2)

    level_names = np.array(["三级", "二级", "一级"], dtype=object)
    hosp_level = _choose(mrng, N_HOSPITALS, np.array([0.25, 0.45, 0.30]))
    hosp_weight = np.array([6.0, 2.5, 0.5])[hosp_level] * mrng.lognormal(0.0, 0.5, N_HOSPITALS)
    hospital = _choose(mrng, n, hosp_weight)
    hospital_ids = np.array([f"H33010{(i % 9) + 1}{i:05d}" for i in range(N_HOSPITALS)], dtype=object)
    insurance = np.where(mrng.random(n) < 0.4, "310", "390")
    share = np.where(insurance == "310", 0.72, 0.58) + np.array([-0.05, 0.0, 0.08])[hosp_level[hospital]]
    share = np.clip(share + mrng.normal(0, 0.06, n), 0.2, 0.95)
    fund = np.round(total * share, 2)
    self_paid = np.round(total - fund, 2)
    day = mrng.integers(0, 366 if year % 4 == 0 else 365, n)
    dates = (np.datetime64(f"{year}-01-01") + day.astype("timedelta64[D]")).astype("datetime64[D]")

    # bad rows (exact count), one junk value each
    bad, _ = _exact(brng, n, {k: bad_fraction / 3 for k in BAD_KINDS})
    age_text = pc.if_else(pa.array(bad == 0), _s("abc"), _strings(b.age))
    sex_text = pc.if_else(pa.array(bad == 1), _s("x"), _strings(b.sex))
    los[bad == 2] = -brng.integers(1, 31, int((bad == 2).sum()))
    any_bad_age, any_bad_sex = bool((bad == 0).any()), bool((bad == 1).any())

    def text(a: pa.Array) -> pd.Series:
        return pd.Series(a.cast(pa.string()).to_pandas(), dtype="str")

    ids = pc.binary_join_element_wise(_s("ZY"), pc.utf8_lpad(_strings(np.arange(1, n + 1)), 9, "0"), _s(""))
    out = pd.DataFrame(
        {
            "case_id": text(ids),
            "sex": text(sex_text) if any_bad_sex else pd.Series(b.sex.astype(np.int64)),
            "age": text(age_text) if any_bad_age else pd.Series(b.age),
            "age_days": b.age_days,
            "birth_weight": b.birth_weight,
            "los": los,
            "discharge_type": discharge_type,
            "principal_dx": text(pdx),
            "secondary_dx": text(secondary),
            "procedures": text(procedures),
            "ventilation_hours": b.vent,
            "total_cost": total,
            "fund_paid": fund,
            "self_paid": self_paid,
            "hospital_id": pd.Series(hospital_ids[hospital], dtype="str"),
            "hospital_level": pd.Series(level_names[hosp_level[hospital]], dtype="str"),
            "insurance_type": pd.Series(insurance, dtype="str"),
            "discharge_date": pd.Series(dates.astype(str), dtype="str"),
        }
    )
    if truth:
        scen = np.array([*names, "general"], dtype=object)[scenario]
        noise_label = np.array([*noise_names, ""], dtype=object)[noise]
        bad_label = np.array([*BAD_KINDS, ""], dtype=object)[bad]
        out["scenario"] = pd.Categorical(np.where(b.kind[:n] == 1, scen + ":surgical", scen))
        out["noise"] = pd.Categorical(np.where(bad >= 0, bad_label, noise_label))
        out["target_mdc"] = pd.Categorical(mdc_code)
    return out


def write_export(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV (UTF-8, header, unquoted unless a value needs quotes) or Parquet, by the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, path)
    elif path.suffix.lower() == ".csv":
        try:  # unquoted, like most hospital exports; quoted where a value holds a comma, quote or newline
            pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
        except pa.ArrowInvalid:
            pacsv.write_csv(table, path)
    else:
        raise ValueError(f"unsupported output {path.suffix!r}: use .csv or .parquet")
    return path


def parse_count(text: str) -> int:
    """``10000``, ``10_000``, ``100k``, ``1M``, ``2.5m`` → an int."""
    t = text.strip().replace("_", "").replace(",", "").lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if scale > 1 else t) * scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic CHS-DRG discharge export.")
    parser.add_argument("n", type=parse_count, help="number of records, e.g. 100k or 1M")
    parser.add_argument("--grouper", default="chs-drg-2.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad-fraction", type=float, default=0.01)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--truth", action="store_true", help="add scenario/noise/target_mdc columns")
    parser.add_argument("--output", required=True, help="FILE.csv or FILE.parquet")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    frame = synthetic_export(
        args.n, args.grouper, args.seed, args.bad_fraction, year=args.year, truth=args.truth
    )
    made = time.perf_counter() - start
    path = write_export(frame, args.output)
    print(
        f"{len(frame):,} records ({args.grouper}, seed {args.seed}) generated in {made:.1f} s, "
        f"written to {path} in {time.perf_counter() - start - made:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
