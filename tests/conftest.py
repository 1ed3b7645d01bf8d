"""Shared fixtures: the bundled groupers, the repository and the public raw sources (when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

import drgpay

REPO = Path(__file__).resolve().parents[1]
RAW = REPO.parent / "shared" / "data" / "raw"


@pytest.fixture(scope="session")
def g11() -> drgpay.Grouper:
    return drgpay.load_grouper("chs-drg-1.1")


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    if not RAW.is_dir():
        pytest.skip("shared/data/raw is not beside the repository")
    return RAW
