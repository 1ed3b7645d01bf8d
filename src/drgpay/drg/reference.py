"""The per-record reference grouper: the CHS-DRG algorithm written plainly from the rule tables.

It reads the definition's tables directly (Python sets and dicts, no compiled arrays) and records every step in a
trace, which :func:`drgpay.explain` shows. The property tests require the vectorised engine to agree with it on
every generated record; keep it simple rather than fast.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace

from drgpay._grouping import ParsedRecord, Traced
from drgpay.definitions import Definition
from drgpay.definitions.tables import LEGACY_SPLITS, LIST_ROLES, SPLIT_CONDITIONS, parse_split
from drgpay.drg.options import RuleOptions

__all__ = ["Record", "ReferenceResult", "RuleBook", "reference_group"]

UNGROUPABLE = "0000"


@dataclass(frozen=True)
class Record(ParsedRecord):
    """One parsed record (see :class:`~drgpay._grouping.ParsedRecord`); sex 1 male, 2 female, 0 unknown."""

    sex: int = 0
    birth_weight: float = math.nan
    ventilation_hours: float = math.nan
    discharge_type: float = math.nan


@dataclass
class ReferenceResult(Traced):
    mdc: str | None = None
    adrg: str | None = None
    drg: str = UNGROUPABLE
    status: str = "ungroupable"
    reason: str | None = None


class RuleBook:
    """The definition's tables as sets and dicts, built once per grouper."""

    def __init__(self, definition: Definition):
        t = definition.tables
        self.definition = definition
        self.algorithm = definition.manifest.algorithm
        self.options = RuleOptions.from_algorithm(self.algorithm, definition.manifest.path)
        self.dx_codes = set(t["dx_codes.csv"]["dx"])
        self.proc_codes = set(t["proc_codes.csv"]["proc"])
        procs = t["proc_codes.csv"]
        self.or_procs = set(procs.loc[procs["operating_room"] == "1", "proc"])
        self.grey = set(t["grey_dx.csv"]["dx"])
        self.mdcs = list(t["mdc.csv"]["mdc"])
        self.mdc_sex = dict(zip(t["mdc.csv"]["mdc"], t["mdc.csv"]["sex"], strict=True))
        self.mdc_tables: dict[str, set[str]] = defaultdict(set)
        self.regions: dict[str, set[str]] = defaultdict(set)
        for m, dx, region in t["mdc_dx.csv"].itertuples(index=False):
            self.mdc_tables[m].add(dx)
            if region:
                self.regions[dx].add(region)
        self.adrgs_of: dict[str, list[str]] = defaultdict(list)
        self.kind: dict[str, str] = {}
        for a, m, _name, kind in t["adrg.csv"].itertuples(index=False):
            self.adrgs_of[m].append(a)
            self.kind[a] = kind
        self.sections: dict[tuple[str, str], set[str]] = defaultdict(set)
        for a, s, code in t["adrg_code.csv"].itertuples(index=False):
            self.sections[(a, s)].add(code)
        self.rules: dict[str, dict[int, list[tuple[str, str, float, float]]]] = defaultdict(dict)
        for a, alt, role, s, low, high in t["adrg_clause.csv"].itertuples(index=False):
            lo = float(low) if low else -math.inf
            hi = float(high) if high else math.inf
            self.rules[a].setdefault(int(alt), []).append((role, s, lo, hi))
        self.cc: dict[str, tuple[str, str]] = {
            dx: (level, table) for dx, level, table in t["cc.csv"].itertuples(index=False)
        }
        self.exclusions: dict[str, set[str]] = defaultdict(set)
        for table, dx in t["cc_exclusion.csv"].itertuples(index=False):
            self.exclusions[dx].add(table)
        #: per ADRG its DRGs in the order they are tried, each with its split text and conditions
        self.drgs_of: dict[str, list[tuple[str, str, tuple[tuple[str, str], ...]]]] = defaultdict(list)
        for drg, a, _name, split in t["drg.csv"].itertuples(index=False):
            self.drgs_of[a].append((drg, split, parse_split(split)))
        self.split_lists: dict[str, list[str]] = defaultdict(list)
        for name, code in t["drg_list.csv"].itertuples(index=False):
            if code:  # a row with an empty code only declares the list
                self.split_lists[name].append(code)
        self.qy = dict(zip(t["ambiguous.csv"]["mdc"], t["ambiguous.csv"]["drg"], strict=True))


