"""``pay(cases, policy)``: the one entry point for per-case payment, DRG or DIP by the policy's class."""

from __future__ import annotations

import pandas as pd

from drgpay.payment._engine import Tracer
from drgpay.payment._fast import pay_fast
from drgpay.payment.dip_pay import pay_dip
from drgpay.payment.drg_pay import pay_drg
from drgpay.payment.grouping import check_grouper
from drgpay.payment.policy import DipPolicy, DrgPolicy

__all__ = ["pay"]


def pay(
    cases: pd.DataFrame,
    policy: DrgPolicy | DipPolicy,
    *,
    special_cases: pd.DataFrame | None = None,
    _tracer: Tracer | None = None,
) -> pd.DataFrame:
    """Pay every discharge under a dated policy; same index and order as ``cases``.

    ``cases``: canonical columns (``total_cost``, ``self_paid`` / ``fund_paid``, ``insurance_type``,
    ``hospital_level``, ``hospital_id``, ``discharge_date``, ``los``, ``discharge_type``) joined with the
    grouping output (``drg`` for a :class:`DrgPolicy`, ``dip_group`` for a :class:`DipPolicy`, plus ``status``
    and ``reason``). Returns ``case_type``, ``weight`` (DRG) or ``points`` (DIP), ``standard``,
    ``fund_payment``, ``patient_payment``, ``surplus`` (standard − total cost) and ``payment_reason`` (empty
    for a normal case; named apart from the grouping's ``reason`` so ``df.join(drgpay.group(df)).join(paid)``
    needs no suffix). Amounts are yuan, exact to the fen (see ``docs/payment.md`` for the rounding rule). Rows
    not paid under the policy keep empty amounts and say why in ``payment_reason``.

    Raises :class:`GrouperMismatchError` when cases were grouped by another grouper than the policy's
    ``grouper`` (from their ``grouper`` column, else ``cases.attrs["drgpay"]``; cases that name none, such as
    codes from an insurer's own file, are paid unchecked), :class:`PolicyDateError` when a case was discharged
    outside the policy's effective range, and :class:`PaymentInputError` for a frame it cannot read (missing
    columns, amounts that are not amounts, unknown ``status`` words), naming them. Rows with an unusable value
    (LOS or discharge type outside what ``group`` accepts, ``fund_paid`` / ``self_paid`` above ``total_cost``,
    an empty ``status``) are paid by the policy's ``invalid`` rule (default: not paid), ``payment_reason``
    ``invalid:<what>``. DRG codes are matched in upper case. Approved 特例单议 applications in
    ``special_cases`` override their cases (see :func:`apply_special_cases`).

    Amounts are computed on integer codes and int64 fen (``drgpay.payment._fast``), equal row for row to the exact
    reference path (``drg_pay.pay_drg``, ``dip_pay.pay_dip``), which :func:`explain_payment` traces; rows whose
    numbers do not fit 64 bits are computed with Python integers, never overflowing silently.
    """
    if not isinstance(policy, DrgPolicy | DipPolicy):
        raise TypeError(f"policy must be a DrgPolicy or DipPolicy, got {type(policy).__name__}")
    check_grouper(cases, policy)
    if _tracer is None:
        out = pay_fast(cases, policy)
    elif isinstance(policy, DrgPolicy):  # the exact reference path, which traces its steps
        out = pay_drg(cases, policy, _tracer)
    else:
        out = pay_dip(cases, policy, _tracer)
    if special_cases is not None:
        from drgpay.payment.special import apply_special_cases

        out = apply_special_cases(cases, out, special_cases, policy, _tracer=_tracer)
    return out
