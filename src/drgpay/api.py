"""The top-level functions: ``group``, ``explain``, ``load_grouper``, ``list_groupers``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from drgpay.grouper import Explanation, load_grouper

__all__ = ["DEFAULT_GROUPER", "explain", "group"]

#: The default CHS-DRG grouper: the national CHS-DRG 2.0 (NHSA 2024), the version in force. 1.1 stays for older data.
DEFAULT_GROUPER = "chs-drg-2.0"


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
    ``options`` go to the scheme's grouper (for DIP: ``catalog=``). A polars frame is refused with a message
    saying how to convert it (drgpay keeps the input's pandas index and order).
    """
    _refuse_polars(df)
    return _grouper(grouper).group(df, columns=columns, errors=errors, **options)


def _refuse_polars(df: object) -> None:
    """A TypeError naming polars and its conversion, for a polars DataFrame, LazyFrame or Series."""
    kind = type(df)
    if kind.__module__.split(".")[0] == "polars":
        convert = ".collect().to_pandas()" if kind.__name__ == "LazyFrame" else ".to_pandas()"
        raise TypeError(
            f"drgpay.group takes a pandas DataFrame, not a polars {kind.__name__}: "
            f"pass df{convert} (needs pyarrow, which drgpay already uses)"
        )


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
