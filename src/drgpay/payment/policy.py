"""Payment policies as dated data: attrs classes, TOML + CSV loading and saving, validation.

Why: local payment policy changes every year and differs by city; it must be data with a date range and a
source, never code. A policy folder holds ``policy.toml`` and the CSV tables it names (paths relative to the
TOML file). Numbers may be written as TOML numbers or, to be exact beyond 15 digits, as quoted strings; either
way they are held as ``Decimal``. No local rate or threshold lives in code: the only defaults are documented
national rules (DIP deviation thresholds 0.5 / 2, special-case quotas 5 % / 5 ‰) and neutral values
(coefficient 1).

See ``docs/payment.md`` for the file format with a complete example.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import pandas as pd

from drgpay.definitions.paths import safe_table_path
from drgpay.dip.catalog import KIND_ALIASES
from drgpay.payment import _toml
from drgpay.payment._exact import dec, dec_or_none
from drgpay.payment.errors import PolicyError
from drgpay.payment.keys import WILDCARD, normalize_insurance, normalize_level
from drgpay.payment.limits import check_range

__all__ = [
    "CASE_TYPES",
    "AdvanceRule",
    "BaseRate",
    "CaseRule",
    "ClearingRule",
    "DeviationBand",
    "DipGroupScore",
    "DipPolicy",
    "DrgPolicy",
    "Exclusions",
    "FallbackRule",
    "Gate",
    "GroupWeight",
    "OutlierRule",
    "PointValue",
    "Policy",
    "Provenance",
    "Settlement",
    "ShareTier",
    "Tier",
    "load_policy",
    "policy_files",
    "save_policy",
    "scores_from_frame",
    "weights_from_frame",
]

#: Every value of the ``case_type`` output column.
CASE_TYPES = ("normal", "high_cost", "low_cost", "special", "ambiguous", "ungroupable", "excluded")

FALLBACK_METHODS = ("by_item", "cost_ratio", "weight", "none")
HIGH_METHODS = ("standard_plus_excess", "by_item", "cost_ratio", "standard")
LOW_METHODS = ("by_item", "cost_ratio", "standard")
RULE_METHODS = ("standard_ratio", "per_diem", "by_item", "cost_ratio")
FUND_METHODS = ("standard_minus_patient", "fund_share")
GATE_OPS = (">=", ">", "<=", "<", "==", "!=")
#: 离院方式 codes a case rule may name (DESIGN.md §3: 1 医嘱离院 … 5 死亡, 9 其他).
DISCHARGE_TYPES = (1, 2, 3, 4, 5, 9)


# --------------------------------------------------------------------------------------------- converters


def _d(value: object) -> Decimal:
    try:
        return dec(value)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None


def _od(value: object) -> Decimal | None:
    try:
        return dec_or_none(value)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None


def _oi(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not float(str(value)).is_integer():
        raise PolicyError(f"expected a whole number, got {value!r}")
    return int(float(str(value)))


def _strs(values: object) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)  # type: ignore[attr-defined]


def _ints(values: object) -> tuple[int, ...]:
    if values is None:
        return ()
    if isinstance(values, int | str):
        values = [values]
    return tuple(int(v) for v in values)  # type: ignore[attr-defined]


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"expected an ISO date (YYYY-MM-DD), got {value!r}") from None


def _dec_map(values: Mapping[Any, Any] | None, key: Callable[[object], str] = str) -> Mapping[str, Decimal]:
    out = {key(k): _d(v) for k, v in (values or {}).items()}
    return MappingProxyType(out)


def _level_map(values: Mapping[Any, Any] | None) -> Mapping[str, Decimal]:
    return _dec_map(values, normalize_level)


def _frozen_map(values: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(values or {}))


def _in(kind: str) -> Callable[[Any, Any, Any], None]:
    """attrs validator: the field's value lies in the valid range of ``kind`` (see :mod:`.limits`)."""

    def check(_inst: Any, attr: Any, value: Any) -> None:
        check_range(kind, value, attr.name)

    return check


def _grouper_id(value: object) -> str | None:
    """A grouper id (``chs-drg-2.0``), stripped; None when not given."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f'grouper must be a grouper id such as "chs-drg-2.0"; got {value!r}')
    return value.strip()


def _drg_code(value: object) -> str:
    """A DRG code as the groupers write it: stripped, upper case (``hc23`` is ``HC23``)."""
    return str(value).strip().upper()


def _one_of(name: str, allowed: Iterable[str]) -> Callable[[Any, Any, Any], None]:
    allowed = tuple(allowed)

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value not in allowed:
            raise PolicyError(f"{name}: expected one of {', '.join(allowed)}; got {value!r}")

    return check


# --------------------------------------------------------------------------------------------- pieces


@attrs.frozen
class Provenance:
    """Where a policy's figures come from. ``illustrative`` marks figures that are examples, not official."""

    source: str = ""
    document: str = ""
    url: str = ""
    publisher: str = ""
    notes: str = ""
    illustrative: bool = False


@attrs.frozen
class FallbackRule:
    """How a case off the normal path is paid (ungroupable, ambiguous, excluded, missing weight, invalid).

    ``by_item``: standard = total cost (按项目); ``cost_ratio``: total cost × ``ratio``; ``weight``:
    ``weight`` × base rate × coefficient (DRG) or ``weight`` points × point value × coefficient (DIP), where a
    missing ``weight`` means the table's value for the case's own code (e.g. a city's weight for ``0000`` or
    ``HQY``); ``none``: not paid under this policy (amounts left empty, ``payment_reason`` says why).
    """

    method: str = attrs.field(default="by_item", validator=_one_of("fallback method", FALLBACK_METHODS))
    ratio: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("cost_ratio"))
    weight: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("weight"))

    def __attrs_post_init__(self) -> None:
        if self.method == "cost_ratio" and self.ratio is None:
            raise PolicyError("fallback method cost_ratio needs a ratio")


@attrs.frozen
class Tier:
    """One band of a tiered multiplier: groups with weight ≤ ``max_weight`` (None: no upper bound)."""

    multiplier: Decimal = attrs.field(converter=_d)
    max_weight: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("weight"))


def _tiers(values: object) -> tuple[Tier, ...]:
    if isinstance(values, Tier):
        return (values,)
    out = []
    for item in values or ():  # type: ignore[attr-defined]
        if isinstance(item, Tier):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(Tier(**item))
        else:
            out.append(Tier(multiplier=item))
    return tuple(out)


