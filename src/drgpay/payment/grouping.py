"""Which grouper the cases were grouped by, against the grouper a policy's weights or scores are for.

Why: DRG codes of two grouper versions look alike (``HC23`` exists in 1.1 and 2.0) but do not mean the same
cases, so paying 1.1 codes with 2.0 weights pays wrong amounts without an error (and sends the codes that
changed to ``drg_not_in_policy``). ``drgpay.group`` writes the grouper's id in a ``grouper`` column (it survives
``df.join(groups)``, where ``frame.attrs`` does not) and in ``frame.attrs["drgpay"]``; a policy names its
grouper (``grouper = "chs-drg-2.0"``). :func:`check_grouper` compares the two before anything is paid.

Ids must be equal: a city variant (``shanghai-drg-2.0``, which ``extends`` the national 2.0) has its own id, so its
cases are paid by a policy naming the variant only, and national cases by a policy naming the national grouper.
Cases that say nothing (no ``grouper`` column, no attrs: codes from an insurer's own file) and missing cells are
not checked: the caller vouches for them.
"""

from __future__ import annotations

import warnings

import pandas as pd

from drgpay.payment.errors import GrouperMismatchError
from drgpay.payment.policy import DipPolicy, DrgPolicy

__all__ = ["case_groupers", "check_grouper", "check_grouper_categories"]

COLUMN = "grouper"


def case_groupers(cases: pd.DataFrame) -> dict[str, int] | None:
    """Rows per grouper id that ``cases`` were grouped by: from the ``grouper`` column (missing cells not counted),
    else ``cases.attrs["drgpay"]["grouper"]`` (every row); None when neither says."""
    if COLUMN in cases.columns:
        counts = cases[COLUMN].value_counts(dropna=True, sort=False)
        out: dict[str, int] = {}
        for value, n in counts.items():
            text = str(value).strip()
            if n and text:
                out[text] = out.get(text, 0) + int(n)
        return out
    provenance = cases.attrs.get("drgpay")
    if isinstance(provenance, dict) and provenance.get("grouper"):
        return {str(provenance["grouper"]): len(cases)}
    return None


def _what(policy: DrgPolicy | DipPolicy) -> str:
    return "weights" if isinstance(policy, DrgPolicy) else "scores"


def _refuse(policy: DrgPolicy | DipPolicy, policy_grouper: str, found: dict[str, int], rows: str) -> None:
    """Raise the mismatch error: ``rows`` says how many cases, ``found`` the other ids (with their rows)."""
    others = ", ".join(sorted(found))
    by = ", ".join(f"{g} ({n} row{'s' if n > 1 else ''})" if n else g for g, n in sorted(found.items()))
    raise GrouperMismatchError(
        f"{rows} grouped by {by}, but policy {policy.name!r} has {_what(policy)} for grouper {policy_grouper}: "
        f"paying them would apply {policy_grouper} {_what(policy)} to {others} groups. Regroup the cases with "
        f"grouper={policy_grouper!r}, or use a policy for {others}.",
        policy_grouper,
        found,
    )


def check_grouper(cases: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> None:
    """Refuse cases grouped by another grouper than the policy's (:class:`GrouperMismatchError`, naming both ids
    and how many rows).

    A policy without a grouper (built in code) checks nothing; when the cases do name theirs, a ``UserWarning``
    says the check was skipped.
    """
    found = case_groupers(cases)
    if policy.grouper is None:
        if found:
            warnings.warn(
                f"policy {policy.name!r} does not say which grouper its {_what(policy)} are for: cases grouped by "
                f"{', '.join(sorted(found))} were not checked against it (give the policy grouper=...)",
                UserWarning,
                stacklevel=3,
            )
        return
    other = {g: n for g, n in (found or {}).items() if g != policy.grouper}
    if other:
        _refuse(policy, policy.grouper, other, f"{sum(other.values())} of {len(cases)} case(s) were")


def check_grouper_categories(meta: pd.DataFrame, policy: DrgPolicy | DipPolicy) -> None:
    """Before any work on a lazy frame (Dask): refuse when the ``grouper`` column is categorical and none of its
    categories (which the caller knows to be the real ones) is the policy's grouper, so every row was grouped by
    another one (rows are not counted: :attr:`GrouperMismatchError.found` holds 0)."""
    if policy.grouper is None or COLUMN not in meta.columns:
        return
    dtype = meta[COLUMN].dtype
    if not isinstance(dtype, pd.CategoricalDtype) or dtype.categories is None:
        return
    categories = {str(c) for c in dtype.categories}
    if categories and policy.grouper not in categories:
        _refuse(policy, policy.grouper, dict.fromkeys(categories, 0), "every case was")
