"""The per-record reference DIP grouper: the rules written plainly from the tables and the catalogue.

It reads the definition's tables and the catalogue rows directly (sets, dicts, string prefixes; no compiled
arrays) and writes every decision into a trace, which :func:`drgpay.explain` shows. The property tests require
the vectorised engine to agree with it on every generated record; keep it simple rather than fast.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from drgpay._grouping import ParsedRecord, Traced
from drgpay.definitions import Definition
from drgpay.dip.auxiliary import code_matches
from drgpay.dip.catalog import KINDS, TREATMENT_KINDS, DipCatalog, parse_ranges
from drgpay.dip.compiled import MAX_MATCHED, sub_key

__all__ = ["DipBook", "DipRecord", "DipReferenceResult", "RuleBook", "reference_group"]


@dataclass(frozen=True)
class DipRecord(ParsedRecord):
    """One parsed record (see :class:`~drgpay._grouping.ParsedRecord`) with the discharge type."""

    discharge_type: float = math.nan


@dataclass
class DipReferenceResult(Traced):
    group: str | None = None
    kind: str | None = None
    treatment: str | None = None
    status: str = "ungroupable"
    reason: str | None = None
    score: float = math.nan
    aux: dict[str, str | None] = field(default_factory=dict)
    coefficient: float = math.nan


@dataclass(frozen=True)
class _Row:
    group: str
    kind: str
    dx_key: str
    treatment: int  # rank for comprehensive groups, -1 otherwise
    components: tuple[tuple[str, ...], ...]
    score: float


class RuleBook:
    """The definition's tables as sets and dicts, built once per grouper."""

    def __init__(self, definition: Definition):
        t = definition.tables
        self.dx_codes = set(t["dx_codes.csv"]["dx"])
        self.proc_codes = set(t["proc_codes.csv"]["proc"])
        order = t["treatment_order.csv"]
        self.treatments = list(order["treatment"])
        self.treatment_codes = list(order["code"])
        level_of = {
            c: int(r)
            for r, cell in zip(order["rank"], order["categories"], strict=True)
            for c in cell.split("|")
            if c
        }
        cats = t["procedure_category.csv"]
        self.category = dict(zip(cats["proc"], cats["category"], strict=True))
        self.level = {p: level_of[c] for p, c in self.category.items()}
        cmax = definition.manifest.algorithm.get("conservative_max_treatment", self.treatments[0])
        self.conservative_max = self.rank(str(cmax))
        self.cc: dict[str, tuple[int, str]] = {
            dx: (2 if level == "mcc" else 1, table)
            for dx, level, table in t["cc.csv"].itertuples(index=False)
        }
        self.exclusions = set(t["cc_exclusion.csv"].itertuples(index=False, name=None))
        self.aux_items: list[tuple[str, str, int, str, float]] = []
        self.aux_alts: dict[str, dict[int, list[tuple[str, tuple[str, ...], float, float]]]] = defaultdict(
            dict
        )
        for aux, typ, rank, name, coefficient, _note in t["auxiliary.csv"].itertuples(index=False):
            self.aux_items.append(
                (aux, typ, int(rank), name, float(coefficient) if coefficient else math.nan)
            )
        for aux, alt, role, codes, low, high in t["auxiliary_clause.csv"].itertuples(index=False):
            items = tuple(c for c in codes.split("|") if c)
            lo = float(low) if low else -math.inf
            hi = float(high) if high else math.inf
            self.aux_alts[aux].setdefault(int(alt), []).append((role, items, lo, hi))
        self.aux_types = list(dict.fromkeys(typ for _, typ, _, _, _ in self.aux_items))

    def rank(self, value: str) -> int:
        """Rank of a treatment given by name or code."""
        if value in self.treatments:
            return self.treatments.index(value)
        return self.treatment_codes.index(value)


