"""The auxiliary catalogue (辅助目录): conditions from the grouper's tables, coefficients from the catalogue.

The national folder defines *which* items exist and *when* they apply (``auxiliary.csv``,
``auxiliary_clause.csv``): secondary-diagnosis severity, age bands, tumour severity, death. The coefficients are
local policy and come with the catalogue (:func:`drgpay.dip.load_aux_coefficients`). Within one ``type`` the item
of lowest ``rank`` that holds is the case's item for that type; the case's coefficient combines one coefficient
per type (``product`` by default, or ``sum`` of the excesses over 1, or ``max``).

This module holds the shared pieces: matching of the code items (prefixes, 类目 ranges), the compiled form the
engine evaluates over whole arrays, and the CC/MCC severity level.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import pandas as pd

from drgpay.definitions import Definition
from drgpay.definitions.tables import DIP_AUX_CODE_ROLES

__all__ = [
    "AuxClause",
    "AuxItem",
    "AuxRules",
    "Severity",
    "code_matches",
    "combine_coefficients",
    "compile_aux",
    "compile_severity",
    "vocabulary_matches",
]


def code_matches(code: str, item: str) -> bool:
    """Does ``code`` fall under ``item``: a prefix (``C77``, ``92.2``) or a 类目 range (``C00-C97``)."""
    if len(item) == 7 and item[3] == "-":
        return item[:3] <= code[:3] <= item[4:]
    return code.startswith(item)


def vocabulary_matches(vocabulary: np.ndarray, items: tuple[str, ...]) -> np.ndarray:
    """``bool[len(vocabulary) + 1]``: which codes of a sorted vocabulary fall under any item (last = unknown)."""
    out = np.zeros(len(vocabulary) + 1, bool)
    heads = vocabulary.astype("<U3") if len(vocabulary) else vocabulary
    for item in items:
        if len(item) == 7 and item[3] == "-":
            out[:-1] |= (heads >= item[:3]) & (heads <= item[4:])
        else:
            lo = int(np.searchsorted(vocabulary, item, side="left"))
            hi = int(np.searchsorted(vocabulary, item + "\U0010ffff", side="left"))
            out[lo:hi] = True
    return out


@attrs.frozen
class AuxClause:
    """One condition: a numeric role with bounds, or a code role with its items (and their vocabulary mask)."""

    role: str
    items: tuple[str, ...]
    low: float
    high: float
    member: np.ndarray | None  # bool over the dx or proc vocabulary (+1 unknown) for code roles


@attrs.frozen
class AuxItem:
    """One auxiliary item: its type, rank within the type, and alternatives of clauses (any alt holds)."""

    aux: str
    type: str
    rank: int
    name: str
    coefficient: float  # from auxiliary.csv (a local variant); NaN when the folder leaves it to the catalogue
    alts: tuple[tuple[AuxClause, ...], ...]


@attrs.frozen
class AuxRules:
    """All items, and per type the item indices in rank order."""

    items: tuple[AuxItem, ...]
    types: tuple[str, ...]
    by_type: tuple[tuple[int, ...], ...]

    def index(self, aux: str) -> int:
        for i, item in enumerate(self.items):
            if item.aux == aux:
                return i
        raise KeyError(aux)


def _bound(text: str, default: float) -> float:
    return float(text) if text != "" else default


def compile_aux(definition: Definition, dx_vocab: np.ndarray, proc_vocab: np.ndarray) -> AuxRules:
    """The auxiliary tables of a DIP definition, with vocabulary masks for the code roles."""
    items_t = definition.tables["auxiliary.csv"]
    clauses_t = definition.tables["auxiliary_clause.csv"]
    alts: dict[str, dict[int, list[AuxClause]]] = {}
    for aux, alt, role, codes, low, high in clauses_t.itertuples(index=False):
        prefixes = tuple(c for c in str(codes).split("|") if c)
        member = None
        if role in DIP_AUX_CODE_ROLES:
            vocab = dx_vocab if DIP_AUX_CODE_ROLES[role] == "dx" else proc_vocab
            member = vocabulary_matches(vocab, prefixes)
        clause = AuxClause(role, prefixes, _bound(low, -math.inf), _bound(high, math.inf), member)
        alts.setdefault(aux, {}).setdefault(int(alt), []).append(clause)
    ordered = items_t.assign(_rank=items_t["rank"].astype(int)).sort_values(["_rank"], kind="stable")
    types = tuple(dict.fromkeys(items_t["type"]))
    items: list[AuxItem] = []
    for aux, typ, rank, name, coefficient, _note in items_t.itertuples(index=False):
        by_alt = alts.get(aux, {})
        items.append(
            AuxItem(
                aux=aux,
                type=typ,
                rank=int(rank),
                name=name,
                coefficient=float(coefficient) if coefficient != "" else math.nan,
                alts=tuple(tuple(by_alt[a]) for a in sorted(by_alt)),
            )
        )
    position = {it.aux: i for i, it in enumerate(items)}
    by_type = tuple(tuple(position[a] for a in ordered.loc[ordered["type"] == t, "aux"]) for t in types)
    return AuxRules(tuple(items), types, by_type)


@attrs.frozen
class Severity:
    """The CC/MCC lists as arrays: level and exclusion table per diagnosis id, and the excluded pairs."""

    level: np.ndarray  # int8[n_dx + 1]: 0 none, 1 CC, 2 MCC
    table: np.ndarray  # int32[n_dx + 1]: exclusion-table index, -1 none
    excluded: np.ndarray  # sorted int64 keys table * (n_dx + 1) + principal id
    tables: tuple[str, ...]


def compile_severity(definition: Definition, dx_index: pd.Index) -> Severity:
    """``cc.csv`` / ``cc_exclusion.csv`` over the diagnosis vocabulary ``dx_index``."""
    n = len(dx_index)
    cc = definition.tables["cc.csv"]
    cce = definition.tables["cc_exclusion.csv"]
    tables = tuple(sorted(set(cc["exclusion_table"]) | set(cce["exclusion_table"]) - {""}))
    t_index = pd.Index(tables)
    level = np.zeros(n + 1, np.int8)
    table = np.full(n + 1, -1, np.int32)
    ids = dx_index.get_indexer(pd.Index(cc["dx"]))
    ok = ids >= 0
    level[ids[ok]] = np.where(cc["level"].to_numpy()[ok] == "mcc", 2, 1)
    tix = np.where(
        cc["exclusion_table"].to_numpy() == "", -1, t_index.get_indexer(pd.Index(cc["exclusion_table"]))
    )
    table[ids[ok]] = tix[ok]
    p_ids = dx_index.get_indexer(pd.Index(cce["principal_dx"]))
    e_tab = t_index.get_indexer(pd.Index(cce["exclusion_table"]))
    keep = (p_ids >= 0) & (e_tab >= 0)
    excluded = np.unique(e_tab[keep].astype(np.int64) * (n + 1) + p_ids[keep])
    return Severity(level, table, excluded, tables)


def combine_coefficients(factors: list[np.ndarray], how: str) -> np.ndarray:
    """Combine one coefficient array per type (NaN where no item of the type applies) into one per case.

    ``product``: the product of the applied coefficients; ``sum``: 1 + the sum of their excesses over 1;
    ``max``: the largest applied coefficient. A case with no applied coefficient gets 1.0 under every rule.
    """
    if not factors:
        raise ValueError("no coefficient arrays")
    stacked = np.vstack(factors)
    applied = ~np.isnan(stacked)
    if how == "product":
        return np.where(applied, stacked, 1.0).prod(axis=0)
    if how == "sum":
        return 1.0 + np.where(applied, stacked - 1.0, 0.0).sum(axis=0)
    if how == "max":
        best = np.where(applied, stacked, -np.inf).max(axis=0)
        return np.where(applied.any(axis=0), best, 1.0)
    raise ValueError(f"unknown combine rule {how!r}")
