"""Grouping results in the form the engine-versus-reference tests compare: the five result columns as Python
objects, missing values as None (the engine returns categoricals, the reference grouper plain values)."""

from __future__ import annotations

import pandas as pd

RESULT_COLUMNS = ["mdc", "adrg", "drg", "status", "reason"]


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s result columns as objects, None where missing."""
    out = frame[RESULT_COLUMNS].astype(object)
    return out.where(out.notna(), None)
