"""The vectorised CHS-DRG engine: whole arrays at once, each distinct code resolved once, no per-row Python.

The steps follow the national algorithm (see docs/algorithm.md), and :mod:`drgpay.drg.reference` states the same
steps record by record; the property tests hold the two equal.

1. unreadable rows → ``invalid``; missing, unknown or grey principal diagnosis → ``0000``;
2. pre-MDC: MDCA by procedure (and ventilation hours), MDCP by age, MDCY by principal diagnosis, MDCZ by body
   regions; otherwise the first MDC whose principal-diagnosis table holds the code and whose sex fits;
3. ADRG: the MDC's ADRGs in table order, the first whose rule holds; an operating-room principal procedure that
   no surgical or operative ADRG of the MDC takes → the MDC's 歧义组 (``xQY``); nothing → ``0000``;
4. DRG: the ADRG's split by the most severe valid CC/MCC among the secondary diagnoses, after the principal
   diagnosis's exclusion tables.
"""

from __future__ import annotations

import attrs
import numpy as np

from drgpay.codes import empty_mask
from drgpay.drg.compiled import REASONS, UNGROUPABLE_DRG, Clause, CompiledDrg
from drgpay.schema import PreparedRecords

__all__ = ["EngineResult", "run_engine"]

GROUPED, AMBIGUOUS, UNGROUPABLE, INVALID = 0, 1, 2, 3
_REASON = {r: i for i, r in enumerate(REASONS)}


@attrs.frozen
class EngineResult:
    """Integer-coded results, one entry per record (-1 = none)."""

    mdc: np.ndarray  # int16 index into compiled.mdc_codes
    adrg: np.ndarray  # int16 index into compiled.adrg_codes
    drg: np.ndarray  # int32 index into compiled.drg_codes
    status: np.ndarray  # int8 index into STATUSES
    reason: np.ndarray  # int8 index into REASONS
    unknown_secondary: np.ndarray  # bool per secondary-diagnosis value
    unknown_procedure: np.ndarray  # bool per procedure value


class _Rows:
    """Per-record arrays shared by the steps, with lazily computed 'any code in section' hits."""

    def __init__(self, c: CompiledDrg, r: PreparedRecords):
        self.c, self.r = c, r
        n = r.n
        self.pdx = c.dx_ids(r.principal_dx)
        self.sdx = c.dx_ids(r.secondary_dx.values)
        self.sdx_row = r.secondary_dx.row_index()
        self.proc = c.proc_ids(r.procedures.values)
        self.proc_row = r.procedures.row_index()
        # the principal procedure is the first procedure the grouper knows (unknown codes are ignored)
        known = np.flatnonzero(self.proc < c.n_proc)
        known_rows = self.proc_row[known]
        first = np.ones(len(known), bool)
        first[1:] = known_rows[1:] != known_rows[:-1]
        self.pproc = np.full(n, c.n_proc, np.int32)
        self.pproc[known_rows[first]] = self.proc[known[first]]
        self.has_or = np.bincount(self.proc_row[c.proc_or[self.proc]], minlength=n) > 0
        self._any_dx: dict[int, np.ndarray] = {}
        self._any_proc: dict[int, np.ndarray] = {}

    def any_dx(self, section: int) -> np.ndarray:
        if section not in self._any_dx:
            member = self.c.dx_sections[section]
            hit = member[self.pdx]
            hit[self.sdx_row[member[self.sdx]]] = True
            self._any_dx[section] = hit
        return self._any_dx[section]

    def any_proc(self, section: int) -> np.ndarray:
        if section not in self._any_proc:
            member = self.c.proc_sections[section]
            hit = np.zeros(self.r.n, bool)
            hit[self.proc_row[member[self.proc]]] = True
            self._any_proc[section] = hit
        return self._any_proc[section]

    def clause(self, clause: Clause, rows: np.ndarray) -> np.ndarray:
        role = clause.role
        if role == "principal_dx":
            return self.c.dx_sections[clause.section][self.pdx[rows]]
        if role == "principal_proc":
            return self.c.proc_sections[clause.section][self.pproc[rows]]
        if role == "any_dx":
            return self.any_dx(clause.section)[rows]
        if role == "any_proc":
            return self.any_proc(clause.section)[rows]
        if role == "or_procedure":
            return self.has_or[rows]
        if role == "no_or_procedure":
            return ~self.has_or[rows]
        values = {
            "birth_weight": self.r.birth_weight,
            "age_days": self.r.age_days,
            "ventilation_hours": self.r.ventilation_hours,
        }[role][rows]
        with np.errstate(invalid="ignore"):
            return (values >= clause.low) & (values <= clause.high)

    def adrg_holds(self, adrg: int, rows: np.ndarray) -> np.ndarray:
        """Rows (of ``rows``) for which any alternative of the ADRG's rule holds."""
        held = np.zeros(len(rows), bool)
        for alt in self.c.adrg_alts[adrg]:
            todo = ~held
            idx = rows[todo]
            ok = np.ones(len(idx), bool)
            for clause in alt:
                live = np.flatnonzero(ok)
                if len(live) == 0:
                    break
                ok[live] = self.clause(clause, idx[live])
            held[np.flatnonzero(todo)[ok]] = True
        return held


