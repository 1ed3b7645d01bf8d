"""drgpay: CHS-DRG / DIP grouping, payment and reform reports for Chinese inpatient discharge records."""

from __future__ import annotations

__version__ = "0.1.0"

from drgpay import (  # subpackages: drgpay.report.cost_deltas, drgpay.money.to_fen, …
    dip,
    money,
    payment,
    report,
)
from drgpay.api import DEFAULT_GROUPER, explain, group
from drgpay.definitions import DefinitionError, list_groupers
from drgpay.grouper import Explanation, Grouper, GrouperIncompleteError, load_grouper
from drgpay.payment import DipPolicy, DrgPolicy, explain_payment, load_policy, pay
from drgpay.schema import CANONICAL_COLUMNS, SchemaError

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