@attrs.frozen
class OutlierRule:
    """High-cost (高倍率) or low-cost (低倍率) cases of a DRG policy.

    A case is an outlier when its total cost is above (high) or below (low) ``multiplier × basis``, where
    basis is the case's payment ``standard`` or the group's historical ``mean_cost``; ``inclusive`` says
    whether a cost exactly on the threshold counts. Multipliers may be tiered by the group weight (first tier
    whose ``max_weight`` ≥ weight). Payment ``method``: ``standard_plus_excess`` (high only: standard + (cost
    − threshold) × ``ratio``), ``by_item`` (total cost), ``cost_ratio`` (cost × ``ratio``), ``standard`` (as
    normal).
    """

    tiers: tuple[Tier, ...] = attrs.field(converter=_tiers)
    method: str = attrs.field(validator=_one_of("outlier method", HIGH_METHODS))
    basis: str = attrs.field(
        default="standard", validator=_one_of("outlier basis", ("standard", "mean_cost"))
    )
    inclusive: bool = True
    ratio: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("cost_ratio"))

    def __attrs_post_init__(self) -> None:
        if not self.tiers:
            raise PolicyError("an outlier rule needs at least one multiplier")
        if self.tiers[-1].max_weight is not None:
            raise PolicyError(
                "the last multiplier tier must have no max_weight (it covers every heavier group)"
            )
        bounds = [t.max_weight for t in self.tiers[:-1]]
        if any(b is None for b in bounds) or bounds != sorted(bounds):  # type: ignore[type-var]
            raise PolicyError("multiplier tiers must be in increasing max_weight order, the last without one")
        if self.method in ("standard_plus_excess", "cost_ratio") and self.ratio is None:
            raise PolicyError(f"outlier method {self.method} needs a ratio")

    def check_multipliers(self, kind: str, key: str) -> None:
        """Every tier's multiplier within the range of ``kind`` (``high_multiplier`` or ``low_multiplier``)."""
        for k, tier in enumerate(self.tiers, start=1):
            what = f"{key} multiplier" if len(self.tiers) == 1 else f"{key} tiers #{k} multiplier"
            check_range(kind, tier.multiplier, what)

    def multiplier_for(self, weight: Decimal | None) -> Decimal:
        """The multiplier of the first tier whose ``max_weight`` covers ``weight``."""
        for tier in self.tiers:
            if tier.max_weight is None or (weight is not None and weight <= tier.max_weight):
                return tier.multiplier
        return self.tiers[-1].multiplier


@attrs.frozen
class CaseRule:
    """A local rule for short-stay, transfer or death cases, matched before the high/low-cost test.

    Matches grouped cases whose ``discharge_type`` is in ``discharge_types`` (empty: any), whose ``los`` is
    within ``min_los``..``max_los`` (inclusive; None: open) and whose group is in ``groups`` (empty: any).
    First matching rule wins. ``method``: ``standard_ratio`` (standard × ``ratio``; DIP: points × ratio),
    ``per_diem`` (standard × min(1, los / group mean LOS)), ``by_item``, ``cost_ratio`` (cost × ``ratio``).
    ``case_type`` is what the row reports (``normal``, ``low_cost`` or ``high_cost``); its ``payment_reason`` is
    ``rule:<name>``.
    """

    name: str
    method: str = attrs.field(validator=_one_of("case rule method", RULE_METHODS))
    discharge_types: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    min_los: int | None = attrs.field(default=None, converter=_oi)
    max_los: int | None = attrs.field(default=None, converter=_oi)
    groups: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    ratio: Decimal | None = attrs.field(default=None, converter=_od)
    case_type: str = attrs.field(
        default="low_cost", validator=_one_of("case rule case_type", ("normal", "low_cost", "high_cost"))
    )

    def __attrs_post_init__(self) -> None:
        if self.method in ("standard_ratio", "cost_ratio") and self.ratio is None:
            raise PolicyError(f"case rule {self.name!r}: method {self.method} needs a ratio")
        if self.method in ("standard_ratio", "cost_ratio"):
            check_range(self.method, self.ratio, f"case rule {self.name!r} ratio")
        unknown = sorted(set(self.discharge_types) - set(DISCHARGE_TYPES))
        if unknown:
            raise PolicyError(
                f"case rule {self.name!r}: discharge_types {unknown} are not 离院方式 codes "
                f"({', '.join(map(str, DISCHARGE_TYPES))})"
            )
        for key in ("min_los", "max_los"):
            check_range("stay", getattr(self, key), f"case rule {self.name!r} {key}")
        if self.min_los is not None and self.max_los is not None and self.min_los > self.max_los:
            raise PolicyError(
                f"case rule {self.name!r}: min_los {self.min_los} is above max_los {self.max_los}"
            )

    @property
    def needs_los(self) -> bool:
        """Whether matching or paying this rule reads the ``los`` column."""
        return self.min_los is not None or self.max_los is not None or self.method == "per_diem"


@attrs.frozen
class Exclusions:
    """Cases paid outside the group standard (by the policy's ``excluded`` rule): listed groups, stays longer
    than
    ``max_los`` days (长期住院), insurance types the policy does not cover."""

    groups: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    max_los: int | None = attrs.field(default=None, converter=_oi, validator=_in("stay"))
    insurance_types: tuple[str, ...] = attrs.field(
        default=(), converter=lambda v: tuple(normalize_insurance(x) for x in _strs(v))
    )


@attrs.frozen
class BaseRate:
    """A base rate (费率, DRG) keyed by insurance type and hospital level; ``*`` matches anything."""

    rate: Decimal = attrs.field(converter=_d, validator=_in("base_rate"))
    insurance_type: str = attrs.field(default=WILDCARD, converter=normalize_insurance)
    hospital_level: str = attrs.field(default=WILDCARD, converter=normalize_level)


@attrs.frozen
class PointValue:
    """A DIP point value (点值) keyed by insurance type (``*`` matches anything)."""

    value: Decimal = attrs.field(converter=_d, validator=_in("point_value"))
    insurance_type: str = attrs.field(default=WILDCARD, converter=normalize_insurance)


@attrs.frozen
class DeviationBand:
    """One side of the DIP deviation rule: cost ratio r beyond ``threshold`` → points = score × (slope·r +
    intercept).

    The national base rule is r ≤ 0.5 → score × r (slope 1, intercept 0) and r ≥ 2 → score × (r − 1)
    (slope 1, intercept −1); local variants change the numbers.
    """

    threshold: Decimal = attrs.field(converter=_d)
    slope: Decimal = attrs.field(default=Decimal(1), converter=_d, validator=_in("slope"))
    intercept: Decimal = attrs.field(default=Decimal(0), converter=_d, validator=_in("intercept"))
    inclusive: bool = True


