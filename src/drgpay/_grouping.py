"""What the CHS-DRG and the DIP groupers share: identity and completeness from the definition, the ``errors=``
check, the records and results of the reference groupers, categorical result columns, the text of an explanation.

Private: :mod:`drgpay.grouper` and :mod:`drgpay.dip.grouper` build their public classes on it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import attrs
import numpy as np
import pandas as pd

from drgpay import __version__
from drgpay.definitions import Definition, DefinitionError
from drgpay.schema import PreparedRecords, SchemaError, prepare_records, record_to_frame

__all__ = [
    "DefinitionGrouper",
    "GrouperIncompleteError",
    "ParsedRecord",
    "Traced",
    "categorical",
    "check_errors",
    "explained",
    "explanation_text",
    "is_nan",
    "one_record",
    "prepare_checked",
    "raise_invalid",
    "records_from_prepared",
    "reference_results",
    "repr_pretty",
    "result_line",
]


@dataclass(frozen=True)
class ParsedRecord:
    """One record as a reference grouper reads it: codes normalised, NaN for unknown numbers, ``invalid`` the
    reason the row is unreadable or "". Each scheme's record adds the fields its rules read, named like the
    arrays of :class:`~drgpay.schema.PreparedRecords`."""

    principal_dx: str
    secondary_dx: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()
    age: float = math.nan
    age_days: float = math.nan
    invalid: str = ""


@dataclass
class Traced:
    """A reference grouper's result: the steps it took, in order, for ``explain``."""

    trace: list[str] = field(default_factory=list)

    def step(self, text: str) -> None:
        self.trace.append(text)


R = TypeVar("R", bound=ParsedRecord)
S = TypeVar("S")
E = TypeVar("E", bound=attrs.AttrsInstance)


class GrouperIncompleteError(RuntimeError):
    """The grouper's definition is incomplete (its manifest says why) and refuses to group."""


def _from_manifest(name: str, doc: str) -> Any:
    """A read-only property: the manifest's ``name``."""
    return property(lambda self: getattr(self.manifest, name), doc=doc)


class DefinitionGrouper:
    """A grouper built on a loaded definition of one scheme: its identity, and no grouping while incomplete."""

    id = _from_manifest("id", "The grouper's name, such as ``chs-drg-2.0``.")
    version = _from_manifest("version", "The definition's version.")
    scheme = _from_manifest("scheme", "``chs-drg`` or ``dip``.")
    complete = _from_manifest(
        "complete", "Whether the definition is complete (an incomplete one refuses to group)."
    )

    def __init__(self, definition: Definition, scheme: str, hint: str):
        self.definition = definition
        self.manifest = definition.manifest
        if self.manifest.scheme != scheme:
            raise DefinitionError(
                f"{self.manifest.id} is a {self.manifest.scheme} definition; {hint}", file=self.manifest.path
            )

    @property
    def content_hash(self) -> str:
        """sha256 over the manifests and tables of the definition and the bases it extends."""
        return self.definition.content_hash

    def _require_complete(self) -> None:
        if not self.complete:
            raise GrouperIncompleteError(
                f"grouper {self.id} is incomplete and refuses to group: {self.manifest.status_note}"
            )

    def _provenance(self, **extra: str) -> dict[str, str]:
        """What ``frame.attrs["drgpay"]`` records: the grouper, then ``extra``, then drgpay's version."""
        return {
            "grouper": self.id,
            "version": self.version,
            "content_hash": self.content_hash,
            **extra,
            "drgpay_version": __version__,
        }


# -- input ---------------------------------------------------------------------------------------------------
def check_errors(errors: str) -> None:
    if errors not in ("flag", "raise"):
        raise ValueError(f"errors must be 'flag' or 'raise', not {errors!r}")


def prepare_checked(df: pd.DataFrame, columns: Mapping[str, str] | None, errors: str) -> PreparedRecords:
    """``df`` prepared for an engine; with ``errors="raise"`` unreadable values are a :class:`SchemaError`."""
    prepared = prepare_records(df, columns)
    if errors == "raise":
        raise_invalid(df, prepared)
    check_errors(errors)
    return prepared


