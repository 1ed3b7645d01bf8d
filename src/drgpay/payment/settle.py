"""Settling a year in one pass: group and pay each chunk of an export, or pay each chunk of a grouped file.

Why: a bureau settling a province-year (10–30 million cases) should wait on neither payment nor memory. Grouping
streams chunks through bounded memory (:func:`drgpay.parallel.group_file`); so do ``drgpay settle`` (group + pay)
and ``drgpay pay`` here, with the same reader, worker processes, writer thread and whole-or-nothing output
(:func:`drgpay.parallel.map_file`).

Every backend runs the same chunk functions, so a chunk's result never depends on where it ran:

- :class:`Settler` groups a chunk and pays it (``drgpay settle``, :func:`drgpay.dask.settle`,
  :func:`drgpay.spark.settle`): the result is the grouping columns followed by the payment columns, exactly what
  ``drgpay group`` then ``drgpay pay`` write for those rows;
- :class:`ChunkPayer` pays a chunk of grouped cases (``drgpay pay``, :func:`drgpay.dask.pay`,
  :func:`drgpay.spark.pay`).

Payment is row-wise: no row's amount depends on another row, so chunks are paid independently. What needs the
whole year is done apart, over only what it needs:

- 特例单议 applications: each application's case must occur exactly once in the cases. Each chunk applies the
  applications whose case occurs once in it; :class:`SpecialCheck` counts the case ids of every chunk and, after
  the last one and before the output is committed, refuses applications whose case is missing or repeated (the
  messages of :func:`drgpay.payment.apply_special_cases`): nothing is written then.
- a DIP point value from a budget (budget / total points of the year): :func:`point_value_from_budget` is a first
  pass that groups and pays every chunk but keeps only each chunk's points; the second pass pays with the value.
- one date form per column: :class:`DateForms` checks that every chunk writes its discharge dates in the form of
  the file's first date, as a whole-file read requires.

Calibration (weights, scores from history) and quota checks read their own, smaller tables (``drgpay calibrate``,
:func:`drgpay.payment.check_special_quota`); see ``docs/payment.md``, "Settling a year".
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from drgpay import money
from drgpay.payment.calibrate import calibrate_point_value
from drgpay.payment.errors import PaymentInputError, PolicyError, SpecialCaseError
from drgpay.payment.pay import pay
from drgpay.payment.policy import CASE_TYPES, DipPolicy, DrgPolicy, PointValue, load_policy
from drgpay.payment.special import apply_special_cases, normalize_applications
from drgpay.schema import DATE_FORMATS, resolve_columns

__all__ = [
    "PAYMENT_INPUTS",
    "ChunkPayer",
    "DateForms",
    "PaymentTotals",
    "Settler",
    "SpecialCheck",
    "canonical_inputs",
    "cases_for_payment",
    "pay_stream",
    "payment_columns",
    "point_value_from_budget",
    "settle_file",
]

#: Canonical columns payment reads from the export (besides the grouping's): a header that maps to one of them
#: (a built-in alias such as 总费用, or ``columns=``) is read under the canonical name, as grouping reads its own.
PAYMENT_INPUTS = (
    "case_id",
    "total_cost",
    "fund_paid",
    "self_paid",
    "insurance_type",
    "hospital_level",
    "hospital_id",
    "discharge_date",
    "los",
    "discharge_type",
)
#: Suffix of a payment column whose name the input already uses (``drgpay pay`` writes both).
SUFFIX = "_payment"


def _policy(policy: str | os.PathLike[str] | DrgPolicy | DipPolicy) -> DrgPolicy | DipPolicy:
    return policy if isinstance(policy, DrgPolicy | DipPolicy) else load_policy(policy)


def payment_columns(paid: pd.DataFrame, written: Any) -> pd.DataFrame:
    """``paid`` with each column whose name is among ``written`` (the input columns written beside it) renamed
    ``<name>_payment``, as ``drgpay pay`` names them."""
    taken = set(written)
    return paid.rename(columns={c: f"{c}{SUFFIX}" for c in paid.columns if c in taken})


def _apps_digest(apps: pd.DataFrame | None) -> str:
    if apps is None:
        return ""
    return hashlib.sha256(apps.to_csv(index=False).encode()).hexdigest()


def _apply_once(
    cases: pd.DataFrame, paid: pd.DataFrame, apps: pd.DataFrame | None, policy: Any
) -> pd.DataFrame:
    """Approved applications whose case occurs exactly once in ``cases`` applied to ``paid`` (the others are
    :class:`SpecialCheck`'s, after the last chunk)."""
    if apps is None or "case_id" not in cases.columns:
        return paid
    ids = cases["case_id"].astype(str).str.strip()
    counts = ids[ids.isin(apps["case_id"])].value_counts()
    once = counts.index[counts == 1]
    mine = apps[apps["case_id"].isin(once)]
    return apply_special_cases(cases, paid, mine, policy) if len(mine) else paid


class ChunkPayer:
    """Pay one chunk of grouped cases: the chunk function of ``drgpay pay`` (and of :func:`drgpay.dask.pay`,
    :func:`drgpay.spark.pay`).

    :meth:`group` follows the chunk protocol of :func:`drgpay.parallel.group_chunks` (it is shipped to worker
    processes like a grouper): it returns the payment columns of ``frame``'s rows, a column named like an input
    column suffixed ``_payment``. ``special`` holds 特例单议 applications (see :class:`SpecialCheck`).
    """

    def __init__(
        self, policy: str | os.PathLike[str] | DrgPolicy | DipPolicy, special: pd.DataFrame | None = None
    ) -> None:
        self.policy = _policy(policy)
        self.special = None if special is None else normalize_applications(special)
        self.id = f"pay:{self.policy.name}"
        self.content_hash = hashlib.sha256(
            f"{self.policy.content_hash()}|{_apps_digest(self.special)}".encode()
        ).hexdigest()

    def group(self, frame: pd.DataFrame, **_options: Any) -> pd.DataFrame:
        """The payment columns of ``frame`` (cases joined with their grouping)."""
        paid = _apply_once(frame, pay(frame, self.policy), self.special, self.policy)
        return payment_columns(paid, frame.columns)


class Settler:
    """Group one chunk of an export and pay it: the chunk function of ``drgpay settle``, :func:`drgpay.dask.settle`
    and :func:`drgpay.spark.settle`.

    :meth:`group` returns the grouping columns followed by the payment columns: what ``drgpay group`` then
    ``drgpay pay`` write beside the input, for the same rows. Payment reads the input columns it needs under their
    canonical names (:data:`PAYMENT_INPUTS`, through the same aliases and ``columns=`` as grouping), the grouping
    replacing input columns of its own names as ``drgpay group`` does. ``grouper`` is a name, folder or grouper
    (compiled here, once); ``catalog`` a DIP catalogue (path, frame or catalogue, loaded here, once).
    ``only_results``: the input columns written are the case id only (payment columns are renamed against those).
    """

    def __init__(
        self,
        grouper: Any,
        policy: str | os.PathLike[str] | DrgPolicy | DipPolicy,
        *,
        catalog: Any = None,
        special: pd.DataFrame | None = None,
        only_results: bool = False,
    ) -> None:
        from drgpay.parallel import load

        self.grouper = load(grouper)
        self.policy = _policy(policy)
        self.options: dict[str, Any] = {}
        if getattr(self.grouper, "scheme", "") == "dip":
            from drgpay.dip import DipCatalog, load_catalog

            if catalog is None:
                raise ValueError(f"{self.grouper.id} is a DIP grouper: give a catalogue (--catalog CAT.csv)")
            self.options["catalog"] = catalog if isinstance(catalog, DipCatalog) else load_catalog(catalog)
            self.grouper.compile(self.options["catalog"])  # cached in the grouper: it travels compiled
        elif getattr(self.grouper, "complete", False) and hasattr(self.grouper, "compiled"):
            self.grouper.compiled  # noqa: B018 - compile before shipping
        self.special = None if special is None else normalize_applications(special)
        self.only_results = only_results
        self.id = str(getattr(self.grouper, "id", "grouper"))
        catalog_hash = getattr(self.options.get("catalog"), "content_hash", "")
        self.content_hash = hashlib.sha256(
            "|".join(
                [
                    str(getattr(self.grouper, "content_hash", id(self.grouper))),
                    str(catalog_hash),
                    self.policy.content_hash(),
                    _apps_digest(self.special),
                    str(only_results),
                ]
            ).encode()
        ).hexdigest()

    def with_policy(self, policy: DrgPolicy | DipPolicy) -> Settler:
        """The same settler under another policy (the grouper is not compiled again)."""
        other = Settler.__new__(Settler)
        other.__dict__.update(self.__dict__)
        other.policy = policy
        other.content_hash = hashlib.sha256(
            f"{self.content_hash}|{policy.content_hash()}".encode()
        ).hexdigest()
        return other

    def group(
        self,
        frame: pd.DataFrame,
        *,
        columns: Mapping[str, str] | None = None,
        errors: Literal["flag", "raise"] = "flag",
        **options: Any,
    ) -> pd.DataFrame:
        """Grouping and payment columns of ``frame``'s rows (same index and order)."""
        grouping = self.grouper.group(frame, columns=columns, errors=errors, **self.options, **options)
        cases = cases_for_payment(frame, grouping, columns)
        paid = _apply_once(cases, pay(cases, self.policy), self.special, self.policy)
        written = [c for c in frame.columns if c not in grouping.columns]
        if self.only_results:
            mapping, _ = resolve_columns(list(frame.columns), columns)
            written = [mapping["case_id"]] if "case_id" in mapping else []
        out = pd.concat([grouping, payment_columns(paid, written)], axis=1)
        out.attrs = {**grouping.attrs, **paid.attrs}
        return out


def canonical_inputs(frame: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``frame`` with the headers of :data:`PAYMENT_INPUTS` under their canonical names (built-in aliases and
    ``columns=``, as grouping reads them); a header whose canonical name another column already has is kept."""
    mapping, _ = resolve_columns(list(frame.columns), columns)
    present = set(frame.columns)
    rename = {
        header: name
        for name, header in mapping.items()
        if name in PAYMENT_INPUTS and header != name and name not in present
    }
    return frame.rename(columns=rename) if rename else frame


def cases_for_payment(
    frame: pd.DataFrame, grouping: pd.DataFrame, columns: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The cases payment reads: ``frame``'s columns that the grouping does not replace (as ``drgpay group``
    writes them), payment's inputs under their canonical names (:func:`canonical_inputs`), then the grouping."""
    kept = [c for c in frame.columns if c not in grouping.columns]
    return pd.concat([canonical_inputs(frame[kept], columns), grouping], axis=1)


# --------------------------------------------------------------------------------------------- whole-file checks


class SpecialCheck:
    """Counts the case ids of every chunk that 特例单议 applications name; :meth:`check` refuses, as
    :func:`drgpay.payment.apply_special_cases` does for one frame, applications whose case is missing or occurs
    more than once in the whole file."""

    def __init__(self, applications: pd.DataFrame | None) -> None:
        self.apps = None if applications is None else normalize_applications(applications)
        self.counts: Counter[str] = Counter()

    def count(self, cases: pd.DataFrame) -> None:
        """Count the applied-for case ids of one chunk (``cases`` with a canonical ``case_id`` column)."""
        if self.apps is None:
            return
        if "case_id" not in cases.columns:
            raise SpecialCaseError("cases need a case_id column to apply special-case decisions")
        ids = cases["case_id"].astype(str).str.strip()
        self.counts.update(ids[ids.isin(self.apps["case_id"])].tolist())

    def check(self) -> None:
        """Raise :class:`SpecialCaseError` for repeated, then for missing, cases."""
        if self.apps is None:
            return
        clash = sorted(i for i, n in self.counts.items() if n > 1)
        if clash:
            raise SpecialCaseError(f"case_id(s) {', '.join(clash[:10])} appear more than once in the cases")
        unknown = [i for i in self.apps["case_id"] if i not in self.counts]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:10])
            raise SpecialCaseError(f"applications: case_id(s) {shown} not found in the cases")


