"""``Grouper``: one loaded grouper definition with its engine, its reference grouper and ``explain``."""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from drgpay._grouping import (
    DefinitionGrouper,
    GrouperIncompleteError,
    categorical,
    explained,
    explanation_text,
    one_record,
    prepare_checked,
    reference_results,
    repr_pretty,
    result_line,
)
from drgpay.definitions import Definition, cache, find_grouper, load_definition
from drgpay.definitions.loader import resolve_base
from drgpay.definitions.manifest import Manifest, read_manifest
from drgpay.drg.compiled import REASONS, STATUSES, CompiledDrg, compile_drg
from drgpay.drg.engine import run_engine
from drgpay.drg.reference import Record, RuleBook, reference_group
from drgpay.schema import CodeLists, PreparedRecords

__all__ = ["Explanation", "Grouper", "GrouperIncompleteError", "load_grouper"]

#: The columns of :meth:`Grouper.group`, in order. ``grouper`` (one category: the grouper's id) travels with the
#: results through ``df.join(groups)``, where ``frame.attrs`` is lost, so that payment can check it.
OUTPUT_COLUMNS = ("mdc", "adrg", "drg", "status", "reason", "warnings", "grouper")


@attrs.frozen
class Explanation:
    """How one record was grouped: the steps taken, which table and code decided each, and the result."""

    grouper: str
    record: dict[str, Any]
    mdc: str | None
    adrg: str | None
    drg: str
    status: str
    reason: str | None
    steps: tuple[str, ...]

    def __str__(self) -> str:
        result = result_line(self.drg, self.status, self.reason)
        if self.adrg:
            result += f"  MDC {self.mdc}, ADRG {self.adrg}"
        return explanation_text(f"grouper {self.grouper}", self.record, self.steps, result)

    _repr_pretty_ = repr_pretty  # IPython


