"""Turn the ADRG entry rules of ``adrg_rules.json`` (qweaszxcdf/CHS-DRG-Grouper, parsed from the NHSA documents)
into drgpay's clause tables (``adrg_clause.csv``, ``adrg_code.csv``).

The JSON holds, per ADRG, named code lists (``sections``) and how they combine (``logic`` / ``_logicRPN``), or one
of a few structural fields. Every reading of those names and fields is written down here, in one place, and
repeated in docs/algorithm.md ("CHS-DRG 2.0 rule readings"):

- section kinds (:data:`SECTION_ROLES`): 主要诊断 the principal diagnosis; 其他诊断 a secondary diagnosis; 诊断 the
  principal or a secondary diagnosis; 主要手术或操作 the principal procedure (in MDCA: any procedure, as for 1.1);
  手术或操作 any procedure; 其他手术或操作 a procedure other than the principal one. A trailing number only tells
  lists of the same kind apart.
- no ``logic``: the lists of one kind (diagnosis or procedure) are alternatives, and both kinds must hold. With one
  list of each kind (all ADRGs but WR2) that is the AND of the sections.
- ``logic``: the reverse-Polish ``_logicRPN`` over section names, expanded to alternatives of clauses; an
  alternative that names an empty list can admit no record and is left out (listed in the build report).
- ``requiredProcedureGroups``: a procedure from each group; ``requiredReferencedADRGs``: a procedure from each named
  ADRG's procedure lists; ``referencedADRGs`` alone, ``anyProcedureRequired``: an operating-room procedure;
  ``zeroProceduresRequired``: no operating-room procedure; ``multiSite`` (3.0 IC2, 多部位…置换术): besides the
  principal procedure, another procedure of the same list (a second site), i.e. a ``secondary_proc`` clause on
  each principal-procedure list.
- conditions the ADRG *names* state (:func:`name_conditions`): age in days, birth weight, ventilation hours.

Nothing here is specific to one ADRG code: a new scheme version in the same format converts without a change.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from build_common import normalize_code
from drgpay.definitions.tables import LIST_ROLES

__all__ = [
    "SECTION_ROLES",
    "AdrgRule",
    "Clause",
    "NameCondition",
    "RuleTables",
    "name_conditions",
    "parse_rules",
    "rule_tables",
]

#: Section name without its trailing number → (code kind, clause role).
SECTION_ROLES: dict[str, tuple[str, str]] = {
    "主要诊断": ("dx", "principal_dx"),
    "其他诊断": ("dx", "secondary_dx"),
    "诊断": ("dx", "any_dx"),
    "主要手术或操作": ("proc", "principal_proc"),
    "手术或操作": ("proc", "any_proc"),
    "其他手术或操作": ("proc", "secondary_proc"),
}
_SECTION = re.compile(r"^(\D+?)\s*(\d*)$")

#: One clause: (role, section id, low, high); section id "" for the roles without a list.
Clause = tuple[str, str, str, str]


@dataclass
class AdrgRule:
    """One ADRG of the JSON, converted: alternatives of clauses and the code lists they name."""

    code: str
    name: str
    kind: str
    mdc: str
    alternatives: list[list[Clause]] = field(default_factory=list)
    sections: dict[str, list[str]] = field(default_factory=dict)  # section id → codes, in source order
    source_sections: dict[str, str] = field(default_factory=dict)  # section id → the source's section name
    form: str = ""  # which field of the JSON gave the rule (for the build report)
    dropped: list[str] = field(default_factory=list)  # alternatives that name an empty list (for the report)

    def clause_rows(self) -> list[tuple[str, int, str, str, str, str]]:
        return [(self.code, alt, *c) for alt, clauses in enumerate(self.alternatives, 1) for c in clauses]

    def code_rows(self) -> list[tuple[str, str, str]]:
        return [(self.code, s, c) for s, codes in self.sections.items() for c in dict.fromkeys(codes)]

    def procedure_codes(self) -> set[str]:
        """Every code of the rule's procedure lists."""
        roles = {s: r for alt in self.alternatives for r, s, _, _ in alt if s}
        return {c for s, codes in self.sections.items() if roles.get(s, "").endswith("_proc") for c in codes}


def adrg_kind(adrg: str) -> str:
    """By the CHS-DRG code convention, the ADRG's 2nd letter: A–J surgical (外科), K–Q operative (非手术室操作),
    R–Z medical (内科)."""
    letter = adrg[1]
    if "A" <= letter <= "J":
        return "surgical"
    if "K" <= letter <= "Q":
        return "operative"
    return "medical"


