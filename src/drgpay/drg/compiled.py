"""A CHS-DRG definition compiled to numpy arrays, the form the vectorised engine reads.

Every code gets an integer id (its position in the sorted code list); the last id of each list is a sentinel for
"unknown", so every lookup array answers ``False`` / ``0`` for it and unknown codes fall out of every rule without a
branch. Identical code lists used by several ADRGs share one membership array.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa

from drgpay.codes import CodeVocabularies, vocabulary_ids
from drgpay.definitions import Definition
from drgpay.definitions.tables import LIST_ROLES, SPLIT_CONDITIONS, parse_split
from drgpay.drg.options import RuleOptions
from drgpay.schema import INVALID_REASONS

__all__ = [
    "LEVEL_CONDITIONS",
    "NO_POSITION",
    "REASONS",
    "STATUSES",
    "Clause",
    "CompiledDrg",
    "EnginePlan",
    "SplitCondition",
    "compile_drg",
]

#: Output status values, in code order.
STATUSES = ("grouped", "ambiguous", "ungroupable", "invalid")
#: Reason codes for anything but ``grouped`` (``invalid_<column>`` for unreadable values).
REASONS = (
    *INVALID_REASONS,
    "missing_principal_dx",
    "unknown_principal_dx",
    "grey_principal_dx",
    "no_mdc",
    "sex_conflict",
    "age_conflict",
    "no_adrg",
    "procedure_outside_mdc",
    "missing_birth_weight",
)
UNGROUPABLE_DRG = "0000"
#: "No ADRG of the MDC": larger than any position in an MDC's ADRG list.
NO_POSITION = np.iinfo(np.int16).max


@attrs.frozen
class Clause:
    """One condition of an ADRG alternative; ``section`` indexes the membership arrays of its code kind."""

    role: str
    section: int
    low: float
    high: float


@attrs.frozen
class SplitCondition:
    """One condition of a DRG's split rule (``docs/definitions.md``, "DRG splits"): ``number`` is the age bound,
    ``member`` indexes ``split_dx_lists`` / ``split_proc_lists`` for the list conditions (-1 otherwise)."""

    name: str
    number: float = np.nan
    member: int = -1


#: Which complication levels (0 none, 1 CC, 2 MCC) each level condition admits.
LEVEL_CONDITIONS: dict[str, tuple[int, ...]] = {
    "mcc": (2,),
    "cc": (1, 2),
    "no_cc": (0,),
    "always": (0, 1, 2),
}


@attrs.frozen
class EnginePlan:
    """The rules rearranged for the vectorised engine, derived once per compiled definition.

    Most ADRG alternatives are one clause, "the principal diagnosis (or procedure) is in this list". For those, a
    table per MDC answers "the earliest ADRG position whose such alternative takes this code", so a record's
    first matching ADRG among them is two lookups. The other alternatives keep the generic clause evaluator and
    are listed with their position, to be tried only on records that have no earlier match. Positions index
    ``CompiledDrg.mdc_adrgs[m]``. Likewise the MDC choice is looked up per principal diagnosis and sex, and MDCA
    is only tried on the records that can match it.
    """

    # int16[n_mdc, n_dx + 1] and int16[n_mdc, n_proc + 1]: the earliest position of an ADRG whose one-clause
    # principal_dx (principal_proc) alternative takes the code; NO_POSITION when none does
    first_by_dx: np.ndarray
    first_by_proc: np.ndarray
    # per MDC, the other alternatives as (position, clauses), in evaluation order
    evaluated: tuple[tuple[tuple[int, tuple[Clause, ...]], ...], ...]
    # int16[n_mdc, n_dx + 1] and int16[n_mdc, n_proc + 1]: the position of the first evaluated alternative that
    # the principal diagnosis (procedure) does not rule out, i.e. whose principal_dx (principal_proc) clauses all
    # take it; NO_POSITION when none. No alternative before the larger of the two can hold for a record.
    maybe_by_dx: np.ndarray
    maybe_by_proc: np.ndarray
    # int16[n_mdc, longest ADRG list + 1]: the ADRG at each position, -1 past the end (the last column is always
    # past the end: positions from NO_POSITION down are looked up there)
    adrg_at: np.ndarray
    # int16[n_mdc]: the 歧义组 catches records whose first matching ADRG lies after this position, the last
    # surgical/operative ADRG's; NO_POSITION when the MDC has no such ADRG or no 歧义组
    ambiguous_after: np.ndarray
    # MDCA is tried on every record before anything else; most records cannot match it. When every MDCA
    # alternative requires a procedure from a list or a ventilation time, only records with such a procedure or
    # with ventilation hours >= the smallest threshold need the rules (``mdca_filter``).
    mdca_filter: bool
    mdca_proc: np.ndarray  # bool[n_proc + 1]: in a procedure list of an MDCA alternative
    mdca_min_ventilation: float  # smallest lower bound of an MDCA ventilation clause (inf when none)
    listed_dx: (
        np.ndarray
    )  # bool[n_dx + 1]: in some any_dx / secondary_dx list (only these secondary codes can hit)
    listed_proc: np.ndarray  # bool[n_proc + 1]: in some any_proc / secondary_proc list
    # The MDC step per principal diagnosis rather than per record:
    premdc_dx: dict[str, np.ndarray]  # pre-MDC → bool[n_dx + 1]: the code is in its principal-diagnosis table
    general_mdc: np.ndarray  # int16[3, n_dx + 1]: by sex (0, 1, 2) the first other MDC taking the code, or -1
    no_mdc_reason: np.ndarray  # int8[3, n_dx + 1]: the reason (index into REASONS) when general_mdc is -1


_LOOKUP_ROLES = ("principal_dx", "principal_proc")


@attrs.frozen
class CompiledDrg(CodeVocabularies):
    """Arrays and small lists the engine needs; built once per definition and cached."""

    dx_codes: pa.Array
    proc_codes: pa.Array
    dx_grey: np.ndarray  # bool[n_dx + 1]
    proc_or: np.ndarray  # bool[n_proc + 1]
    mdc_codes: tuple[str, ...]
    mdc_sex: np.ndarray  # int8[n_mdc]: 0 any, 1 male, 2 female
    dx_mdc_mask: np.ndarray  # int64[n_dx + 1]: bit i = principal-dx table of MDC i
    dx_region_mask: np.ndarray  # int64[n_dx + 1]: MDCZ body regions
    regions: tuple[str, ...]
    premdc: dict[str, int]  # MDCA/MDCP/MDCY/MDCZ → MDC index (absent when the scheme lacks it)
    adrg_codes: tuple[str, ...]
    adrg_mdc: np.ndarray  # int16[n_adrg]
    adrg_kind: tuple[str, ...]
    mdc_adrgs: tuple[tuple[int, ...], ...]  # per MDC, ADRG indices in evaluation order
    adrg_alts: tuple[tuple[tuple[Clause, ...], ...], ...]  # per ADRG, alternatives of clauses
    dx_sections: tuple[np.ndarray, ...]  # bool[n_dx + 1] per dx section
    proc_sections: tuple[np.ndarray, ...]  # bool[n_proc + 1] per procedure section
    dx_section_codes: tuple[frozenset[str], ...]
    proc_section_codes: tuple[frozenset[str], ...]
    cc_level: np.ndarray  # int8[n_dx + 1]: 0 none, 1 CC, 2 MCC
    cc_table: np.ndarray  # int32[n_dx + 1]: exclusion-table index (0 when none)
    exclusion_bits: np.ndarray  # uint64[n_dx + 1, words]: principal dx is in exclusion table t
    exclusion_tables: tuple[str, ...]
    drg_codes: tuple[str, ...]  # the output categories: DRGs, 歧义组, then 0000
    drg_by_level: np.ndarray  # int32[n_adrg, 3]: DRG index for no CC / CC / MCC (ADRGs split by level only)
    split_by_rule: np.ndarray  # bool[n_adrg]: the ADRG's split reads more than the level (drg_rules)
    # per ADRG, its DRGs in the order they are tried: (DRG index, the conditions that must all hold)
    drg_rules: tuple[tuple[tuple[int, tuple[SplitCondition, ...]], ...], ...]
    split_dx_lists: tuple[np.ndarray, ...]  # bool[n_dx + 1] per (drg_list, dx_code | dx_prefix)
    split_proc_lists: tuple[np.ndarray, ...]  # bool[n_proc + 1] per (drg_list, proc_code | proc_prefix)
    qy_drg: np.ndarray  # int32[n_mdc]: the MDC's 歧义组 DRG index, -1 when it has none
    newborn_max_age_days: float
    infant_max_age_days: float
    mdcz_min_regions: int
    options: RuleOptions
    complete: bool
    status_note: str

    @functools.cached_property
    def plan(self) -> EnginePlan:
        """Lookup tables and pre-filters for the engine (derived on first use; not part of the pickled state, so a
        compiled definition cached on disk by an earlier drgpay still loads)."""
        return _engine_plan(self)


def _engine_plan(c: CompiledDrg) -> EnginePlan:
    """Derive :class:`EnginePlan` from the compiled rule arrays."""
    n_mdc = len(c.mdc_codes)
    first_by = {
        "principal_dx": np.full((n_mdc, c.n_dx + 1), NO_POSITION, np.int16),
        "principal_proc": np.full((n_mdc, c.n_proc + 1), NO_POSITION, np.int16),
    }
    sections = {"principal_dx": c.dx_sections, "principal_proc": c.proc_sections}
    evaluated: list[tuple[tuple[int, tuple[Clause, ...]], ...]] = []
    adrg_at = np.full((n_mdc, max([len(a) for a in c.mdc_adrgs] + [0]) + 1), -1, np.int16)
    ambiguous_after = np.full(n_mdc, NO_POSITION, np.int16)
    for m, adrgs in enumerate(c.mdc_adrgs):
        others: list[tuple[int, tuple[Clause, ...]]] = []
        for position, a in enumerate(adrgs):
            adrg_at[m, position] = a
            if c.adrg_kind[a] != "medical" and c.qy_drg[m] >= 0:
                ambiguous_after[m] = position
            for alt in c.adrg_alts[a]:
                if len(alt) == 1 and alt[0].role in _LOOKUP_ROLES:
                    table = first_by[alt[0].role][m]
                    takes = sections[alt[0].role][alt[0].section]
                    table[takes] = np.minimum(table[takes], position)
                else:
                    others.append((position, alt))
        evaluated.append(tuple(others))
    maybe_by = {role: _first_not_ruled_out(c, evaluated, role) for role in _LOOKUP_ROLES}
    mdca_filter, mdca_proc, mdca_vent = _mdca_prefilter(c)
    listed_dx = np.zeros(c.n_dx + 1, bool)
    listed_proc = np.zeros(c.n_proc + 1, bool)
    for alts in c.adrg_alts:
        for alt in alts:
            for clause in alt:
                if clause.role in ("any_dx", "secondary_dx"):
                    listed_dx |= c.dx_sections[clause.section]
                elif clause.role in ("any_proc", "secondary_proc"):
                    listed_proc |= c.proc_sections[clause.section]
    general_mdc, no_mdc_reason = _general_mdc(c)
    return EnginePlan(
        first_by_dx=first_by["principal_dx"],
        first_by_proc=first_by["principal_proc"],
        evaluated=tuple(evaluated),
        maybe_by_dx=maybe_by["principal_dx"],
        maybe_by_proc=maybe_by["principal_proc"],
        adrg_at=adrg_at,
        ambiguous_after=ambiguous_after,
        mdca_filter=mdca_filter,
        mdca_proc=mdca_proc,
        mdca_min_ventilation=mdca_vent,
        listed_dx=listed_dx,
        listed_proc=listed_proc,
        premdc_dx={name: (c.dx_mdc_mask >> m) & 1 == 1 for name, m in c.premdc.items()},
        general_mdc=general_mdc,
        no_mdc_reason=no_mdc_reason,
    )


def _first_not_ruled_out(
    c: CompiledDrg, evaluated: list[tuple[tuple[int, tuple[Clause, ...]], ...]], role: str
) -> np.ndarray:
    """Per MDC and code, the position of the first evaluated alternative whose ``role`` clauses (principal_dx or
    principal_proc) all take the code (an alternative without one takes every code); NO_POSITION for none."""
    sections = c.dx_sections if role == "principal_dx" else c.proc_sections
    size = (c.n_dx if role == "principal_dx" else c.n_proc) + 1
    out = np.full((len(evaluated), size), NO_POSITION, np.int16)
    for m, alternatives in enumerate(evaluated):
        for position, alt in reversed(alternatives):  # the earliest position is written last
            takes = np.ones(size, bool)
            for clause in alt:
                if clause.role == role:
                    takes &= sections[clause.section]
            out[m, takes] = position
    return out


def _general_mdc(c: CompiledDrg) -> tuple[np.ndarray, np.ndarray]:
    """Per sex and principal diagnosis: the first MDC, pre-MDCs aside, whose table holds the code and whose sex
    fits (-1 for none); and when none, why: the code's MDCs are all for the other sex (``sex_conflict``), it is
    only in the newborn MDCP table (``age_conflict``), or in no table (``no_mdc``). With the choice
    ``sex_conflict = "ignore"`` the first MDC holding the code is taken when none fits the sex."""
    premdc_bits = np.int64(0)
    for m in c.premdc.values():
        premdc_bits |= np.int64(1) << np.int64(m)
    general = c.dx_mdc_mask & ~premdc_bits
    allowed = np.zeros(3, np.int64)  # MDCs open to sex 0 (unknown: all), 1 (male), 2 (female)
    for i, sex in enumerate(c.mdc_sex):
        bit = np.int64(1) << np.int64(i)
        allowed[0] |= bit
        if sex in (0, 1):
            allowed[1] |= bit
        if sex in (0, 2):
            allowed[2] |= bit
    mdc = np.stack([_lowest_bit(general & allowed[sex]) for sex in range(3)])
    if c.options.sex_conflict == "ignore":
        mdc = np.where(mdc < 0, _lowest_bit(general)[None, :], mdc).astype(np.int16)
    reason = np.full(c.n_dx + 1, REASONS.index("no_mdc"), np.int8)
    if "MDCP" in c.premdc:
        reason[(c.dx_mdc_mask >> c.premdc["MDCP"]) & 1 == 1] = REASONS.index("age_conflict")
    reason[general != 0] = REASONS.index("sex_conflict")
    return mdc, np.where(mdc < 0, reason, -1).astype(np.int8)


def _lowest_bit(mask: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each non-negative int64 (-1 where zero)."""
    below = (mask & -mask) - 1  # the bits under the lowest set bit (all 64 when zero)
    out = np.bitwise_count(below.astype(np.uint64)).astype(np.int16)
    out[mask == 0] = -1
    return out


