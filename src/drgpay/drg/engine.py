"""The vectorised CHS-DRG engine: whole arrays at once, each distinct code resolved once, no per-row Python.

The steps follow the national algorithm (see docs/algorithm.md), and :mod:`drgpay.drg.reference` states the same
steps record by record; the property tests hold the two equal.

1. unreadable rows → ``invalid``; missing, unknown or grey principal diagnosis → ``0000``;
2. pre-MDC: MDCA by procedure (and ventilation hours), MDCP by age, MDCY by principal diagnosis, MDCZ by body
   regions; otherwise the first MDC whose principal-diagnosis table holds the code and whose sex fits;
3. ADRG: the MDC's ADRGs in table order, the first whose rule holds; an operating-room principal procedure that
   no surgical or operative ADRG of the MDC takes → the MDC's 歧义组 (``xQY``); nothing → ``0000``;
4. DRG: the ADRG's DRGs in order, the first whose split conditions hold (``docs/definitions.md``): the
   complication level (the most severe valid CC/MCC among the secondary diagnoses, after the principal
   diagnosis's exclusion tables), age, death, and code lists.

Rules are not all evaluated record by record: :class:`~drgpay.drg.compiled.EnginePlan` turns the one-clause ADRG
alternatives and the MDC choice into lookup tables and tells which records can match MDCA at all; the other
alternatives go through the generic clause evaluator, on the records that still need them.
"""

from __future__ import annotations

import functools

import attrs
import numpy as np

from drgpay.codes import empty_mask
from drgpay.drg.compiled import (
    LEVEL_CONDITIONS,
    REASONS,
    UNGROUPABLE_DRG,
    Clause,
    CompiledDrg,
    SplitCondition,
)
from drgpay.schema import INVALID_REASONS, PreparedRecords

__all__ = ["EngineResult", "run_engine"]

