"""特例单议 (special-case review): applications override the payment of approved cases; quotas; statistics.

A hospital applies for single cases (very long stays, new technology, cases the groups do not fit); experts
approve or reject each. An application table has one row per case:

| column | meaning |
|---|---|
| ``case_id`` | the case applied for (must exist in the cases, once) |
| ``decision`` | ``approved`` / ``rejected`` / ``pending`` (also 通过 / 同意 / 不通过 / 驳回 / 待审 …) |
| ``method`` | approved cases: ``by_item`` (standard = total cost), ``amount`` (reviewed), ``regroup`` |
| ``amount`` | the reviewed amount in yuan (method ``amount``) |
| ``group`` | the group to pay instead (method ``regroup``): a DRG or DIP group of the policy |
| ``reason`` | free text (why the hospital applied) |

Approved cases come out with ``case_type = "special"`` and ``payment_reason = "special:<method>"``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import numpy as np
import pandas as pd

from drgpay import money
from drgpay.payment._engine import Tracer, prepare, split_and_finish, yuan
from drgpay.payment._exact import dec, decimal_to_fen
from drgpay.payment.errors import SpecialCaseError, SpecialQuotaError
from drgpay.payment.policy import CASE_TYPES, DipPolicy, DrgPolicy
from drgpay.report.special import decision_stats
from drgpay.schema import parse_dates

__all__ = [
    "DECISIONS",
    "apply_special_cases",
    "check_special_quota",
    "normalize_applications",
    "special_case_quota",
    "special_case_summary",
    "special_quota_table",
]

#: Accepted spellings of a decision.
DECISIONS: dict[str, str] = {
    **{k: "approved" for k in ("approved", "approve", "yes", "通过", "同意", "批准", "审核通过")},
    **{k: "rejected" for k in ("rejected", "reject", "no", "不通过", "不同意", "驳回", "拒绝", "审核不通过")},
    **{k: "pending" for k in ("pending", "待审", "审核中", "未审核", "")},
}
METHODS = ("by_item", "amount", "regroup")


def _rows(frame: pd.DataFrame, positions: np.ndarray | list[int], limit: int = 10) -> str:
    """Index labels of ``positions`` (at most ``limit``) for error messages."""
    labels = [f"{frame.index[p]!r}" for p in list(positions)[:limit]]
    more = len(positions) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def normalize_applications(applications: pd.DataFrame) -> pd.DataFrame:
    """Check an application table and return it with canonical ``decision`` and ``method`` values.

    Raises :class:`SpecialCaseError` naming the rows: missing columns, duplicate case ids, unknown decisions
    or methods, approved rows without a method, ``amount`` rows without a valid amount, ``regroup`` rows
    without a group.
    """
    if not isinstance(applications, pd.DataFrame):
        raise SpecialCaseError("applications must be a DataFrame")
    missing = [c for c in ("case_id", "decision") if c not in applications.columns]
    if missing:
        raise SpecialCaseError(f"applications: missing column(s) {', '.join(missing)}")
    apps = applications.copy()
    apps["case_id"] = apps["case_id"].astype(str).str.strip()
    dup = np.flatnonzero(apps["case_id"].duplicated(keep=False).to_numpy())
    if len(dup):
        raise SpecialCaseError(f"applications: case_id listed more than once in row(s) {_rows(apps, dup)}")
    raw = apps["decision"].fillna("").astype(str).str.strip()
    decision = raw.str.lower().map(lambda v: DECISIONS.get(v, DECISIONS.get(v.lower())))
    bad = np.flatnonzero(decision.isna().to_numpy())
    if len(bad):
        raise SpecialCaseError(
            f"applications: unknown decision {sorted(set(raw.iloc[bad]))} in row(s) {_rows(apps, bad)}; "
            "use approved, rejected or pending"
        )
    apps["decision"] = decision.astype(str)
    approved = (apps["decision"] == "approved").to_numpy()
    method = (
        apps["method"].fillna("").astype(str).str.strip().str.lower()
        if "method" in apps.columns
        else pd.Series("", index=apps.index)
    )
    bad = np.flatnonzero(approved & ~method.isin(METHODS).to_numpy())
    if len(bad):
        raise SpecialCaseError(
            f"applications: approved row(s) {_rows(apps, bad)} need a method: {', '.join(METHODS)}"
        )
    apps["method"] = method.where(approved, "")
    if (apps["method"] == "amount").any():
        if "amount" not in apps.columns:
            raise SpecialCaseError("applications: method 'amount' needs an 'amount' column")
        wrong: list[int] = []
        for pos in np.flatnonzero((apps["method"] == "amount").to_numpy()):
            try:
                if dec(apps["amount"].iloc[pos]) < 0:
                    wrong.append(int(pos))
            except ValueError:
                wrong.append(int(pos))
        if wrong:
            raise SpecialCaseError(f"applications: row(s) {_rows(apps, wrong)} need a non-negative amount")
    if (apps["method"] == "regroup").any():
        regroup = (apps["method"] == "regroup").to_numpy()
        if "group" not in apps.columns:
            raise SpecialCaseError(
                f"applications: regroup row(s) {_rows(apps, np.flatnonzero(regroup))} need a 'group'"
            )
        group = apps["group"].fillna("").astype(str).str.strip()
        empty = np.flatnonzero(regroup & (group == "").to_numpy())
        if len(empty):
            raise SpecialCaseError(f"applications: regroup row(s) {_rows(apps, empty)} need a 'group'")
    return apps


def _locate(cases: pd.DataFrame, apps: pd.DataFrame) -> np.ndarray:
    """Positions in ``cases`` of each application's case (errors name unknown or ambiguous ids)."""
    if "case_id" not in cases.columns:
        raise SpecialCaseError("cases need a case_id column to apply special-case decisions")
    ids = cases["case_id"].astype(str).str.strip()
    positions = pd.Series(np.arange(len(cases)), index=ids.to_numpy())
    dup_ids = set(ids[ids.duplicated()])
    clash = sorted(set(apps["case_id"]) & dup_ids)
    if clash:
        raise SpecialCaseError(f"case_id(s) {', '.join(clash[:10])} appear more than once in the cases")
    unknown = np.flatnonzero(~apps["case_id"].isin(positions.index).to_numpy())
    if len(unknown):
        shown = ", ".join(repr(apps["case_id"].iloc[p]) for p in unknown[:10])
        raise SpecialCaseError(f"applications: case_id(s) {shown} not found in the cases")
    return positions.loc[apps["case_id"].to_numpy()].to_numpy(dtype="int64")