def _mdca_prefilter(c: CompiledDrg) -> tuple[bool, np.ndarray, float]:
    """Whether MDCA can be pre-filtered, the procedures that can open it and the smallest ventilation threshold.

    Each MDCA alternative must hold a clause that no record passes without one of those procedures (a principal
    or any procedure list) or without that much ventilation; otherwise there is no filter.
    """
    procs = np.zeros(c.n_proc + 1, bool)
    ventilation = np.inf
    if "MDCA" not in c.premdc:
        return False, procs, ventilation
    for a in c.mdc_adrgs[c.premdc["MDCA"]]:
        for alt in c.adrg_alts[a]:
            lists = [cl for cl in alt if cl.role in ("principal_proc", "any_proc", "secondary_proc")]
            hours = [cl for cl in alt if cl.role == "ventilation_hours"]
            if lists:
                procs |= c.proc_sections[lists[0].section]
            elif hours:
                ventilation = min(ventilation, hours[0].low)
            else:
                return False, procs, ventilation
    return True, procs, float(ventilation)


def _membership(ids: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size + 1, bool)
    out[ids[ids < size]] = True
    return out


def _vocabulary(values: Sequence[str]) -> pa.Array:
    return pa.array(sorted(set(values)), type=pa.large_string())


def _level_choice(rules: Sequence[tuple[int, tuple[SplitCondition, ...]]], level: int) -> int | None:
    """For an ADRG split by level only: the first DRG (in order) whose conditions admit ``level``."""
    for drg, conditions in rules:
        if all(level in LEVEL_CONDITIONS[c.name] for c in conditions):
            return drg
    return None