class DateForms:
    """One date form per file: every chunk's discharge dates must be written in the form of the file's first
    date (``2025-03-01``, ``20250301`` …, see :data:`drgpay.schema.DATE_FORMATS`), as a whole-file read requires;
    each chunk is checked within itself by payment."""

    #: Texts whose form is remembered between chunks (a year has a few hundred distinct dates; with times of day
    #: there may be one per row, and the memory starts again past this many).
    KNOWN_MAX = 100_000

    def __init__(self) -> None:
        self.first: str | None = None
        self.known: dict[str, str] = {}

    def check(self, cases: pd.DataFrame) -> None:
        """Raise :class:`PaymentInputError` when ``cases`` (one chunk) uses another form than the first chunk."""
        column = cases.get("discharge_date")
        if column is None or pd.api.types.is_datetime64_any_dtype(column.dtype):
            return
        values = column.dropna()
        texts = [str(v).strip() for v in pd.unique(values)]  # distinct values only
        new = [t for t in texts if t not in self.known]
        if new:
            if len(self.known) + len(new) > self.KNOWN_MAX:
                self.known.clear()
            self.known.update(self._forms(pd.Series(new, dtype=object)))
        forms = {t: self.known.get(t, "") for t in texts}
        if self.first is None:
            dated = [str(v).strip() for v in values.iloc[:1000] if str(v).strip()]
            self.first = forms.get(dated[0]) if dated else None
            return
        other = [t for t, form in forms.items() if form not in (self.first, "")]
        if other:
            rows = values[values.astype(str).str.strip().isin(other)]
            shown = ", ".join(f"{label!r} ({str(v).strip()!r})" for label, v in rows.iloc[:5].items())
            raise PaymentInputError(
                f"column 'discharge_date': one date form per column, {self.first} as in its first date, not "
                f"{forms[other[0]]}: row(s) {shown}"
            )

    @staticmethod
    def _forms(texts: pd.Series) -> dict[str, str]:
        """The form of each non-blank text (first of :data:`~drgpay.schema.DATE_FORMATS` it matches; "" none)."""
        texts = texts[texts != ""]
        form = np.full(len(texts), "", dtype=object)
        for name, pattern in DATE_FORMATS.items():
            form[(form == "") & texts.str.fullmatch(pattern).to_numpy(dtype=bool)] = name
        return dict(zip(texts, form, strict=True))


