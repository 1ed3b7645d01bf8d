"""Grouper definitions as data: manifests, table schemas, loading with validation, the registry."""

from drgpay.definitions.errors import DefinitionError
from drgpay.definitions.loader import Definition, load_definition
from drgpay.definitions.manifest import Manifest
from drgpay.definitions.registry import find_grouper, groupers_dir, list_groupers

__all__ = [
    "Definition",
    "DefinitionError",
    "Manifest",
    "find_grouper",
    "groupers_dir",
    "list_groupers",
    "load_definition",
]
