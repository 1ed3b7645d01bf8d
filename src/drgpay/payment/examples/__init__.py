"""Example policy folders shipped with drgpay (figures marked illustrative are not official)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["EXAMPLES", "example_policy_path"]

#: Example folders: name → what it is.
EXAMPLES = {
    "tongchuan_2025_illustrative": (
        "CHS-DRG 2.0 weights of 铜川 2025 (634 groups) with an ILLUSTRATIVE base rate, coefficients and rules"
    ),
}


def example_policy_path(name: str = "tongchuan_2025_illustrative") -> Path:
    """Folder of a shipped example policy (pass it to :func:`~drgpay.payment.load_policy`)."""
    if name not in EXAMPLES:
        raise KeyError(f"unknown example policy {name!r}; available: {', '.join(EXAMPLES)}")
    return Path(str(resources.files(__name__) / name))
