"""The top-level functions: ``group``, ``explain``, ``load_grouper``, ``list_groupers``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from drgpay.grouper import Explanation, load_grouper

__all__ = ["DEFAULT_GROUPER", "explain", "group"]

#: The default CHS-DRG grouper: 1.1 until the 2.0 definition is complete (its ADRG rules are not yet published
#: in machine-readable form here).
DEFAULT_GROUPER = "chs-drg-1.1"


def _grouper(grouper: str | Path | Any) -> Any:
    return load_grouper(grouper) if isinstance(grouper, str | Path) else grouper


def group(
    df: pd.DataFrame,
    grouper: str | Path | Any = DEFAULT_GROUPER,
    *,
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
    **options: Any,
) -> pd.DataFrame:
    """Group discharge records; returns ``mdc, adrg, drg, status, reason, warnings`` with ``df``'s index and order.

    ``df`` uses the canonical columns (``principal_dx`` required; see :data:`drgpay.schema.CANONICAL_COLUMNS`),
    Chinese 医保结算清单 headers, or any headers mapped with ``columns={"your header": "canonical"}``.
    ``options`` go to the scheme's grouper (for DIP: ``catalog=``).
    """
    return _grouper(grouper).group(df, columns=columns, errors=errors, **options)


def explain(
    record: Mapping[str, Any] | pd.Series,
    grouper: str | Path | Any = DEFAULT_GROUPER,
    *,
    columns: Mapping[str, str] | None = None,
    **options: Any,
) -> Explanation | Any:
    """Group one record step by step; ``print()`` the result to read the trace.

    Returns an :class:`~drgpay.Explanation` for CHS-DRG groupers and a :class:`drgpay.dip.DipExplanation` for
    DIP groupers (which take ``catalog=``)."""
    return _grouper(grouper).explain(record, columns=columns, **options)