def apply_special_cases(
    cases: pd.DataFrame,
    paid: pd.DataFrame,
    applications: pd.DataFrame,
    policy: DrgPolicy | DipPolicy,
    *,
    _tracer: Tracer | None = None,
) -> pd.DataFrame:
    """Re-pay approved 特例单议 cases; every other row of ``paid`` is returned unchanged (a new frame).

    ``by_item``: standard = total cost; ``amount``: standard = the reviewed amount; ``regroup``: the case is
    paid as if grouped to ``group`` under the same policy (all its rules apply). Fund and patient payments
    follow the policy's fund rule.
    """
    apps = normalize_applications(applications)
    pos = _locate(cases, apps)
    out = paid.copy()
    approved = (apps["decision"] == "approved").to_numpy()
    group_col = "drg" if isinstance(policy, DrgPolicy) else "dip_group"
    amount_col = "weight" if isinstance(policy, DrgPolicy) else "points"
    columns = [
        "case_type",
        amount_col,
        "standard",
        "fund_payment",
        "patient_payment",
        "surplus",
        "payment_reason",
    ]
    for method in METHODS:
        sel = approved & (apps["method"] == method).to_numpy()
        if not sel.any():
            continue
        rows = pos[sel]
        sub = cases.iloc[rows]
        if method == "regroup":
            from drgpay.payment.pay import pay

            sub = sub.copy()
            sub[group_col] = apps["group"].to_numpy()[sel]
            sub["status"] = "grouped"
            sub["reason"] = ""
            repaid = pay(sub, policy)
            repaid["case_type"] = pd.Categorical(
                np.where(repaid["standard"].notna(), "special", repaid["case_type"].astype(str)),
                categories=list(CASE_TYPES),
            )
            repaid["payment_reason"] = [
                f"special:regroup:{g}" + (f";{r}" if r else "")
                for g, r in zip(sub[group_col], repaid["payment_reason"], strict=True)
            ]
        else:
            w = prepare(sub, group_col, policy)
            if method == "by_item":
                w.std[:] = w.cost
                w.std_ok[:] = w.cost_ok
                w.by_item[:] = True
            else:
                w.std[:] = [decimal_to_fen(dec(a)) for a in apps["amount"].to_numpy()[sel]]
                w.std_ok[:] = True
            w.case_type[:] = "special"
            w.reason[:] = f"special:{method}"
            w.amount[:] = out[amount_col].to_numpy()[rows]
            repaid = split_and_finish(w, policy, amount_col)
        for col in columns:
            values = repaid[col].to_numpy()
            if col == "case_type":
                current = out[col].astype(str).to_numpy()
                current[rows] = values.astype(str)
                out[col] = pd.Categorical(current, categories=list(CASE_TYPES))
            else:
                arr = out[col].to_numpy().copy()
                arr[rows] = values
                out[col] = arr
        if _tracer is not None and len(cases) == 1:
            std = out["standard"].iloc[0]
            _tracer.add(
                f"特例单议 approved ({method}): the case is re-paid; standard {yuan(decimal_to_fen(dec(std)))}"
                if pd.notna(std)
                else f"特例单议 approved ({method}): not payable ({out['payment_reason'].iloc[0]})"
            )
    out.attrs = dict(paid.attrs)
    out.attrs.setdefault("drgpay_payment", {})
    out.attrs["drgpay_payment"] = {
        **out.attrs["drgpay_payment"],
        "special_cases_applied": int(approved.sum()),
    }
    return out


