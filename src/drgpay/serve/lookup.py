"""Code look-up for the page: diagnosis and procedure codes of the loaded grouper (its 医保版 ``dx_codes.csv`` and
``proc_codes.csv``) found by the start of their code or by a part of their name."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

import attrs

from drgpay.codes import normalize_code

__all__ = ["KINDS", "CodeList", "code_lists"]

#: The look-up kinds and the grouper table and code column of each.
KINDS: dict[str, tuple[str, str]] = {"dx": ("dx_codes.csv", "dx"), "proc": ("proc_codes.csv", "proc")}


@attrs.frozen
class CodeList:
    """Codes in order with their names; :meth:`search` finds codes by prefix, then names by substring."""

    codes: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def from_table(cls, table: Any, column: str) -> CodeList:
        pairs = sorted(zip(table[column].astype(str), table["name"].fillna("").astype(str), strict=True))
        return cls(tuple(c for c, _ in pairs), tuple(n for _, n in pairs))

    def name(self, code: str) -> str | None:
        """The name of ``code`` (normalised as the grouper reads it), None when it is not in the list."""
        code = normalize_code(code)
        at = bisect.bisect_left(self.codes, code)
        return self.names[at] if at < len(self.codes) and self.codes[at] == code else None

    def search(self, query: str, limit: int) -> list[dict[str, str]]:
        """Up to ``limit`` matches: codes starting with ``query`` (as normalised: ``k80.1`` finds ``K80.101``)
        first, in code order, then codes whose name holds ``query``."""
        text = query.strip()
        if not text:
            return []
        found: dict[int, None] = {}
        prefix = normalize_code(text)
        if prefix:
            at = bisect.bisect_left(self.codes, prefix)
            while at < len(self.codes) and len(found) < limit and self.codes[at].startswith(prefix):
                found[at] = None
                at += 1
        if len(found) < limit:
            for at, name in enumerate(self.names):
                if text in name and at not in found:
                    found[at] = None
                    if len(found) == limit:
                        break
        return [{"code": self.codes[at], "name": self.names[at]} for at in found]


def code_lists(grouper: Any) -> Mapping[str, CodeList]:
    """The look-up lists of a loaded grouper, by kind (empty for a table the definition lacks)."""
    tables = grouper.definition.tables
    return {
        kind: CodeList.from_table(tables[table], column) if table in tables else CodeList((), ())
        for kind, (table, column) in KINDS.items()
    }
