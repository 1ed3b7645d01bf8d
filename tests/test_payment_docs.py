"""docs/payment.md stays true: its Python blocks run and print exactly the output shown; its TOML loads."""

from __future__ import annotations

import contextlib
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from drgpay.payment import DrgPolicy, load_policy

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC = DOCS / "payment.md"
FENCE = re.compile(r"```(\w+)\n(.*?)\n```", re.S)

pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="docs/payment.md not found next to tests/")


def fenced(doc: Path = DOC) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(doc.read_text(encoding="utf-8"))]


def check_page_blocks(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the Python blocks of a docs page in order, in ``tmp_path``: each prints exactly the ``text`` block
    that follows it on the page (when one does), and the page has at least 8 of them."""
    monkeypatch.chdir(tmp_path)
    blocks = fenced(doc)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for k, (lang, body) in enumerate(blocks):
        if lang != "python":
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(body, f"{doc.name} block {k}", "exec"), namespace)
        ran += 1
        follows = blocks[k + 1] if k + 1 < len(blocks) else ("", "")
        if follows[0] == "text":
            assert buf.getvalue().rstrip("\n") == follows[1], f"output of block {k} differs from the page"
    assert ran >= 8


def test_tutorial_blocks_print_what_the_page_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_page_blocks(DOC, tmp_path, monkeypatch)


def test_policy_file_sample_loads(tmp_path: Path) -> None:
    toml = next(body for lang, body in fenced() if lang == "toml")
    (tmp_path / "policy.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "weights.csv").write_text("drg,name,weight\nHC23,x,1.2\n", encoding="utf-8")
    policy = load_policy(tmp_path)
    assert isinstance(policy, DrgPolicy)
    assert policy.high_cost is not None and len(policy.high_cost.tiers) == 3
    assert policy.settlement.clearing.surplus_tiers[1].share == Decimal("0.6")
