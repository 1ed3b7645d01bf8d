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

Rules are not all evaluated record by record: :class:`~drgpay.drg.compiled.EnginePlan` turns the one-clause ADRG
alternatives and the MDC choice into lookup tables and tells which records can match MDCA at all; the other
alternatives go through the generic clause evaluator, on the records that still need them.
"""

from __future__ import annotations

import functools

import attrs
import numpy as np

from drgpay.codes import empty_mask
from drgpay.drg.compiled import NO_POSITION, REASONS, UNGROUPABLE_DRG, Clause, CompiledDrg
from drgpay.schema import INVALID_REASONS, PreparedRecords

__all__ = ["EngineResult", "run_engine"]

GROUPED, AMBIGUOUS, UNGROUPABLE, INVALID = 0, 1, 2, 3
_REASON = {r: i for i, r in enumerate(REASONS)}
_INVALID_REASON = np.array([_REASON[name] for name in INVALID_REASONS], np.int8)  # PreparedRecords → REASONS


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


class _Out:
    """The result arrays, filled in step by step."""

    def __init__(self, c: CompiledDrg, n: int):
        self.mdc = np.full(n, -1, np.int16)
        self.adrg = np.full(n, -1, np.int16)
        self.drg = np.full(n, c.drg_codes.index(UNGROUPABLE_DRG), np.int32)
        self.status = np.full(n, UNGROUPABLE, np.int8)
        self.reason = np.full(n, -1, np.int8)


class _Rows:
    """Per-record arrays shared by the steps, with lazily computed 'any code in section' hits."""

    def __init__(self, c: CompiledDrg, r: PreparedRecords):
        self.c, self.r = c, r
        self.pdx = c.dx_ids(r.principal_dx)
        self.sdx = c.dx_ids(r.secondary_dx.values)
        self.sdx_row = _row_index(r.secondary_dx.offsets)
        self.proc = c.proc_ids(r.procedures.values)
        self.proc_row = _row_index(r.procedures.offsets)
        self.pproc = _principal_procedure(c, self.proc, r.procedures.offsets)
        self.has_or = np.zeros(r.n, bool)
        self.has_or[self.proc_row[c.proc_or[self.proc]]] = True
        self._any_dx: dict[int, np.ndarray] = {}
        self._any_proc: dict[int, np.ndarray] = {}

    @functools.cached_property
    def _listed_sdx(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and rows of the secondary diagnoses in some any_dx list: the only ones an any_dx clause can hit."""
        at = np.flatnonzero(self.c.plan.listed_dx[self.sdx])
        return self.sdx[at], self.sdx_row[at]

    @functools.cached_property
    def _listed_proc(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and rows of the procedures in some any_proc list: the only ones an any_proc clause can hit."""
        at = np.flatnonzero(self.c.plan.listed_proc[self.proc])
        return self.proc[at], self.proc_row[at]

    def any_dx(self, section: int) -> np.ndarray:
        if section not in self._any_dx:
            member = self.c.dx_sections[section]
            ids, rows = self._listed_sdx
            hit = member[self.pdx]
            hit[rows[member[ids]]] = True
            self._any_dx[section] = hit
        return self._any_dx[section]

    def any_proc(self, section: int) -> np.ndarray:
        if section not in self._any_proc:
            member = self.c.proc_sections[section]
            ids, rows = self._listed_proc
            hit = np.zeros(self.r.n, bool)
            hit[rows[member[ids]]] = True
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
            todo = np.flatnonzero(~held)
            held[todo[self.alternative_holds(alt, rows[todo])]] = True
        return held

    def alternative_holds(self, alt: tuple[Clause, ...], rows: np.ndarray) -> np.ndarray:
        """Rows (of ``rows``) for which every clause of one alternative holds; each clause only on the survivors."""
        ok = np.ones(len(rows), bool)
        for clause in alt:
            live = np.flatnonzero(ok)
            if len(live) == 0:
                break
            ok[live] = self.clause(clause, rows[live])
        return ok


def _row_index(offsets: np.ndarray) -> np.ndarray:
    """The row of each value of CSR lists (int32: half the memory traffic of int64)."""
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))


def _values_of(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values of ``rows`` in CSR lists, and for each the index (into ``rows``) of its row."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(len(owner)) + shift, owner


def _principal_procedure(c: CompiledDrg, proc: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The first procedure of each row that the grouper knows (unknown codes are ignored); ``n_proc`` for none."""
    pproc = np.full(len(offsets) - 1, c.n_proc, np.int32)
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    pproc[nonempty] = proc[offsets[nonempty]]
    later = nonempty[pproc[nonempty] == c.n_proc]  # the first code is unknown: look further (few rows)
    if len(later):
        at, owner = _values_of(offsets, later)
        known = proc[at] < c.n_proc
        at, owner = at[known], owner[known]
        first = np.ones(len(owner), bool)
        first[1:] = owner[1:] != owner[:-1]
        pproc[later[owner[first]]] = proc[at[first]]
    return pproc


def _popcount(mask: np.ndarray) -> np.ndarray:
    return np.bitwise_count(mask.astype(np.uint64)).astype(np.int16)


def run_engine(c: CompiledDrg, r: PreparedRecords) -> EngineResult:
    """Group prepared records; see the module docstring for the steps."""
    rows_ = _Rows(c, r)
    out = _Out(c, r.n)
    open_rows = _check_input(c, rows_, out)
    open_rows = _assign_mdca(c, rows_, out, open_rows)
    if len(open_rows):
        _assign_mdc(c, rows_, out, open_rows)
    _assign_adrg(c, rows_, out)
    _assign_drg(c, rows_, out)
    return EngineResult(
        mdc=out.mdc,
        adrg=out.adrg,
        drg=out.drg,
        status=out.status,
        reason=out.reason,
        unknown_secondary=rows_.sdx == c.n_dx,
        unknown_procedure=rows_.proc == c.n_proc,
    )


def _check_input(c: CompiledDrg, rows_: _Rows, out: _Out) -> np.ndarray:
    """1. Unreadable rows → ``invalid``; missing, unknown or grey principal diagnosis → ``0000``.

    Returns the rows that go on to be grouped."""
    r = rows_.r
    invalid = r.invalid_reason >= 0
    out.reason[invalid] = _INVALID_REASON[r.invalid_reason[invalid]]
    out.status[invalid] = INVALID
    pdx = rows_.pdx
    missing = empty_mask(r.principal_dx) & ~invalid
    unknown = (pdx == c.n_dx) & ~missing & ~invalid
    grey = c.dx_grey[pdx] & ~invalid
    out.reason[missing] = _REASON["missing_principal_dx"]
    out.reason[unknown] = _REASON["unknown_principal_dx"]
    out.reason[grey] = _REASON["grey_principal_dx"]
    return np.flatnonzero(~(invalid | missing | unknown | grey))


def _assign_mdca(c: CompiledDrg, rows_: _Rows, out: _Out, open_rows: np.ndarray) -> np.ndarray:
    """2a. MDCA, the ADRGs in order, before any other MDC; returns the rows it did not take."""
    if "MDCA" not in c.premdc:
        return open_rows
    m = c.premdc["MDCA"]
    pending = _mdca_candidates(c, rows_, open_rows)
    for a in c.mdc_adrgs[m]:
        if len(pending) == 0:
            break
        held = rows_.adrg_holds(a, pending)
        out.adrg[pending[held]] = a
        out.mdc[pending[held]] = m
        pending = pending[~held]
    return open_rows[out.adrg[open_rows] < 0]


def _mdca_candidates(c: CompiledDrg, rows_: _Rows, open_rows: np.ndarray) -> np.ndarray:
    """The open rows that may match an MDCA rule (all of them when the rules allow no pre-filter)."""
    plan = c.plan
    if not plan.mdca_filter:
        return open_rows
    has_proc = np.zeros(rows_.r.n, bool)
    has_proc[rows_.proc_row[plan.mdca_proc[rows_.proc]]] = True
    with np.errstate(invalid="ignore"):
        ventilated = rows_.r.ventilation_hours[open_rows] >= plan.mdca_min_ventilation
    return open_rows[has_proc[open_rows] | ventilated]


def _assign_mdc(c: CompiledDrg, rows_: _Rows, out: _Out, open_rows: np.ndarray) -> None:
    """2b. MDCP by age, MDCY by principal diagnosis, MDCZ by body regions, in that order; then the first MDC
    whose principal-diagnosis table holds the code and whose sex fits (looked up per code and sex)."""
    r, plan = rows_.r, c.plan
    pdx = rows_.pdx[open_rows]
    chosen = np.full(len(open_rows), -1, np.int16)  # -1: not decided yet
    if "MDCP" in c.premdc:
        days, years = r.age_days[open_rows], r.age[open_rows]
        with np.errstate(invalid="ignore"):
            newborn = days <= c.newborn_max_age_days
            infant = (days <= c.infant_max_age_days) | (np.isnan(days) & (years == 0))
        chosen[newborn | (infant & plan.premdc_dx["MDCP"][pdx])] = c.premdc["MDCP"]
    if "MDCY" in c.premdc:
        chosen[(chosen < 0) & plan.premdc_dx["MDCY"][pdx]] = c.premdc["MDCY"]
    if "MDCZ" in c.premdc:
        cand = np.flatnonzero((chosen < 0) & plan.premdc_dx["MDCZ"][pdx])
        chosen[cand[_body_regions(c, rows_, open_rows[cand]) >= c.mdcz_min_regions]] = c.premdc["MDCZ"]
    rest = np.flatnonzero(chosen < 0)
    sex, code = r.sex[open_rows[rest]], pdx[rest]
    picked = plan.general_mdc[sex, code]
    chosen[rest] = picked
    out.mdc[open_rows] = chosen
    none = picked < 0
    out.reason[open_rows[rest[none]]] = plan.no_mdc_reason[sex[none], code[none]]


def _body_regions(c: CompiledDrg, rows_: _Rows, rows: np.ndarray) -> np.ndarray:
    """How many MDCZ body regions the principal and secondary diagnoses of ``rows`` cover."""
    regions = c.dx_region_mask[rows_.pdx[rows]]
    at, owner = _values_of(rows_.r.secondary_dx.offsets, rows)
    sdx_regions = c.dx_region_mask[rows_.sdx[at]]
    has = sdx_regions != 0
    np.bitwise_or.at(regions, owner[has], sdx_regions[has])
    return _popcount(regions)


def _assign_adrg(c: CompiledDrg, rows_: _Rows, out: _Out) -> None:
    """3. The first ADRG of the MDC whose rule holds; the MDC's 歧义组 for an operating-room principal procedure
    that no surgical or operative ADRG takes; ``no_adrg`` otherwise."""
    needs = np.flatnonzero((out.mdc >= 0) & (out.adrg < 0))
    if len(needs) == 0:
        return
    in_mdc = out.mdc[needs]
    best = _first_adrg_positions(c, rows_, needs, in_mdc)
    # in table order the 歧义组 check comes right after the last surgical/operative ADRG, so it catches the rows
    # whose first matching ADRG (if any) lies beyond that one
    last = c.plan.last_procedural[in_mdc]
    qy = (best > last) & (last >= 0) & (c.qy_drg[in_mdc] >= 0) & c.proc_or[rows_.pproc[needs]]
    found = (best != NO_POSITION) & ~qy
    out.adrg[needs[found]] = c.plan.adrg_at[in_mdc[found], best[found]]
    ambiguous = needs[qy]
    out.drg[ambiguous] = c.qy_drg[in_mdc[qy]]
    out.status[ambiguous] = AMBIGUOUS
    out.reason[ambiguous] = _REASON["procedure_outside_mdc"]
    out.reason[needs[~found & ~qy]] = _REASON["no_adrg"]


def _first_adrg_positions(c: CompiledDrg, rows_: _Rows, needs: np.ndarray, in_mdc: np.ndarray) -> np.ndarray:
    """Per row of ``needs``, the position (in its MDC's ADRG list) of the first ADRG whose rule holds.

    Equivalent to trying the MDC's ADRGs in order: the one-clause principal diagnosis / procedure alternatives
    are two table lookups; every other alternative is evaluated, in order, only on the rows whose best position
    so far is later than its own. ``NO_POSITION`` when no ADRG holds.
    """
    plan = c.plan
    best = np.minimum(
        plan.first_by_dx[in_mdc, rows_.pdx[needs]], plan.first_by_proc[in_mdc, rows_.pproc[needs]]
    )
    order = np.argsort(in_mdc, kind="stable")
    bounds = np.searchsorted(in_mdc[order], np.arange(len(c.mdc_codes) + 1))
    for m, alternatives in enumerate(plan.evaluated):
        members = order[bounds[m] : bounds[m + 1]]
        if len(members) == 0:
            continue
        for position, alt in alternatives:
            todo = members[best[members] > position]
            if len(todo):
                best[todo[rows_.alternative_holds(alt, needs[todo])]] = position
    return best


def _assign_drg(c: CompiledDrg, rows_: _Rows, out: _Out) -> None:
    """4. The ADRG's DRG split by the most severe valid CC/MCC."""
    grouped = np.flatnonzero(out.adrg >= 0)
    level = _complication_level(c, rows_)
    out.drg[grouped] = c.drg_by_level[out.adrg[grouped], level[grouped]]
    split = out.drg[grouped] != c.drg_codes.index(UNGROUPABLE_DRG)
    out.status[grouped[split]] = GROUPED
    out.reason[grouped[split]] = -1
    out.reason[grouped[~split]] = _REASON["no_adrg"]


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
    kept_level = lvl[kept]
    # levels in ascending order, so each row ends with its highest one (plain assignment, not the slow ufunc.at)
    for value in np.unique(kept_level):
        level[rows_.sdx_row[kept[kept_level == value]]] = value
    return level