def section_id(name: str) -> tuple[str, str, str]:
    """``(section id, kind, role)`` of a source section name such as ``手术或操作 3`` (id ``PROC3``)."""
    m = _SECTION.match(name.strip())
    if not m or m.group(1).strip() not in SECTION_ROLES:
        raise ValueError(f"unknown section name {name!r}")
    kind, role = SECTION_ROLES[m.group(1).strip()]
    prefix = {"principal_dx": "PDX", "secondary_dx": "SDX", "any_dx": "DX"}.get(role)
    prefix = prefix or {"principal_proc": "PPROC", "any_proc": "PROC", "secondary_proc": "SPROC"}[role]
    return f"{prefix}{m.group(2)}", kind, role


def expand_rpn(tokens: Sequence[object]) -> list[list[str]]:
    """A reverse-Polish ``&&`` / ``||`` formula over section names as alternatives (lists of section names)."""
    stack: list[list[list[str]]] = []
    for token in tokens:
        if isinstance(token, dict) and token.get("type") == "SECTION":
            stack.append([[str(token["name"])]])
        elif token in ("&&", "||"):
            if len(stack) < 2:
                raise ValueError(f"malformed logic: {tokens!r}")
            right, left = stack.pop(), stack.pop()
            if token == "||":
                stack.append(left + right)
            else:
                stack.append([a + b for a, b in itertools.product(left, right)])
        else:
            raise ValueError(f"unknown logic token {token!r}")
    if len(stack) != 1:
        raise ValueError(f"malformed logic: {tokens!r}")
    out: list[list[str]] = []
    for alt in stack[0]:
        unique = list(dict.fromkeys(alt))
        if unique not in out:
            out.append(unique)
    return out


def _by_kind(names: Iterable[str]) -> list[list[str]]:
    """Without ``logic``: one list of each kind must hold, lists of the same kind being alternatives."""
    kinds: dict[str, list[str]] = {}
    for name in names:
        kinds.setdefault(section_id(name)[1], []).append(name)
    return [list(combo) for combo in itertools.product(*kinds.values())]


@dataclass(frozen=True)
class NameCondition:
    """A condition an ADRG name states: ``role`` in [low, high] ("" = open)."""

    role: str
    low: str
    high: str
    text: str  # the words of the name it was read from


_BIRTH_WEIGHT = (
    (re.compile(r"出生体重\s*[＜<]\s*(\d+)\s*g", re.I), lambda m: ("", str(int(m[1]) - 1))),
    (re.compile(r"出生体重\s*[＞>]\s*(\d+)\s*g", re.I), lambda m: (str(int(m[1]) + 1), "")),
    (re.compile(r"出生体重\s*(\d+)\s*[-－–~～至]\s*(\d+)\s*g", re.I), lambda m: (m[1], m[2])),
)
_AGE_DAYS = (
    (re.compile(r"(\d+)\s*天\s*[≤<=]+\s*出生年龄\s*[＜<]\s*1\s*周岁"), lambda m: (m[1], "364")),
    (re.compile(r"出生年龄\s*[＜<]\s*(\d+)\s*天"), lambda m: ("0", str(int(m[1]) - 1))),
)
_VENTILATION = re.compile(r"呼吸机支持\s*[≥>=]+\s*(\d+)\s*小时")


def name_conditions(name: str) -> list[NameCondition]:
    """Birth-weight and age-in-days bounds stated in an ADRG name (e.g. ``出生体重1500-1999g``)."""
    out = []
    for role, patterns in (("birth_weight", _BIRTH_WEIGHT), ("age_days", _AGE_DAYS)):
        for pattern, bounds in patterns:
            if m := pattern.search(name):
                low, high = bounds(m)
                out.append(NameCondition(role, low, high, m[0]))
                break
    return out


def ventilation_hours(name: str) -> int | None:
    """The ventilation time an ADRG name states as its threshold (``有创呼吸机支持≥96小时``)."""
    m = _VENTILATION.search(name)
    return int(m[1]) if m else None


#: A typing slip of the source: the multiplication sign for the extension letter x (3.0: ``43.7x00×001``).
_TYPOS = str.maketrans({"×": "x"})


def source_code(value: object) -> str:
    """A code of the JSON, normalised, with the source's typing slips (:data:`_TYPOS`) undone."""
    return normalize_code(str(value).translate(_TYPOS))


def _sections(rule: dict[str, object]) -> dict[str, list[str]]:
    raw = rule.get("sections") or {}
    assert isinstance(raw, dict)
    return {str(k): [source_code(c) for c in v] for k, v in raw.items()}


