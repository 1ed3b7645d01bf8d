"""A CHS-DRG definition compiled to numpy arrays, the form the vectorised engine reads.

Every code gets an integer id (its position in the sorted code list); the last id of each list is a sentinel for
"unknown", so every lookup array answers ``False`` / ``0`` for it and unknown codes fall out of every rule without a
branch. Identical code lists used by several ADRGs share one membership array.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from drgpay.definitions import Definition
from drgpay.definitions.tables import LIST_ROLES

__all__ = ["REASONS", "STATUSES", "Clause", "CompiledDrg", "compile_drg"]

#: Output status values, in code order.
STATUSES = ("grouped", "ambiguous", "ungroupable", "invalid")
#: Reason codes for anything but ``grouped`` (``invalid_<column>`` for unreadable values).
REASONS = (
    "invalid_sex",
    "invalid_age",
    "invalid_age_days",
    "invalid_birth_weight",
    "invalid_los",
    "invalid_discharge_type",
    "invalid_ventilation_hours",
    "missing_principal_dx",
    "unknown_principal_dx",
    "grey_principal_dx",
    "no_mdc",
    "sex_conflict",
    "age_conflict",
    "no_adrg",
    "procedure_outside_mdc",
)
UNGROUPABLE_DRG = "0000"


@attrs.frozen
class Clause:
    """One condition of an ADRG alternative; ``section`` indexes the membership arrays of its code kind."""

    role: str
    section: int
    low: float
    high: float


@attrs.frozen
class CompiledDrg:
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
    drg_by_level: np.ndarray  # int32[n_adrg, 3]: DRG index for no CC / CC / MCC
    qy_drg: np.ndarray  # int32[n_mdc]: the MDC's 歧义组 DRG index, -1 when it has none
    newborn_max_age_days: float
    infant_max_age_days: float
    mdcz_min_regions: int
    complete: bool
    status_note: str

    @property
    def n_dx(self) -> int:
        return len(self.dx_codes)

    @property
    def n_proc(self) -> int:
        return len(self.proc_codes)

    def dx_ids(self, codes: pa.Array) -> np.ndarray:
        """Ids of normalised diagnosis codes; unknown and empty codes get the sentinel ``n_dx``."""
        return _ids(codes, self.dx_codes)

    def proc_ids(self, codes: pa.Array) -> np.ndarray:
        return _ids(codes, self.proc_codes)


def _ids(codes: pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """Vocabulary positions of codes (``len(vocabulary)`` when unknown); a dictionary array is looked up once
    per distinct code."""
    if len(codes) == 0:
        return np.zeros(0, np.int32)
    if pa.types.is_dictionary(codes.type):
        per_code = np.append(_ids(codes.dictionary, vocabulary), np.int32(len(vocabulary)))
        return per_code[codes.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    found = pc.index_in(codes, value_set=vocabulary)
    return pc.fill_null(found, len(vocabulary)).to_numpy(zero_copy_only=False).astype(np.int32)


def _membership(ids: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size + 1, bool)
    out[ids[ids < size]] = True
    return out


def _vocabulary(values: Sequence[str]) -> pa.Array:
    return pa.array(sorted(set(values)), type=pa.large_string())


def _drg_choice(splits: set[str], level: int) -> str | None:
    """The most severe split the case qualifies for: 1 needs an MCC, 3 a CC or MCC, 5 and 9 nothing."""
    qualifies = {"1": level >= 2, "3": level >= 1, "5": True, "9": True}
    for split in ("1", "3", "5", "9"):
        if split in splits and qualifies[split]:
            return split
    return None


def compile_drg(definition: Definition) -> CompiledDrg:
    """Compile a loaded CHS-DRG definition."""
    t = definition.tables
    algorithm = definition.manifest.algorithm
    dx_codes = _vocabulary(t["dx_codes.csv"]["dx"].tolist())
    proc_codes = _vocabulary(t["proc_codes.csv"]["proc"].tolist())
    n_dx, n_proc = len(dx_codes), len(proc_codes)

    def dx_id(values: pd.Series) -> np.ndarray:
        return _ids(pa.array(values.tolist(), type=pa.large_string()), dx_codes)

    def proc_id(values: pd.Series) -> np.ndarray:
        return _ids(pa.array(values.tolist(), type=pa.large_string()), proc_codes)

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
    splits: dict[str, dict[str, str]] = {}
    for d, a, s in zip(drgs["drg"], drgs["adrg"], drgs["split"], strict=True):
        splits.setdefault(a, {})[s] = d
    drg_by_level = np.full((len(adrg_codes), 3), drg_index[UNGROUPABLE_DRG], np.int32)
    for a, code in enumerate(adrg_codes):
        by_split = splits.get(code, {})
        for level in range(3):
            choice = _drg_choice(set(by_split), level)
            if choice is not None:
                drg_by_level[a, level] = drg_index[by_split[choice]]
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
        qy_drg=qy_drg,
        newborn_max_age_days=float(algorithm.get("newborn_max_age_days", 28)),
        infant_max_age_days=float(algorithm.get("infant_max_age_days", 364)),
        mdcz_min_regions=int(algorithm.get("mdcz_min_regions", 2)),
        complete=definition.manifest.complete,
        status_note=definition.manifest.status_note,
    )
