"""``DipGrouper``: a loaded DIP definition that groups records against a catalogue, and explains one record."""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from drgpay import _grouping
from drgpay._grouping import (
    DefinitionGrouper,
    categorical,
    check_errors,
    explained,
    explanation_text,
    is_nan,
    one_record,
    prepare_checked,
    reference_results,
    repr_pretty,
    result_line,
)
from drgpay.definitions import Definition, DefinitionError
from drgpay.dip.catalog import KINDS, DipCatalog, load_catalog
from drgpay.dip.compiled import (
    REASONS,
    STATUSES,
    CompiledCatalog,
    CompiledRules,
    compile_catalog,
    compile_rules,
)
from drgpay.dip.engine import run_engine
from drgpay.dip.reference import DipBook, DipRecord, RuleBook, reference_group
from drgpay.schema import PreparedRecords

__all__ = ["CatalogSource", "DipExplanation", "DipGrouper", "group_chunk", "records_from_prepared"]

CatalogSource = DipCatalog | str | os.PathLike[str] | pd.DataFrame


@attrs.frozen
class DipExplanation:
    """How one record was grouped: each step, the group, its kind, treatment level, auxiliary items."""

    grouper: str
    catalog: str
    record: dict[str, Any]
    dip_group: str | None
    dip_kind: str | None
    treatment: str | None
    status: str
    reason: str | None
    score: float
    aux: dict[str, str | None]
    aux_coefficient: float
    steps: tuple[str, ...]

    def __str__(self) -> str:
        result = result_line(self.dip_group or "-", self.status, self.reason)
        if self.dip_group:
            result += f"  kind {self.dip_kind}, treatment {self.treatment}"
            if not is_nan(self.score):
                result += f", score {self.score:g}"
            if not is_nan(self.aux_coefficient):
                result += f", aux coefficient {self.aux_coefficient:g}"
        header = f"grouper {self.grouper}, catalogue {self.catalog}"
        return explanation_text(header, self.record, self.steps, result)

    _repr_pretty_ = repr_pretty  # IPython


@functools.lru_cache(maxsize=8)
def _load_path(path: str, stamp: tuple[int, int, int]) -> DipCatalog:
    return load_catalog(path)


def _resolve_catalog(catalog: CatalogSource | None) -> DipCatalog:
    if catalog is None:
        raise TypeError(
            "DIP grouping needs a catalogue: group(df, grouper='dip-2.0', catalog='CAT.csv'); "
            "load a city's with drgpay.dip.load_catalog or build one with drgpay.dip.build_catalog"
        )
    if isinstance(catalog, DipCatalog):
        return catalog
    if isinstance(catalog, pd.DataFrame):
        return load_catalog(catalog)
    path = Path(catalog)
    if not path.is_file():
        raise DefinitionError("catalogue file not found", file=path)
    toml = path.with_suffix(".toml")
    st = path.stat()
    toml_mtime = toml.stat().st_mtime_ns if toml.is_file() else 0
    return _load_path(str(path.resolve()), (st.st_mtime_ns, st.st_size, toml_mtime))