def _clause_holds(book: RuleBook, adrg: str, clause: tuple[str, str, float, float], rec: Record) -> bool:
    role, section, low, high = clause
    codes = book.sections.get((adrg, section), set())
    if role == "principal_dx":
        return rec.principal_dx in codes
    if role == "any_dx":
        return rec.principal_dx in codes or any(d in codes for d in rec.secondary_dx)
    if role == "secondary_dx":
        return any(d in codes for d in rec.secondary_dx)
    if role == "principal_proc":
        return bool(rec.procedures) and rec.procedures[0] in codes
    if role == "any_proc":
        return any(p in codes for p in rec.procedures)
    if role == "secondary_proc":
        return any(p in codes for p in rec.procedures[1:])
    if role == "or_procedure":
        return any(p in book.or_procs for p in rec.procedures)
    if role == "no_or_procedure":
        return not any(p in book.or_procs for p in rec.procedures)
    value = {
        "birth_weight": rec.birth_weight,
        "age_days": rec.age_days,
        "ventilation_hours": rec.ventilation_hours,
    }[role]
    return not math.isnan(value) and low <= value <= high


def _describe(book: RuleBook, adrg: str, clause: tuple[str, str, float, float], rec: Record) -> str:
    role, section, low, high = clause
    codes = book.sections.get((adrg, section), set())
    if role in LIST_ROLES:
        if role == "principal_dx":
            seen = [rec.principal_dx]
        elif role == "any_dx":
            seen = [rec.principal_dx, *rec.secondary_dx]
        elif role == "secondary_dx":
            seen = list(rec.secondary_dx)
        elif role == "principal_proc":
            seen = list(rec.procedures[:1])
        elif role == "secondary_proc":
            seen = list(rec.procedures[1:])
        else:
            seen = list(rec.procedures)
        matched = [c for c in seen if c in codes]
        return f"{role} in {adrg}/{section} ({len(codes)} codes): " + (
            f"matched {', '.join(matched)}" if matched else "no match"
        )
    return f"{role} [{low:g}, {high:g}]"


def _adrg_holds(book: RuleBook, adrg: str, rec: Record, res: ReferenceResult | None) -> bool:
    for alt, clauses in sorted(book.rules.get(adrg, {}).items()):
        if all(_clause_holds(book, adrg, c, rec) for c in clauses):
            if res is not None:
                details = "; ".join(_describe(book, adrg, c, rec) for c in clauses)
                res.step(f"ADRG {adrg}: alternative {alt} holds ({details})")
            return True
    return False