@attrs.define
class PaymentTotals:
    """Cases and exact sums (fen) of the standard, fund and patient payments by case type, chunk by chunk."""

    cases: Counter[str] = attrs.field(factory=Counter)
    sums: dict[str, dict[str, int]] = attrs.field(factory=dict)
    present: dict[str, set[str]] = attrs.field(factory=dict)

    COLUMNS = ("standard", "fund_payment", "patient_payment")

    def add(self, paid: pd.DataFrame) -> None:
        """Add one chunk's payment columns (named as :func:`drgpay.payment.pay` names them, or suffixed)."""
        # a result holds no input column: a payment column is under its own name, or suffixed when the input
        # has a column of that name
        names = {c: c if c in paid.columns else f"{c}{SUFFIX}" for c in (*self.COLUMNS, "case_type")}
        codes = _case_type_codes(paid[names["case_type"]])
        counts = np.bincount(codes[codes >= 0], minlength=len(CASE_TYPES))
        for present in np.flatnonzero(counts):
            self.cases[CASE_TYPES[present]] += int(counts[present])
        for column in self.COLUMNS:
            values = paid[names[column]].to_numpy(dtype="float64")
            ok = ~np.isnan(values) & (codes >= 0)
            for k, total in _sums_by_code(codes, _fen(values, ok), ok, len(CASE_TYPES)).items():
                slot = self.sums.setdefault(CASE_TYPES[k], {})
                slot[column] = slot.get(column, 0) + total
                self.present.setdefault(CASE_TYPES[k], set()).add(column)

    def frame(self) -> pd.DataFrame:
        """The summary ``drgpay pay`` prints: by case type (those with cases), cases and yuan sums (NaN where no
        case of the type has the amount)."""
        kinds = [k for k in CASE_TYPES if self.cases.get(k)]
        data: dict[str, Any] = {"cases": [self.cases[k] for k in kinds]}
        for column in self.COLUMNS:
            data[column] = [
                self.sums[k][column] / 100 if column in self.present.get(k, ()) else np.nan for k in kinds
            ]
        index = pd.CategoricalIndex(kinds, categories=list(CASE_TYPES), name="case_type")
        return pd.DataFrame(data, index=index)


