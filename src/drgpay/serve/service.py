"""What the service holds and does: the groupers, policy and catalogue loaded once at start, and the work of each
endpoint as plain functions of a frame or a record (run on a worker thread by :mod:`drgpay.serve.app`)."""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from drgpay.api import DEFAULT_GROUPER
from drgpay.grouper import load_grouper
from drgpay.io import ResultWriter
from drgpay.money import to_decimal
from drgpay.schema import resolve_columns
from drgpay.serve.errors import ApiError
from drgpay.serve.limits import Limits
from drgpay.serve.lookup import CodeList, code_lists
from drgpay.serve.records import captured_warnings

__all__ = ["Service", "load_service"]

#: Result columns not repeated on every row of a JSON answer (the answer names its grouper once).
_NOT_PER_ROW = ("grouper",)


@attrs.frozen
class Service:
    """The loaded groupers (by id; ``default`` answers requests that name none), the optional policy and DIP
    catalogue, the limits, and per grouper its code look-up lists and group names."""

    groupers: Mapping[str, Any]
    default: str
    limits: Limits = attrs.field(factory=Limits)
    policy: Any = None
    catalog: Any = None
    lookups: Mapping[str, Mapping[str, CodeList]] = attrs.field(factory=dict)
    names: Mapping[str, Mapping[str, Mapping[str, str]]] = attrs.field(factory=dict)

    # -- what is loaded ----------------------------------------------------------------------------------------
    def grouper(self, grouper_id: str | None) -> Any:
        """The loaded grouper ``grouper_id`` (None: the default); ``unknown_grouper`` for any other name. Only
        ids of groupers loaded at start are accepted, never a path."""
        chosen = grouper_id or self.default
        if chosen not in self.groupers:
            raise ApiError(
                "unknown_grouper",
                f"grouper {chosen!r} is not loaded; this service has {', '.join(self.groupers)} "
                "(groupers are chosen when the service starts: drgpay serve --grouper …)",
                column="grouper",
            )
        return self.groupers[chosen]

    def options(self, grouper: Any) -> dict[str, Any]:
        """Keyword options of the grouper's ``group`` and ``explain``: the catalogue for a DIP grouper."""
        return {"catalog": self.catalog} if grouper.scheme == "dip" else {}

    def describe(self) -> dict[str, Any]:
        """``GET /groupers``: each loaded grouper, the default, the policy and catalogue, the limits."""
        policy = None
        if self.policy is not None:
            policy = {
                "name": self.policy.name,
                "version": self.policy.version,
                "grouper": self.policy_grouper().id,
                "effective_from": self.policy.effective_from.isoformat(),
                "effective_to": self.policy.effective_to.isoformat(),
            }
        return {
            "default": self.default,
            "groupers": [
                {
                    "id": g.id,
                    "version": g.version,
                    "scheme": g.scheme,
                    "content_hash": g.content_hash,
                    "codes": {kind: len(lst.codes) for kind, lst in self.lookups.get(g.id, {}).items()},
                }
                for g in self.groupers.values()
            ],
            "policy": policy,
            "catalog": None if self.catalog is None else {"id": self.catalog.id, "groups": len(self.catalog)},
            "limits": attrs.asdict(self.limits),
        }

    def policy_grouper(self) -> Any:
        """The grouper the policy pays: the one it names, else the default when its scheme matches."""
        if self.policy is None:
            raise ApiError("no_policy", "no payment policy is loaded: start the service with --policy")
        return self.groupers[self.policy.grouper or self.default]

    # -- grouping ----------------------------------------------------------------------------------------------
    def group(self, frame: pd.DataFrame, grouper: Any) -> pd.DataFrame:
        """The grouping of ``frame`` (the library's columns); a frame it cannot read is ``invalid_input``."""
        try:
            return grouper.group(frame, **self.options(grouper))
        except ValueError as exc:  # SchemaError and the definitions' errors: the input's fault
            raise ApiError("invalid_input", str(exc)) from None

    def group_json(self, frame: pd.DataFrame, result: pd.DataFrame, grouper: Any) -> bytes:
        """``POST /group`` as JSON: the grouper, the row count, a summary by status and one result per row, in
        order (``row``, the ``case_id`` when the input has one, then the result columns)."""
        columns = [c for c in result.columns if c not in _NOT_PER_ROW]
        values: dict[str, list[Any]] = {"row": list(range(len(frame)))}
        mapping, _ = resolve_columns(frame.columns)
        if "case_id" in mapping:
            values["case_id"] = _plain(frame[mapping["case_id"]])
        values.update({c: _plain(result[c]) for c in columns})
        names = list(values)
        rows = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
        summary = Counter(str(s) for s in result["status"])
        document = {"grouper": grouper.id, "rows": len(frame), "summary": dict(summary), "results": rows}
        return _dumps(document)

    def explain(self, record: Mapping[str, Any], grouper: Any) -> dict[str, Any]:
        """``POST /explain``: the structured trace of one record, the names of its groups, and its payment when
        the policy pays this grouper's groups."""
        try:
            explanation = grouper.explain(record, **self.options(grouper))
        except ValueError as exc:
            raise ApiError("invalid_input", str(exc)) from None
        out = {name: _plain_scalar(value) for name, value in attrs.asdict(explanation).items()}
        out["record"] = {k: _plain_scalar(v) for k, v in explanation.record.items()}
        out["steps"] = list(explanation.steps)
        out["names"] = {
            level: self.names.get(grouper.id, {}).get(level, {}).get(str(out.get(level)))
            for level in ("mdc", "adrg", "drg")
            if level in out
        }
        out["payment"] = self._explain_payment(record, grouper)
        return out

    def _explain_payment(self, record: Mapping[str, Any], grouper: Any) -> dict[str, Any] | None:
        """The payment of one record, or only its weight (score) when the record lacks what payment needs."""
        if self.policy is None or self.policy_grouper() is not grouper:
            return None
        from drgpay.payment import explain_payment

        frame = pd.DataFrame([dict(record)])
        cases = _beside(frame, self.group(frame, grouper))
        try:
            with captured_warnings() as notes:
                case = cases["case_id"].iloc[0] if "case_id" in cases else cases.index[0]
                explained = explain_payment(cases, self.policy, case)
        except ValueError as exc:  # PaymentInputError (columns payment needs are missing), dates, amounts
            return {"result": None, "steps": [], "note": str(exc), **self._weight(cases)}
        result = {k: _decimal_text(v) for k, v in explained.result.items()}
        return {"result": result, "steps": list(explained.steps), "warnings": notes, **self._weight(cases)}

    def _weight(self, cases: pd.DataFrame) -> dict[str, Any]:
        """The policy's weight (DRG) or score (DIP) of the case's group, as exact decimal text."""
        if self.policy.scheme == "dip":
            entry = self.policy.scores.get(str(cases["dip_group"].iloc[0]))
            return {"score": None if entry is None else str(entry.score)}
        entry = self.policy.weights.get(str(cases["drg"].iloc[0]))
        return {"weight": None if entry is None else str(entry.weight)}

    def pay(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
        """``POST /pay``: the records grouped by the policy's grouper and paid: the input, grouping and payment
        columns, the names of the grouping and payment columns, and the library's warnings."""
        from drgpay.payment import pay

        grouper = self.policy_grouper()
        result = self.group(frame, grouper)
        cases = _beside(frame, result)
        try:
            with captured_warnings() as notes:
                paid = pay(cases, self.policy)
        except ValueError as exc:  # PaymentInputError, PolicyDateError, GrouperMismatchError, amounts
            positions: tuple[int, ...] = tuple(getattr(exc, "positions", ()))
            raise ApiError(
                "invalid_input",
                str(exc),
                row=int(positions[0]) if len(positions) else None,
                column=getattr(exc, "column", None),
            ) from None
        paid = paid.rename(columns={c: f"{c}_payment" for c in paid if c in cases})
        added = [c for c in (*result.columns, *paid.columns) if c not in _NOT_PER_ROW]
        return cases.join(paid), added, notes

    def pay_json(self, paid: pd.DataFrame, notes: list[str], result_columns: Sequence[str]) -> bytes:
        """``POST /pay`` as JSON: per row the grouping and payment columns, amounts as exact decimal text."""
        values: dict[str, list[Any]] = {"row": list(range(len(paid)))}
        for column in result_columns:
            series = paid[column]
            numeric = pd.api.types.is_float_dtype(series.dtype)
            values[column] = [_decimal_text(v) for v in series] if numeric else _plain(series)
        names = list(values)
        rows = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
        return _dumps({"policy": self.policy.name, "rows": len(paid), "warnings": notes, "results": rows})

    # -- code look-up --------------------------------------------------------------------------------------------
    def lookup(self, grouper: Any, kind: str, query: str, limit: int) -> list[dict[str, str]]:
        lists = self.lookups.get(grouper.id, {})
        if kind not in lists:
            raise ApiError(
                "invalid_value", f"kind must be one of {', '.join(lists)}, not {kind!r}", column="kind"
            )
        return lists[kind].search(query, limit)


def csv_bytes(frame: pd.DataFrame, result: pd.DataFrame) -> bytes:
    """The input columns followed by the result columns, as ``drgpay group -o FILE.csv`` writes them (UTF-8;
    input columns named like a result column are replaced by it)."""
    with tempfile.TemporaryDirectory(prefix="drgpay-serve-") as folder:
        path = Path(folder) / "out.csv"
        with ResultWriter(path, kind="csv") as writer:
            writer.write(_beside(frame, result))
        return path.read_bytes()


def _beside(frame: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s columns, less those a result column replaces, then ``result``'s."""
    kept = [c for c in frame.columns if c not in result.columns]
    return pd.concat([frame[kept], result.set_axis(frame.index)], axis=1)


def _plain(series: pd.Series) -> list[Any]:
    """A column as JSON values: text and numbers as they are, None for a missing value."""
    values = series.to_numpy(dtype=object)
    missing = pd.isna(series).to_numpy(dtype=bool)
    if missing.any():
        values = values.copy()
        values[missing] = None
    return [_plain_scalar(v) for v in values] if _needs_conversion(series) else values.tolist()


def _needs_conversion(series: pd.Series) -> bool:
    return not (isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series.dtype))


def _plain_scalar(value: Any) -> Any:
    """One value as JSON: numpy numbers as Python numbers, NaN and NA as None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return _plain_scalar(value.item())
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decimal_text(value: Any) -> str | None:
    """A payment figure as exact decimal text (``17318.75``), None when missing; text stays text."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    return str(to_decimal(value))


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _group_names(grouper: Any) -> dict[str, dict[str, str]]:
    """Code → name of each MDC, ADRG and DRG, for the groupers that have them (CHS-DRG)."""
    names: dict[str, dict[str, str]] = {}
    for level, table in (("mdc", "mdcs"), ("adrg", "adrgs"), ("drg", "drgs")):
        frame = getattr(grouper, table, None)
        if isinstance(frame, pd.DataFrame) and {"code", "name"} <= set(frame.columns):
            names[level] = dict(zip(frame["code"].astype(str), frame["name"].astype(str), strict=True))
    return names


def load_service(
    groupers: Sequence[str | Path] = (DEFAULT_GROUPER,),
    *,
    policy: str | Path | None = None,
    catalog: str | Path | None = None,
    limits: Limits | None = None,
) -> Service:
    """Load the groupers (the first is the default), the policy and the DIP catalogue once, compiling each grouper
    (one record grouped and explained) so that the first request pays nothing for it. A policy's grouper is
    loaded too when it is not listed. Errors (an unknown grouper, a DIP grouper without a catalogue, a catalogue
    without a DIP grouper) raise ValueError."""
    loaded: dict[str, Any] = {}
    for name in groupers or (DEFAULT_GROUPER,):
        grouper = load_grouper(name)
        loaded.setdefault(grouper.id, grouper)
    default = next(iter(loaded))
    pol = None
    if policy is not None:
        from drgpay.payment import load_policy

        pol = load_policy(policy)
        if pol.grouper is not None and pol.grouper not in loaded:
            loaded[pol.grouper] = load_grouper(pol.grouper)
        if pol.grouper is None and loaded[default].scheme != pol.scheme:
            raise ValueError(
                f"policy {pol.name!r} names no grouper and the default, {default}, is not {pol.scheme}"
            )
    cat = None
    dip = [g for g in loaded.values() if g.scheme == "dip"]
    if catalog is not None:
        if not dip:
            raise ValueError("--catalog is for DIP groupers: add --grouper dip-2.0")
        from drgpay.dip import load_catalog

        cat = load_catalog(catalog)
    elif dip:
        raise ValueError(f"{dip[0].id} is a DIP grouper: give --catalog CAT.csv")
    for grouper in loaded.values():  # compiled now, for grouping and explaining, not on the first request
        options = {"catalog": cat} if grouper.scheme == "dip" else {}
        grouper.group(pd.DataFrame({"principal_dx": ["K80.101"]}), **options)
        grouper.explain({"principal_dx": "K80.101"}, **options)
    return Service(
        groupers=loaded,
        default=default,
        limits=limits or Limits(),
        policy=pol,
        catalog=cat,
        lookups={gid: code_lists(g) for gid, g in loaded.items()},
        names={gid: _group_names(g) for gid, g in loaded.items()},
    )
