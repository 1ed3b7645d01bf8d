"""docs/dip.md stays true: its Python blocks run and print exactly the output shown under them."""

from __future__ import annotations

from pathlib import Path

import pytest

from docblocks import DOCS
from test_payment_docs import check_page_blocks

DOC = DOCS / "dip.md"

pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="docs/dip.md not found next to tests/")


def test_dip_page_blocks_print_what_the_page_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_page_blocks(DOC, tmp_path, monkeypatch)
