"""docs/serve.md keeps up with the code: its error-code table lists exactly ``ERROR_CODES`` with their statuses,
its limits table every ``drgpay serve`` limit option with the default ``Limits`` has, and its screenshot exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="drgpay[serve] is not installed")

from drgpay.serve import ERROR_CODES, Limits

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / "docs" / "serve.md").read_text(encoding="utf-8")


def table_after(marker: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule dropped) of the first table after the HTML comment ``marker``."""
    rest = PAGE.split(f"<!-- {marker}", 1)[1].split("\n", 1)[1]
    block: list[list[str]] = []
    for line in rest.splitlines():
        if not line.startswith("|"):
            if block:
                break
            continue
        block.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    assert block, marker
    return block[2:]


def test_error_table_is_error_codes() -> None:
    rows = table_after("error codes")
    documented = {row[0].strip("`"): int(row[1]) for row in rows}
    assert documented == ERROR_CODES


def test_limits_table_has_every_option_and_default() -> None:
    rows = {row[0].strip("`"): row[1] for row in table_after("limits")}
    defaults = Limits()
    assert rows["--max-body-mb"] == f"{defaults.max_body_bytes // (1024 * 1024)}"
    assert rows["--max-rows"] == str(defaults.max_rows)
    assert rows["--timeout"] == f"{defaults.timeout_seconds:g}"
    assert rows["--max-codes"] == str(defaults.max_codes)
    assert "--threads" in rows
    assert f"{defaults.max_unpacked_ratio} times the body limit" in PAGE


def test_screenshot_is_there_and_small() -> None:
    assert "(img/serve.png)" in PAGE
    shot = REPO / "docs" / "img" / "serve.png"
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size < 300_000
