"""drgpay: CHS-DRG / DIP grouping, payment and reform reports for Chinese inpatient discharge records."""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from drgpay.api import DEFAULT_GROUPER, explain, group
from drgpay.definitions import DefinitionError, list_groupers
from drgpay.grouper import Explanation, Grouper, GrouperIncompleteError, load_grouper
from drgpay.schema import CANONICAL_COLUMNS, SchemaError

if TYPE_CHECKING:
    from drgpay import dip, money, payment, report
    from drgpay.payment import DipPolicy, DrgPolicy, explain_payment, load_policy
    from drgpay.payment.pay import pay

# Subpackages and payment names are imported on first use (PEP 562): grouping alone, the CLI's main job, does not
# pay for importing payment, reports and DIP (about a quarter of a second of attrs classes and pandas code).
_SUBPACKAGES = ("dip", "money", "payment", "report")
_PAYMENT_NAMES = ("DipPolicy", "DrgPolicy", "explain_payment", "load_policy", "pay")


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f"drgpay.{name}")
    if name in _PAYMENT_NAMES:
        return getattr(importlib.import_module("drgpay.payment"), name)
    raise AttributeError(f"module 'drgpay' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_GROUPER",
    "DefinitionError",
    "DipPolicy",
    "DrgPolicy",
    "Explanation",
    "Grouper",
    "GrouperIncompleteError",
    "SchemaError",
    "__version__",
    "dip",
    "explain",
    "explain_payment",
    "group",
    "list_groupers",
    "load_grouper",
    "load_policy",
    "money",
    "pay",
    "payment",
    "report",
]