def _case_type_codes(column: pd.Series) -> np.ndarray:
    """Each row's position in :data:`CASE_TYPES` (-1: none), from payment's categorical as it is."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == list(CASE_TYPES):
        return np.asarray(column.cat.codes, dtype=np.int64)
    position = {kind: k for k, kind in enumerate(CASE_TYPES)}
    return column.astype(object).map(position).fillna(-1).to_numpy(dtype=np.int64)


#: Integers below this add exactly as doubles (every partial sum is an integer a double holds).
_EXACT_DOUBLE = 2**53


def _sums_by_code(codes: np.ndarray, fen: np.ndarray, ok: np.ndarray, k: int) -> dict[int, int]:
    """Exact sums of ``fen[ok]`` by code ``0 … k-1``, for the codes that have a row: one counting pass when no
    partial sum can reach 2**53 (then doubles add integers exactly), else int64 sums per code."""
    picked, values = codes[ok], fen[ok]
    present = np.flatnonzero(np.bincount(picked, minlength=k))
    if not len(values):
        return {}
    if int(np.abs(values).max()) * len(values) < _EXACT_DOUBLE:
        sums = np.bincount(picked, weights=values, minlength=k)
        return {int(c): int(sums[c]) for c in present}
    return {
        int(c): int(values[picked == c].astype(object).sum()) for c in present
    }  # Python ints: no overflow


def _fen(yuan: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Payment amounts (each the double nearest a whole number of fen) back to fen, exactly: below 2**50 fen,
    100 × the double is within 0.25 of its fen; larger amounts go through :func:`drgpay.money.to_fen`."""
    values = np.where(ok, yuan, 0.0)
    if np.abs(values).max(initial=0.0) < 2.0**50 / 100:
        return np.rint(values * 100).astype(np.int64)
    fen = np.zeros(len(values), dtype=np.int64)
    fen[ok] = money.to_fen(values[ok])
    return fen