def _lowest_bit(mask: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each positive int64 (-1 where zero)."""
    low = mask & -mask
    out = np.full(mask.shape, -1, np.int16)
    nz = low > 0
    out[nz] = np.log2(low[nz].astype(np.float64)).astype(np.int16)
    return out


def _popcount(mask: np.ndarray) -> np.ndarray:
    return np.bitwise_count(mask.astype(np.uint64)).astype(np.int16)


def run_engine(c: CompiledDrg, r: PreparedRecords) -> EngineResult:
    """Group prepared records; see the module docstring for the steps."""
    n = r.n
    rows_ = _Rows(c, r)
    mdc = np.full(n, -1, np.int16)
    adrg = np.full(n, -1, np.int16)
    drg = np.full(n, c.drg_codes.index(UNGROUPABLE_DRG), np.int32)
    status = np.full(n, UNGROUPABLE, np.int8)
    reason = np.full(n, -1, np.int8)

    # 1. input checks
    invalid = r.invalid != ""
    for name in np.unique(r.invalid[invalid]):
        reason[r.invalid == name] = _REASON[name]
    status[invalid] = INVALID
    pdx = rows_.pdx
    missing = empty_mask(r.principal_dx) & ~invalid
    unknown = (pdx == c.n_dx) & ~missing & ~invalid
    grey = c.dx_grey[pdx] & ~invalid
    reason[missing] = _REASON["missing_principal_dx"]
    reason[unknown] = _REASON["unknown_principal_dx"]
    reason[grey] = _REASON["grey_principal_dx"]
    active = ~(invalid | missing | unknown | grey)

    # 2. MDC, pre-MDC first
    open_rows = np.flatnonzero(active)
    if "MDCA" in c.premdc:
        m = c.premdc["MDCA"]
        for a in c.mdc_adrgs[m]:
            if len(open_rows) == 0:
                break
            held = rows_.adrg_holds(a, open_rows)
            adrg[open_rows[held]] = a
            mdc[open_rows[held]] = m
            open_rows = open_rows[~held]
    dx_mask = c.dx_mdc_mask[pdx]
    if "MDCP" in c.premdc and len(open_rows):
        m = c.premdc["MDCP"]
        days, years = r.age_days[open_rows], r.age[open_rows]
        with np.errstate(invalid="ignore"):
            newborn = days <= c.newborn_max_age_days
            infant = (days <= c.infant_max_age_days) | (np.isnan(days) & (years == 0))
        in_p = (dx_mask[open_rows] >> m) & 1 == 1
        take = newborn | (infant & in_p)
        mdc[open_rows[take]] = m
        open_rows = open_rows[~take]
    if "MDCY" in c.premdc and len(open_rows):
        m = c.premdc["MDCY"]
        take = (dx_mask[open_rows] >> m) & 1 == 1
        mdc[open_rows[take]] = m
        open_rows = open_rows[~take]
    if "MDCZ" in c.premdc and len(open_rows):
        m = c.premdc["MDCZ"]
        in_z = (dx_mask[open_rows] >> m) & 1 == 1
        cand = open_rows[in_z]
        regions = c.dx_region_mask[pdx].copy()
        sdx_regions = c.dx_region_mask[rows_.sdx]
        has = sdx_regions != 0
        np.bitwise_or.at(regions, rows_.sdx_row[has], sdx_regions[has])
        take = _popcount(regions[cand]) >= c.mdcz_min_regions
        mdc[cand[take]] = m
        taken = np.zeros(n, bool)
        taken[cand[take]] = True
        open_rows = open_rows[~taken[open_rows]]
    if len(open_rows):
        premdc_bits = np.int64(0)
        for m in c.premdc.values():
            premdc_bits |= np.int64(1) << np.int64(m)
        general = dx_mask[open_rows] & ~premdc_bits
        allowed = np.zeros(3, np.int64)
        for i, sex in enumerate(c.mdc_sex):
            bit = np.int64(1) << np.int64(i)
            allowed[0] |= bit
            if sex in (0, 1):
                allowed[1] |= bit
            if sex in (0, 2):
                allowed[2] |= bit
        fit = general & allowed[r.sex[open_rows]]
        chosen = _lowest_bit(fit)
        mdc[open_rows] = chosen
        none = chosen < 0
        rows_none = open_rows[none]
        reason[rows_none] = _REASON["no_mdc"]
        reason[rows_none[general[none] != 0]] = _REASON["sex_conflict"]
        if "MDCP" in c.premdc:
            only_p = (general[none] == 0) & ((dx_mask[rows_none] >> c.premdc["MDCP"]) & 1 == 1)
            reason[rows_none[only_p]] = _REASON["age_conflict"]

    # 3. ADRG within the MDC
    needs = np.flatnonzero((mdc >= 0) & (adrg < 0))
    if len(needs):
        order = np.argsort(mdc[needs], kind="stable")
        sorted_rows = needs[order]
        bounds = np.searchsorted(mdc[sorted_rows], np.arange(len(c.mdc_codes) + 1))
        for m in range(len(c.mdc_codes)):
            pending = sorted_rows[bounds[m] : bounds[m + 1]]
            if len(pending) == 0 or (c.premdc.get("MDCA") == m):
                continue
            adrgs = c.mdc_adrgs[m]
            last_surgical = max((i for i, a in enumerate(adrgs) if c.adrg_kind[a] != "medical"), default=-1)
            for i, a in enumerate(adrgs):
                held = rows_.adrg_holds(a, pending)
                adrg[pending[held]] = a
                pending = pending[~held]
                if i == last_surgical and c.qy_drg[m] >= 0 and len(pending):
                    qy = c.proc_or[rows_.pproc[pending]]
                    drg[pending[qy]] = c.qy_drg[m]
                    status[pending[qy]] = AMBIGUOUS
                    reason[pending[qy]] = _REASON["procedure_outside_mdc"]
                    pending = pending[~qy]
                if len(pending) == 0:
                    break
            reason[pending] = _REASON["no_adrg"]

    # 4. CC / MCC and the DRG split
    grouped = np.flatnonzero(adrg >= 0)
    level = _complication_level(c, rows_)
    drg[grouped] = c.drg_by_level[adrg[grouped], level[grouped]]
    no_split = grouped[drg[grouped] == c.drg_codes.index(UNGROUPABLE_DRG)]
    grouped = np.setdiff1d(grouped, no_split, assume_unique=True)
    status[grouped] = GROUPED
    reason[grouped] = -1
    reason[no_split] = _REASON["no_adrg"]
    return EngineResult(
        mdc=mdc,
        adrg=adrg,
        drg=drg,
        status=status,
        reason=reason,
        unknown_secondary=rows_.sdx == c.n_dx,
        unknown_procedure=rows_.proc == c.n_proc,
    )


def _complication_level(c: CompiledDrg, rows_: _Rows) -> np.ndarray:
    """0 none, 1 CC, 2 MCC per record, after cancelling by the principal diagnosis's exclusion tables."""
    n = len(rows_.pdx)
    lvl = c.cc_level[rows_.sdx]
    cand = np.flatnonzero(lvl > 0)
    table = c.cc_table[rows_.sdx[cand]].astype(np.int64)
    principal = rows_.pdx[rows_.sdx_row[cand]]
    words = c.exclusion_bits[principal, table >> 6]
    cancelled = (words >> (table & 63).astype(np.uint64)) & np.uint64(1) == 1
    kept = cand[~cancelled]
    level = np.zeros(n, np.int8)
    row = rows_.sdx_row[kept]
    np.maximum.at(level, row, lvl[kept])
    return level
