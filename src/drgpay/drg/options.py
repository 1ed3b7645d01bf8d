"""The documented choices of a CHS-DRG definition: where the NHSA text leaves room, the manifest's ``[algorithm]``
says which reading the grouper takes (docs/algorithm.md, "Choices where the text leaves room").

Both the vectorised engine and the reference grouper read them from here, so they cannot disagree on a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from drgpay.definitions import DefinitionError

__all__ = ["CHOICES", "RuleOptions"]

#: Each choice: its allowed values, the first being the default.
CHOICES: dict[str, tuple[object, ...]] = {
    "newborn_unmatched": ("mdc", "ungroupable"),
    "newborn_birth_weight": ("optional", "required"),
    "mdca_without_principal_dx": (False, True),
    "sex_conflict": ("ungroupable", "ignore"),
    "ambiguous_procedure": ("principal", "any"),
}


@attrs.frozen
class RuleOptions:
    """The choices of one definition (defaults where the manifest is silent)."""

    #: ``mdc``: a record in MDCP that no MDCP ADRG takes is grouped by its principal diagnosis in the other MDCs;
    #: ``ungroupable``: it stays in MDCP with ``0000`` (``no_adrg``).
    newborn_unmatched: str = "mdc"
    #: ``optional``: a newborn without birth weight cannot enter the birth-weight ADRGs but groups otherwise;
    #: ``required``: it is ``invalid`` (``missing_birth_weight``), as a settlement list requires the weight.
    newborn_birth_weight: str = "optional"
    #: Whether MDCA (procedure-driven) is tried on a record without a principal diagnosis.
    mdca_without_principal_dx: bool = False
    #: ``ungroupable``: a principal diagnosis whose MDCs are all for the other sex gives ``0000``
    #: (``sex_conflict``); ``ignore``: the first MDC holding the code is taken regardless of sex.
    sex_conflict: str = "ungroupable"
    #: Which procedures send a record to the 歧义组: the ``principal`` procedure or ``any`` procedure.
    ambiguous_procedure: str = "principal"

    @classmethod
    def from_algorithm(cls, algorithm: Mapping[str, Any], path: Path | None = None) -> RuleOptions:
        """Read and check the choices of a manifest's ``[algorithm]`` table."""
        values: dict[str, Any] = {}
        for key, allowed in CHOICES.items():
            if key not in algorithm:
                continue
            value = algorithm[key]
            if value not in allowed or type(value) is not type(allowed[0]):
                raise DefinitionError(
                    f"[algorithm] {key} = {value!r}: expected one of {', '.join(map(repr, allowed))}",
                    file=path,
                )
            values[key] = value
        return cls(**values)