# --------------------------------------------------------------------------------------------- files


def point_value_from_budget(
    source: str | os.PathLike[str],
    settler: Settler,
    budget: Decimal | str | float,
    **map_options: Any,
) -> Decimal:
    """The DIP point value budget / total points of every case of ``source``, a first pass before paying.

    Each chunk is cut down to the columns grouping and payment read as it is read, grouped and paid by ``settler``
    under its policy with one provisional point value (points do not depend on it); only the points are kept
    (exact sums in the policy's units). The value is
    :func:`drgpay.payment.calibrate_point_value` of the total (4 decimals, half up); points before 特例单议.
    """
    from drgpay.parallel import map_file

    policy = settler.policy
    if not isinstance(policy, DipPolicy):
        raise PolicyError(
            "a point value from a budget is DIP's (budget / total points); a DRG base rate from a budget is "
            "calibrated from the expected volume: drgpay calibrate --budget"
        )
    provisional = settler.with_policy(attrs.evolve(policy, point_values=[PointValue(1)]))
    places = policy.points_places
    total = 0
    columns = map_options.get("columns")

    def needed(chunk: pd.DataFrame) -> pd.DataFrame:
        """The columns grouping and payment read (canonical, aliased, ``columns=`` or wide), no other."""
        mapping, wide = resolve_columns(list(chunk.columns), columns)
        keep = {*mapping.values(), *(h for headers in wide.values() for h in headers)}
        return chunk[[c for c in chunk.columns if c in keep]]

    def add(_chunk: pd.DataFrame, result: pd.DataFrame) -> None:
        nonlocal total
        points = result["points"].to_numpy(dtype="float64")
        units = money.to_units(points[~np.isnan(points)], places)
        total += int(units.sum(dtype=np.int64))

    map_file(source, None, provisional, on_chunk=add, select=needed, **map_options)
    return calibrate_point_value(Decimal(total).scaleb(-places), budget)


