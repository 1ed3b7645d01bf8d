"""Running the code of a docs page: its Python blocks in order, each printing exactly the ``text`` block that
follows it on the page (when one does). Shared by the tests that keep docs pages true."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"```(\w+)\n(.*?)\n```", re.S)


def fenced(doc: Path) -> list[tuple[str, str]]:
    """The fenced blocks of a page as ``(language, body)``."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(doc.read_text(encoding="utf-8"))]


def run_blocks(
    doc: Path, namespace: dict[str, Any], runs: Callable[[str], bool] = lambda body: True
) -> tuple[int, int]:
    """Execute the page's Python blocks in ``namespace`` (those ``runs`` accepts), checking printed output
    against the ``text`` block that follows; returns ``(ran, skipped)``."""
    blocks = fenced(doc)
    ran = skipped = 0
    for k, (lang, body) in enumerate(blocks):
        if lang != "python":
            continue
        if not runs(body):
            skipped += 1
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(body, f"{doc.name} block {k}", "exec"), namespace)
        ran += 1
        follows = blocks[k + 1] if k + 1 < len(blocks) else ("", "")
        if follows[0] == "text":
            assert out.getvalue().rstrip("\n") == follows[1], (
                f"output of {doc.name} block {k} differs from the page"
            )
    return ran, skipped