class DipBook:
    """A :class:`RuleBook` and a catalogue's rows by diagnosis key, with the auxiliary coefficients."""

    def __init__(self, rules: RuleBook, catalog: DipCatalog):
        self.rules = rules
        self.rows: dict[str, list[_Row]] = defaultdict(list)
        self.fallback: list[tuple[tuple[tuple[str, str], ...], _Row]] = []
        tab = catalog.table
        columns = zip(tab["group"], tab["kind"], tab["dx_key"], tab["treatment"], tab["score"], strict=True)
        for (group, kind, key, treat, score), expr in zip(columns, catalog.expressions, strict=True):
            rank = rules.rank(str(treat)) if kind in TREATMENT_KINDS else -1
            row = _Row(str(group), str(kind), str(key), rank, expr.components, float(score))
            if kind == "fallback":
                self.fallback.append((parse_ranges(row.dx_key), row))
            else:
                self.rows[row.dx_key].append(row)
        self.aux_global = {aux: coef for aux, _, _, _, coef in rules.aux_items if not math.isnan(coef)}
        self.aux_pairs: dict[tuple[str, str], float] = {}
        self.has_aux = bool(self.aux_global)
        if catalog.aux_coefficients is not None:
            self.has_aux = True
            for aux, group, coef in catalog.aux_coefficients.itertuples(index=False):
                if group:
                    self.aux_pairs[(group, aux)] = float(coef)
                else:
                    self.aux_global[aux] = float(coef)
        self.combine = catalog.aux_combine


def _item_matches(code: str, item: str) -> bool:
    return code.startswith(item[:-1]) if item.endswith("*") else code == item


def _severity(book: DipBook, rec: DipRecord, res: DipReferenceResult | None) -> int:
    level = 0
    for d in rec.secondary_dx:
        if d not in book.rules.dx_codes or d not in book.rules.cc:
            continue
        lvl, table = book.rules.cc[d]
        if table and (table, rec.principal_dx) in book.rules.exclusions:
            if res is not None:
                res.step(
                    f"severity: {d} ({'MCC' if lvl == 2 else 'CC'}) cancelled by exclusion table {table}"
                )
            continue
        level = max(level, lvl)
    return level


def _clause(
    book: DipBook, rec: DipRecord, clause: tuple[str, tuple[str, ...], float, float], sev: int
) -> bool:
    role, items, low, high = clause
    if role == "principal_dx":
        return any(code_matches(rec.principal_dx, i) for i in items)
    if role == "any_secondary_dx":
        return any(
            d in book.rules.dx_codes and any(code_matches(d, i) for i in items) for d in rec.secondary_dx
        )
    if role == "any_procedure":
        return any(
            p in book.rules.proc_codes and any(code_matches(p, i) for i in items) for p in rec.procedures
        )
    value = {"age": rec.age, "age_days": rec.age_days, "discharge_type": rec.discharge_type}.get(
        role, float(sev)
    )
    return not math.isnan(value) and low <= value <= high


def _auxiliary(book: DipBook, rec: DipRecord, res: DipReferenceResult) -> None:
    sev = _severity(book, rec, res)
    for typ in book.rules.aux_types:
        res.aux[typ] = None
        items = sorted((x for x in book.rules.aux_items if x[1] == typ), key=lambda x: x[2])
        for aux, _, _, name, _ in items:
            alts = book.rules.aux_alts.get(aux, {})
            if any(all(_clause(book, rec, c, sev) for c in alts[a]) for a in sorted(alts)):
                res.aux[typ] = aux
                res.step(f"auxiliary {typ}: {aux} ({name})")
                break
    if not book.has_aux or res.group is None:
        return
    applied = []
    chosen = res.group
    for typ, item in res.aux.items():
        if item is None:
            continue
        coef = book.aux_pairs.get((chosen, item), book.aux_global.get(item, math.nan))
        if not math.isnan(coef):
            applied.append(coef)
            res.step(f"auxiliary coefficient {typ}/{item}: {coef:g}")
    if book.combine == "product":
        res.coefficient = math.prod(applied) if applied else 1.0
    elif book.combine == "sum":
        res.coefficient = 1.0 + sum(c - 1.0 for c in applied)
    else:
        res.coefficient = max(applied) if applied else 1.0
    res.step(f"auxiliary coefficient ({book.combine}): {res.coefficient:g}")


