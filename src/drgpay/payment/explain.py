"""Step-by-step explanation of one case's payment: which weight, base rate, coefficient, rule and rounding.

Why: a hospital disputing a settlement, or an analyst checking a policy, needs the figures behind one number.
The explanation re-runs the same payment code on that one row with a tracer on, so it cannot drift from
:func:`~drgpay.payment.pay.pay`.
"""

from __future__ import annotations

from typing import Any

import attrs
import pandas as pd

from drgpay.payment._engine import Tracer
from drgpay.payment.errors import PaymentInputError
from drgpay.payment.pay import pay
from drgpay.payment.policy import DipPolicy, DrgPolicy

__all__ = ["PaymentExplanation", "explain_payment"]


@attrs.frozen
class PaymentExplanation:
    """The steps and the resulting payment row of one case; ``str()`` gives a readable report."""

    case_id: object
    steps: tuple[str, ...]
    result: dict[str, Any]

    def __str__(self) -> str:
        lines = [f"Payment of case {self.case_id!r}:"]
        lines += [f"  {n}. {step}" for n, step in enumerate(self.steps, start=1)]
        shown = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in self.result.items())
        lines.append(f"  → {shown}")
        return "\n".join(lines)


def explain_payment(
    cases: pd.DataFrame,
    policy: DrgPolicy | DipPolicy,
    case_id: object,
    *,
    special_cases: pd.DataFrame | None = None,
) -> PaymentExplanation:
    """Explain the payment of the case whose ``case_id`` equals ``case_id`` (or, without a ``case_id`` column,
    whose index label is ``case_id``)."""
    if "case_id" in cases.columns:
        hits = (cases["case_id"].astype(str) == str(case_id)).to_numpy().nonzero()[0]
    else:
        hits = (cases.index.astype(str) == str(case_id)).nonzero()[0]
    if len(hits) == 0:
        raise PaymentInputError(f"case {case_id!r} not found")
    if len(hits) > 1:
        raise PaymentInputError(
            f"case {case_id!r} appears {len(hits)} times; case ids must be unique to explain"
        )
    one = cases.iloc[[int(hits[0])]]
    tracer = Tracer()
    apps = None
    if special_cases is not None and "case_id" in special_cases.columns:
        apps = special_cases[special_cases["case_id"].astype(str) == str(case_id)]
        apps = apps if len(apps) else None
    out = pay(one, policy, special_cases=apps, _tracer=tracer)
    row = out.iloc[0]
    result: dict[str, Any] = {
        str(k): (str(v) if k in ("case_type", "payment_reason") else (None if pd.isna(v) else float(v)))
        for k, v in row.items()
    }
    return PaymentExplanation(case_id=case_id, steps=tuple(tracer.steps), result=result)
