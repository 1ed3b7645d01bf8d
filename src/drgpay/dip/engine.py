"""The vectorised DIP engine: whole arrays at once, no per-row Python.

The steps (the same as :mod:`drgpay.dip.reference`, which states them record by record; the property tests
hold the two equal):

1. unreadable rows → ``invalid``; a missing or unknown principal diagnosis → ``ungroupable``;
2. treatment level: the highest level among the record's known procedures (保守治疗 when none);
3. candidates, each ranked by (``+`` components, matched procedures, kind, 亚目 over 类目, group id):
   core/basic groups under the diagnosis's 亚目 or 类目 whose every component is matched by a procedure;
   conservative core/basic groups of those keys when the treatment is at most ``conservative_max_treatment``;
   the comprehensive group of those keys at exactly the record's treatment level;
4. the best candidate is the group; none → the catalogue's fallback group for the diagnosis's 类目 at the record's
   treatment level (未入组病例的分组, where a city has them), else ``ungroupable`` (``dx_not_in_catalog`` or
   ``no_matching_group``);
5. auxiliary items per type (first by rank that holds) and, when coefficients are supplied, the coefficient.
"""

from __future__ import annotations

import attrs
import numpy as np

from drgpay.codes import empty_mask
from drgpay.dip.auxiliary import AuxClause, combine_coefficients
from drgpay.dip.compiled import (
    COMP_SHIFT,
    MATCHED_SHIFT,
    MAX_MATCHED,
    REASONS,
    TB_MASK,
    CompiledCatalog,
)
from drgpay.schema import PreparedRecords

__all__ = ["DipEngineResult", "run_engine"]

GROUPED, UNGROUPABLE, INVALID = 0, 1, 2
_REASON = {r: i for i, r in enumerate(REASONS)}
#: Widest (row, group, procedure, component) key packed into one int64 before falling back to a lexsort.
PACK_BITS = 62


@attrs.frozen
class DipEngineResult:
    """Integer-coded results, one entry per record (-1 = none)."""

    group: np.ndarray  # int32 index into compiled.group_ids
    status: np.ndarray  # int8 index into STATUSES
    reason: np.ndarray  # int8 index into REASONS
    treatment: np.ndarray  # int8 treatment rank (-1 for invalid rows)
    aux: np.ndarray  # int16[n_types, n]: index of the applying item in rules.aux.items, -1 none
    coefficient: np.ndarray  # float64: combined auxiliary coefficient (NaN when not grouped or none supplied)
    score: np.ndarray  # float64: the group's catalogue score (NaN when not grouped or absent)