def parse_rules(entries: Sequence[dict[str, object]], *, any_proc_mdc: str = "MDCA") -> list[AdrgRule]:
    """Every ADRG of the JSON, in its order, converted to alternatives of clauses (name conditions not yet added).

    In ``any_proc_mdc`` (MDCA) a principal-procedure list counts wherever the procedure stands on the record.
    """
    by_code = {str(e["code"]): e for e in entries}
    out = []
    for entry in entries:
        code, name = str(entry["code"]), str(entry["name"]).strip()
        rule = entry["rule"]
        assert isinstance(rule, dict)
        if rule.get("_logicCompileError"):
            raise ValueError(f"{code}: the source could not compile its logic: {rule['_logicCompileError']}")
        result = AdrgRule(code, name, adrg_kind(code), f"MDC{code[0]}")
        sections = _sections(rule)
        structural = [
            k
            for k in (
                "requiredProcedureGroups",
                "requiredReferencedADRGs",
                "referencedADRGs",
                "anyProcedureRequired",
                "zeroProceduresRequired",
            )
            if rule.get(k)
        ]
        if structural and sections:
            raise ValueError(f"{code}: both code lists and {structural}: no reading for that shape")
        proc_role = "any_proc" if result.mdc == any_proc_mdc else "principal_proc"
        if rule.get("requiredProcedureGroups"):
            groups = rule["requiredProcedureGroups"]
            assert isinstance(groups, list)
            result.form = "requiredProcedureGroups"
            alt = []
            for i, group in enumerate(groups, 1):
                result.sections[f"GROUP{i}"] = [source_code(c) for c in group]
                result.source_sections[f"GROUP{i}"] = f"requiredProcedureGroups[{i - 1}]"
                alt.append(("any_proc", f"GROUP{i}", "", ""))
            result.alternatives = [alt]
        elif rule.get("requiredReferencedADRGs"):
            refs = rule["requiredReferencedADRGs"]
            assert isinstance(refs, list)
            result.form = "requiredReferencedADRGs"
            alt = []
            for ref in refs:
                ref_sections = _sections(by_code[str(ref)]["rule"])  # type: ignore[arg-type]
                procs = [c for s, codes in ref_sections.items() if section_id(s)[1] == "proc" for c in codes]
                if not procs:
                    raise ValueError(f"{code}: referenced ADRG {ref} has no procedure list")
                result.sections[f"REF_{ref}"] = procs
                result.source_sections[f"REF_{ref}"] = f"{ref} procedure lists"
                alt.append(("any_proc", f"REF_{ref}", "", ""))
            result.alternatives = [alt]
        elif rule.get("referencedADRGs") or rule.get("anyProcedureRequired"):
            result.form = "referencedADRGs" if rule.get("referencedADRGs") else "anyProcedureRequired"
            result.alternatives = [[("or_procedure", "", "", "")]]
        elif rule.get("zeroProceduresRequired"):
            result.form = "zeroProceduresRequired"
            result.alternatives = [[("no_or_procedure", "", "", "")]]
        else:
            if not sections:
                raise ValueError(f"{code}: no code list and no structural rule")
            logic = rule.get("_logicRPN") or []
            result.form = "logic" if logic else "sections"
            assert isinstance(logic, list)
            named = expand_rpn(logic) if logic else _by_kind(sections)
            unknown = {n for alt in named for n in alt} - set(sections)
            if unknown:
                raise ValueError(f"{code}: logic names lists it does not have: {sorted(unknown)}")
            for source_name, codes in sections.items():
                sid, _, _ = section_id(source_name)
                result.sections[sid] = codes
                result.source_sections[sid] = source_name
            for alt_names in named:
                alt = []
                for source_name in alt_names:
                    sid, _, role = section_id(source_name)
                    alt.append((proc_role if role == "principal_proc" else role, sid, "", ""))
                    if rule.get("multiSite") and role == "principal_proc":
                        alt.append(("secondary_proc", sid, "", ""))
                if any(not sections[n] for n in alt_names):  # an empty list admits no record
                    result.dropped.append(" + ".join(alt_names))
                    continue
                result.alternatives.append(alt)
            for sid in [sid for sid, codes in result.sections.items() if not codes]:
                del result.sections[sid]
            if rule.get("multiSite"):
                result.form += "+multiSite"
        out.append(result)
    return out


#: ICD-9-CM-3 96.72: continuous invasive mechanical ventilation for 96 consecutive hours or more. A section made
#: only of such codes is what a ventilation time of at least 96 hours, recorded as hours, also satisfies.
VENTILATION_96_PREFIX = "96.72"


