"""Write report tables to one Excel workbook, one sheet per table (optional ``excel`` extra: openpyxl).

Cells keep the exact 2-decimal values of the tables; number formats only change how Excel shows them
(thousands separators for money, 2 decimals for percentages, 4 for indices).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from drgpay._atomic import atomic_path

__all__ = ["WORKBOOK_SUFFIXES", "sheet_name", "workbook_path", "write_excel"]

#: Workbook names :func:`write_excel` writes (openpyxl's formats).
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")

_INSTALL_HINT = "writing Excel needs openpyxl: pip install 'drgpay[excel]'"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MONEY_WORDS = ("cost", "paid", "payment", "surplus", "loss", "standard", "reduction", "amount")
_INDEX_COLUMNS = ("cmi", "total_weight")


def sheet_name(name: str, taken: set[str] | None = None) -> str:
    """A valid, unique Excel sheet name: no ``[]:*?/\\``, at most 31 characters."""
    base = _BAD_SHEET_CHARS.sub("_", str(name)).strip("'") or "sheet"
    base = base[:31]
    taken = set() if taken is None else taken
    candidate, i = base, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f"_{i}"
        candidate = base[: 31 - len(suffix)] + suffix
        i += 1
    return candidate


def _number_format(column: str) -> str | None:
    if column.endswith("_pct"):
        return "0.00"
    if column in _INDEX_COLUMNS or column.endswith("_index"):
        return "0.0000"
    if "cases" in column or column in {"applied", "approved", "rejected"}:
        return "#,##0"
    if column.startswith("mean_los"):
        return "0.00"
    if any(word in column for word in _MONEY_WORDS):
        return "#,##0.00"
    return None


def workbook_path(path: str | os.PathLike[str]) -> Path:
    """*path* if it names an Excel workbook (:data:`WORKBOOK_SUFFIXES`); a ValueError saying so otherwise (a
    ``.csv`` name must not get a workbook)."""
    out = Path(path)
    if out.suffix.lower() not in WORKBOOK_SUFFIXES:
        raise ValueError(
            f"{out.name}: the report is an Excel workbook with one sheet per table; name it "
            f"{' or '.join(WORKBOOK_SUFFIXES)} (the tables are DataFrames: drgpay.report.report_tables for CSV)"
        )
    return out


def write_excel(tables: Mapping[str, pd.DataFrame], path: str | os.PathLike[str]) -> Path:
    """Write *tables* (sheet name → DataFrame) to an ``.xlsx`` file, in order; return the path written.

    The header row is frozen and bold, columns are sized to their content, the index is not written. The file
    is written whole or not at all (:func:`drgpay._atomic.atomic_path`).
    """
    try:
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    if not tables:
        raise ValueError("no tables to write")
    out = workbook_path(path)
    taken: set[str] = set()
    with atomic_path(out) as temporary, pd.ExcelWriter(temporary, engine="openpyxl") as writer:
        for name, table in tables.items():
            sheet = sheet_name(name, taken)
            taken.add(sheet)
            table.to_excel(writer, sheet_name=sheet, index=False)
            ws = writer.sheets[sheet]
            ws.freeze_panes = "A2"
            for j, column in enumerate(table.columns, start=1):
                letter = get_column_letter(j)
                ws.cell(row=1, column=j).font = Font(bold=True)
                fmt = _number_format(str(column))
                if fmt is not None:
                    for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                        cell.number_format = fmt
                width = max(
                    [len(str(column))]
                    + [
                        len(f"{v:,.2f}" if isinstance(v, float) else str(v))
                        for v in table[column].head(200).tolist()
                    ]
                )
                ws.column_dimensions[letter].width = min(max(width + 2, 8), 40)
    return out