def special_case_quota(n_cases: int, rate: Decimal | str | float) -> int:
    """Most applications allowed for ``n_cases`` cases: ⌊n × rate⌋ (2,000 × 5 % = 100; 2,000 × 5 ‰ = 10)."""
    if n_cases < 0:
        raise ValueError("n_cases must be non-negative")
    return int((Decimal(int(n_cases)) * dec(rate)).to_integral_value(rounding=ROUND_DOWN))


def _period(dates: pd.Series, period: str | None) -> pd.Series:
    if period is None:
        return pd.Series("all", index=dates.index)
    parsed = parse_dates(dates)  # one unambiguous form per column; a DateFormatError names the rows
    if parsed.isna().any():
        raise SpecialCaseError(
            "discharge_date is missing or not a date for some cases; quotas need it per period"
        )
    freq = {"year": "Y", "quarter": "Q", "month": "M"}.get(period)
    if freq is None:
        raise SpecialCaseError(f"period must be year, quarter, month or None; got {period!r}")
    return parsed.dt.to_period(freq).astype(str)


def special_quota_table(
    applications: pd.DataFrame,
    cases: pd.DataFrame,
    policy: DrgPolicy | DipPolicy | None = None,
    *,
    rate: Decimal | str | float | None = None,
    by: str | list[str] | None = "hospital_id",
    period: str | None = "year",
) -> pd.DataFrame:
    """Cases, quota, applied and approved per ``by`` × period; ``exceeded`` where applied > quota.

    The quota rate is ``rate``, else the policy's ``special_quota`` (national defaults: 5 % DRG, 5 ‰ DIP). The
    base is every case of ``cases`` in the group and period (the hospital's DRG or DIP cases).
    """
    if rate is None:
        if policy is None:
            raise SpecialCaseError("give a policy or a quota rate")
        rate = policy.special_quota
    apps = normalize_applications(applications)
    pos = _locate(cases, apps)
    keys = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in keys if c not in cases.columns]
    if period is not None and "discharge_date" not in cases.columns:
        missing.append("discharge_date")
    if missing:
        raise SpecialCaseError(f"cases: missing column(s) {', '.join(missing)} for the quota check")
    base = pd.DataFrame({k: cases[k].astype(str).to_numpy() for k in keys})
    base["period"] = _period(cases["discharge_date"], period).to_numpy() if period else "all"
    group_cols = [*keys, "period"]
    counts = base.groupby(group_cols, sort=True).size().rename("cases")
    app_keys = base.iloc[pos].reset_index(drop=True)
    app_keys["approved"] = (apps["decision"] == "approved").to_numpy()
    applied = app_keys.groupby(group_cols).size().rename("applied")
    approved = app_keys.groupby(group_cols)["approved"].sum().rename("approved")
    table = pd.concat([counts, applied, approved], axis=1).fillna(0).astype("int64").reset_index()
    table["quota"] = [special_case_quota(int(n), rate) for n in table["cases"]]
    table["exceeded"] = table["applied"] > table["quota"]
    return table[[*group_cols, "cases", "quota", "applied", "approved", "exceeded"]]