def reference_group(book: RuleBook, rec: Record) -> ReferenceResult:
    """Group one record, writing each decision into the result's trace."""
    res = ReferenceResult()
    opts = book.options
    if rec.invalid:
        res.status, res.reason = "invalid", rec.invalid
        res.step(f"input check: {rec.invalid} → invalid, not grouped")
        return res
    pdx = rec.principal_dx
    if not pdx:
        res.reason = "missing_principal_dx"
    elif pdx not in book.dx_codes:
        res.reason = "unknown_principal_dx"
    elif pdx in book.grey:
        res.reason = "grey_principal_dx"
    if res.reason and not (res.reason == "missing_principal_dx" and opts.mdca_without_principal_dx):
        res.step(f"principal diagnosis {pdx or '(none)'}: {res.reason} → {UNGROUPABLE}")
        return res
    if res.reason:
        res.step("principal diagnosis missing: only MDCA can take the record (mdca_without_principal_dx)")
    else:
        res.step(f"principal diagnosis {pdx}: known, not a grey code")
    for code in rec.procedures:
        if code not in book.proc_codes:
            res.step(f"procedure {code}: unknown to this grouper, ignored")
    rec = replace(rec, procedures=tuple(p for p in rec.procedures if p in book.proc_codes))
    for code in rec.secondary_dx:
        if code not in book.dx_codes:
            res.step(f"secondary diagnosis {code}: unknown to this grouper, ignored")

    premdc = [m for m in book.algorithm.get("premdc_order", []) if m in book.mdc_sex]
    if "MDCA" in premdc:
        for a in book.adrgs_of["MDCA"]:
            if _adrg_holds(book, a, rec, res):
                res.mdc, res.adrg, res.reason = "MDCA", a, None
                res.step(f"pre-MDC: MDCA by ADRG {a}")
                return _split(book, rec, res)
        res.step("pre-MDC: no MDCA rule holds")
    if res.reason:  # a missing principal diagnosis that MDCA did not take
        res.step(f"principal diagnosis (none): {res.reason} → {UNGROUPABLE}")
        return res
    mdc = _choose_mdc(book, rec, res, premdc)
    if mdc is None:
        return res
    if mdc == "MDCP" and opts.newborn_birth_weight == "required" and math.isnan(rec.birth_weight):
        res.status, res.reason = "invalid", "missing_birth_weight"
        res.step("MDCP record without birth weight: invalid for settlement (newborn_birth_weight = required)")
        return res
    if _adrg_in_mdc(book, rec, res, mdc) or res.status == "ambiguous":
        return res
    if mdc == "MDCP" and opts.newborn_unmatched == "mdc":
        res.step(
            "no MDCP ADRG takes the record: grouped by its principal diagnosis (newborn_unmatched = mdc)"
        )
        fallback = _choose_mdc(book, rec, res, [m for m in premdc if m != "MDCP"], quiet_failure=True)
        if fallback is not None and _adrg_in_mdc(book, rec, res, fallback):
            return res
        if fallback is None:
            res.mdc = "MDCP"
        if res.status == "ambiguous":
            return res
    res.reason = "no_adrg"
    res.step(f"no ADRG of {res.mdc} holds → {UNGROUPABLE}")
    return res


def _choose_mdc(
    book: RuleBook, rec: Record, res: ReferenceResult, premdc: list[str], *, quiet_failure: bool = False
) -> str | None:
    """The MDC after MDCA: MDCP by age, MDCY, MDCZ, then the principal-diagnosis tables and sex. ``None`` (with
    the reason set, unless ``quiet_failure``) when no MDC takes the record."""
    alg, opts, pdx = book.algorithm, book.options, rec.principal_dx
    in_table = {m for m in book.mdcs if pdx in book.mdc_tables[m]}
    if "MDCP" in premdc:
        newborn = rec.age_days <= alg.get("newborn_max_age_days", 28)
        infant = rec.age_days <= alg.get("infant_max_age_days", 364) or (
            math.isnan(rec.age_days) and rec.age == 0
        )
        if newborn or (infant and "MDCP" in in_table):
            why = "newborn by age in days" if newborn else "infant with an MDCP principal diagnosis"
            res.step(f"pre-MDC: MDCP ({why})")
            return "MDCP"
    if "MDCY" in premdc and "MDCY" in in_table:
        res.step("pre-MDC: MDCY (principal diagnosis in the HIV table)")
        return "MDCY"
    if "MDCZ" in premdc and "MDCZ" in in_table:
        regions = set(book.regions.get(pdx, set()))
        for d in rec.secondary_dx:
            regions |= book.regions.get(d, set())
        if len(regions) >= alg.get("mdcz_min_regions", 2):
            res.step(f"pre-MDC: MDCZ ({len(regions)} body regions: {', '.join(sorted(regions))})")
            return "MDCZ"
        res.step(f"MDCZ table holds the principal diagnosis but only {len(regions)} body region(s)")
    sex_of = {1: "M", 2: "F"}.get(rec.sex, "")
    skip = set(alg.get("premdc_order", []))
    general = [m for m in book.mdcs if m in in_table and m not in skip]
    fitting = [m for m in general if book.mdc_sex[m] in ("", sex_of) or not sex_of]
    if not fitting and general and opts.sex_conflict == "ignore":
        res.step(f"MDC: {general[0]} for the other sex; sex conflict ignored (sex_conflict = ignore)")
        return general[0]
    if not fitting:
        if quiet_failure:
            res.step("MDC: none by the principal diagnosis")
            return None
        if general:
            res.reason = "sex_conflict"
        elif "MDCP" in in_table:
            res.reason = "age_conflict"
        else:
            res.reason = "no_mdc"
        res.step(f"MDC: none ({res.reason}) → {UNGROUPABLE}")
        return None
    res.step(
        f"MDC: {fitting[0]} (principal-diagnosis table"
        + (f"; also in {fitting[1:]}" if fitting[1:] else "")
        + ")"
    )
    return fitting[0]