def _split_lists(
    t: dict[str, pd.DataFrame], vocabularies: dict[str, pa.Array]
) -> dict[tuple[str, str], np.ndarray]:
    """Each (list, condition) a split names, as membership over the code vocabulary of the condition's kind:
    codes as listed for ``*_code`` and ``new_technique``, every code starting with a listed item for
    ``*_prefix``."""
    lists = t["drg_list.csv"].groupby("list", sort=False)["code"].agg(tuple).to_dict()
    out: dict[tuple[str, str], np.ndarray] = {}
    for split in t["drg.csv"]["split"]:
        for name, argument in parse_split(split):
            kind = SPLIT_CONDITIONS[name]
            if kind not in ("dx", "proc") or (argument, name) in out:
                continue
            vocabulary = pd.Series(vocabularies[kind].to_pylist(), dtype=object)
            items = tuple(code for code in lists.get(argument, ()) if code)  # "" only declares a list
            if not items:
                member = np.zeros(len(vocabulary), bool)
            elif name.endswith("_prefix"):
                member = vocabulary.str.startswith(items).to_numpy(bool)
            else:
                member = vocabulary.isin(items).to_numpy(bool)
            out[(argument, name)] = np.append(member, False)
    return out


def compile_drg(definition: Definition) -> CompiledDrg:
    """Compile a loaded CHS-DRG definition."""
    t = definition.tables
    algorithm = definition.manifest.algorithm
    dx_codes = _vocabulary(t["dx_codes.csv"]["dx"].tolist())
    proc_codes = _vocabulary(t["proc_codes.csv"]["proc"].tolist())
    n_dx, n_proc = len(dx_codes), len(proc_codes)

    def dx_id(values: pd.Series) -> np.ndarray:
        return vocabulary_ids(pa.array(values.tolist(), type=pa.large_string()), dx_codes)

    def proc_id(values: pd.Series) -> np.ndarray:
        return vocabulary_ids(pa.array(values.tolist(), type=pa.large_string()), proc_codes)

    dx_grey = _membership(dx_id(t["grey_dx.csv"]["dx"]), n_dx)
    procs = t["proc_codes.csv"]
    proc_or = _membership(proc_id(procs.loc[procs["operating_room"] == "1", "proc"]), n_proc)

    mdcs = t["mdc.csv"]
    mdc_codes = tuple(mdcs["mdc"])
    if len(mdc_codes) > 62:
        raise ValueError("at most 62 MDCs are supported")
    mdc_index = {m: i for i, m in enumerate(mdc_codes)}
    mdc_sex = np.array([{"": 0, "M": 1, "F": 2}[s] for s in mdcs["sex"]], np.int8)
    mdc_dx = t["mdc_dx.csv"]
    dx_mdc_mask = np.zeros(n_dx + 1, np.int64)
    ids = dx_id(mdc_dx["dx"])
    bits = np.left_shift(np.int64(1), mdc_dx["mdc"].map(mdc_index).to_numpy(np.int64))
    np.bitwise_or.at(dx_mdc_mask, ids, bits)
    dx_mdc_mask[n_dx] = 0
    regions = tuple(sorted(set(mdc_dx["region"]) - {""}))
    dx_region_mask = np.zeros(n_dx + 1, np.int64)
    with_region = mdc_dx[mdc_dx["region"] != ""]
    region_bits = np.left_shift(np.int64(1), with_region["region"].map(regions.index).to_numpy(np.int64))
    np.bitwise_or.at(dx_region_mask, dx_id(with_region["dx"]), region_bits)
    dx_region_mask[n_dx] = 0
    premdc = {m: mdc_index[m] for m in algorithm.get("premdc_order", []) if m in mdc_index}

    adrgs = t["adrg.csv"]
    adrg_codes = tuple(adrgs["adrg"])
    adrg_index = {a: i for i, a in enumerate(adrg_codes)}
    adrg_mdc = adrgs["mdc"].map(mdc_index).to_numpy(np.int16)
    mdc_adrgs = tuple(tuple(int(i) for i in np.flatnonzero(adrg_mdc == m)) for m in range(len(mdc_codes)))

    # sections, shared by content
    codes = t["adrg_code.csv"]
    section_codes: dict[tuple[str, str], list[str]] = {}
    for (a, s), group in codes.groupby(["adrg", "section"], sort=False):
        section_codes[(str(a), str(s))] = group["code"].tolist()
    interned: dict[tuple[str, frozenset[str]], int] = {}
    dx_sections: list[np.ndarray] = []
    proc_sections: list[np.ndarray] = []
    dx_section_codes: list[frozenset[str]] = []
    proc_section_codes: list[frozenset[str]] = []

    def section(kind: str, key: tuple[str, str]) -> int:
        members = frozenset(section_codes.get(key, []))
        token = (kind, members)
        if token not in interned:
            if kind == "dx":
                interned[token] = len(dx_sections)
                dx_sections.append(_membership(dx_id(pd.Series(sorted(members))), n_dx))
                dx_section_codes.append(members)
            else:
                interned[token] = len(proc_sections)
                proc_sections.append(_membership(proc_id(pd.Series(sorted(members))), n_proc))
                proc_section_codes.append(members)
        return interned[token]

    alts: dict[int, dict[int, list[Clause]]] = {}
    clause_table = t["adrg_clause.csv"]
    for code, alt, role, sec_name, low_text, high_text in zip(
        *(clause_table[c].astype(str).tolist() for c in ("adrg", "alt", "role", "section", "low", "high")),
        strict=True,
    ):
        a = adrg_index[code]
        kind = LIST_ROLES.get(role)
        sec = section(kind, (code, sec_name)) if kind else -1
        low = float(low_text) if low_text != "" else -np.inf
        high = float(high_text) if high_text != "" else np.inf
        alts.setdefault(a, {}).setdefault(int(alt), []).append(Clause(role, sec, low, high))
    adrg_alts = tuple(
        tuple(tuple(alts[a][k]) for k in sorted(alts.get(a, {}))) if a in alts else ()
        for a in range(len(adrg_codes))
    )

    cc = t["cc.csv"]
    cce = t["cc_exclusion.csv"]
    exclusion_tables = tuple(dict.fromkeys(["", *cce["exclusion_table"], *cc["exclusion_table"]]))
    table_index = {name: i for i, name in enumerate(exclusion_tables)}
    cc_level = np.zeros(n_dx + 1, np.int8)
    cc_table = np.zeros(n_dx + 1, np.int32)
    cc_ids = dx_id(cc["dx"])
    cc_level[cc_ids] = np.where(cc["level"].to_numpy() == "mcc", 2, 1)
    cc_table[cc_ids] = cc["exclusion_table"].map(table_index).to_numpy(np.int32)
    cc_level[n_dx] = 0
    words = (len(exclusion_tables) + 63) // 64
    exclusion_bits = np.zeros((n_dx + 1, words), np.uint64)
    ex_ids = dx_id(cce["principal_dx"])
    ex_tab = cce["exclusion_table"].map(table_index).to_numpy(np.int64)
    np.bitwise_or.at(
        exclusion_bits,
        (ex_ids, ex_tab >> 6),
        np.left_shift(np.uint64(1), (ex_tab & 63).astype(np.uint64)),
    )
    exclusion_bits[n_dx] = 0

    drgs = t["drg.csv"]
    ambiguous = t["ambiguous.csv"]
    drg_codes = (*drgs["drg"], *ambiguous["drg"], UNGROUPABLE_DRG)
    drg_index = {d: i for i, d in enumerate(drg_codes)}
    memberships = _split_lists(t, {"dx": dx_codes, "proc": proc_codes})
    list_index = {key: i for i, key in enumerate(k for k in memberships if SPLIT_CONDITIONS[k[1]] == "dx")}
    list_index |= {key: i for i, key in enumerate(k for k in memberships if SPLIT_CONDITIONS[k[1]] == "proc")}
    rules: dict[str, list[tuple[int, tuple[SplitCondition, ...]]]] = {}
    for d, a, s in zip(drgs["drg"], drgs["adrg"], drgs["split"], strict=True):
        conditions = tuple(
            SplitCondition(
                name,
                float(argument) if SPLIT_CONDITIONS[name] == "number" else np.nan,
                list_index.get((argument, name), -1),
            )
            for name, argument in parse_split(s)
        )
        rules.setdefault(a, []).append((drg_index[d], conditions))
    drg_rules = tuple(tuple(rules.get(code, ())) for code in adrg_codes)
    split_by_rule = np.array(
        [any(c.name not in LEVEL_CONDITIONS for _, cs in r for c in cs) for r in drg_rules], dtype=bool
    )
    drg_by_level = np.full((len(adrg_codes), 3), drg_index[UNGROUPABLE_DRG], np.int32)
    for a, adrg_rules in enumerate(drg_rules):
        for level in range(3):
            choice = None if split_by_rule[a] else _level_choice(adrg_rules, level)
            if choice is not None:
                drg_by_level[a, level] = choice
    qy_drg = np.full(len(mdc_codes), -1, np.int32)
    for m, d in zip(ambiguous["mdc"], ambiguous["drg"], strict=True):
        qy_drg[mdc_index[m]] = drg_index[d]

    return CompiledDrg(
        dx_codes=dx_codes,
        proc_codes=proc_codes,
        dx_grey=dx_grey,
        proc_or=proc_or,
        mdc_codes=mdc_codes,
        mdc_sex=mdc_sex,
        dx_mdc_mask=dx_mdc_mask,
        dx_region_mask=dx_region_mask,
        regions=regions,
        premdc=premdc,
        adrg_codes=adrg_codes,
        adrg_mdc=adrg_mdc,
        adrg_kind=tuple(adrgs["kind"]),
        mdc_adrgs=mdc_adrgs,
        adrg_alts=adrg_alts,
        dx_sections=tuple(dx_sections),
        proc_sections=tuple(proc_sections),
        dx_section_codes=tuple(dx_section_codes),
        proc_section_codes=tuple(proc_section_codes),
        cc_level=cc_level,
        cc_table=cc_table,
        exclusion_bits=exclusion_bits,
        exclusion_tables=exclusion_tables,
        drg_codes=drg_codes,
        drg_by_level=drg_by_level,
        split_by_rule=split_by_rule,
        drg_rules=drg_rules,
        split_dx_lists=tuple(m for k, m in memberships.items() if SPLIT_CONDITIONS[k[1]] == "dx"),
        split_proc_lists=tuple(m for k, m in memberships.items() if SPLIT_CONDITIONS[k[1]] == "proc"),
        qy_drg=qy_drg,
        newborn_max_age_days=float(algorithm.get("newborn_max_age_days", 28)),
        infant_max_age_days=float(algorithm.get("infant_max_age_days", 364)),
        mdcz_min_regions=int(algorithm.get("mdcz_min_regions", 2)),
        options=RuleOptions.from_algorithm(algorithm, definition.manifest.path),
        complete=definition.manifest.complete,
        status_note=definition.manifest.status_note,
    )
