"""The DIP rules and a catalogue compiled to numpy arrays, the form the vectorised engine reads.

Codes get integer ids (positions in the sorted vocabulary; the last id is "unknown"), catalogue diagnosis keys get
ids, and every procedure item of every group is expanded over the vocabulary into entries keyed by
``(diagnosis key, procedure)``. A candidate group's place in the tie-break order is one int64 (see
:func:`pack_rank`), so the best group of each record is a maximum.
"""

from __future__ import annotations

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa

from drgpay.codes import CodeVocabularies
from drgpay.definitions import Definition, DefinitionError
from drgpay.dip.auxiliary import AuxRules, Severity, compile_aux, compile_severity, vocabulary_matches
from drgpay.dip.catalog import KINDS, CatalogError, DipCatalog, parse_ranges
from drgpay.schema import INVALID_REASONS

__all__ = [
    "COMP_SHIFT",
    "MATCHED_SHIFT",
    "MAX_MATCHED",
    "REASONS",
    "STATUSES",
    "TB_MASK",
    "CompiledCatalog",
    "CompiledRules",
    "compile_catalog",
    "compile_rules",
    "pack_rank",
]

#: Output status values, in code order.
STATUSES = ("grouped", "ungroupable", "invalid")
#: Reason codes for anything but ``grouped``.
REASONS = (
    *INVALID_REASONS,
    "missing_principal_dx",
    "unknown_principal_dx",
    "dx_not_in_catalog",
    "no_matching_group",
)

# Rank layout (low to high bits): tie-break by group id (24), 亚目 key (1), kind (2), matched procedures (8),
# '+' components (4). Zero means "no candidate".
TB_BITS = 24
TB_MASK = (1 << TB_BITS) - 1
_SPEC_SHIFT = 24
_KIND_SHIFT = 25
MATCHED_SHIFT = 27
COMP_SHIFT = 35
MAX_MATCHED = 255
MAX_GROUPS = TB_MASK


def pack_rank(components: int, matched: int, kind: int, specific: bool, tiebreak: int) -> int:
    """One int64 ordering candidates: more components, more matched procedures, core > basic > comprehensive,
    亚目 key over 类目 key, then the smaller group id (``tiebreak`` = number of groups − position in id order)."""
    return (
        (components << COMP_SHIFT)
        | (min(matched, MAX_MATCHED) << MATCHED_SHIFT)
        | ((2 - kind) << _KIND_SHIFT)
        | (int(specific) << _SPEC_SHIFT)
        | tiebreak
    )


@attrs.frozen(eq=False)
class CompiledRules(CodeVocabularies):
    """The rule tables of a DIP definition as arrays."""

    dx_vocab: np.ndarray  # sorted str codes
    proc_vocab: np.ndarray
    dx_codes: pa.Array
    proc_codes: pa.Array
    dx_index: pd.Index
    proc_index: pd.Index
    proc_level: np.ndarray  # int8[n_proc + 1]: treatment rank of each procedure (0 uncategorised / unknown)
    treatments: tuple[str, ...]  # names by rank, lowest first
    treatment_codes: tuple[str, ...]
    conservative_max: int
    severity: Severity
    aux: AuxRules
    dx_sub: np.ndarray  # str[n_dx + 1]: the 亚目 (``K80.1``) of each code, "" when it has none
    dx_cat: np.ndarray  # str[n_dx + 1]: the 类目 (``K80``)

    def treatment_rank(self, value: str) -> int:
        """Rank of a treatment given by name or code."""
        if value in self.treatments:
            return self.treatments.index(value)
        if value in self.treatment_codes:
            return self.treatment_codes.index(value)
        raise KeyError(value)


def sub_key(code: str) -> str:
    """The 亚目 of a diagnosis code (``K80.100`` → ``K80.1``), "" when the code has no 4th character."""
    return code[:5] if len(code) >= 5 and code[3] == "." else ""