def _adrg_in_mdc(book: RuleBook, rec: Record, res: ReferenceResult, mdc: str) -> bool:
    """The MDC's ADRGs in order; True when one holds (the result is then split). Sends the record to the MDC's
    歧义组 (status ``ambiguous``, returns False) when an operating-room procedure no procedural ADRG takes."""
    res.mdc = mdc
    adrgs = book.adrgs_of[mdc]
    procedural = [a for a in adrgs if book.kind[a] != "medical"]
    if book.options.ambiguous_procedure == "any":
        or_procs = [p for p in rec.procedures if p in book.or_procs]
    else:
        or_procs = [p for p in rec.procedures[:1] if p in book.or_procs]
    for a in adrgs:
        if _adrg_holds(book, a, rec, res):
            res.adrg = a
            _split(book, rec, res)
            return True
        last_procedural = bool(procedural) and a == procedural[-1] and mdc in book.qy
        if last_procedural and or_procs:
            res.status, res.reason, res.drg = "ambiguous", "procedure_outside_mdc", book.qy[mdc]
            which = "principal procedure" if book.options.ambiguous_procedure == "principal" else "procedure"
            res.step(
                f"{which} {or_procs[0]} is an operating-room procedure that no surgical "
                f"or operative ADRG of {mdc} takes → {book.qy[mdc]} (歧义组)"
            )
            return False
    return False


def _split(book: RuleBook, rec: Record, res: ReferenceResult) -> ReferenceResult:
    assert res.adrg is not None
    excluded_by = book.exclusions.get(rec.principal_dx, set())
    level = 0
    for d in rec.secondary_dx:
        if d not in book.cc:
            continue
        kind, table = book.cc[d]
        if table in excluded_by:
            res.step(f"{kind.upper()} {d} cancelled: exclusion table {table} holds the principal diagnosis")
            continue
        res.step(f"{kind.upper()} {d} counts (exclusion table {table} does not hold the principal diagnosis)")
        level = max(level, 2 if kind == "mcc" else 1)
    label = {0: "no CC/MCC", 1: "CC", 2: "MCC"}[level]
    drgs = book.drgs_of[res.adrg]
    chosen = next((d for d in drgs if all(_split_holds(book, c, rec, level) for c in d[2])), None)
    legacy = all(split in LEGACY_SPLITS for _, split, _ in drgs)
    if chosen is None:
        res.reason = "no_adrg"
        res.step(f"ADRG {res.adrg} has no DRG for {label} → {UNGROUPABLE}")
        return res
    res.drg, res.status, res.reason = chosen[0], "grouped", None
    if legacy:
        res.step(
            f"DRG: {res.drg} ({label}; splits of {res.adrg}: {', '.join(sorted(s for _, s, _ in drgs))})"
        )
    else:
        tried = ", ".join(f"{d} [{s}]" for d, s, _ in drgs)
        res.step(f"DRG: {res.drg} ({label}; {chosen[1]} holds; DRGs of {res.adrg} in order: {tried})")
    return res


def _split_holds(book: RuleBook, condition: tuple[str, str], rec: Record, level: int) -> bool:
    """Whether one split condition (docs/definitions.md, "DRG splits") holds for the record."""
    name, argument = condition
    if name in ("mcc", "cc", "no_cc", "always"):
        return {"mcc": level == 2, "cc": level >= 1, "no_cc": level == 0, "always": True}[name]
    if name == "death":
        return rec.discharge_type == 5
    if name in ("age_ge", "age_lt"):
        years = rec.age if not math.isnan(rec.age) else rec.age_days // 365
        if math.isnan(years):
            return False
        return years >= int(argument) if name == "age_ge" else years < int(argument)
    items = tuple(book.split_lists.get(argument, ()))
    codes = [rec.principal_dx] if SPLIT_CONDITIONS[name] == "dx" else list(rec.procedures)
    if name.endswith("_prefix"):
        return any(code.startswith(items) for code in codes if code)
    return any(code in items for code in codes)