@attrs.frozen
class GroupWeight:
    """One DRG of a policy: relative weight, historical mean cost and LOS, and flags. The code is held as the
    groupers write it (upper case)."""

    code: str = attrs.field(converter=_drg_code)
    name: str = ""
    weight: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("weight"))
    mean_cost: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("amount"))
    mean_los: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("mean_los"))
    by_item: bool = False
    basic: bool = False


@attrs.frozen
class DipGroupScore:
    """One DIP group of a policy: score (分值), kind (core / basic / comprehensive), historical mean cost
    and LOS."""

    code: str
    score: Decimal | None = attrs.field(converter=_od, validator=_in("weight"))
    name: str = ""
    kind: str = "core"
    mean_cost: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("amount"))
    mean_los: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("mean_los"))


@attrs.frozen
class Gate:
    """An eligibility condition for the advance fund: ``column op value`` on the hospitals table."""

    column: str
    op: str = attrs.field(validator=_one_of("gate op", GATE_OPS))
    value: object = None


@attrs.frozen
class AdvanceRule:
    """预付金: who gets one (``gates``) and how much (``months`` × average monthly settlement × ``ratio``).

    The average is over the hospital's last ``history_months`` monthly settlements in the history given; the
    amount is capped at ``cap`` (yuan, optional) and rounded half up to a multiple of ``round_to`` yuan.
    """

    gates: tuple[Gate, ...] = attrs.field(
        default=(), converter=lambda v: tuple(g if isinstance(g, Gate) else Gate(**g) for g in v or ())
    )
    method: str = attrs.field(
        default="monthly_average", validator=_one_of("advance method", ("monthly_average",))
    )
    months: Decimal = attrs.field(default=Decimal(1), converter=_d, validator=_in("advance_months"))
    history_months: int = attrs.field(default=12, converter=_oi, validator=_in("advance_history"))
    ratio: Decimal = attrs.field(default=Decimal(1), converter=_d, validator=_in("advance_ratio"))
    cap: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("advance_cap"))
    round_to: Decimal = attrs.field(default=Decimal("0.01"), converter=_d, validator=_in("rounding"))


@attrs.frozen
class ShareTier:
    """A band of surplus or overspend, up to ``up_to`` × payable (None: no bound), shared at ``share``."""

    share: Decimal = attrs.field(converter=_d, validator=_in("share"))
    up_to: Decimal | None = attrs.field(default=None, converter=_od, validator=_in("share_bound"))


def _share_tiers(values: object) -> tuple[ShareTier, ...]:
    out = []
    for item in values or ():  # type: ignore[attr-defined]
        out.append(item if isinstance(item, ShareTier) else ShareTier(**item))
    tiers = tuple(out)
    bounds = [t.up_to for t in tiers]
    if any(b is None for b in bounds[:-1]):
        raise PolicyError("only the last share tier may have no up_to")
    known = [b for b in bounds if b is not None]
    if known != sorted(known):
        raise PolicyError("share tiers must be in increasing up_to order")
    return tiers


@attrs.frozen
class ClearingRule:
    """年度清算: 结余留用 (share of a surplus the hospital keeps) and 合理超支分担 (share of an overspend the
    fund bears).

    Bands are fractions of the hospital's payable amount; the defaults keep the whole surplus (结余留用) and
    share no overspend: set ``overspend_tiers`` to the local 合理超支 bands.
    """

    surplus_tiers: tuple[ShareTier, ...] = attrs.field(
        factory=lambda: (ShareTier(share=Decimal(1)),), converter=_share_tiers
    )
    overspend_tiers: tuple[ShareTier, ...] = attrs.field(default=(), converter=_share_tiers)


@attrs.frozen
class Settlement:
    """The advance and clearing parameters of a policy."""

    advance: AdvanceRule = attrs.field(factory=AdvanceRule)
    clearing: ClearingRule = attrs.field(factory=ClearingRule)


_Coded = TypeVar("_Coded", GroupWeight, DipGroupScore)


def _code_map(
    values: object, from_frame: Callable[[pd.DataFrame], Mapping[str, _Coded]], what: str
) -> Mapping[str, _Coded]:
    """Groups keyed by code, from a table or an iterable / mapping of groups (``what`` names one in errors)."""
    if isinstance(values, pd.DataFrame):
        return from_frame(values)
    items = values.values() if isinstance(values, Mapping) else values
    out: dict[str, _Coded] = {}
    for item in items or ():  # type: ignore[attr-defined]
        if item.code in out:
            raise PolicyError(f"{what} {item.code} is listed twice")
        out[item.code] = item
    return MappingProxyType(out)


def _weights_map(values: object) -> Mapping[str, GroupWeight]:
    return _code_map(values, weights_from_frame, "weights: DRG")


def _scores_map(values: object) -> Mapping[str, DipGroupScore]:
    return _code_map(values, scores_from_frame, "scores: DIP group")


def _standards_map(values: object) -> Mapping[tuple[str, str, str], Decimal]:
    if isinstance(values, pd.DataFrame):
        return standards_from_frame(values)
    out = {}
    for (code, ins, level), amount in dict(values or {}).items():  # type: ignore[call-overload]
        out[(_drg_code(code), normalize_insurance(ins), normalize_level(level))] = _d(amount)
    return MappingProxyType(out)


_Keyed = TypeVar("_Keyed", BaseRate, PointValue)


def _keyed_amounts(values: object, cls: type[_Keyed], field: str) -> tuple[_Keyed, ...]:
    """Base rates or point values from one amount, ``{insurance type: amount}``, or a list of items, tables
    (keyword arguments) or amounts; ``field`` names the amount."""
    if isinstance(values, cls):
        return (values,)
    if isinstance(values, int | float | str | Decimal):
        return (cls(**{field: values}),)
    if isinstance(values, Mapping):
        # {"职工": 9575.25, "居民": 8000} → one amount per insurance type
        return tuple(cls(**{field: v, "insurance_type": k}) for k, v in values.items())
    return tuple(
        v if isinstance(v, cls) else cls(**v) if isinstance(v, Mapping) else cls(**{field: v})
        for v in values or ()  # type: ignore[attr-defined]
    )