def compile_rules(definition: Definition) -> CompiledRules:
    """Arrays for the engine from a loaded ``dip`` definition."""
    t = definition.tables
    dx_vocab = np.array(sorted(set(t["dx_codes.csv"]["dx"])), dtype=str)
    proc_vocab = np.array(sorted(set(t["proc_codes.csv"]["proc"])), dtype=str)
    order = t["treatment_order.csv"]
    treatments = tuple(order["treatment"])
    codes = tuple(order["code"])
    level_of = {
        c: int(r)
        for r, cell in zip(order["rank"], order["categories"], strict=True)
        for c in cell.split("|")
        if c
    }
    proc_index = pd.Index(proc_vocab)
    proc_level = np.zeros(len(proc_vocab) + 1, np.int8)
    cats = t["procedure_category.csv"]
    ids = proc_index.get_indexer(cats["proc"])
    ok = ids >= 0
    proc_level[ids[ok]] = cats["category"].map(level_of).to_numpy()[ok].astype(np.int8)
    cmax = str(definition.manifest.algorithm.get("conservative_max_treatment", treatments[0]))
    if cmax in treatments:
        conservative_max = treatments.index(cmax)
    elif cmax in codes:
        conservative_max = codes.index(cmax)
    else:
        raise DefinitionError(
            f"[algorithm] conservative_max_treatment = {cmax!r} is not in treatment_order.csv",
            file=definition.manifest.path,
        )
    dx_index = pd.Index(dx_vocab)
    subs = np.array([sub_key(c) for c in dx_vocab] + [""], dtype=object)
    cat3 = np.array([c[:3] for c in dx_vocab] + [""], dtype=object)
    return CompiledRules(
        dx_vocab=dx_vocab,
        proc_vocab=proc_vocab,
        dx_codes=pa.array(dx_vocab.tolist(), type=pa.large_string()),
        proc_codes=pa.array(proc_vocab.tolist(), type=pa.large_string()),
        dx_index=dx_index,
        proc_index=proc_index,
        proc_level=proc_level,
        treatments=treatments,
        treatment_codes=codes,
        conservative_max=conservative_max,
        severity=compile_severity(definition, dx_index),
        aux=compile_aux(definition, dx_vocab, proc_vocab),
        dx_sub=subs,
        dx_cat=cat3,
    )


@attrs.frozen(eq=False)
class CompiledCatalog:
    """A catalogue over compiled rules: group attributes, key lookups, procedure entries, static ranks."""

    rules: CompiledRules
    catalog: DipCatalog
    group_ids: tuple[str, ...]  # catalogue order: the output categories
    kind: np.ndarray  # int8 index into KINDS
    score: np.ndarray  # float64
    n_components: np.ndarray  # int8
    decode: np.ndarray  # int32[n_groups + 1]: tiebreak → group index (-1 at 0)
    static_rank: np.ndarray  # int64 per group: kind, specificity, tiebreak bits
    n_keys: int
    key_sub: np.ndarray  # int32[n_dx + 1]: catalogue key id of the code's 亚目 (n_keys when absent)
    key_cat: np.ndarray  # int32[n_dx + 1]: catalogue key id of the code's 类目
    entry_keys: np.ndarray  # sorted unique int64 key * (n_proc + 1) + proc
    entry_start: np.ndarray  # int64 per entry key
    entry_stop: np.ndarray
    entry_group: np.ndarray  # int32, entries sorted by key
    entry_comp: np.ndarray  # int8
    conservative_rank: np.ndarray  # int64[n_keys + 1]: best conservative core/basic group of the key
    comprehensive_rank: np.ndarray  # int64[n_keys + 1, n_treatments]
    fallback: np.ndarray  # int32[n_dx + 1, n_treatments]: the fallback group of a code's 类目 (-1 none)
    aux_global: np.ndarray  # float64[n_items]: coefficient for every group (NaN none)
    aux_pair_keys: np.ndarray  # sorted int64 group * n_items + item, group-specific coefficients
    aux_pair_coef: np.ndarray
    has_aux_coefficients: bool
    unknown_items: tuple[str, ...]  # catalogue procedure items that match no known code

    @property
    def n_groups(self) -> int:
        return len(self.group_ids)


