"""Normalised lookup keys: insurance type and hospital level, as written in exports and in policies.

Why: exports spell the same thing many ways (``310``, ``职工医保``, ``UEBMI``; ``3``, ``3.0``, ``三级``),
while a policy keys its base rates and coefficients on one spelling. Both sides go through the same functions,
so a policy written with ``三级`` matches a case exported with ``3``. Nothing else is guessed: an unknown
spelling is kept (stripped) and matches only a policy key spelled the same way, or the wildcard ``*``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["INSURANCE_ALIASES", "LEVEL_ALIASES", "WILDCARD", "normalize_insurance", "normalize_level"]

#: Matches any value in a policy key.
WILDCARD = "*"

#: Accepted spellings of the two basic medical insurance schemes. The numeric codes are the NHSA 险种类型
#: codes
#: (310 职工基本医疗保险; 390 城乡居民基本医疗保险, 391 城镇居民, 380 新型农村合作医疗, merged into 居民).
INSURANCE_ALIASES: dict[str, str] = {
    alias.lower(): canonical
    for canonical, aliases in {
        "职工": [
            "职工",
            "城镇职工",
            "职工医保",
            "职工基本医疗保险",
            "城镇职工基本医疗保险",
            "employee",
            "uebmi",
            "310",
        ],
        "居民": [
            "居民",
            "城乡居民",
            "居民医保",
            "城乡居民基本医疗保险",
            "城镇居民",
            "城镇居民基本医疗保险",
            "新农合",
            "resident",
            "urrbmi",
            "390",
            "391",
            "380",
        ],
    }.items()
    for alias in aliases
}

#: Hospital level spellings folded to a digit (一级 1, 二级 2, 三级 3). Finer grades (三甲, 三乙) are kept as
#: written.
LEVEL_ALIASES: dict[str, str] = {
    "一级": "1",
    "二级": "2",
    "三级": "3",
    "一级医院": "1",
    "二级医院": "2",
    "三级医院": "3",
    "level1": "1",
    "level2": "2",
    "level3": "3",
}


def _text(value: object) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        if math.isnan(float(value)):
            return ""
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, bool):
        return str(value)
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def normalize_insurance(value: object) -> str:
    """Canonical insurance type: ``职工``, ``居民``, the wildcard, or the stripped original ("" when
    missing)."""
    text = _text(value)
    return INSURANCE_ALIASES.get(text.lower(), text)


def normalize_level(value: object) -> str:
    """Canonical hospital level: ``1``/``2``/``3`` for the plain grades, else the stripped original."""
    text = _text(value)
    return LEVEL_ALIASES.get(text.lower(), text)


def normalize_many(values: Iterable[object], kind: str) -> np.ndarray:
    """Vector form of the two normalisers (``kind``: ``insurance`` or ``level``), once per distinct value."""
    func = normalize_insurance if kind == "insurance" else normalize_level
    series = pd.Series(list(values) if not isinstance(values, pd.Series) else values, dtype="object")
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques] + [""], dtype="object")
    return mapped[codes]