def check_special_quota(
    applications: pd.DataFrame,
    cases: pd.DataFrame,
    policy: DrgPolicy | DipPolicy | None = None,
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`special_quota_table`, raising :class:`SpecialQuotaError` naming every group and period over
    the quota."""
    table = special_quota_table(applications, cases, policy, **kwargs)  # type: ignore[arg-type]
    over = table[table["exceeded"]]
    if len(over):
        keys = [c for c in table.columns if c not in ("cases", "quota", "applied", "approved", "exceeded")]
        lines = [
            ", ".join(f"{k} {row[k]}" for k in keys) + f": {row['applied']} applied > quota {row['quota']}"
            f" ({row['cases']} cases)"
            for _, row in over.iterrows()
        ]
        raise SpecialQuotaError("special-case quota exceeded: " + "; ".join(lines), table)
    return table


def special_case_summary(
    applications: pd.DataFrame,
    before: pd.DataFrame | None = None,
    after: pd.DataFrame | None = None,
    *,
    cases: pd.DataFrame | None = None,
    truncate: bool = False,
) -> pd.DataFrame:
    """Applied, approved, rejected, pending, pass rate (%) and extra paid, as a one-row frame.

    ``pass_rate_pct`` = approved / applied × 100 to two decimals, half up (143 / 219 → 65.30) or cut
    (``truncate=True`` → 65.29, as some county reports print it). With ``before`` and ``after`` (payment
    without and with the overrides, and ``cases`` to find the rows) the extra standard and fund payment of
    approved cases are summed exactly.
    """
    apps = normalize_applications(applications)
    decisions = apps["decision"].to_numpy(dtype=object)
    table = decision_stats(apps, decisions, ("approved", "rejected", "pending"), truncate=truncate)
    if before is not None and after is not None:
        if cases is None:
            raise SpecialCaseError("give cases= with before/after to locate the approved cases")
        pos = _locate(cases, apps)[(apps["decision"] == "approved").to_numpy()]
        for col in ("standard", "fund_payment"):
            b = before[col].to_numpy()[pos]
            a = after[col].to_numpy()[pos]
            ok = ~np.isnan(a.astype(float))
            b_fen = money.to_fen(np.where(np.isnan(b.astype(float)), 0.0, b.astype(float))[ok])
            a_fen = money.to_fen(a.astype(float)[ok])
            table[f"extra_{col}"] = float(money.fen_to_decimal(int(a_fen.sum()) - int(b_fen.sum())))
    return table
