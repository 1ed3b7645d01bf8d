"""Payment and settlement: dated policies as data, calibration, per-case payment, 特例单议, 预付金 and
年度清算.

Typical use::

    cases = df.join(drgpay.group(df))
    policy = load_policy("policies/city-2025")          # policy.toml + CSV tables
    paid = pay(cases, policy)                           # case_type, weight/points, standard, fund_payment, …
    print(explain_payment(cases, policy, "case-001"))

See ``docs/payment.md`` for the tutorial and the policy file format.
"""

from __future__ import annotations

from drgpay.payment import calibrate
from drgpay.payment.advance import (
    advance_eligibility,
    annual_clearing,
    build_ledger,
    compute_advances,
    tiered_share,
)
from drgpay.payment.calibrate import *  # noqa: F403 - re-exported whole (see the end of __all__)
from drgpay.payment.citytables import CityTable, city_policy, load_city_weights
from drgpay.payment.errors import (
    GrouperMismatchError,
    PaymentError,
    PaymentInputError,
    PolicyDateError,
    PolicyError,
    SpecialCaseError,
    SpecialQuotaError,
)
from drgpay.payment.examples import example_policy_path
from drgpay.payment.explain import PaymentExplanation, explain_payment
from drgpay.payment.pay import pay
from drgpay.payment.policy import (
    CASE_TYPES,
    AdvanceRule,
    BaseRate,
    CaseRule,
    ClearingRule,
    DeviationBand,
    DipGroupScore,
    DipPolicy,
    DrgPolicy,
    Exclusions,
    FallbackRule,
    Gate,
    GroupWeight,
    OutlierRule,
    PointValue,
    Provenance,
    Settlement,
    ShareTier,
    Tier,
    load_policy,
    save_policy,
)
from drgpay.payment.special import (
    apply_special_cases,
    check_special_quota,
    special_case_quota,
    special_case_summary,
    special_quota_table,
)

__all__ = [
    "CASE_TYPES",
    "AdvanceRule",
    "BaseRate",
    "CaseRule",
    "CityTable",
    "ClearingRule",
    "DeviationBand",
    "DipGroupScore",
    "DipPolicy",
    "DrgPolicy",
    "Exclusions",
    "FallbackRule",
    "Gate",
    "GroupWeight",
    "GrouperMismatchError",
    "OutlierRule",
    "PaymentError",
    "PaymentExplanation",
    "PaymentInputError",
    "PointValue",
    "PolicyDateError",
    "PolicyError",
    "Provenance",
    "Settlement",
    "ShareTier",
    "SpecialCaseError",
    "SpecialQuotaError",
    "Tier",
    "advance_eligibility",
    "annual_clearing",
    "apply_special_cases",
    "build_ledger",
    "check_special_quota",
    "city_policy",
    "compute_advances",
    "example_policy_path",
    "explain_payment",
    "load_city_weights",
    "load_policy",
    "pay",
    "save_policy",
    "special_case_quota",
    "special_case_summary",
    "special_quota_table",
    "tiered_share",
]
__all__ += calibrate.__all__