def _base_rates(values: object) -> tuple[BaseRate, ...]:
    return _keyed_amounts(values, BaseRate, "rate")


def _point_values(values: object) -> tuple[PointValue, ...]:
    return _keyed_amounts(values, PointValue, "value")


def _rules(values: object) -> tuple[CaseRule, ...]:
    return tuple(v if isinstance(v, CaseRule) else CaseRule(**v) for v in values or ())  # type: ignore[attr-defined]


def _check_dates(inst: Any) -> None:
    if inst.effective_to < inst.effective_from:
        raise PolicyError(
            f"policy {inst.name!r}: effective_to {inst.effective_to} is before "
            f"effective_from {inst.effective_from}"
        )


def _check_numbers(policy: DrgPolicy | DipPolicy) -> None:
    """The numbers every policy holds outside its own fields' validators: coefficients keyed by level or
    hospital, and the default coefficient and special-case quota."""
    for level, value in policy.level_coefficients.items():
        check_range("coefficient", value, f"level_coefficients {level!r}")
    for hospital, value in policy.hospital_coefficients.items():
        check_range("coefficient", value, f"hospital_coefficients {hospital!r}")
    check_range("coefficient", policy.default_coefficient, "default_coefficient")
    check_range("quota", policy.special_quota, "special_quota")


def _check_keys_unique(name: str, keys: list[tuple[str, ...]]) -> None:
    seen = set()
    for key in keys:
        if key in seen:
            raise PolicyError(f"{name}: {key} is listed twice")
        seen.add(key)


# --------------------------------------------------------------------------------------------- policies


@attrs.frozen
class DrgPolicy:
    """A dated CHS-DRG payment policy.

    ``grouper`` is the id of the grouper whose DRG codes the weights are for (``chs-drg-2.0``): :func:`pay`
    refuses cases grouped by another one. A policy file must state it; a policy built in code without it is not
    checked (and cannot be saved until it has one).

    Standard of a normal case = RW × base rate × coefficient, formed exactly and rounded once to the fen (half
    up); a published per-group standard in ``standards`` (keyed by DRG, insurance type, level; ``*``
    wildcards) takes precedence. The coefficient is the hospital's own (``hospital_coefficients``), else its
    level's (``level_coefficients``), else ``default_coefficient`` (None: such cases are not paid, ``payment_reason``
    ``no_coefficient``); with ``basic_groups_uniform`` a 基础病组 is paid at coefficient 1 everywhere
    (同病同价).
    """

    name: str
    effective_from: dt.date = attrs.field(converter=_date)
    effective_to: dt.date = attrs.field(converter=_date)
    weights: Mapping[str, GroupWeight] = attrs.field(converter=_weights_map)
    base_rates: tuple[BaseRate, ...] = attrs.field(default=(), converter=_base_rates)
    version: str = ""
    grouper: str | None = attrs.field(default=None, converter=_grouper_id)
    provenance: Provenance = attrs.field(factory=Provenance)
    level_coefficients: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_level_map)
    hospital_coefficients: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_dec_map)
    default_coefficient: Decimal | None = attrs.field(default=Decimal(1), converter=_od)
    basic_groups_uniform: bool = False
    standards: Mapping[tuple[str, str, str], Decimal] = attrs.field(factory=dict, converter=_standards_map)
    high_cost: OutlierRule | None = None
    low_cost: OutlierRule | None = None
    case_rules: tuple[CaseRule, ...] = attrs.field(default=(), converter=_rules)
    ungroupable: FallbackRule = attrs.field(factory=FallbackRule)
    ambiguous: FallbackRule = attrs.field(factory=FallbackRule)
    missing_weight: FallbackRule = attrs.field(factory=FallbackRule)
    excluded: FallbackRule = attrs.field(factory=FallbackRule)
    invalid: FallbackRule = attrs.field(factory=lambda: FallbackRule("none"))
    exclusions: Exclusions = attrs.field(factory=Exclusions)
    fund_method: str = attrs.field(
        default="standard_minus_patient", validator=_one_of("fund_method", FUND_METHODS)
    )
    special_quota: Decimal = attrs.field(default=Decimal("0.05"), converter=_d)
    settlement: Settlement = attrs.field(factory=Settlement)

    scheme = "chs-drg"

    def __attrs_post_init__(self) -> None:
        _check_dates(self)
        _check_numbers(self)
        _check_keys_unique("base_rates", [(b.insurance_type, b.hospital_level) for b in self.base_rates])
        for (code, ins, level), amount in self.standards.items():
            check_range("amount", amount, f"standards ({code}, {ins}, {level})")
        if self.high_cost is not None:
            self.high_cost.check_multipliers("high_multiplier", "[high_cost]")
        if self.low_cost is not None:
            self.low_cost.check_multipliers("low_multiplier", "[low_cost]")
            if self.low_cost.method == "standard_plus_excess":
                raise PolicyError("low_cost: method standard_plus_excess applies to high-cost cases only")

    def content_hash(self) -> str:
        """SHA-256 of the policy's canonical files (the same for a policy and its saved-and-loaded copy)."""
        return _content_hash(self)