def add_name_conditions(
    rules: Sequence[AdrgRule], *, newborn_mdc: str = "MDCP", newborn_max_age_days: int = 28
) -> list[str]:
    """Add the conditions the ADRG names state to every alternative; returns report lines.

    - birth weight and age in days as the name gives them (``出生体重＜1500g``, ``29天≤出生年龄＜1周岁``);
    - an ADRG of the newborn MDC whose name states no age is a newborn ADRG: age in days 0 … newborn maximum;
    - a name stating ``呼吸机支持≥N小时``: ``ventilation_hours >= N`` is an alternative to each list made only of
      96.72 codes (the ICD-9-CM-3 code for that ventilation time), so the hours column counts like the code.
    """
    lines = []
    for rule in rules:
        conditions = name_conditions(rule.name)
        if rule.mdc == newborn_mdc and not any(c.role == "age_days" for c in conditions):
            conditions.append(NameCondition("age_days", "0", str(newborn_max_age_days), "(newborn MDC)"))
        for c in conditions:
            lines.append(f"{rule.code} {c.role} [{c.low or '-inf'}, {c.high or 'inf'}] from {c.text!r}")
        extra = [(c.role, "", c.low, c.high) for c in conditions]
        rule.alternatives = [alt + extra for alt in rule.alternatives]
        hours = ventilation_hours(rule.name)
        if hours is None:
            continue
        ventilation = [
            s
            for s, codes in rule.sections.items()
            if codes and all(c.startswith(VENTILATION_96_PREFIX) for c in codes)
        ]
        if not ventilation:
            raise ValueError(
                f"{rule.code}: name states ventilation ≥ {hours} h but no list is all 96.72 codes"
            )
        added = []
        for alt in rule.alternatives:
            for i, clause in enumerate(alt):
                if clause[1] in ventilation:
                    swapped = [*alt[:i], ("ventilation_hours", "", str(hours), ""), *alt[i + 1 :]]
                    if swapped not in rule.alternatives and swapped not in added:
                        added.append(swapped)
        rule.alternatives += added
        lines.append(
            f"{rule.code} ventilation_hours >= {hours} as an alternative to list(s) {', '.join(ventilation)}"
        )
    return lines


def infant_principal_codes(
    rules: Sequence[AdrgRule], *, newborn_mdc: str = "MDCP", newborn_max_age_days: int = 28
) -> list[str]:
    """Principal diagnoses of the newborn MDC's ADRGs whose age range begins after the newborn period (PV1): the
    table by which an infant older than a newborn enters that MDC."""
    codes: list[str] = []
    for rule in rules:
        if rule.mdc != newborn_mdc:
            continue
        lows = [
            int(low) for alt in rule.alternatives for role, _, low, _ in alt if role == "age_days" and low
        ]
        if lows and min(lows) > newborn_max_age_days:
            codes += [c for s, cs in rule.sections.items() if s.startswith("PDX") for c in cs]
    return list(dict.fromkeys(codes))


@dataclass
class RuleTables:
    """The clause and code tables of converted rules, and the code lists the grouper accepts: the 医保版 lists plus
    every code the tables use that the lists lack (kept with an empty name, listed in the build report)."""

    clause_rows: list[tuple[str, int, str, str, str, str]]
    code_rows: list[tuple[str, str, str]]
    dx: dict[str, str]
    proc: dict[str, str]
    dx_added: list[str]
    proc_added: list[str]


def rule_tables(
    rules: Sequence[AdrgRule],
    dx_names: dict[str, str],
    proc_names: dict[str, str],
    *,
    other_dx: Iterable[str] = (),
    other_proc: Iterable[str] = (),
) -> RuleTables:
    """Clause and code rows of ``rules``, and the accepted code lists (``other_dx`` / ``other_proc``: codes the other
    tables use: MDC tables, CC lists, split lists)."""
    clause_rows = [row for r in rules for row in r.clause_rows()]
    code_rows = [row for r in rules for row in r.code_rows()]
    kind_of = {(a, s): LIST_ROLES.get(role, "") for a, _, role, s, _, _ in clause_rows if s}
    rule_dx = {c for a, s, c in code_rows if kind_of[(a, s)] == "dx"}
    rule_proc = {c for a, s, c in code_rows if kind_of[(a, s)] == "proc"}
    dx_added = sorted((rule_dx | set(other_dx)) - set(dx_names))
    proc_added = sorted((rule_proc | set(other_proc)) - set(proc_names))
    return RuleTables(
        clause_rows,
        code_rows,
        {**dx_names, **dict.fromkeys(dx_added, "")},
        {**proc_names, **dict.fromkeys(proc_added, "")},
        dx_added,
        proc_added,
    )
