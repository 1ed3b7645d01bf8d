"""Build a DIP catalogue from historical cases by the DIP method (病种组合 from the natural combinations).

1. Each usable case (readable, known principal diagnosis, cost > 0, in a weighted year) has its principal
   diagnosis 亚目, its principal procedure (the first procedure the grouper knows) and its other known
   procedures (related procedures), and its treatment level.
2. A 亚目 + principal-procedure combination with at least ``threshold`` cases becomes a core group. A related
   procedure stays its own combination (亚目 + principal + related) when at least ``threshold`` cases have it and
   it moves the mean cost by at least ``related_threshold``: the mean of the cases with it against the mean of
   the cases with the principal procedure alone (no related procedure), or, when there are none, against the
   combination's cases without it.
3. Cases that no procedure group takes and whose treatment is at most the grouper's
   ``conservative_max_treatment`` form a conservative core group per 亚目 when there are ``threshold`` of them.
4. Core groups that keep fewer than ``threshold`` cases once the grouper assigns the history are dropped, and
   steps 3–4 repeat until nothing changes.
5. What is left goes to comprehensive groups: one per diagnosis 类目 and treatment level.
6. Each group's mean cost is the year-weighted mean of its yearly mean costs (default 1:2:7 over the last three
   years), after optional trimming of cost outliers within the group; score = mean / reference × ``scale``, the
   reference being the same weighted mean over all cases unless given, rounded once, half up, to ``decimals``
   (:func:`drgpay.dip.scores.score_from_mean`).

The grouper itself assigns the history to the groups (steps 4–6), so the catalogue is consistent with grouping.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drgpay import __version__
from drgpay.dip.catalog import DipCatalog, load_catalog
from drgpay.dip.compiled import CompiledRules, compile_catalog
from drgpay.dip.engine import run_engine
from drgpay.dip.grouper import DipGrouper
from drgpay.dip.scores import scores_from_means
from drgpay.schema import PreparedRecords, SchemaError, parse_dates, prepare_records, resolve_columns

__all__ = ["DEFAULT_YEAR_WEIGHTS", "build_catalog"]

#: National default: the three most recent years weighted 1:2:7.
DEFAULT_YEAR_WEIGHTS = (1.0, 2.0, 7.0)


def _grouper(grouper: str | Path | DipGrouper) -> DipGrouper:
    if isinstance(grouper, DipGrouper):
        return grouper
    from drgpay.grouper import load_grouper

    loaded = load_grouper(grouper)
    if not isinstance(loaded, DipGrouper):
        raise ValueError(f"{loaded.id} is not a DIP grouper")
    return loaded


def _column(
    history: pd.DataFrame, name: str, canonical: str | None, columns: Mapping[str, str] | None
) -> Any:
    """The header holding ``name`` (as given, or through the canonical aliases); None when absent."""
    if name in history.columns:
        return name
    if canonical is not None:
        mapping, _ = resolve_columns(history.columns, columns)
        return mapping.get(canonical)
    return None


def _year_weights(
    years: pd.Series, weights: Sequence[float] | Mapping[Any, float] | None
) -> tuple[dict[Any, float], list[Any]]:
    present = sorted(years.dropna().unique().tolist())
    if isinstance(weights, Mapping):
        table = {y: float(w) for y, w in weights.items()}
    else:
        seq = [float(w) for w in (weights if weights is not None else DEFAULT_YEAR_WEIGHTS)]
        recent = present[-len(seq) :] if seq else []
        table = dict(zip(recent, seq[-len(recent) :] if recent else [], strict=True))
    if any(not math.isfinite(w) or w < 0 for w in table.values()):
        raise ValueError(f"year weights must be finite and ≥ 0: {table}")
    if not any(w > 0 for y, w in table.items() if y in present):
        raise ValueError(f"no history year has a positive weight (years {present}, weights {table})")
    return table, present


def _weighted_means(frame: pd.DataFrame, keys: list[str], weights: dict[int, float]) -> pd.Series:
    """Σ w_y · (S_y / N_y) / Σ w_y over the years a key has cases; ``frame`` has keys, year, S, N."""
    f = frame[frame["N"] > 0]
    w = f["year"].map(weights).astype(float)
    num = (w * f["S"] / f["N"]).groupby([f[k] for k in keys], sort=False).sum()
    den = w.groupby([f[k] for k in keys], sort=False).sum()
    return num / den


def _trim_mask(cost: np.ndarray, group: np.ndarray, trim: tuple[float, float] | None) -> np.ndarray:
    """Cases to keep: cost within the [lo, hi] quantiles of its group (all kept without trimming)."""
    if trim is None:
        return np.ones(len(cost), bool)
    lo, hi = trim
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"trim must be quantiles 0 ≤ lo < hi ≤ 1, got {trim}")
    grouped = pd.Series(cost).groupby(group)
    q_lo = grouped.quantile(lo).reindex(group).to_numpy()
    q_hi = grouped.quantile(hi).reindex(group).to_numpy()
    return (cost >= q_lo) & (cost <= q_hi)


class _Cases:
    """The usable cases of the history: per-case keys, treatment, principal and related procedures."""

    def __init__(self, rules: CompiledRules, prepared: PreparedRecords, keep: np.ndarray):
        self.rules = rules
        self.prepared = prepared
        self.keep = keep
        pdx = rules.dx_ids(prepared.principal_dx)
        self.sub = rules.dx_sub[pdx]
        self.cat = rules.dx_cat[pdx]
        proc = rules.proc_ids(prepared.procedures.values)
        row = prepared.procedures.row_index()
        pos = (
            np.arange(len(proc)) - prepared.procedures.offsets[:-1][row]
            if len(proc)
            else np.zeros(0, np.int64)
        )
        known = proc < rules.n_proc
        lv = np.zeros(prepared.n, np.int8)
        np.maximum.at(lv, row[known], rules.proc_level[proc[known]])
        self.treatment = lv
        pairs = pd.DataFrame({"case": row[known], "proc": proc[known], "pos": pos[known]})
        pairs = pairs[keep[pairs["case"].to_numpy()]].drop_duplicates(["case", "proc"])
        first = pairs.drop_duplicates("case")
        principal = np.full(prepared.n, -1, np.int64)
        principal[first["case"].to_numpy()] = first["proc"].to_numpy()
        self.principal = principal
        rel = pairs.merge(first[["case", "proc"]].rename(columns={"proc": "P"}), on="case")
        self.related = rel.loc[rel["proc"] != rel["P"], ["case", "proc"]].reset_index(drop=True)


def _name_lookup(grouper: DipGrouper) -> tuple[dict[str, str], dict[str, str]]:
    t = grouper.definition.tables
    return dict(zip(t["dx_codes.csv"]["dx"], t["dx_codes.csv"]["name"], strict=True)), dict(
        zip(t["proc_codes.csv"]["proc"], t["proc_codes.csv"]["name"], strict=True)
    )


def _dx_name(key: str, names: dict[str, str], vocab: np.ndarray) -> str:
    if key + "00" in names:
        return names[key + "00"]
    i = int(np.searchsorted(vocab, key))
    return names[str(vocab[i])] if i < len(vocab) and str(vocab[i]).startswith(key) else key


def build_catalog(
    history: pd.DataFrame,
    *,
    grouper: str | Path | DipGrouper = "dip-2.0",
    columns: Mapping[str, str] | None = None,
    cost_column: str = "total_cost",
    year_column: str = "year",
    year_weights: Sequence[float] | Mapping[Any, float] | None = None,
    threshold: int = 15,
    related_threshold: float = 0.10,
    scale: float = 1000.0,
    reference: float | None = None,
    trim: tuple[float, float] | None = None,
    decimals: int = 4,
    min_comprehensive_cases: int = 1,
    catalog_id: str = "built-from-history",
    max_iterations: int = 50,
) -> DipCatalog:
    """Build a catalogue from historical cases with costs; see the module docstring for the method.

    ``history`` uses the canonical columns (or ``columns=``) plus a cost column (``total_cost`` or an alias
    such as 总费用) and a year column (``year_column``; else the year of ``discharge_date``; else one year).
    ``year_weights`` is a sequence applied to the most recent years (default 1:2:7; earlier years are left out)
    or a mapping year → weight. ``trim=(lo, hi)`` drops cases outside those cost quantiles of their group
    before the means. The result records its parameters and inputs in ``provenance``.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if related_threshold < 0:
        raise ValueError("related_threshold must be ≥ 0")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("scale must be a positive number")
    if reference is not None and not (reference > 0 and math.isfinite(reference)):
        raise ValueError("reference must be a positive number")
    g = _grouper(grouper)
    rules = g.rules
    cost_header = _column(history, cost_column, "total_cost", columns)
    if cost_header is None:
        raise SchemaError(f"no cost column: expected {cost_column!r} (or 总费用 / total_cost via columns=)")
    prepared = prepare_records(history, columns)
    n = prepared.n
    cost = pd.to_numeric(pd.Series(history[cost_header].to_numpy()), errors="coerce").to_numpy(np.float64)
    year_header = _column(history, year_column, None, columns)
    if year_header is not None:
        raw_years = pd.Series(history[year_header].to_numpy())
        years = pd.to_numeric(raw_years, errors="coerce")
        if years.isna().all() and raw_years.notna().any():
            years = raw_years.astype(object)
    else:
        date_header = _column(history, "discharge_date", "discharge_date", columns)
        if date_header is not None:
            years = parse_dates(pd.Series(history[date_header].to_numpy()), str(date_header)).dt.year
        else:
            years = pd.Series(np.zeros(n, np.int64))
    weights, present = _year_weights(years, year_weights)
    year_w = years.map(weights).fillna(0.0).to_numpy(np.float64)

    pdx = rules.dx_ids(prepared.principal_dx)
    readable = prepared.invalid == ""
    known_dx = pdx < rules.n_dx
    costed = np.isfinite(cost) & (cost > 0)
    weighted = year_w > 0
    keep = readable & known_dx & costed & weighted
    excluded = {
        "unreadable": int((~readable).sum()),
        "missing_or_unknown_principal_dx": int((readable & ~known_dx).sum()),
        "no_positive_cost": int((readable & known_dx & ~costed).sum()),
        "year_not_weighted": int((readable & known_dx & costed & ~weighted).sum()),
    }
    if not keep.any():
        raise ValueError(f"no usable case in the history (excluded: {excluded})")
    codes, uniques = pd.factorize(years)
    year_code = pd.Series(codes)
    yw = {i: weights.get(y, 0.0) for i, y in enumerate(uniques)}
    cases = _Cases(rules, prepared, keep)

    # 2. procedure combinations
    idx = np.flatnonzero(keep & (cases.principal >= 0) & (cases.sub != ""))
    base = pd.DataFrame(
        {
            "case": idx,
            "sub": cases.sub[idx],
            "P": cases.principal[idx],
            "year": year_code.to_numpy()[idx],
            "cost": cost[idx],
        }
    )
    base_count = base.groupby(["sub", "P"], sort=True).size()
    frequent_base = base_count[base_count >= threshold].index
    proc_core: set[tuple[str, tuple[int, ...]]] = {
        (str(s), (int(p),))
        for s, p in zip(frequent_base.get_level_values(0), frequent_base.get_level_values(1), strict=True)
    }
    related_tested = related_kept = 0
    rel = cases.related.merge(base, on="case")
    if len(rel):
        rel_count = rel.groupby(["sub", "P", "proc"], sort=True).size()
        frequent = rel_count[rel_count >= threshold].reset_index()[["sub", "P", "proc"]]
        related_tested = len(frequent)
        if len(frequent):
            kept = _trim_mask(
                base["cost"].to_numpy(), (base["sub"] + ":" + base["P"].astype(str)).to_numpy(), trim
            )
            b = base[kept]
            by_year = b.groupby(["sub", "P", "year"], sort=False)["cost"].agg(S="sum", N="size").reset_index()
            r_in = rel.merge(b[["case"]], on="case")
            with_year = r_in.groupby(["sub", "P", "proc", "year"], sort=False)["cost"].agg(S="sum", N="size")
            grid = frequent.merge(by_year, on=["sub", "P"])
            grid = grid.merge(
                with_year.reset_index(), on=["sub", "P", "proc", "year"], how="left", suffixes=("", "_w")
            )
            grid[["S_w", "N_w"]] = grid[["S_w", "N_w"]].fillna(0)
            keys = ["sub", "P", "proc"]
            with_mean = _weighted_means(grid.assign(S=grid["S_w"], N=grid["N_w"]), keys, yw)
            without_mean = _weighted_means(
                grid.assign(S=grid["S"] - grid["S_w"], N=grid["N"] - grid["N_w"]), keys, yw
            )
            # the principal procedure alone (cases with no related procedure), when the combination has such cases
            alone = b[~b["case"].isin(cases.related["case"])]
            alone_year = (
                alone.groupby(["sub", "P", "year"], sort=False)["cost"].agg(S="sum", N="size").reset_index()
            )
            alone_mean = _weighted_means(alone_year, ["sub", "P"], yw)
            base_mean = pd.Series(
                alone_mean.reindex(pd.MultiIndex.from_frame(frequent[["sub", "P"]])).to_numpy(),
                index=pd.MultiIndex.from_frame(frequent),
            )
            versus = base_mean.fillna(without_mean.reindex(base_mean.index))
            both = pd.concat({"with": with_mean.reindex(base_mean.index), "versus": versus}, axis=1).dropna()
            moved = (both["with"] / both["versus"] - 1).abs() >= related_threshold - 1e-12
            pairs: set[tuple[str, frozenset[int]]] = set()
            for s, p, r in sorted(both.index[moved.to_numpy()]):
                # P+r and r+P are one rule: keep the first (by principal procedure id)
                if (s, frozenset((int(p), int(r)))) not in pairs:
                    pairs.add((s, frozenset((int(p), int(r)))))
                    proc_core.add((s, (int(p), int(r))))
            related_kept = len(pairs)

    def table_for(
        core: set[tuple[str, tuple[int, ...]]], cons: set[str], comp: set[tuple[str, int]]
    ) -> pd.DataFrame:
        rows = []
        for s, procs in sorted(core):
            expr = "+".join(str(rules.proc_vocab[p]) for p in procs)
            rows.append((f"{s}:{expr}", s, expr, "core", ""))
        for s in sorted(cons):
            rows.append((f"{s}:conservative", s, "", "core", ""))
        for c3, t in sorted(comp):
            rows.append(
                (
                    f"{c3}:comprehensive:{rules.treatment_codes[t]}",
                    c3,
                    "",
                    "comprehensive",
                    rules.treatments[t],
                )
            )
        return pd.DataFrame(rows, columns=["group", "dx_key", "procedures", "kind", "treatment"])

    def assign(table: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
        if table.empty:
            return np.full(n, -1, np.int32), ()
        compiled = compile_catalog(rules, load_catalog(table))
        res = run_engine(compiled, prepared)
        return np.where(keep, res.group, -1), compiled.group_ids

    # 3–4. conservative groups, dropping thin core groups until stable
    cmax = rules.conservative_max
    cons: set[str] = set()
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        grp, _ = assign(table_for(proc_core, set(), set()))
        left = keep & (grp < 0) & (cases.treatment <= cmax) & (cases.sub != "")
        counts = pd.Series(cases.sub[left]).value_counts()
        cons = set(counts[counts >= threshold].index)
        grp, ids = assign(table_for(proc_core, cons, set()))
        sizes = pd.Series(grp[grp >= 0]).value_counts()
        thin = {ids[i] for i in range(len(ids)) if sizes.get(i, 0) < threshold}
        dropped = {
            (s, p) for s, p in proc_core if f"{s}:{'+'.join(str(rules.proc_vocab[x]) for x in p)}" in thin
        }
        if not dropped:
            break
        proc_core -= dropped

    # 5. comprehensive groups
    grp, _ = assign(table_for(proc_core, cons, set()))
    left = keep & (grp < 0)
    combos = pd.DataFrame({"cat": cases.cat[left], "t": cases.treatment[left].astype(int)}).value_counts()
    enough = combos[combos >= min_comprehensive_cases].index
    comp = {
        (str(c3), int(t))
        for c3, t in zip(enough.get_level_values(0), enough.get_level_values(1), strict=True)
    }

    # 6. final assignment and scores
    table = table_for(proc_core, cons, comp)
    grp, ids = assign(table)
    grouped = grp >= 0
    gi = grp[grouped]
    kept = _trim_mask(cost[grouped], gi, trim)
    frame = pd.DataFrame(
        {"g": gi[kept], "year": year_code.to_numpy()[grouped][kept], "cost": cost[grouped][kept]}
    )
    per_year = frame.groupby(["g", "year"], sort=False)["cost"].agg(S="sum", N="size").reset_index()
    means = _weighted_means(per_year, ["g"], yw)
    all_year = frame.groupby("year", sort=False)["cost"].agg(S="sum", N="size").reset_index().assign(k=0)
    ref = float(reference) if reference is not None else float(_weighted_means(all_year, ["k"], yw).iloc[0])
    cases_n = pd.Series(gi).value_counts()
    tab = table.copy()  # the compiled catalogue keeps the table's order: row i is group i
    position = np.arange(len(ids))
    mean_cost = means.reindex(position).to_numpy(np.float64)
    tab["mean_cost"] = np.round(mean_cost, 2)
    tab["score"] = scores_from_means(mean_cost, ref, scale=scale, decimals=decimals)  # exact, half up
    tab["cases"] = cases_n.reindex(position).fillna(0).astype(int).to_numpy()
    dx_names, proc_names = _name_lookup(g)
    names = []
    for key, expr, kind, treat in tab[["dx_key", "procedures", "kind", "treatment"]].itertuples(index=False):
        if kind == "comprehensive":
            names.append(f"{key} 综合病种（{treat}）")
        elif not expr:
            names.append(f"{_dx_name(key, dx_names, rules.dx_vocab)}（保守治疗）")
        else:
            procs = "+".join(proc_names.get(p, p) for p in expr.split("+"))
            names.append(f"{_dx_name(key, dx_names, rules.dx_vocab)}：{procs}")
    tab["name"] = names
    tab = tab[tab["cases"] > 0]
    tab = tab[["group", "name", "dx_key", "procedures", "kind", "treatment", "score", "mean_cost", "cases"]]
    left_over = int((keep & ~grouped).sum())
    provenance = {
        "id": catalog_id,
        "built_by": "drgpay.dip.build_catalog",
        "drgpay_version": __version__,
        "grouper": g.id,
        "grouper_hash": g.content_hash,
        "history_hash": _history_hash(prepared, cost, year_code.to_numpy(), keep, rules),
        "history_rows": int(n),
        "history_used": int(keep.sum()),
        "excluded": excluded,
        "ungrouped_after_build": left_over,
        "years": {str(y): weights.get(y, 0.0) for y in present},
        "threshold": int(threshold),
        "related_threshold": float(related_threshold),
        "related_tested": int(related_tested),
        "related_kept": int(related_kept),
        "scale": float(scale),
        "reference_mean_cost": round(ref, 6),
        "reference_given": reference is not None,
        "trim": list(trim) if trim is not None else "none",
        "decimals": int(decimals),
        "min_comprehensive_cases": int(min_comprehensive_cases),
        "iterations": int(iterations),
    }
    cat = load_catalog(tab.reset_index(drop=True), provenance=provenance)
    return cat


def _history_hash(
    prepared: PreparedRecords, cost: np.ndarray, year: np.ndarray, keep: np.ndarray, rules: CompiledRules
) -> str:
    """sha256 of what the build read from each usable case: codes (as ids), cost, year."""
    h = hashlib.sha256()
    idx = np.flatnonzero(keep)
    h.update(rules.dx_ids(prepared.principal_dx)[idx].astype("<i4").tobytes())
    lists = prepared.procedures
    row = lists.row_index()
    mask = keep[row]
    h.update(rules.proc_ids(lists.values)[mask].astype("<i4").tobytes())
    h.update(lists.lengths[idx].astype("<i8").tobytes())
    h.update(cost[idx].astype("<f8").tobytes())
    h.update(np.asarray(year)[idx].astype("<i8").tobytes())
    return h.hexdigest()