@attrs.frozen
class DipPolicy:
    """A dated DIP payment policy.

    ``grouper`` (optional, e.g. ``dip-2.0``): the grouper whose groups the scores are for; when given,
    :func:`pay` refuses cases grouped by another one.

    Points of a normal case = score × auxiliary coefficient (column ``aux_coefficient`` when the cases carry
    one), rounded to ``points_places`` decimals; deviation cases by ``low`` / ``high`` bands on the cost ratio
    r = total cost / ``deviation_basis`` (group ``mean_cost``, or ``mean_cost_x_level``: the mean × the case's
    level coefficient). Standard = points × point value × coefficient, formed exactly and rounded once to the
    fen. Basic groups (基层病种) ignore the level coefficient when ``basic_ignores_level`` (the DIP 2.0 rule).
    """

    name: str
    effective_from: dt.date = attrs.field(converter=_date)
    effective_to: dt.date = attrs.field(converter=_date)
    scores: Mapping[str, DipGroupScore] = attrs.field(converter=_scores_map)
    point_values: tuple[PointValue, ...] = attrs.field(default=(), converter=_point_values)
    point_value_kind: str = attrs.field(
        default="budget", validator=_one_of("point_value_kind", ("budget", "settlement"))
    )
    version: str = ""
    grouper: str | None = attrs.field(default=None, converter=_grouper_id)
    provenance: Provenance = attrs.field(factory=Provenance)
    level_coefficients: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_level_map)
    hospital_coefficients: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_dec_map)
    default_coefficient: Decimal | None = attrs.field(default=Decimal(1), converter=_od)
    basic_ignores_level: bool = True
    low: DeviationBand | None = attrs.field(factory=lambda: DeviationBand(threshold=Decimal("0.5")))
    high: DeviationBand | None = attrs.field(
        factory=lambda: DeviationBand(threshold=Decimal(2), intercept=Decimal(-1))
    )
    deviation_basis: str = attrs.field(
        default="mean_cost", validator=_one_of("deviation_basis", ("mean_cost", "mean_cost_x_level"))
    )
    points_places: int = 4
    case_rules: tuple[CaseRule, ...] = attrs.field(default=(), converter=_rules)
    ungroupable: FallbackRule = attrs.field(factory=FallbackRule)
    missing_score: FallbackRule = attrs.field(factory=FallbackRule)
    excluded: FallbackRule = attrs.field(factory=FallbackRule)
    invalid: FallbackRule = attrs.field(factory=lambda: FallbackRule("none"))
    exclusions: Exclusions = attrs.field(factory=Exclusions)
    fund_method: str = attrs.field(
        default="standard_minus_patient", validator=_one_of("fund_method", FUND_METHODS)
    )
    special_quota: Decimal = attrs.field(default=Decimal("0.005"), converter=_d)
    settlement: Settlement = attrs.field(factory=Settlement)

    scheme = "dip"

    def __attrs_post_init__(self) -> None:
        _check_dates(self)
        _check_numbers(self)
        _check_keys_unique("point_values", [(p.insurance_type,) for p in self.point_values])
        if self.low is not None:
            check_range("low_threshold", self.low.threshold, "[deviation.low] threshold")
        if self.high is not None:
            check_range("high_threshold", self.high.threshold, "[deviation.high] threshold")
        if self.low is not None and self.high is not None and self.low.threshold >= self.high.threshold:
            raise PolicyError("deviation: the low threshold must be below the high threshold")
        if not 0 <= self.points_places <= 12:
            raise PolicyError("points_places must be between 0 and 12")

    def content_hash(self) -> str:
        """SHA-256 of the policy's canonical files (the same for a policy and its saved-and-loaded copy)."""
        return _content_hash(self)


Policy = DrgPolicy | DipPolicy


# --------------------------------------------------------------------------------------------- tables


_TRUE = {"1", "true", "yes", "y", "是", "t", "√", "※"}
_FALSE = {"", "0", "false", "no", "n", "否", "f", "nan"}


def _bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = (
        "" if value is None or (isinstance(value, float) and value != value) else str(value).strip().lower()
    )
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PolicyError(f"{where}: expected a yes/no value, got {value!r}")


