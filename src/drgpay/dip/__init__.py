"""DIP (按病种分值付费): catalogue format and loading (also a city's published workbook, through a layout), the
vectorised grouper, the auxiliary catalogue, scores from statistics, and a catalogue builder from historical cases.

    >>> import drgpay
    >>> from drgpay.dip import load_catalog
    >>> cat = load_catalog("city_catalog.csv")                       # doctest: +SKIP
    >>> cat = load_catalog("pingdingshan_2025_dip2.0_catalogue.xlsx")  # doctest: +SKIP
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
from drgpay.dip.layouts import ImportReport, ImportResult, Layout, import_catalog, load_layout
from drgpay.dip.scores import score_agreement, score_from_mean

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
    "ImportReport",
    "ImportResult",
    "Layout",
    "build_catalog",
    "group_chunk",
    "import_catalog",
    "load_aux_coefficients",
    "load_catalog",
    "load_layout",
    "parse_expression",
    "score_agreement",
    "score_from_mean",
]