GROUPED, AMBIGUOUS, UNGROUPABLE, INVALID = 0, 1, 2, 3
DEATH = 5  # discharge_type 5: 死亡
DAYS_PER_YEAR = 365
_REASON = {r: i for i, r in enumerate(REASONS)}
_INVALID_REASON = np.array([_REASON[name] for name in INVALID_REASONS], np.int8)  # PreparedRecords → REASONS
# Index arrays are np.intp throughout: numpy's fancy indexing with any other integer type is several times slower.


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
    """Per-record arrays shared by the steps, and the clauses over the code lists."""

    def __init__(self, c: CompiledDrg, r: PreparedRecords):
        self.c, self.r = c, r
        self.pdx = c.dx_ids(r.principal_dx)
        self.sdx = c.dx_ids(r.secondary_dx.values)
        self.proc = c.proc_ids(r.procedures.values)
        self.pproc = _principal_procedure(c, self.proc, r.procedures.offsets)

    @functools.cached_property
    def _listed_sdx(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and rows of the secondary diagnoses in some any_dx list: the only ones an any_dx clause can hit."""
        at = np.flatnonzero(self.c.plan.listed_dx[self.sdx])
        return self.sdx[at], _rows_of(self.r.secondary_dx.offsets, at)

    @functools.cached_property
    def _listed_proc(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and rows of the procedures in some any_proc / secondary_proc list: the only ones such a clause
        can hit."""
        ids, owner, _ = self._listed_proc_at
        return ids, owner

    @functools.cached_property
    def _listed_proc_at(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As ``_listed_proc``, with each value's position in the procedure lists."""
        at = np.flatnonzero(self.c.plan.listed_proc[self.proc])
        return self.proc[at], _rows_of(self.r.procedures.offsets, at), at

    @functools.cached_property
    def _pproc_at(self) -> np.ndarray:
        """Per record, the position of its principal procedure (the first known one), -1 for none."""
        known = np.flatnonzero(self.proc < self.c.n_proc)
        rows = _rows_of(self.r.procedures.offsets, known)
        first = np.ones(len(rows), bool)
        first[1:] = rows[1:] != rows[:-1]
        out = np.full(self.r.n, -1, np.intp)
        out[rows[first]] = known[first]
        return out

    def any_listed(self, role: str, section: int, rows: np.ndarray) -> np.ndarray:
        """Per row of ``rows``, ``any_dx`` (the principal or a secondary diagnosis in the section),
        ``secondary_dx`` (a secondary diagnosis in it), ``any_proc`` (a procedure in it) or ``secondary_proc``
        (a procedure other than the principal one in it). Only the few listed codes are looked at, whatever the
        number of rows."""
        if role in ("any_dx", "secondary_dx"):
            member, (ids, owner) = self.c.dx_sections[section], self._listed_sdx
        elif role == "secondary_proc":
            ids, owner, at = self._listed_proc_at
            later = at != self._pproc_at[owner]
            member, ids, owner = self.c.proc_sections[section], ids[later], owner[later]
        else:
            member, (ids, owner) = self.c.proc_sections[section], self._listed_proc
        hit = np.zeros(self.r.n, bool)
        hit[owner[member[ids]]] = True
        hit = hit[rows]
        if role == "any_dx":
            hit |= member[self.pdx[rows]]
        return hit

    def has_or(self, rows: np.ndarray) -> np.ndarray:
        """Per row of ``rows``, whether it has an operating-room procedure (looked up on those rows' codes)."""
        at, owner = _values_of(self.r.procedures.offsets, rows)
        hit = np.zeros(len(rows), bool)
        hit[owner[self.c.proc_or[self.proc[at]]]] = True
        return hit

    def clause(self, clause: Clause, rows: np.ndarray) -> np.ndarray:
        role = clause.role
        if role == "principal_dx":
            return self.c.dx_sections[clause.section][self.pdx[rows]]
        if role == "principal_proc":
            return self.c.proc_sections[clause.section][self.pproc[rows]]
        if role in ("any_dx", "secondary_dx", "any_proc", "secondary_proc"):
            return self.any_listed(role, clause.section, rows)
        if role == "or_procedure":
            return self.has_or(rows)
        if role == "no_or_procedure":
            return ~self.has_or(rows)
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


def _rows_of(offsets: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The row of each value position ``at`` of CSR lists (looked up: cheaper than a row index of every value)."""
    return np.searchsorted(offsets, at, side="right") - 1


def _values_of(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values of ``rows`` in CSR lists, and for each the index (into ``rows``) of its row."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(len(owner)) + shift, owner


def _lookup(table: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``table[i, j]`` through the flat table: one gather, about half the cost of numpy's 2-D fancy indexing."""
    return table.ravel()[i.astype(np.intp, copy=False) * table.shape[1] + j]


def _principal_procedure(c: CompiledDrg, proc: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The first procedure of each row that the grouper knows (unknown codes are ignored); ``n_proc`` for none."""
    pproc = np.full(len(offsets) - 1, c.n_proc, np.intp)
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
    open_rows, missing = _check_input(c, rows_, out)
    if c.options.mdca_without_principal_dx and len(missing):
        open_rows = _assign_mdca(c, rows_, out, np.union1d(open_rows, missing))
        open_rows = open_rows[~np.isin(open_rows, missing, assume_unique=True)]
    else:
        open_rows = _assign_mdca(c, rows_, out, open_rows)
    fallback = _assign_mdc(c, rows_, out, open_rows) if len(open_rows) else None
    _assign_adrg(c, rows_, out, np.flatnonzero((out.mdc >= 0) & (out.adrg < 0)))
    if fallback is not None:
        _newborn_fallback(c, rows_, out, fallback)
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


def _check_input(c: CompiledDrg, rows_: _Rows, out: _Out) -> tuple[np.ndarray, np.ndarray]:
    """1. Unreadable rows → ``invalid``; missing, unknown or grey principal diagnosis → ``0000``.

    Returns the rows that go on to be grouped, and the readable rows without a principal diagnosis (which MDCA
    may still take, by the choice ``mdca_without_principal_dx``)."""
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
    return np.flatnonzero(~(invalid | missing | unknown | grey)), np.flatnonzero(missing)


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
    plan, r = c.plan, rows_.r
    if not plan.mdca_filter:
        return open_rows
    with np.errstate(invalid="ignore"):
        maybe = r.ventilation_hours >= plan.mdca_min_ventilation
    maybe[_rows_of(r.procedures.offsets, np.flatnonzero(plan.mdca_proc[rows_.proc]))] = True
    return open_rows[maybe[open_rows]]


def _assign_mdc(c: CompiledDrg, rows_: _Rows, out: _Out, open_rows: np.ndarray) -> np.ndarray | None:
    """2b. MDCP by age, MDCY by principal diagnosis, MDCZ by body regions, in that order; then the first MDC
    whose principal-diagnosis table holds the code and whose sex fits (looked up per code and sex).

    Computed over every record, then kept for the open rows: nearly all rows are open, and whole arrays spare
    the gathers. Returns, per record, the MDC it would have without MDCP (for ``newborn_unmatched = "mdc"``;
    ``None`` when that choice is off)."""
    r, plan, pdx = rows_.r, c.plan, rows_.pdx
    chosen = _lookup(plan.general_mdc, r.sex, pdx)  # unless a pre-MDC takes the row
    maybe = np.zeros(r.n, bool)
    maybe[open_rows] = True
    mdcp = np.zeros(r.n, bool)
    if "MDCP" in c.premdc:
        with np.errstate(invalid="ignore"):
            newborn = r.age_days <= c.newborn_max_age_days
            infant = (r.age_days <= c.infant_max_age_days) | (np.isnan(r.age_days) & (r.age == 0))
        mdcp = newborn | (infant & plan.premdc_dx["MDCP"][pdx])
    if "MDCY" in c.premdc:
        chosen[plan.premdc_dx["MDCY"][pdx]] = c.premdc["MDCY"]
    if "MDCZ" in c.premdc:
        cand = np.flatnonzero(maybe & plan.premdc_dx["MDCZ"][pdx] & (chosen != c.premdc.get("MDCY", -2)))
        chosen[cand[_body_regions(c, rows_, cand) >= c.mdcz_min_regions]] = c.premdc["MDCZ"]
    without_mdcp = chosen.copy() if c.options.newborn_unmatched == "mdc" and mdcp.any() else None
    chosen[mdcp] = c.premdc.get("MDCP", -1)
    chosen = chosen[open_rows]
    out.mdc[open_rows] = chosen
    none = open_rows[chosen < 0]
    out.reason[none] = _lookup(plan.no_mdc_reason, r.sex[none], pdx[none])
    if c.options.newborn_birth_weight == "required" and "MDCP" in c.premdc:
        weightless = open_rows[(chosen == c.premdc["MDCP"]) & np.isnan(r.birth_weight[open_rows])]
        out.mdc[weightless] = -1
        out.status[weightless] = INVALID
        out.reason[weightless] = _REASON["missing_birth_weight"]
    return without_mdcp


def _newborn_fallback(c: CompiledDrg, rows_: _Rows, out: _Out, without_mdcp: np.ndarray) -> None:
    """``newborn_unmatched = "mdc"``: records in MDCP that no MDCP ADRG took (and that are not in the 歧义组) are
    grouped in the MDC their principal diagnosis gives; those without one stay in MDCP with ``no_adrg``."""
    m = c.premdc["MDCP"]
    stuck = np.flatnonzero((out.mdc == m) & (out.adrg < 0) & (out.status != AMBIGUOUS) & (without_mdcp >= 0))
    if len(stuck) == 0:
        return
    out.mdc[stuck] = without_mdcp[stuck]
    out.reason[stuck] = -1
    _assign_adrg(c, rows_, out, stuck)


def _body_regions(c: CompiledDrg, rows_: _Rows, rows: np.ndarray) -> np.ndarray:
    """How many MDCZ body regions the principal and secondary diagnoses of ``rows`` cover."""
    regions = c.dx_region_mask[rows_.pdx[rows]]
    at, owner = _values_of(rows_.r.secondary_dx.offsets, rows)
    sdx_regions = c.dx_region_mask[rows_.sdx[at]]
    has = sdx_regions != 0
    np.bitwise_or.at(regions, owner[has], sdx_regions[has])
    return _popcount(regions)


def _assign_adrg(c: CompiledDrg, rows_: _Rows, out: _Out, needs: np.ndarray) -> None:
    """3. For the rows ``needs`` (an MDC, no ADRG yet): the first ADRG of the MDC whose rule holds; the MDC's
    歧义组 for an operating-room principal procedure (any procedure, by the choice ``ambiguous_procedure``) that
    no surgical or operative ADRG takes; ``no_adrg`` otherwise."""
    plan = c.plan
    if len(needs) == 0:
        return
    in_mdc = out.mdc[needs].astype(np.intp)
    best = _first_adrg_positions(c, rows_, needs, in_mdc)
    # in table order the 歧义组 check comes right after the last surgical/operative ADRG, so it catches the rows
    # whose first matching ADRG (if any) lies beyond that one
    late = np.flatnonzero(best > plan.ambiguous_after[in_mdc])
    any_procedure = c.options.ambiguous_procedure == "any"
    qy = late[rows_.has_or(needs[late]) if any_procedure else c.proc_or[rows_.pproc[needs[late]]]]
    adrg = _lookup(plan.adrg_at, in_mdc, np.minimum(best, plan.adrg_at.shape[1] - 1))
    adrg[qy] = -1
    out.adrg[needs] = adrg
    out.reason[needs[adrg < 0]] = _REASON["no_adrg"]
    ambiguous = needs[qy]
    out.drg[ambiguous] = c.qy_drg[in_mdc[qy]]
    out.status[ambiguous] = AMBIGUOUS
    out.reason[ambiguous] = _REASON["procedure_outside_mdc"]


def _first_adrg_positions(c: CompiledDrg, rows_: _Rows, needs: np.ndarray, in_mdc: np.ndarray) -> np.ndarray:
    """Per row of ``needs``, the position (in its MDC's ADRG list) of the first ADRG whose rule holds.

    Equivalent to trying the MDC's ADRGs in order: the one-clause principal diagnosis / procedure alternatives
    are two table lookups; every other alternative is evaluated, in order, only on the rows whose best position
    so far is later than its own, and only on the rows whose principal codes it does not rule out from the start
    (two more lookups). ``NO_POSITION`` when no ADRG holds.
    """
    plan = c.plan
    pdx, pproc = rows_.pdx[needs], rows_.pproc[needs]
    best = np.minimum(_lookup(plan.first_by_dx, in_mdc, pdx), _lookup(plan.first_by_proc, in_mdc, pproc))
    # only rows whose best so far lies beyond the first alternative their principal codes do not rule out
    maybe = np.maximum(_lookup(plan.maybe_by_dx, in_mdc, pdx), _lookup(plan.maybe_by_proc, in_mdc, pproc))
    later = np.flatnonzero(best > maybe)
    order = later[np.argsort(in_mdc[later].astype(np.int16), kind="stable")]  # int16: numpy's radix sort
    bounds = np.searchsorted(in_mdc[order], np.arange(len(c.mdc_codes) + 1))
    for m, alternatives in enumerate(plan.evaluated):
        todo = order[bounds[m] : bounds[m + 1]]
        for position, alt in alternatives:  # positions ascend, so a row once left out stays out
            todo = todo[best[todo] > position]
            if len(todo) == 0:
                break
            best[todo[rows_.alternative_holds(alt, needs[todo])]] = position
    return best


def _assign_drg(c: CompiledDrg, rows_: _Rows, out: _Out) -> None:
    """4. The ADRG's DRG: the first of its DRGs, in order, whose split conditions hold. ADRGs split by the
    complication level alone are one lookup (whole-array masks: nearly every row is here); the others try their
    DRGs' conditions on their own rows."""
    grouped = out.adrg >= 0
    level = _complication_level(c, rows_)
    adrg = np.maximum(out.adrg, 0)
    drg = _lookup(c.drg_by_level, adrg, level)
    if c.split_by_rule.any():
        by_rule = np.flatnonzero(grouped & c.split_by_rule[adrg])
        order = by_rule[np.argsort(adrg[by_rule], kind="stable")]
        starts = np.flatnonzero(np.diff(adrg[order], prepend=-1))
        for rows in np.split(order, starts[1:]):
            if len(rows):
                drg[rows] = _split_by_rule(c, rows_, rows, level[rows], c.drg_rules[int(adrg[rows[0]])])
    np.copyto(out.drg, drg, where=grouped)
    split = grouped & (drg != c.drg_codes.index(UNGROUPABLE_DRG))
    np.putmask(out.status, split, GROUPED)
    np.putmask(out.reason, split, -1)
    np.putmask(out.reason, grouped & ~split, _REASON["no_adrg"])


def _split_by_rule(
    c: CompiledDrg,
    rows_: _Rows,
    rows: np.ndarray,
    level: np.ndarray,
    rules: tuple[tuple[int, tuple[SplitCondition, ...]], ...],
) -> np.ndarray:
    """The DRG of each row of ``rows`` (all in one ADRG): the first rule, in order, whose conditions all hold;
    0000 for none. Each condition is evaluated only on the rows still without a DRG."""
    drg = np.full(len(rows), c.drg_codes.index(UNGROUPABLE_DRG), np.int32)
    todo = np.arange(len(rows))
    for index, conditions in rules:
        ok = np.ones(len(todo), bool)
        for condition in conditions:
            live = np.flatnonzero(ok)
            if len(live) == 0:
                break
            ok[live] = _split_condition(c, rows_, rows[todo[live]], level[todo[live]], condition)
        drg[todo[ok]] = index
        todo = todo[~ok]
        if len(todo) == 0:
            break
    return drg


def _split_condition(
    c: CompiledDrg, rows_: _Rows, rows: np.ndarray, level: np.ndarray, condition: SplitCondition
) -> np.ndarray:
    """Whether one split condition holds for each row of ``rows`` (``level``: their complication levels)."""
    name, r = condition.name, rows_.r
    if name in LEVEL_CONDITIONS:
        return np.isin(level, LEVEL_CONDITIONS[name])
    if name == "death":
        return r.discharge_type[rows] == DEATH
    if name in ("age_ge", "age_lt"):
        years = _age_years(r.age[rows], r.age_days[rows])
        with np.errstate(invalid="ignore"):
            return years >= condition.number if name == "age_ge" else years < condition.number
    if name in ("dx_code", "dx_prefix"):
        return c.split_dx_lists[condition.member][rows_.pdx[rows]]
    # proc_code, proc_prefix, new_technique: any procedure of the record
    at, owner = _values_of(r.procedures.offsets, rows)
    hit = np.zeros(len(rows), bool)
    hit[owner[c.split_proc_lists[condition.member][rows_.proc[at]]]] = True
    return hit


def _age_years(age: np.ndarray, age_days: np.ndarray) -> np.ndarray:
    """Age in whole years for the age conditions: ``age``, or when it is missing the whole years of
    ``age_days`` (a patient under one year is 0); NaN when both are missing."""
    return np.where(np.isnan(age), np.floor(age_days / DAYS_PER_YEAR), age)


def _complication_level(c: CompiledDrg, rows_: _Rows) -> np.ndarray:
    """0 none, 1 CC, 2 MCC per record, after cancelling by the principal diagnosis's exclusion tables."""
    level = np.zeros(len(rows_.pdx), np.int8)
    lvl = c.cc_level[rows_.sdx]
    cand = np.flatnonzero(lvl > 0)
    table = c.cc_table[rows_.sdx[cand]]
    rows = _rows_of(rows_.r.secondary_dx.offsets, cand)
    words = _lookup(c.exclusion_bits, rows_.pdx[rows], table >> 6)
    kept = (words >> (table & 63).astype(np.uint64)) & np.uint64(1) == 0
    rows, kept_level = rows[kept], lvl[cand[kept]]
    # levels in ascending order, so each row ends with its highest one (plain assignment, not the slow ufunc.at)
    for value in (1, 2):
        level[rows[kept_level == value]] = value
    return level