def _str_cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _require(frame: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PolicyError(
            f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )


def _cell_dec(value: object, where: str) -> Decimal | None:
    try:
        return dec_or_none(value)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _coded_records(
    frame: pd.DataFrame, column: str, where: str, what: str, key: Callable[[str], str] = str
) -> Iterator[tuple[str, str, dict[Any, Any]]]:
    """(row label for errors, code, record) of each row of a table keyed by ``column``; an empty or repeated
    code (as ``key`` normalises it) is an error (``what`` names the code: ``DRG``, ``DIP group``)."""
    seen: set[str] = set()
    for pos, rec in enumerate(frame.to_dict("records")):
        at = f"{where} row {pos + 2}"
        code = key(_str_cell(rec[column]))
        if not code:
            raise PolicyError(f"{at}: empty {what} code")
        if code in seen:
            raise PolicyError(f"{at}: {what} {code} is listed twice")
        seen.add(code)
        yield at, code, rec


def _row(cls: type[_Coded], at: str, what: str, **values: Any) -> _Coded:
    """One group of a table, its errors (such as a value outside its valid range) naming the table row."""
    try:
        return cls(**values)
    except PolicyError as exc:
        raise PolicyError(f"{at} ({what} {values['code']}): {exc}") from None


def _optional_dec(rec: Mapping[Any, Any], column: str, at: str, has: set[Any]) -> Decimal | None:
    """A decimal cell of an optional column (None when the table has no such column)."""
    return _cell_dec(rec.get(column), f"{at} {column}") if column in has else None


def weights_from_frame(frame: pd.DataFrame, where: str = "weights") -> Mapping[str, GroupWeight]:
    """DRG weights table → mapping. Columns: ``drg`` (or ``code``), optional ``name``, ``weight``,
    ``mean_cost``,
    ``mean_los``, ``by_item``, ``basic``. Float cells are read by their shortest decimal form."""
    frame = frame.rename(columns={"code": "drg"}) if "drg" not in frame.columns else frame
    _require(frame, ["drg"], where)
    out: dict[str, GroupWeight] = {}
    has = set(frame.columns)
    for at, code, rec in _coded_records(frame, "drg", where, "DRG", _drg_code):
        out[code] = _row(
            GroupWeight,
            at,
            "DRG",
            code=code,
            name=_str_cell(rec.get("name")),
            weight=_optional_dec(rec, "weight", at, has),
            mean_cost=_optional_dec(rec, "mean_cost", at, has),
            mean_los=_optional_dec(rec, "mean_los", at, has),
            by_item=_bool(rec.get("by_item"), at + " by_item") if "by_item" in has else False,
            basic=_bool(rec.get("basic"), at + " basic") if "basic" in has else False,
        )
    return MappingProxyType(out)


def scores_from_frame(frame: pd.DataFrame, where: str = "scores") -> Mapping[str, DipGroupScore]:
    """DIP scores table → mapping. Columns: ``dip_group`` (or ``group``, as in a drgpay DIP catalogue, or
    ``code``), ``score``, optional ``name``, ``kind``, ``mean_cost``, ``mean_los``; other columns are ignored."""
    if "dip_group" not in frame.columns:
        # a DIP catalogue (drgpay.dip) names the column ``group``; ``code`` is accepted too
        alias = next((c for c in ("group", "code") if c in frame.columns), None)
        frame = frame.rename(columns={alias: "dip_group"}) if alias else frame
    _require(frame, ["dip_group", "score"], where)
    has = set(frame.columns)
    out: dict[str, DipGroupScore] = {}
    for at, code, rec in _coded_records(frame, "dip_group", where, "DIP group"):
        kind = KIND_ALIASES.get(_str_cell(rec.get("kind")) or "core", "")
        if not kind:
            raise PolicyError(
                f"{at}: kind must be core, basic or comprehensive (核心/基层/综合); got {rec.get('kind')!r}"
            )
        out[code] = _row(
            DipGroupScore,
            at,
            "DIP group",
            code=code,
            name=_str_cell(rec.get("name")),
            kind=kind,
            score=_cell_dec(rec["score"], at + " score"),
            mean_cost=_optional_dec(rec, "mean_cost", at, has),
            mean_los=_optional_dec(rec, "mean_los", at, has),
        )
    return MappingProxyType(out)


def standards_from_frame(
    frame: pd.DataFrame, where: str = "standards"
) -> Mapping[tuple[str, str, str], Decimal]:
    """Published per-group standards → mapping keyed (drg, insurance_type, hospital_level); a missing key
    is ``*``."""
    _require(frame, ["drg", "standard"], where)
    out: dict[tuple[str, str, str], Decimal] = {}
    for pos, rec in enumerate(frame.to_dict("records")):
        at = f"{where} row {pos + 2}"
        amount = _cell_dec(rec["standard"], at + " standard")
        if amount is None:
            continue
        check_range("amount", amount, f"{at} standard")
        ins = normalize_insurance(rec.get("insurance_type", WILDCARD) or WILDCARD)
        level = normalize_level(rec.get("hospital_level", WILDCARD) or WILDCARD)
        key = (_drg_code(rec["drg"]), ins, level)
        if key in out:
            raise PolicyError(f"{at}: standard for {key} is listed twice")
        out[key] = amount
    return MappingProxyType(out)


def _read_csv(path: Path) -> pd.DataFrame:
    from drgpay.payment.citytables import read_text

    if not path.is_file():
        raise PolicyError(f"policy table not found: {path}")
    text, _enc = read_text(path)
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------- TOML


def _take(data: Mapping[str, Any], where: str, allowed: Iterable[str]) -> dict[str, Any]:
    allowed = set(allowed)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PolicyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return dict(data)


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise PolicyError(f"{where}: expected a table, got {data!r}")
    names = [f.name for f in attrs.fields(cls)]
    kwargs = _take(data, where, names)
    try:
        return cls(**kwargs)
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _outlier(data: Any, where: str, low: bool) -> OutlierRule | None:
    if data is None:
        return None
    data = dict(data)
    if data.pop("enabled", True) is False:
        return None
    if "multiplier" in data:
        if "tiers" in data:
            raise PolicyError(f"{where}: give either multiplier or tiers, not both")
        data["tiers"] = [{"multiplier": data.pop("multiplier")}]
    rule = _build(OutlierRule, data, where)
    if low and rule.method not in LOW_METHODS:
        raise PolicyError(
            f"{where}: low-cost method must be one of {', '.join(LOW_METHODS)}; got {rule.method!r}"
        )
    return rule


def _band(data: Any, where: str, default: DeviationBand | None) -> DeviationBand | None:
    if data is None:
        return default
    data = dict(data)
    if data.pop("enabled", True) is False:
        return None
    return _build(DeviationBand, data, where)


def _settlement(data: Any, where: str) -> Settlement:
    data = _take(data or {}, where, ["advance", "clearing"])
    advance = _build(AdvanceRule, data.get("advance", {}), f"{where}.advance")
    clearing = _build(ClearingRule, data.get("clearing", {}), f"{where}.clearing")
    return Settlement(advance=advance, clearing=clearing)


_COMMON_KEYS = [
    "scheme",
    "name",
    "version",
    "grouper",
    "effective_from",
    "effective_to",
    "provenance",
    "tables",
    "level_coefficients",
    "default_coefficient",
    "case_rules",
    "ungroupable",
    "excluded",
    "invalid",
    "exclusions",
    "fund_method",
    "special_quota",
    "settlement",
]


def _common(data: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": data.get("name", ""),
        "version": str(data.get("version", "")),
        "effective_from": data.get("effective_from"),
        "effective_to": data.get("effective_to"),
        "grouper": data.get("grouper"),
    }
    for key in ("effective_from", "effective_to"):
        if out[key] is None:
            raise PolicyError(f"{where}: {key} is required")
        out[key] = _date(out[key])
    out["provenance"] = _build(Provenance, data.get("provenance", {}), f"{where} [provenance]")
    out["level_coefficients"] = data.get("level_coefficients", {})
    if "default_coefficient" in data:
        value = data["default_coefficient"]
        out["default_coefficient"] = None if value in ("", "none", None) else value
    out["case_rules"] = [
        _build(CaseRule, rule, f"{where} [[case_rules]] #{i + 1}")
        for i, rule in enumerate(data.get("case_rules", []))
    ]
    for key in ("ungroupable", "excluded", "invalid"):
        if key in data:
            out[key] = _build(FallbackRule, data[key], f"{where} [{key}]")
    if "exclusions" in data:
        out["exclusions"] = _build(Exclusions, data["exclusions"], f"{where} [exclusions]")
    for key in ("fund_method", "special_quota"):
        if key in data:
            out[key] = data[key]
    out["settlement"] = _settlement(data.get("settlement"), f"{where} [settlement]")
    return out


def _table_path(base: Path, tables: Mapping[str, Any], key: str, where: str, required: bool) -> Path | None:
    if key not in tables:
        if required:
            raise PolicyError(f'{where}: [tables] needs {key} = "<file>.csv"')
        return None
    return safe_table_path(base, str(tables[key]), error=lambda message: PolicyError(f"{where}: {message}"))


def _hospital_coefficients(path: Path | None) -> dict[str, Decimal]:
    if path is None:
        return {}
    frame = _read_csv(path)
    _require(frame, ["hospital_id", "coefficient"], str(path.name))
    out: dict[str, Decimal] = {}
    for pos, rec in enumerate(frame.to_dict("records")):
        at = f"{path.name} row {pos + 2}"
        hid = str(rec["hospital_id"]).strip()
        if hid in out:
            raise PolicyError(f"{at}: hospital {hid} is listed twice")
        value = _cell_dec(rec["coefficient"], at)
        if value is None:
            raise PolicyError(f"{at}: empty coefficient")
        check_range("coefficient", value, f"{at} (hospital {hid}) coefficient")
        out[hid] = value
    return out


def _load_drg(data: dict[str, Any], base: Path, where: str) -> DrgPolicy:
    _take(
        data,
        where,
        [
            *_COMMON_KEYS,
            "base_rates",
            "basic_groups_uniform",
            "high_cost",
            "low_cost",
            "ambiguous",
            "missing_weight",
        ],
    )
    if "grouper" not in data:
        raise PolicyError(
            f"{where}: grouper is required: the id of the grouper whose DRG codes the weights are for, e.g. "
            'grouper = "chs-drg-2.0" (drgpay groupers lists them); cases grouped by another grouper are refused'
        )
    kwargs = _common(data, where)
    tables = _take(
        data.get("tables", {}), f"{where} [tables]", ["weights", "hospital_coefficients", "standards"]
    )
    weights_path = _table_path(base, tables, "weights", where, required=True)
    assert weights_path is not None
    kwargs["weights"] = weights_from_frame(_read_csv(weights_path), weights_path.name)
    kwargs["hospital_coefficients"] = _hospital_coefficients(
        _table_path(base, tables, "hospital_coefficients", where, required=False)
    )
    std_path = _table_path(base, tables, "standards", where, required=False)
    if std_path is not None:
        kwargs["standards"] = standards_from_frame(_read_csv(std_path), std_path.name)
    kwargs["base_rates"] = [
        _build(BaseRate, item, f"{where} [[base_rates]] #{i + 1}")
        for i, item in enumerate(data.get("base_rates", []))
    ]
    if "basic_groups_uniform" in data:
        kwargs["basic_groups_uniform"] = bool(data["basic_groups_uniform"])
    kwargs["high_cost"] = _outlier(data.get("high_cost"), f"{where} [high_cost]", low=False)
    kwargs["low_cost"] = _outlier(data.get("low_cost"), f"{where} [low_cost]", low=True)
    for key in ("ambiguous", "missing_weight"):
        if key in data:
            kwargs[key] = _build(FallbackRule, data[key], f"{where} [{key}]")
    try:
        return DrgPolicy(**kwargs)
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _load_dip(data: dict[str, Any], base: Path, where: str) -> DipPolicy:
    _take(
        data,
        where,
        [
            *_COMMON_KEYS,
            "point_values",
            "point_value_kind",
            "basic_ignores_level",
            "deviation",
            "points_places",
            "missing_score",
        ],
    )
    kwargs = _common(data, where)
    tables = _take(data.get("tables", {}), f"{where} [tables]", ["scores", "hospital_coefficients"])
    scores_path = _table_path(base, tables, "scores", where, required=True)
    assert scores_path is not None
    kwargs["scores"] = scores_from_frame(_read_csv(scores_path), scores_path.name)
    kwargs["hospital_coefficients"] = _hospital_coefficients(
        _table_path(base, tables, "hospital_coefficients", where, required=False)
    )
    kwargs["point_values"] = [
        _build(PointValue, item, f"{where} [[point_values]] #{i + 1}")
        for i, item in enumerate(data.get("point_values", []))
    ]
    for key in ("point_value_kind", "basic_ignores_level", "points_places"):
        if key in data:
            kwargs[key] = data[key]
    deviation = _take(data.get("deviation", {}), f"{where} [deviation]", ["low", "high", "basis"])
    kwargs["low"] = _band(
        deviation.get("low"), f"{where} [deviation.low]", DeviationBand(threshold=Decimal("0.5"))
    )
    kwargs["high"] = _band(
        deviation.get("high"),
        f"{where} [deviation.high]",
        DeviationBand(threshold=Decimal(2), intercept=Decimal(-1)),
    )
    if "basis" in deviation:
        kwargs["deviation_basis"] = deviation["basis"]
    if "missing_score" in data:
        kwargs["missing_score"] = _build(FallbackRule, data["missing_score"], f"{where} [missing_score]")
    try:
        return DipPolicy(**kwargs)
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def load_policy(path: str | os.PathLike[str]) -> DrgPolicy | DipPolicy:
    """Load a policy from a TOML file, or a folder holding ``policy.toml``; CSV tables are relative to it.

    ``scheme = "chs-drg"`` gives a :class:`DrgPolicy`, ``scheme = "dip"`` a :class:`DipPolicy`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "policy.toml"
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path.name}: not valid TOML: {exc}") from None
    scheme = data.get("scheme")
    # every policy file is policy.toml: its folder names it
    where = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    if scheme in ("chs-drg", "drg"):
        return _load_drg(data, path.parent, where)
    if scheme == "dip":
        return _load_dip(data, path.parent, where)
    raise PolicyError(f'{where}: scheme must be "chs-drg" or "dip"; got {scheme!r}')


# --------------------------------------------------------------------------------------------- saving


def _opt(value: Any) -> Any:
    return None if value is None else value


def _fallback_dict(rule: FallbackRule) -> dict[str, Any]:
    return {"method": rule.method, "ratio": rule.ratio, "weight": rule.weight}


def _outlier_dict(rule: OutlierRule | None) -> dict[str, Any]:
    if rule is None:
        return {"enabled": False}
    return {
        "method": rule.method,
        "basis": rule.basis,
        "inclusive": rule.inclusive,
        "ratio": rule.ratio,
        "tiers": [{"multiplier": t.multiplier, "max_weight": t.max_weight} for t in rule.tiers],
    }


def _rule_dict(rule: CaseRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "method": rule.method,
        "discharge_types": list(rule.discharge_types) or None,
        "min_los": rule.min_los,
        "max_los": rule.max_los,
        "groups": list(rule.groups) or None,
        "ratio": rule.ratio,
        "case_type": rule.case_type,
    }


def _settlement_dict(s: Settlement) -> dict[str, Any]:
    a, c = s.advance, s.clearing
    return {
        "advance": {
            "method": a.method,
            "months": a.months,
            "history_months": a.history_months,
            "ratio": a.ratio,
            "cap": a.cap,
            "round_to": a.round_to,
            "gates": [{"column": g.column, "op": g.op, "value": g.value} for g in a.gates],
        },
        "clearing": {
            "surplus_tiers": [{"share": t.share, "up_to": t.up_to} for t in c.surplus_tiers],
            "overspend_tiers": [{"share": t.share, "up_to": t.up_to} for t in c.overspend_tiers],
        },
    }


def _fmt(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _common_dict(policy: DrgPolicy | DipPolicy) -> dict[str, Any]:
    p = policy.provenance
    return {
        "scheme": policy.scheme,
        "name": policy.name,
        "version": policy.version,
        "grouper": policy.grouper,
        "effective_from": policy.effective_from,
        "effective_to": policy.effective_to,
        "fund_method": policy.fund_method,
        "special_quota": policy.special_quota,
        "default_coefficient": "none" if policy.default_coefficient is None else policy.default_coefficient,
        "provenance": attrs.asdict(p),
        "level_coefficients": dict(policy.level_coefficients),
    }


def _tail_dict(policy: DrgPolicy | DipPolicy) -> dict[str, Any]:
    ex = policy.exclusions
    return {
        "case_rules": [_rule_dict(r) for r in policy.case_rules],
        "ungroupable": _fallback_dict(policy.ungroupable),
        "excluded": _fallback_dict(policy.excluded),
        "invalid": _fallback_dict(policy.invalid),
        "exclusions": {
            "groups": list(ex.groups),
            "max_los": ex.max_los,
            "insurance_types": list(ex.insurance_types),
        },
        "settlement": _settlement_dict(policy.settlement),
    }


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def policy_files(policy: DrgPolicy | DipPolicy) -> dict[str, str]:
    """The canonical files of a policy, ``policy.toml`` and its CSV tables, as text (what
    :func:`save_policy` writes)."""
    data = _common_dict(policy)
    files: dict[str, str] = {}
    tables: dict[str, str] = {}
    if isinstance(policy, DrgPolicy):
        tables["weights"] = "weights.csv"
        files["weights.csv"] = _csv(
            pd.DataFrame(
                [
                    {
                        "drg": w.code,
                        "name": w.name,
                        "weight": _fmt(w.weight),
                        "mean_cost": _fmt(w.mean_cost),
                        "mean_los": _fmt(w.mean_los),
                        "by_item": "1" if w.by_item else "",
                        "basic": "1" if w.basic else "",
                    }
                    for w in policy.weights.values()
                ],
                columns=["drg", "name", "weight", "mean_cost", "mean_los", "by_item", "basic"],
            )
        )
        if policy.standards:
            tables["standards"] = "standards.csv"
            files["standards.csv"] = _csv(
                pd.DataFrame(
                    [
                        {"drg": k[0], "insurance_type": k[1], "hospital_level": k[2], "standard": str(v)}
                        for k, v in policy.standards.items()
                    ],
                    columns=["drg", "insurance_type", "hospital_level", "standard"],
                )
            )
        data["base_rates"] = [
            {"insurance_type": b.insurance_type, "hospital_level": b.hospital_level, "rate": b.rate}
            for b in policy.base_rates
        ]
        data["basic_groups_uniform"] = policy.basic_groups_uniform
        data["high_cost"] = _outlier_dict(policy.high_cost)
        data["low_cost"] = _outlier_dict(policy.low_cost)
        data["ambiguous"] = _fallback_dict(policy.ambiguous)
        data["missing_weight"] = _fallback_dict(policy.missing_weight)
    else:
        tables["scores"] = "scores.csv"
        files["scores.csv"] = _csv(
            pd.DataFrame(
                [
                    {
                        "dip_group": s.code,
                        "name": s.name,
                        "kind": s.kind,
                        "score": _fmt(s.score),
                        "mean_cost": _fmt(s.mean_cost),
                        "mean_los": _fmt(s.mean_los),
                    }
                    for s in policy.scores.values()
                ],
                columns=["dip_group", "name", "kind", "score", "mean_cost", "mean_los"],
            )
        )
        data["point_values"] = [
            {"insurance_type": p.insurance_type, "value": p.value} for p in policy.point_values
        ]
        data["point_value_kind"] = policy.point_value_kind
        data["basic_ignores_level"] = policy.basic_ignores_level
        data["points_places"] = policy.points_places
        data["missing_score"] = _fallback_dict(policy.missing_score)
        deviation: dict[str, Any] = {"basis": policy.deviation_basis}
        for side in ("low", "high"):
            band = getattr(policy, side)
            deviation[side] = (
                {"enabled": False}
                if band is None
                else {
                    "threshold": band.threshold,
                    "slope": band.slope,
                    "intercept": band.intercept,
                    "inclusive": band.inclusive,
                }
            )
        data["deviation"] = deviation
    if policy.hospital_coefficients:
        tables["hospital_coefficients"] = "hospital_coefficients.csv"
        files["hospital_coefficients.csv"] = _csv(
            pd.DataFrame(
                [{"hospital_id": k, "coefficient": str(v)} for k, v in policy.hospital_coefficients.items()],
                columns=["hospital_id", "coefficient"],
            )
        )
    data["tables"] = tables
    data.update(_tail_dict(policy))
    header = f"drgpay payment policy ({policy.scheme}); tables are CSV files next to this one."
    if policy.provenance.illustrative:
        header += "\nILLUSTRATIVE: the figures below are examples, not an official policy."
    files = {"policy.toml": _toml.dumps(data, header=header), **files}
    return files


#: Content hashes of the policies hashed lately, by identity (a policy is immutable: frozen, its tables read-only
#: mappings); each entry holds its policy so that its id is not reused. Payment records the hash with every
#: result, once per chunk of a streamed year: writing the canonical files each time cost more than paying.
_HASHES: OrderedDict[int, tuple[Any, str]] = OrderedDict()
_HASHES_MAX = 16
_HASHES_LOCK = threading.Lock()


def _content_hash(policy: DrgPolicy | DipPolicy) -> str:
    """:func:`_hash_files` of :func:`policy_files`, once per policy object."""
    with _HASHES_LOCK:
        found = _HASHES.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    digest = _hash_files(policy_files(policy))
    with _HASHES_LOCK:
        _HASHES[id(policy)] = (policy, digest)
        while len(_HASHES) > _HASHES_MAX:
            _HASHES.popitem(last=False)
    return digest


def _hash_files(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


def save_policy(policy: DrgPolicy | DipPolicy, directory: str | os.PathLike[str]) -> Path:
    """Write ``policy.toml`` and its CSV tables into ``directory`` (created if needed); returns the TOML
    path."""
    if isinstance(policy, DrgPolicy) and policy.grouper is None:
        raise PolicyError(
            f"policy {policy.name!r} has no grouper: give it the id of the grouper whose DRG codes its weights are "
            'for (grouper="chs-drg-2.0"; attrs.evolve(policy, grouper=...)) before saving'
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in policy_files(policy).items():
        (directory / name).write_text(text, encoding="utf-8", newline="\n")
    return directory / "policy.toml"
