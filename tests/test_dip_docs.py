"""docs/dip.md stays true: its Python blocks run and print exactly the output shown under them."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "dip.md"
FENCE = re.compile(r"```(\w+)\n(.*?)\n```", re.S)

pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="docs/dip.md not found next to tests/")


def test_dip_page_blocks_print_what_the_page_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = [(m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text(encoding="utf-8"))]
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for k, (lang, body) in enumerate(blocks):
        if lang != "python":
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(body, f"dip.md block {k}", "exec"), namespace)
        ran += 1
        follows = blocks[k + 1] if k + 1 < len(blocks) else ("", "")
        if follows[0] == "text":
            assert buf.getvalue().rstrip("\n") == follows[1], f"output of block {k} differs from the page"
    assert ran >= 8