class Grouper(DefinitionGrouper):
    """A loaded grouper: metadata and tables as DataFrames, ``group`` for frames and ``explain`` for one record."""

    # from DefinitionGrouper; named here so that the API reference lists them with the class
    definition: Definition
    manifest: Manifest
    id: str
    version: str
    scheme: str
    complete: bool
    content_hash: str

    def __init__(self, definition: Definition):
        super().__init__(definition, "chs-drg", "use the matching engine")

    def __repr__(self) -> str:
        state = "" if self.complete else ", incomplete"
        return f"<Grouper {self.id} v{self.version}{state}: {len(self.mdcs)} MDC, {len(self.adrgs)} ADRG, {len(self.drgs)} DRG>"

    # -- tables --------------------------------------------------------------------------------------------------
    @functools.cached_property
    def mdcs(self) -> pd.DataFrame:
        """MDCs: code, name, sex restriction, size of the principal-diagnosis table."""
        t = self.definition.tables
        sizes = t["mdc_dx.csv"].groupby("mdc")["dx"].nunique()
        out = t["mdc.csv"].rename(columns={"mdc": "code"}).copy()
        out["principal_dx_codes"] = out["code"].map(sizes).fillna(0).astype(int)
        return out

    @functools.cached_property
    def adrgs(self) -> pd.DataFrame:
        """ADRGs in evaluation order: code, MDC, name, kind, number of rule alternatives, DRG splits."""
        t = self.definition.tables
        alts = t["adrg_clause.csv"].groupby("adrg")["alt"].nunique()
        splits = t["drg.csv"].groupby("adrg")["split"].agg(_splits_text)
        out = t["adrg.csv"].rename(columns={"adrg": "code"}).copy()
        out["alternatives"] = out["code"].map(alts).fillna(0).astype(int)
        out["splits"] = out["code"].map(splits).fillna("")
        return out

    @functools.cached_property
    def drgs(self) -> pd.DataFrame:
        """DRGs: code, ADRG, name, split (1 MCC, 3 CC, 5 none, 9 not split)."""
        return self.definition.tables["drg.csv"].rename(columns={"drg": "code"}).copy()

    @functools.cached_property
    def compiled(self) -> CompiledDrg:
        return compile_drg(self.definition)

    @functools.cached_property
    def rulebook(self) -> RuleBook:
        return RuleBook(self.definition)

    # -- grouping --------------------------------------------------------------------------------------------------
    def _reject_options(self, options: Mapping[str, Any]) -> None:
        """Options of other schemes (``catalog=`` is DIP's) are an error here, named, not a TypeError."""
        if options:
            raise ValueError(
                f"{', '.join(sorted(options))} does not apply to {self.id} (a CHS-DRG grouper); "
                "catalog= is for DIP groupers such as dip-2.0"
            )

    def group(
        self,
        df: pd.DataFrame,
        *,
        columns: Mapping[str, str] | None = None,
        errors: Literal["flag", "raise"] = "flag",
        **options: Any,
    ) -> pd.DataFrame:
        """Group every row of ``df``; same index and order, columns ``mdc, adrg, drg, status, reason, warnings,
        grouper`` (:data:`OUTPUT_COLUMNS`; ``grouper`` holds this grouper's id on every row).

        ``errors="flag"`` marks unreadable rows ``invalid`` with a reason; ``errors="raise"`` raises
        :class:`~drgpay.schema.SchemaError` naming them instead.
        """
        self._reject_options(options)
        self._require_complete()
        return self._frame(prepare_checked(df, columns, errors), df.index)

    def _frame(self, prepared: PreparedRecords, index: pd.Index) -> pd.DataFrame:
        c = self.compiled
        res = run_engine(c, prepared)
        out = pd.DataFrame(
            {
                "mdc": categorical(res.mdc, c.mdc_codes),
                "adrg": categorical(res.adrg, c.adrg_codes),
                "drg": categorical(res.drg, c.drg_codes),
                "status": categorical(res.status, STATUSES),
                "reason": categorical(res.reason, REASONS),
                "warnings": _warnings(prepared, res.unknown_secondary, res.unknown_procedure),
                "grouper": categorical(np.zeros(prepared.n, np.int8), [self.id]),
            },
            index=index,
        )
        out.attrs["drgpay"] = self.provenance()
        return out

    def provenance(self) -> dict[str, str]:
        """What ``frame.attrs["drgpay"]`` records about the grouping."""
        return self._provenance()

    def explain(
        self,
        record: Mapping[str, Any] | pd.Series,
        *,
        columns: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Explanation:
        """Group one record with the reference grouper and return every step it took."""
        self._reject_options(options)
        self._require_complete()
        rec = one_record(record, columns, Record)
        result = reference_group(self.rulebook, rec)
        shown = {
            "principal_dx": rec.principal_dx,
            "secondary_dx": "|".join(rec.secondary_dx),
            "procedures": "|".join(rec.procedures),
            "sex": {1: "M", 2: "F"}.get(rec.sex, ""),
            "age": rec.age,
            "age_days": rec.age_days,
            "birth_weight": rec.birth_weight,
            "ventilation_hours": rec.ventilation_hours,
        }
        return explained(Explanation, result, grouper=self.id, record=shown)

    def reference_group(self, df: pd.DataFrame, *, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Group ``df`` record by record with the reference grouper (slow; for checks and small frames)."""
        self._require_complete()
        results = reference_results(df, columns, Record, functools.partial(reference_group, self.rulebook))
        return pd.DataFrame(
            {
                name: [getattr(r, name) for r in results]
                for name in ("mdc", "adrg", "drg", "status", "reason")
            },
            index=df.index,
        )


def _warnings(
    prepared: PreparedRecords, unknown_sdx: np.ndarray, unknown_proc: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """``unknown_secondary_dx:A,B; unknown_procedure:C`` for rows with codes the grouper does not know, else NA.

    Built with Arrow kernels over the few rows that have a warning, then spread into an Arrow-backed string array
    of all rows (no per-row gather: most rows have no warning).
    """
    parts = [
        _unknown_codes(label, lists, unknown)
        for label, lists, unknown in (
            ("unknown_secondary_dx:", prepared.secondary_dx, unknown_sdx),
            ("unknown_procedure:", prepared.procedures, unknown_proc),
        )
    ]
    rows = np.union1d(parts[0][0], parts[1][0])
    if len(rows) == 0:
        text = pa.nulls(prepared.n, pa.large_string())
    else:
        texts = [label.take(_positions_in(found, rows)) for found, label in parts]
        joined = pc.binary_join_element_wise(*texts, _SEMICOLON, null_handling="skip")
        # trailing ';' and ' ' go, as they always have (a code from a list-like cell may end with ';')
        text = _spread(pc.utf8_rtrim(joined, characters="; "), rows, prepared.n)
    return pd.arrays.ArrowStringArray(pa.chunked_array([text], pa.large_string()))


_SEMICOLON = pa.scalar("; ", pa.large_string())


def _spread(values: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """A large_string array of ``n`` entries holding ``values`` at the ascending ``rows`` and nulls elsewhere.

    Built from buffers: the new offsets repeat the old ones across the rows in between, the character data is
    shared, so the cost is a few passes over ``n`` small integers instead of a ``take``.
    """
    values = values.cast(pa.large_string())
    ends = np.frombuffer(values.buffers()[1], np.int64)[values.offset : values.offset + len(values) + 1]
    lengths = np.zeros(n + 1, np.int64)
    lengths[0] = ends[0]
    lengths[rows + 1] = np.diff(ends)
    valid = np.zeros(n, bool)
    valid[rows] = values.is_valid().to_numpy(zero_copy_only=False)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    offsets = pa.py_buffer(np.cumsum(lengths))
    return pa.LargeStringArray.from_buffers(n, offsets, values.buffers()[2], bitmap)


def _unknown_codes(label: str, lists: CodeLists, unknown: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """The rows with unknown codes (ascending) and, per row, ``label`` followed by those codes joined by ","."""
    at = np.flatnonzero(unknown)
    rows = np.searchsorted(lists.offsets, at, side="right") - 1  # values are in row order
    starts = np.flatnonzero(np.diff(rows, prepend=-1))
    codes = lists.values.take(pa.array(at)).cast(pa.large_string())
    per_row = pa.LargeListArray.from_arrays(pa.array(np.append(starts, len(at)), pa.int64()), codes)
    joined = pc.binary_join(per_row, pa.scalar(",", pa.large_string()))
    prefix = pa.scalar(label, pa.large_string())
    return rows[starts], pc.binary_join_element_wise(prefix, joined, pa.scalar("", pa.large_string()))


def _positions_in(found: np.ndarray, rows: np.ndarray) -> pa.Array:
    """For each of ``rows``, its position in the ascending ``found``, null when it is not there (for ``take``)."""
    where = np.searchsorted(found, rows)
    present = where < len(found)
    present[present] = found[where[present]] == rows[present]
    return pa.array(np.where(present, where, 0), pa.int64(), mask=~present)


#: The compiled form's field names: part of the cache key, so a drgpay whose compiled form changed never reads a
#: cache file written by another shape of it (the version alone does not change between development builds).
_COMPILED_SHAPE = ",".join(f.name for f in attrs.fields(CompiledDrg))


def _disk_cached(folder: Path, stamp: tuple[tuple[str, int, int], ...]) -> Grouper:
    """Load and compile a CHS-DRG grouper, reusing the compiled form saved by an earlier run when the folder's
    files are unchanged (the key covers every file's path, size and modification time, the compiled form's shape;
    :mod:`drgpay.definitions.cache` adds drgpay's version and checks owner, permissions and integrity)."""
    key = "chs-drg:" + hashlib.sha256(repr((str(folder), stamp, _COMPILED_SHAPE)).encode()).hexdigest()
    match cache.load(key):
        case (Definition() as definition, CompiledDrg() as compiled):
            grouper = Grouper(definition)
            grouper.compiled = compiled  # the cached_property, filled from the cache
            return grouper
    grouper = Grouper(load_definition(folder))
    if grouper.complete:
        cache.store(key, (grouper.definition, grouper.compiled))
    return grouper


@functools.lru_cache(maxsize=16)
def _load_cached(folder: Path, stamp: tuple[tuple[str, int, int], ...]) -> Any:
    manifest = read_manifest(folder / "grouper.toml")
    if manifest.scheme == "dip":
        dip = importlib.import_module("drgpay.dip")  # the DIP engine, loaded only for a DIP definition
        return dip.DipGrouper(load_definition(folder))
    return _disk_cached(folder, stamp)


def load_grouper(name_or_path: str | Path) -> Any:
    """Load a grouper by name (see :func:`drgpay.list_groupers`) or folder path; cached per folder and version.

    Returns a :class:`Grouper` for CHS-DRG definitions and a :class:`drgpay.dip.DipGrouper` for DIP ones.
    """
    folder = find_grouper(name_or_path)
    return _load_cached(folder, _stamp(folder))


def _splits_text(splits: pd.Series) -> str:
    """An ADRG's splits for the ``adrgs`` table: the digits in order (``135``) for the national 1/3/5/9 splits, the
    conditions in evaluation order (``age_ge 70 & cc | cc | always``) otherwise."""
    if all(len(s) == 1 for s in splits):
        return "".join(sorted(splits))
    return " | ".join(splits)


def _stamp(folder: Path, seen: tuple[Path, ...] = ()) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every file of the grouper and of the bases it ``extends``, so a
    change anywhere in the chain invalidates the in-memory and disk caches."""
    files = tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()
    )
    manifest = read_manifest(folder / "grouper.toml")
    if not manifest.extends or folder in seen:
        return files
    return files + _stamp(resolve_base(manifest), (*seen, folder))