def reference_group(book: DipBook, rec: DipRecord) -> DipReferenceResult:
    """Group one record, writing each decision into the result's trace."""
    res = DipReferenceResult()
    if rec.invalid:
        res.status, res.reason = "invalid", rec.invalid
        res.step(f"input check: {rec.invalid} → invalid, not grouped")
        return res
    known: list[str] = []
    level = 0
    for p in rec.procedures:
        if p not in book.rules.proc_codes:
            res.step(f"procedure {p}: unknown to this grouper, ignored")
            continue
        if p not in known:
            known.append(p)
        if p in book.rules.level:
            level = max(level, book.rules.level[p])
            res.step(
                f"procedure {p}: {book.rules.category[p]} → {book.rules.treatments[book.rules.level[p]]}"
            )
        else:
            res.step(f"procedure {p}: no treatment category")
    res.treatment = book.rules.treatments[level]
    res.step(f"treatment level: {res.treatment}")
    pdx = rec.principal_dx
    if not pdx:
        res.reason = "missing_principal_dx"
    elif pdx not in book.rules.dx_codes:
        res.reason = "unknown_principal_dx"
    if res.reason:
        res.step(f"principal diagnosis {pdx or '(none)'}: {res.reason} → ungroupable")
        return res
    sub, cat = sub_key(pdx), pdx[:3]
    rows = (book.rows.get(sub, []) if sub else []) + book.rows.get(cat, [])
    res.step(f"principal diagnosis {pdx}: 亚目 {sub or '(none)'}, 类目 {cat}; {len(rows)} catalogue rows")
    candidates: list[tuple[tuple[int, int, int, int], str, _Row]] = []
    for row in rows:
        specific = int(len(row.dx_key) == 5)
        kind_rank = 2 - KINDS.index(row.kind)
        if row.kind == "comprehensive":
            if row.treatment == level:
                candidates.append(((0, 0, kind_rank, specific), row.group, row))
            continue
        if not row.components:
            if level <= book.rules.conservative_max:
                candidates.append(((0, 0, kind_rank, specific), row.group, row))
            else:
                limit = book.rules.treatments[book.rules.conservative_max]
                res.step(f"{row.group}: conservative group, but the treatment is above {limit}")
            continue
        matched = [p for p in known if any(_item_matches(p, i) for comp in row.components for i in comp)]
        if all(any(_item_matches(p, i) for p in known for i in comp) for comp in row.components):
            m = min(len(matched), MAX_MATCHED)
            candidates.append(((len(row.components), m, kind_rank, specific), row.group, row))
            res.step(
                f"{row.group}: {'+'.join('/'.join(c) for c in row.components)} matched by {', '.join(matched)}"
            )
    for key, g, _ in sorted(candidates, key=lambda c: (tuple(-k for k in c[0]), c[1])):
        res.step(
            f"candidate {g}: components {key[0]}, matched {key[1]}, kind rank {key[2]}, 亚目 {bool(key[3])}"
        )
    fallback = [
        row
        for ranges, row in book.fallback
        if row.treatment == level and any(lo <= cat <= hi for lo, hi in ranges)
    ]
    if candidates:
        _, _, best = min(candidates, key=lambda c: (tuple(-k for k in c[0]), c[1]))
        res.group, res.kind, res.status, res.score = best.group, best.kind, "grouped", best.score
        res.step(f"group {best.group} ({best.kind})")
    elif fallback:
        row = fallback[0]  # the catalogue refuses overlapping ranges at one treatment level
        res.group, res.kind, res.status, res.score = row.group, row.kind, "grouped", row.score
        res.step(f"no candidate: fallback group {row.group} (类目 {cat} in {row.dx_key}, {res.treatment})")
    else:
        res.reason = "no_matching_group" if rows else "dx_not_in_catalog"
        res.step(f"no candidate: {res.reason} → ungroupable")
    _auxiliary(book, rec, res)
    return res