class DipGrouper(DefinitionGrouper):
    """A loaded DIP definition: ``group`` frames and ``explain`` records against a catalogue."""

    def __init__(self, definition: Definition):
        super().__init__(definition, "dip", "use drgpay.load_grouper")
        self._compiled: OrderedDict[str, CompiledCatalog] = OrderedDict()

    def __repr__(self) -> str:
        t = self.definition.tables
        return (
            f"<DipGrouper {self.id} v{self.version}: {len(t['procedure_category.csv'])} categorised procedures, "
            f"{len(t['auxiliary.csv'])} auxiliary items; catalogue supplied per call>"
        )

    # -- tables ----------------------------------------------------------------------------------------------
    @functools.cached_property
    def rules(self) -> CompiledRules:
        return compile_rules(self.definition)

    @property
    def treatments(self) -> tuple[str, ...]:
        """Treatment levels, lowest first."""
        return self.rules.treatments

    @functools.cached_property
    def procedure_categories(self) -> pd.DataFrame:
        """Procedures with a category: proc, name, category, treatment, source."""
        t = self.definition.tables
        order = t["treatment_order.csv"]
        level = {
            c: tr
            for tr, cell in zip(order["treatment"], order["categories"], strict=True)
            for c in cell.split("|")
            if c
        }
        out = t["procedure_category.csv"].merge(t["proc_codes.csv"], on="proc", how="left")
        out["treatment"] = out["category"].map(level)
        return out[["proc", "name", "category", "treatment", "source"]]

    @functools.cached_property
    def auxiliary(self) -> pd.DataFrame:
        """Auxiliary items with their conditions written out (one row per item)."""
        t = self.definition.tables
        clauses = t["auxiliary_clause.csv"]

        def text(aux: str) -> str:
            alts = []
            for _, grp in clauses[clauses["aux"] == aux].groupby("alt", sort=True):
                parts = []
                for role, codes, low, high in grp[["role", "codes", "low", "high"]].itertuples(index=False):
                    if codes:
                        parts.append(f"{role} in {codes}")
                    else:
                        parts.append(f"{low or '-inf'} <= {role} <= {high or 'inf'}")
                alts.append(" and ".join(parts))
            return " or ".join(f"({a})" for a in alts)

        out = t["auxiliary.csv"].copy()
        out["condition"] = out["aux"].map(text)
        return out

    # -- catalogue -------------------------------------------------------------------------------------------
    def compile(self, catalog: CatalogSource | None) -> CompiledCatalog:
        """The catalogue compiled against this grouper (cached by the catalogue's content hash)."""
        cat = _resolve_catalog(catalog)
        key = cat.content_hash
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        compiled = compile_catalog(self.rules, cat)
        self._compiled[key] = compiled
        while len(self._compiled) > 4:
            self._compiled.popitem(last=False)
        return compiled

    def provenance(self, catalog: CatalogSource) -> dict[str, str]:
        """What ``frame.attrs["drgpay"]`` records: grouper id, version, content hash, catalogue id and hash."""
        cat = _resolve_catalog(catalog)
        return self._provenance(catalog=cat.id, catalog_hash=cat.content_hash)

    # -- grouping --------------------------------------------------------------------------------------------
    def group(
        self,
        df: pd.DataFrame,
        *,
        catalog: CatalogSource | None = None,
        columns: Mapping[str, str] | None = None,
        errors: Literal["flag", "raise"] = "flag",
    ) -> pd.DataFrame:
        """Group every row of ``df`` against ``catalog``; same index and order.

        Columns: ``dip_group, dip_kind, treatment, status, reason, score``, one ``aux_<type>`` per auxiliary type,
        ``aux_coefficient`` and ``grouper`` (this grouper's id on every row, so that it survives
        ``df.join(groups)`` for payment's check); categorical with categories fixed by the grouper and the
        catalogue, so results of chunks concatenate. ``errors="raise"`` raises
        :class:`~drgpay.schema.SchemaError` for unreadable rows.
        """
        self._require_complete()
        check_errors(errors)
        compiled = self.compile(catalog)
        return self._frame(compiled, prepare_checked(df, columns, errors), df.index)

    def _frame(self, c: CompiledCatalog, prepared: PreparedRecords, index: pd.Index) -> pd.DataFrame:
        res = run_engine(c, prepared)
        kind = np.where(res.group >= 0, c.kind[np.maximum(res.group, 0)], -1).astype(np.int8)
        data: dict[str, Any] = {
            "dip_group": categorical(res.group, c.group_ids),
            "dip_kind": categorical(kind, KINDS),
            "treatment": categorical(res.treatment, self.treatments, ordered=True),
            "status": categorical(res.status, STATUSES),
            "reason": categorical(res.reason, REASONS),
            "score": res.score,
        }
        aux = self.rules.aux
        for t, typ in enumerate(aux.types):
            items = aux.by_type[t]
            local = np.full(len(aux.items) + 1, -1, np.int16)
            local[list(items)] = np.arange(len(items), dtype=np.int16)
            data[f"aux_{typ}"] = categorical(local[res.aux[t]], [aux.items[i].aux for i in items])
        data["aux_coefficient"] = res.coefficient
        data["grouper"] = categorical(np.zeros(prepared.n, np.int8), [self.id])
        out = pd.DataFrame(data, index=index)
        out.attrs["drgpay"] = self.provenance(c.catalog)
        return out

    def output_columns(self) -> list[str]:
        """The columns :meth:`group` returns, in order."""
        return [
            "dip_group",
            "dip_kind",
            "treatment",
            "status",
            "reason",
            "score",
            *(f"aux_{t}" for t in self.rules.aux.types),
            "aux_coefficient",
            "grouper",
        ]

    # -- reference and explain -------------------------------------------------------------------------------
    @functools.cached_property
    def rulebook(self) -> RuleBook:
        return RuleBook(self.definition)

    def book(self, catalog: CatalogSource) -> DipBook:
        """The plain-Python form of the rules and the catalogue the reference grouper reads."""
        return DipBook(self.rulebook, _resolve_catalog(catalog))

    def reference_group(
        self,
        df: pd.DataFrame,
        *,
        catalog: CatalogSource | None = None,
        columns: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Group ``df`` record by record with the reference grouper (slow; for checks and small frames); the
        columns of :meth:`group`."""
        self._require_complete()
        book = self.book(_resolve_catalog(catalog))
        results = reference_results(df, columns, DipRecord, functools.partial(reference_group, book))
        data: dict[str, Any] = {
            "dip_group": [r.group for r in results],
            "dip_kind": [r.kind for r in results],
            "treatment": [r.treatment for r in results],
            "status": [r.status for r in results],
            "reason": [r.reason for r in results],
            "score": [r.score for r in results],
        }
        for typ in self.rules.aux.types:
            data[f"aux_{typ}"] = [r.aux.get(typ) for r in results]
        data["aux_coefficient"] = [r.coefficient for r in results]
        data["grouper"] = [self.id] * len(results)
        return pd.DataFrame(data, index=df.index)

    def explain(
        self,
        record: Mapping[str, Any] | pd.Series,
        *,
        catalog: CatalogSource | None = None,
        columns: Mapping[str, str] | None = None,
    ) -> DipExplanation:
        """Group one record with the reference grouper and return every step it took."""
        self._require_complete()
        cat = _resolve_catalog(catalog)
        rec = one_record(record, columns, DipRecord)
        res = reference_group(self.book(cat), rec)
        shown = {
            "principal_dx": rec.principal_dx,
            "secondary_dx": "|".join(rec.secondary_dx),
            "procedures": "|".join(rec.procedures),
            "age": rec.age,
            "age_days": rec.age_days,
            "discharge_type": rec.discharge_type,
        }
        return explained(
            DipExplanation,
            res,
            grouper=self.id,
            catalog=cat.id,
            record=shown,
            dip_group=res.group,
            dip_kind=res.kind,
            aux=dict(res.aux),
            aux_coefficient=res.coefficient,
        )


def records_from_prepared(prepared: PreparedRecords) -> list[DipRecord]:
    """Prepared arrays back to one :class:`DipRecord` per row (for the reference grouper)."""
    return _grouping.records_from_prepared(prepared, DipRecord)


def group_chunk(
    df: pd.DataFrame,
    catalog: CatalogSource,
    *,
    grouper: str | Path | DipGrouper = "dip-2.0",
    columns: Mapping[str, str] | None = None,
    errors: Literal["flag", "raise"] = "flag",
) -> pd.DataFrame:
    """Group one chunk of an export (the CLI's per-chunk call); the grouper and catalogue are cached."""
    if not isinstance(grouper, DipGrouper):
        from drgpay.grouper import load_grouper

        loaded = load_grouper(grouper)
        if not isinstance(loaded, DipGrouper):
            raise DefinitionError(f"{loaded.id} is not a DIP grouper")
        grouper = loaded
    return grouper.group(df, catalog=catalog, columns=columns, errors=errors)