def compile_catalog(rules: CompiledRules, catalog: DipCatalog) -> CompiledCatalog:
    """Compile ``catalog`` against ``rules``; raise :class:`CatalogError` for what only the rules can tell."""
    table = catalog.table
    n_groups = len(table)
    if n_groups > MAX_GROUPS:
        raise CatalogError(f"{n_groups} groups; at most {MAX_GROUPS} are supported", file=catalog.source)
    group_ids = tuple(table["group"])
    kinds = table["kind"].map({k: i for i, k in enumerate(KINDS)}).to_numpy(np.int8)
    is_fallback = kinds == KINDS.index("fallback")
    keys = sorted(set(table["dx_key"][~is_fallback]))
    key_index = pd.Index(keys)
    n_keys = len(keys)
    gkey = key_index.get_indexer(table["dx_key"]).astype(np.int64)
    specific = table["dx_key"].str.len().to_numpy() == 5
    by_id = np.argsort(np.array(group_ids, dtype=object), kind="stable")
    position = np.empty(n_groups, np.int64)
    position[by_id] = np.arange(n_groups)
    tiebreak = n_groups - position
    decode = np.full(n_groups + 1, -1, np.int32)
    decode[tiebreak] = np.arange(n_groups, dtype=np.int32)
    kind_bits = np.maximum(2 - kinds.astype(np.int64), 0)  # fallback groups are never ranked
    static = (kind_bits << _KIND_SHIFT) | (specific.astype(np.int64) << _SPEC_SHIFT) | tiebreak
    n_comp = np.array([len(e) for e in catalog.expressions], dtype=np.int8)

    # treatment of comprehensive and fallback groups, against this grouper's order
    n_treat = len(rules.treatments)
    treat = np.full(n_groups, -1, np.int64)
    treatment_text = table["treatment"].tolist()
    lines = table["line"].tolist()
    for i in np.flatnonzero((kinds == KINDS.index("comprehensive")) | is_fallback).tolist():
        value = str(treatment_text[i])
        try:
            treat[i] = rules.treatment_rank(value)
        except KeyError:
            raise CatalogError(
                f"{value!r} is not a treatment of this grouper ({', '.join(rules.treatments)})",
                file=catalog.source,
                line=int(lines[i]),
                column="treatment",
            ) from None

    # best conservative and comprehensive group per key
    conservative = np.zeros(n_keys + 1, np.int64)
    comprehensive = np.zeros((n_keys + 1, n_treat), np.int64)
    is_comp = (treat >= 0) & ~is_fallback
    cons = (n_comp == 0) & ~is_comp & ~is_fallback
    np.maximum.at(conservative, gkey[cons], static[cons])
    np.maximum.at(comprehensive, (gkey[is_comp], treat[is_comp]), static[is_comp])

    # procedure entries: (key, proc) → (group, component); exact items in one lookup, prefixes one by one
    n_proc1 = rules.n_proc + 1
    flat = [
        (g, c, item)
        for g, e in enumerate(catalog.expressions)
        for c, items in enumerate(e.components)
        for item in items
    ]
    f_group = np.array([f[0] for f in flat], dtype=np.int64)
    f_comp = np.array([f[1] for f in flat], dtype=np.int64)
    f_item = np.array([f[2] for f in flat], dtype=object)
    is_prefix = np.array([i.endswith("*") for i in f_item], dtype=bool)
    exact_ids = rules.proc_index.get_indexer(f_item[~is_prefix]) if len(f_item) else np.zeros(0, np.int64)
    parts_g, parts_c, parts_p = [f_group[~is_prefix]], [f_comp[~is_prefix]], [exact_ids.astype(np.int64)]
    unknown = set(f_item[~is_prefix][exact_ids < 0])
    for k in np.flatnonzero(is_prefix):
        hit = np.flatnonzero(vocabulary_matches(rules.proc_vocab, (f_item[k][:-1],))[:-1])
        if len(hit) == 0:
            unknown.add(f_item[k])
        parts_g.append(np.full(len(hit), f_group[k]))
        parts_c.append(np.full(len(hit), f_comp[k]))
        parts_p.append(hit.astype(np.int64))
    eg = np.concatenate(parts_g)
    ec = np.concatenate(parts_c)
    ep = np.concatenate(parts_p)
    ok = ep >= 0
    eg, ec, ep = eg[ok], ec[ok], ep[ok]
    ek = gkey[eg] * n_proc1 + ep
    order = np.lexsort((ec, eg, ek))
    ek, eg, ec = ek[order], eg[order], ec[order]
    dup = np.zeros(len(ek), bool)
    dup[1:] = (ek[1:] == ek[:-1]) & (eg[1:] == eg[:-1])  # one procedure counts once per group
    ek, eg, ec = ek[~dup], eg[~dup].astype(np.int32), ec[~dup].astype(np.int8)
    uniq, start = np.unique(ek, return_index=True)
    stop = np.append(start[1:], len(ek)).astype(np.int64)

    key_sub = key_index.get_indexer(rules.dx_sub).astype(np.int32)
    key_cat = key_index.get_indexer(rules.dx_cat).astype(np.int32)
    key_sub[key_sub < 0] = n_keys
    key_cat[key_cat < 0] = n_keys

    fallback = np.full((rules.n_dx + 1, n_treat), -1, np.int32)
    if is_fallback.any():
        categories = rules.dx_cat.astype("U3")  # "" for the unknown code sorts before every 类目
        for g in np.flatnonzero(is_fallback).tolist():
            for lo, hi in parse_ranges(str(table["dx_key"].iat[g])):
                fallback[(categories >= lo) & (categories <= hi), treat[g]] = g
    aux_global, pair_keys, pair_coef, has_aux = _aux_coefficients(rules, catalog, pd.Index(group_ids))
    return CompiledCatalog(
        rules=rules,
        catalog=catalog,
        group_ids=group_ids,
        kind=kinds,
        score=table["score"].to_numpy(np.float64),
        n_components=n_comp,
        decode=decode,
        static_rank=static,
        n_keys=n_keys,
        key_sub=key_sub,
        key_cat=key_cat,
        entry_keys=uniq,
        entry_start=start.astype(np.int64),
        entry_stop=stop,
        entry_group=eg,
        entry_comp=ec,
        conservative_rank=conservative,
        comprehensive_rank=comprehensive,
        fallback=fallback,
        aux_global=aux_global,
        aux_pair_keys=pair_keys,
        aux_pair_coef=pair_coef,
        has_aux_coefficients=has_aux,
        unknown_items=tuple(sorted(str(u) for u in unknown)),
    )