def raise_invalid(df: pd.DataFrame, prepared: PreparedRecords) -> None:
    """A :class:`SchemaError` naming each column with unreadable values and its first rows, if there are any."""
    problems = []
    for column, mask in prepared.invalid_columns.items():
        if mask.any():
            labels = list(df.index[mask][:10])
            more = f" and {int(mask.sum()) - 10} more" if mask.sum() > 10 else ""
            problems.append(f"{column}: rows {labels}{more}")
    if problems:
        raise SchemaError("unreadable values — " + "; ".join(problems))


# -- records for the reference groupers ----------------------------------------------------------------------
def records_from_prepared(prepared: PreparedRecords, record_type: type[R]) -> list[R]:
    """Prepared arrays back to one record per row (for a reference grouper).

    Each field of ``record_type`` is read from the prepared array of its name: codes as text and tuples, ``sex``
    as an int, ``invalid`` as the reason ("" for a readable row), other numbers as floats."""
    values = {f.name: _field_values(prepared, f.name) for f in fields(record_type)}
    return [record_type(**{name: column[i] for name, column in values.items()}) for i in range(prepared.n)]


def _field_values(prepared: PreparedRecords, name: str) -> list[Any]:
    if name == "principal_dx":
        return [code or "" for code in prepared.principal_dx.to_pylist()]
    if name in ("secondary_dx", "procedures"):
        lists = getattr(prepared, name)
        return [tuple(lists.row(i)) for i in range(prepared.n)]
    if name == "invalid":
        return [str(reason) for reason in prepared.invalid]
    return getattr(prepared, name).tolist()


def one_record(
    record: Mapping[str, Any] | pd.Series, columns: Mapping[str, str] | None, record_type: type[R]
) -> R:
    """One record (a mapping or a Series) read like a row of a frame, as a reference grouper's record."""
    return records_from_prepared(prepare_records(record_to_frame(record), columns), record_type)[0]


def reference_results(
    df: pd.DataFrame, columns: Mapping[str, str] | None, record_type: type[R], group_one: Callable[[R], S]
) -> list[S]:
    """Every row of ``df`` grouped, in order, by a reference grouper (``group_one`` groups one record)."""
    return [group_one(rec) for rec in records_from_prepared(prepare_records(df, columns), record_type)]


# -- output --------------------------------------------------------------------------------------------------
def categorical(codes: np.ndarray, categories: Sequence[str], *, ordered: bool = False) -> Any:
    """Integer codes (-1 = missing) as a categorical with categories fixed by the grouper, so that the results
    of chunks concatenate cleanly. The codes are used as they are (pandas narrows them to its code type)."""
    return pd.Categorical.from_codes(codes, dtype=_categorical_dtype(tuple(categories), ordered))


@functools.lru_cache(maxsize=64)
def _categorical_dtype(categories: tuple[str, ...], ordered: bool) -> pd.CategoricalDtype:
    """One dtype per category list: building it validates every category, which costs more than grouping a
    record."""
    return pd.CategoricalDtype(list(categories), ordered=ordered)


def explained(cls: type[E], result: Traced, **given: Any) -> E:
    """An explanation (``cls``) of a reference grouper's ``result``: the fields ``given``, ``steps`` from the
    trace, and every other field copied from the result's attribute of the same name."""
    given = {**given, "steps": tuple(result.trace)}
    copied = {a.name: getattr(result, a.name) for a in attrs.fields(cls) if a.name not in given}
    return cls(**given, **copied)


def explanation_text(header: str, record: Mapping[str, Any], steps: Sequence[str], result: str) -> str:
    """An explanation as text: the header, the record's given values, the numbered steps, the result line."""
    shown = {k: v for k, v in record.items() if v not in (None, "", ()) and not is_nan(v)}
    lines = [header, "record  " + ", ".join(f"{k}={v}" for k, v in shown.items())]
    lines += [f"  {i}. {s}" for i, s in enumerate(steps, start=1)]
    lines.append(result)
    return "\n".join(lines)


def result_line(outcome: str, status: str, reason: str | None) -> str:
    """``result  OUTCOME (status: reason)``, the start of an explanation's last line."""
    return f"result  {outcome} ({status}" + (f": {reason})" if reason else ")")


def repr_pretty(self: object, printer: Any, cycle: bool) -> None:
    """IPython's pretty printer shows an explanation as its text (``_repr_pretty_ = repr_pretty``)."""
    printer.text(str(self))


def is_nan(value: object) -> bool:
    """A float NaN (a value not given), as opposed to any other value."""
    return isinstance(value, float) and math.isnan(value)
