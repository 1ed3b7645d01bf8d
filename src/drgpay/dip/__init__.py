"""DIP (按病种分值付费): catalogue format and loading, the vectorised grouper, the auxiliary catalogue, and a
catalogue builder from historical cases.

    >>> import drgpay
    >>> from drgpay.dip import load_catalog
    >>> cat = load_catalog("city_catalog.csv")                       # doctest: +SKIP
    >>> out = drgpay.group(df, grouper="dip-2.0", catalog=cat)        # doctest: +SKIP
"""

from drgpay.dip.build import DEFAULT_YEAR_WEIGHTS, build_catalog
from drgpay.dip.catalog import (
    CATALOG_COLUMNS,
    KINDS,
    TREATMENTS,
    CatalogError,
    DipCatalog,
    load_aux_coefficients,
    load_catalog,
    parse_expression,
)
from drgpay.dip.compiled import REASONS, STATUSES
from drgpay.dip.grouper import DipExplanation, DipGrouper, group_chunk

__all__ = [
    "CATALOG_COLUMNS",
    "DEFAULT_YEAR_WEIGHTS",
    "KINDS",
    "REASONS",
    "STATUSES",
    "TREATMENTS",
    "CatalogError",
    "DipCatalog",
    "DipExplanation",
    "DipGrouper",
    "build_catalog",
    "group_chunk",
    "load_aux_coefficients",
    "load_catalog",
    "parse_expression",
]