def _aux_coefficients(
    rules: CompiledRules, catalog: DipCatalog, groups: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Global and group-specific coefficients per auxiliary item; the folder's own values are the default."""
    items = rules.aux.items
    n_items = len(items)
    glob = np.array([it.coefficient for it in items], dtype=np.float64)
    has = bool(np.isfinite(glob).any())
    table = catalog.aux_coefficients
    pair_keys, pair_coef = np.zeros(0, np.int64), np.zeros(0, np.float64)
    if table is not None:
        has = True
        index = {it.aux: i for i, it in enumerate(items)}
        unknown = sorted(set(table["aux"]) - set(index))
        if unknown:
            raise CatalogError(
                f"auxiliary coefficients name items the grouper does not define: {unknown}; "
                f"known: {[it.aux for it in items]}",
                file=catalog.source,
            )
        gpos = groups.get_indexer(pd.Index(table["dip_group"].where(table["dip_group"] != "", None)))
        specific = (table["dip_group"] != "").to_numpy()
        bad = specific & (gpos < 0)
        if bad.any():
            missing = table.loc[bad, "dip_group"].iloc[0]
            raise CatalogError(
                f"auxiliary coefficient for group {missing!r}, not in the catalogue", file=catalog.source
            )
        item_ids = np.array([index[a] for a in table["aux"]], dtype=np.int64)
        coef = table["coefficient"].to_numpy(np.float64)
        glob[item_ids[~specific]] = coef[~specific]
        keys = gpos[specific].astype(np.int64) * n_items + item_ids[specific]
        order = np.argsort(keys)
        pair_keys, pair_coef = keys[order], coef[specific][order]
    return glob, pair_keys, pair_coef, has
