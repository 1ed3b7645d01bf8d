"""drgpay: CHS-DRG / DIP grouping, payment and reform reports for Chinese inpatient discharge records."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
