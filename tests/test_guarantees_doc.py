"""The Guarantees page (``docs/guarantees.md``) is backed by tests that exist.

Every promise on the page is a list item naming at least one test as ``tests/FILE.py::TEST`` (or
``tests/FILE.py::Class::TEST``); each named test must be a test function of that file, found by parsing the file
(nothing is imported or run). A renamed or deleted test fails here until the page says what backs the promise
now. The page must be in the site's navigation and linked from the home page and the command line reference.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "guarantees.md"
#: A test named on the page: ``tests/test_x.py::test_name`` or ``tests/test_x.py::TestClass::test_name``.
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::((?:\w+::)?\w+)`")
#: What the page must cover (issue 12): a section heading holding each of these words.
SECTIONS = (
    "Outputs",
    "Encodings",
    "Missing values",
    "Amounts",
    "Dates",
    "Exit codes",
    "Signals",
    "cache",
    "Definition and policy paths",
    "Policy ranges",
)


def page_text() -> str:
    return PAGE.read_text(encoding="utf-8")


def promises(text: str) -> list[str]:
    """The page's list items (``- `` lines and their indented continuation lines), each as one line."""
    items: list[str] = []
    open_item = False
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(line[2:])
            open_item = True
        elif open_item and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        else:
            open_item = False
    return items


@cache
def defined_tests(relative: str) -> frozenset[str]:
    """The test functions of a test file, by AST: ``test_x`` at module level, ``TestClass::test_x`` in classes."""
    path = REPO / relative
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test")
            )
    return frozenset(names)


def test_every_named_test_exists() -> None:
    references = REFERENCE.findall(page_text())
    assert len(references) >= 40, "the page names the tests behind its promises"
    missing = [f"{file}::{name}" for file, name in references if name not in defined_tests(file)]
    assert missing == [], f"docs/guarantees.md names tests that do not exist: {missing}"


def test_every_promise_names_a_test() -> None:
    items = promises(page_text())
    assert len(items) >= 30
    unbacked = [item[:100] for item in items if not REFERENCE.search(item)]
    assert unbacked == [], f"promises without a named test: {unbacked}"


@pytest.mark.parametrize("words", SECTIONS)
def test_the_page_covers_each_subject(words: str) -> None:
    headings = [line for line in page_text().splitlines() if line.startswith("## ")]
    assert any(words in heading for heading in headings), (words, headings)


def test_the_checker_sees_a_missing_test_and_an_unbacked_promise() -> None:
    """The checks above can fail: a made-up name is not found, a promise without a test is reported."""
    assert "test_every_named_test_exists" in defined_tests("tests/test_guarantees_doc.py")
    assert "test_no_such_guarantee" not in defined_tests("tests/test_guarantees_doc.py")
    assert defined_tests("tests/test_no_such_file.py") == frozenset()
    text = (
        "## Outputs\n\n- **A.** Tests: `tests/test_a.py::test_a`.\n- **B** with no test,\n  on two lines.\n"
    )
    items = promises(text)
    assert items == ["**A.** Tests: `tests/test_a.py::test_a`.", "**B** with no test, on two lines."]
    assert [bool(REFERENCE.search(item)) for item in items] == [True, False]


def test_the_page_is_in_the_navigation_and_linked() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+- Guarantees: guarantees\.md$", nav, re.M), "docs/guarantees.md is not in the nav"
    assert "(guarantees.md)" in (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    cli = (REPO / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    section = cli.split("## Exit codes and outputs", 1)[1].split("\n## ", 1)[0]
    assert "(../guarantees.md)" in section