def settle_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str] | None,
    policy: str | os.PathLike[str] | DrgPolicy | DipPolicy,
    *,
    grouper: Any = None,
    catalog: Any = None,
    special: pd.DataFrame | None = None,
    budget: Decimal | str | float | None = None,
    only_results: bool = False,
    on_chunk: Any = None,
    **map_options: Any,
) -> dict[str, Any]:
    """Group and pay a CSV, Parquet or Excel file chunk by chunk into ``output`` (None: no output), in input order,
    in bounded memory: the pipeline of ``drgpay settle``.

    The output holds the input columns (the case id only with ``only_results``), the grouping columns and the
    payment columns: what ``drgpay group`` then ``drgpay pay`` write. ``grouper`` defaults to the policy's (else
    drgpay's default); ``budget`` (DIP) sets the point value to budget / total points, by a first pass
    (:func:`point_value_from_budget`). ``map_options`` go to :func:`drgpay.parallel.map_file` (``workers``,
    ``chunk_rows``, ``columns``, ``sheet`` …). Returns ``{"rows", "status", "reason", "payment"
    (:class:`PaymentTotals`), "policy", "point_value"}``.
    """
    from drgpay.api import DEFAULT_GROUPER
    from drgpay.parallel import kept_input_columns, map_file

    pol = _policy(policy)
    chosen = grouper if grouper is not None else (pol.grouper or DEFAULT_GROUPER)
    settler = Settler(chosen, pol, catalog=catalog, special=special, only_results=only_results)
    if pol.grouper is not None and settler.id != pol.grouper:
        raise ValueError(
            f"grouper {settler.id} but policy {pol.name!r} is for grouper {pol.grouper}: its weights would be "
            f"applied to {settler.id} groups (leave --grouper out to group with {pol.grouper})"
        )
    value = None
    if budget is not None:
        value = point_value_from_budget(source, settler, budget, **map_options)
        assert isinstance(pol, DipPolicy)
        pol = attrs.evolve(pol, point_values=[PointValue(value)])
        settler = settler.with_policy(pol)
    status: Counter[str] = Counter()
    reason: Counter[str] = Counter()
    totals = PaymentTotals()
    check = SpecialCheck(special)
    dates = DateForms()
    columns = map_options.get("columns")

    def each(chunk: pd.DataFrame, result: pd.DataFrame) -> None:
        status.update({str(k): int(v) for k, v in result["status"].value_counts().items() if v})
        reason.update({str(k): int(v) for k, v in result["reason"].value_counts().items() if v})
        totals.add(result)
        cases = canonical_inputs(chunk, columns)
        dates.check(cases)
        check.count(cases)
        if on_chunk is not None:
            on_chunk(chunk, result)

    def keep(chunk: pd.DataFrame, result: pd.DataFrame) -> list[Any]:
        # payment columns were renamed against the input's: only grouping columns replace input columns
        return kept_input_columns(chunk, result, columns, only_results)

    rows = map_file(
        source, output, settler, keep=keep, on_chunk=each, before_commit=check.check, **map_options
    )
    return {
        "rows": rows,
        "status": dict(status),
        "reason": dict(reason),
        "payment": totals,
        "policy": pol,
        "point_value": value,
    }


def pay_stream(
    grouped: str | os.PathLike[str],
    policy: str | os.PathLike[str] | DrgPolicy | DipPolicy,
    *,
    output: str | os.PathLike[str] | None = None,
    special: str | os.PathLike[str] | pd.DataFrame | None = None,
    on_chunk: Any = None,
    **map_options: Any,
) -> dict[str, Any]:
    """Pay a file of grouped cases chunk by chunk into ``output`` (None: no output), in bounded memory: the
    pipeline of ``drgpay pay``. The output holds the input columns followed by the payment columns (one named like
    an input column suffixed ``_payment``), as :func:`drgpay.cli_payment.pay_file` writes them. ``special``: a
    file or frame of 特例单议 applications. Returns ``{"rows", "payment" (:class:`PaymentTotals`)}``."""
    from drgpay.parallel import map_file

    apps = special
    if isinstance(special, str | os.PathLike):
        from drgpay.io import read_frame

        apps = read_frame(Path(special))
    assert apps is None or isinstance(apps, pd.DataFrame)
    payer = ChunkPayer(policy, apps)
    totals = PaymentTotals()
    check = SpecialCheck(apps)
    dates = DateForms()

    def each(chunk: pd.DataFrame, result: pd.DataFrame) -> None:
        totals.add(result)
        dates.check(chunk)
        check.count(chunk)
        if on_chunk is not None:
            on_chunk(chunk, result)

    rows = map_file(grouped, output, payer, on_chunk=each, before_commit=check.check, **map_options)
    return {"rows": rows, "payment": totals}