def _expand(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(start[i], stop[i])`` and, for each element, ``i``."""
    counts = stop - start
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(start), dtype=np.int64), counts)
    if total == 0:
        return np.zeros(0, np.int64), owner
    first = np.cumsum(counts) - counts
    idx = np.arange(total, dtype=np.int64) - np.repeat(first, counts) + np.repeat(start, counts)
    return idx, owner


def _procedure_candidates(
    c: CompiledCatalog, n: int, proc: np.ndarray, proc_row: np.ndarray, keys: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Best rank per record among core/basic groups whose every ``+`` component is matched (0 = none)."""
    best = np.zeros(n, np.int64)
    rules = c.rules
    known = proc < rules.n_proc
    if len(c.entry_keys) == 0 or not known.any():
        return best
    pr = proc_row[known]
    pp = proc[known].astype(np.int64)
    rows_l, procs_l, entries_l = [], [], []
    for key in keys:
        k = key[pr]
        ok = k < c.n_keys
        composite = k[ok].astype(np.int64) * (rules.n_proc + 1) + pp[ok]
        pos = np.searchsorted(c.entry_keys, composite)
        pos_c = np.minimum(pos, len(c.entry_keys) - 1)
        found = c.entry_keys[pos_c] == composite
        pos_f = pos_c[found]
        idx, owner = _expand(c.entry_start[pos_f], c.entry_stop[pos_f])
        rows_l.append(pr[ok][found][owner])
        procs_l.append(pp[ok][found][owner])
        entries_l.append(idx)
    rows = np.concatenate(rows_l)
    if len(rows) == 0:
        return best
    procs = np.concatenate(procs_l)
    entries = np.concatenate(entries_l)
    group = c.entry_group[entries].astype(np.int64)
    comp = c.entry_comp[entries].astype(np.int64)
    n_groups = c.n_groups
    proc_bits = int(rules.n_proc + 1).bit_length()
    rowgroup = rows * n_groups + group
    if int(n * n_groups).bit_length() + proc_bits + 4 <= PACK_BITS:
        packed = np.sort((rowgroup << (proc_bits + 4)) | (procs << 4) | comp)
        rg = packed >> (proc_bits + 4)
        rgp = packed >> 4
        comp = packed & 15
    else:  # very large chunk × catalogue: sort the columns instead of one packed key
        order = np.lexsort((comp, procs, rowgroup))
        rg, comp = rowgroup[order], comp[order]
        rgp = np.stack([rg, procs[order]])
    new_seg = np.ones(len(rg), bool)
    new_seg[1:] = rg[1:] != rg[:-1]
    if rgp.ndim == 1:
        new_proc = np.ones(len(rg), bool)
        new_proc[1:] = rgp[1:] != rgp[:-1]
    else:
        new_proc = new_seg.copy()
        new_proc[1:] |= rgp[1, 1:] != rgp[1, :-1]
    seg = np.flatnonzero(new_seg)
    matched = np.add.reduceat(new_proc.astype(np.int64), seg)
    mask = np.bitwise_or.reduceat(np.int64(1) << comp, seg)
    seg_rg = rg[seg]
    seg_group = seg_rg % n_groups
    seg_row = seg_rg // n_groups
    n_comp = c.n_components[seg_group].astype(np.int64)
    complete = np.bitwise_count(mask.astype(np.uint64)).astype(np.int64) == n_comp
    if not complete.any():
        return best
    rank = (
        (n_comp[complete] << COMP_SHIFT)
        | (np.minimum(matched[complete], MAX_MATCHED) << MATCHED_SHIFT)
        | c.static_rank[seg_group[complete]]
    )
    cand_rows = seg_row[complete]
    starts = np.flatnonzero(np.r_[True, cand_rows[1:] != cand_rows[:-1]])
    best[cand_rows[starts]] = np.maximum.reduceat(rank, starts)
    return best


class _AuxInputs:
    """Per-record arrays the auxiliary clauses read, computed on first use."""

    def __init__(
        self, c: CompiledCatalog, r: PreparedRecords, pdx: np.ndarray, proc: np.ndarray, proc_row: np.ndarray
    ):
        self.c, self.r, self.pdx, self.proc, self.proc_row = c, r, pdx, proc, proc_row
        self._sdx_row: np.ndarray | None = None
        self._sdx: np.ndarray | None = None
        self._severity: np.ndarray | None = None

    @property
    def sdx(self) -> np.ndarray:
        if self._sdx is None:
            self._sdx = self.c.rules.dx_ids(self.r.secondary_dx.values)
        return self._sdx

    @property
    def sdx_row(self) -> np.ndarray:
        if self._sdx_row is None:
            self._sdx_row = self.r.secondary_dx.row_index()
        return self._sdx_row

    def severity(self) -> np.ndarray:
        """0 none, 1 CC, 2 MCC: the most severe secondary diagnosis not cancelled by the principal's tables."""
        if self._severity is None:
            sev = self.c.rules.severity
            n = self.r.n
            sdx = self.sdx
            lvl = sev.level[sdx]
            cand = np.flatnonzero(lvl > 0)
            rows = self.sdx_row[cand]
            table = sev.table[sdx[cand]].astype(np.int64)
            key = table * (self.c.rules.n_dx + 1) + self.pdx[rows]
            pos = np.minimum(np.searchsorted(sev.excluded, key), max(len(sev.excluded) - 1, 0))
            cancelled = (
                (table >= 0) & (sev.excluded[pos] == key) if len(sev.excluded) else np.zeros(len(key), bool)
            )
            out = np.zeros(n, np.int8)
            np.maximum.at(out, rows[~cancelled], lvl[cand[~cancelled]])
            self._severity = out
        return self._severity

    def clause(self, clause: AuxClause) -> np.ndarray:
        r = self.r
        role = clause.role
        if clause.member is not None:
            if role == "principal_dx":
                return clause.member[self.pdx]
            lists, ids = (
                (r.secondary_dx, self.sdx) if role == "any_secondary_dx" else (r.procedures, self.proc)
            )
            hit = np.zeros(r.n, bool)
            hit[lists.row_index()[clause.member[ids]]] = True
            return hit
        values = {
            "age": r.age,
            "age_days": r.age_days,
            "discharge_type": r.discharge_type,
        }.get(role)
        if values is None:  # secondary_severity
            values = self.severity().astype(np.float64)
        with np.errstate(invalid="ignore"):
            return (values >= clause.low) & (values <= clause.high)


def _auxiliary(
    c: CompiledCatalog, inputs: _AuxInputs, active: np.ndarray, group: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    aux = c.rules.aux
    n = inputs.r.n
    chosen = np.full((len(aux.types), n), -1, np.int16)
    cache: dict[int, np.ndarray] = {}
    for t, items in enumerate(aux.by_type):
        for i in items:
            holds = np.zeros(n, bool)
            for alt in aux.items[i].alts:
                ok = active.copy()
                for clause in alt:
                    key = id(clause)
                    if key not in cache:
                        cache[key] = inputs.clause(clause)
                    ok &= cache[key]
                holds |= ok
            chosen[t, holds & (chosen[t] < 0)] = i
    coefficient = np.full(n, np.nan)
    if c.has_aux_coefficients and len(aux.types):
        grouped = group >= 0
        factors = []
        n_items = len(aux.items)
        for t in range(len(aux.types)):
            item = chosen[t].astype(np.int64)
            f = np.full(n, np.nan)
            applies = grouped & (item >= 0)
            f[applies] = c.aux_global[item[applies]]
            if len(c.aux_pair_keys):
                rows = np.flatnonzero(applies)
                key = group[rows].astype(np.int64) * n_items + item[rows]
                pos = np.minimum(np.searchsorted(c.aux_pair_keys, key), len(c.aux_pair_keys) - 1)
                hit = c.aux_pair_keys[pos] == key
                f[rows[hit]] = c.aux_pair_coef[pos[hit]]
            factors.append(f)
        combined = combine_coefficients(factors, c.catalog.aux_combine)
        coefficient = np.where(grouped, combined, np.nan)
    return chosen, coefficient


def run_engine(c: CompiledCatalog, r: PreparedRecords) -> DipEngineResult:
    """Group prepared records against a compiled catalogue; see the module docstring for the steps."""
    rules = c.rules
    n = r.n
    status = np.full(n, UNGROUPABLE, np.int8)
    reason = np.full(n, -1, np.int8)
    invalid = r.invalid != ""
    for name in np.unique(r.invalid[invalid]):
        reason[r.invalid == name] = _REASON[name]
    status[invalid] = INVALID
    pdx = rules.dx_ids(r.principal_dx)
    missing = empty_mask(r.principal_dx) & ~invalid if n else np.zeros(0, bool)
    unknown = (pdx == rules.n_dx) & ~missing & ~invalid
    active = ~(invalid | missing | unknown)
    reason[missing] = _REASON["missing_principal_dx"]
    reason[unknown] = _REASON["unknown_principal_dx"]

    proc = rules.proc_ids(r.procedures.values)
    offsets = r.procedures.offsets
    lengths = np.diff(offsets)
    proc_row = np.repeat(np.arange(n, dtype=np.int64), lengths)
    treatment = np.zeros(n, np.int8)
    nonempty = lengths > 0
    if len(proc):
        treatment[nonempty] = np.maximum.reduceat(rules.proc_level[proc], offsets[:-1][nonempty])

    key_sub = np.where(active, c.key_sub[pdx], c.n_keys)
    key_cat = np.where(active, c.key_cat[pdx], c.n_keys)
    best = _procedure_candidates(c, n, proc, proc_row, (key_sub, key_cat))
    conservative = np.maximum(c.conservative_rank[key_sub], c.conservative_rank[key_cat])
    best = np.where(treatment <= rules.conservative_max, np.maximum(best, conservative), best)
    t = treatment.astype(np.int64)
    best = np.maximum(best, np.maximum(c.comprehensive_rank[key_sub, t], c.comprehensive_rank[key_cat, t]))
    grouped = best > 0
    group = np.where(grouped, c.decode[best & TB_MASK], -1).astype(np.int32)
    if len(c.fallback) and (c.fallback >= 0).any():
        fb = c.fallback[pdx, t]
        take = active & ~grouped & (fb >= 0)
        group[take] = fb[take]
        grouped |= take
    status[grouped] = GROUPED
    left = active & ~grouped
    no_key = left & (key_sub == c.n_keys) & (key_cat == c.n_keys)
    reason[no_key] = _REASON["dx_not_in_catalog"]
    reason[left & ~no_key] = _REASON["no_matching_group"]
    score = np.where(grouped, c.score[np.maximum(group, 0)], np.nan)
    aux, coefficient = _auxiliary(c, _AuxInputs(c, r, pdx, proc, proc_row), active, group)
    return DipEngineResult(
        group=group,
        status=status,
        reason=reason,
        treatment=np.where(invalid, -1, treatment).astype(np.int8),
        aux=aux,
        coefficient=coefficient,
        score=score,
    )
