"""docs/payment.md stays true: its Python blocks run and print exactly the output shown; its TOML loads."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from docblocks import DOCS, fenced, run_blocks
from drgpay.payment import DrgPolicy, load_policy

DOC = DOCS / "payment.md"

pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="docs/payment.md not found next to tests/")


def check_page_blocks(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the Python blocks of a docs page in order, in ``tmp_path``: each prints exactly the ``text`` block
    that follows it on the page (when one does), and the page has at least 8 of them."""
    monkeypatch.chdir(tmp_path)
    ran, _ = run_blocks(doc, {"__name__": "__docs__"})
    assert ran >= 8


def test_tutorial_blocks_print_what_the_page_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_page_blocks(DOC, tmp_path, monkeypatch)


def test_policy_file_sample_loads(tmp_path: Path) -> None:
    toml = next(body for lang, body in fenced(DOC) if lang == "toml")
    (tmp_path / "policy.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "weights.csv").write_text("drg,name,weight\nHC23,x,1.2\n", encoding="utf-8")
    policy = load_policy(tmp_path)
    assert isinstance(policy, DrgPolicy)
    assert policy.high_cost is not None and len(policy.high_cost.tiers) == 3
    assert policy.settlement.clearing.surplus_tiers[1].share == Decimal("0.6")
