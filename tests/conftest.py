"""Shared fixtures: the bundled groupers, the repository and the public raw sources (when present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import drgpay

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _private_grouper_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled-grouper cache files of the test session stay in a temporary folder, not in the user's home."""
    os.environ["DRGPAY_CACHE"] = str(tmp_path_factory.mktemp("drgpay-cache"))


RAW = REPO.parent / "shared" / "data" / "raw"


@pytest.fixture(scope="session")
def g11() -> drgpay.Grouper:
    return drgpay.load_grouper("chs-drg-1.1")


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    if not RAW.is_dir():
        pytest.skip("shared/data/raw is not beside the repository")
    return RAW
