"""MkDocs hooks for the drgpay docs: tables generated from the source, and checks that the prose keeps up with it.

* ``<!-- drgpay:input-columns -->`` in a page becomes the table of canonical input columns and their built-in
  aliases, read from ``src/drgpay/schema.py`` (``CANONICAL_COLUMNS``, ``ALIASES``).
* The reason and status tables between ``<!-- drgpay:reasons -->`` / ``<!-- /drgpay:reasons -->`` (and
  ``statuses``) are written by hand; the build warns (and so fails with ``--strict``) when their first column
  does not list exactly ``REASONS`` / ``STATUSES`` of ``src/drgpay/drg/compiled.py``.

* ``<!-- drgpay:choices -->`` … ``<!-- /drgpay:choices -->`` must mention every ``[algorithm]`` choice
  (``CHOICES`` in ``src/drgpay/drg/options.py``) and every interpretation the CHS-DRG 1.1 builder makes (the keys
  of ``SECTION_ROLES``, ``CONDITION_HEADERS``, ``NAME_CLAUSES``, ``NAME_ALTERNATIVES``, ``MDC_SEX`` and
  ``KIND_OVERRIDES`` in ``scripts/chs_drg_11.py``), and each ``NAME_CLAUSES`` / ``NAME_ALTERNATIVES`` row must state the
  clause's role and bounds: a new or changed reading fails the strict build until it is documented.
* An ``explain()`` trace pasted between ``<!-- drgpay:explain {record as JSON} -->`` and
  ``<!-- /drgpay:explain -->`` must equal what ``drgpay.explain`` prints for that record today.

The source files are parsed with :mod:`ast`, not imported; only the trace check imports drgpay.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.drgpay")

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "src" / "drgpay" / "schema.py"
COMPILED = REPO / "src" / "drgpay" / "drg" / "compiled.py"
BUILDER_11 = REPO / "scripts" / "chs_drg_11.py"
OPTIONS = REPO / "src" / "drgpay" / "drg" / "options.py"


def _assignments(path: Path) -> dict[str, ast.expr]:
    """Module-level ``NAME = value`` / ``NAME: type = value`` of a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found[node.target.id] = node.value
    return found


def _literal_dict_items(node: ast.expr) -> list[tuple[Any, Any]]:
    """The literal ``key: value`` entries of a dict display (``**`` unpackings are skipped)."""
    if not isinstance(node, ast.Dict):
        raise TypeError("not a dict display")
    return [
        (ast.literal_eval(k), ast.literal_eval(v))
        for k, v in zip(node.keys, node.values, strict=True)
        if k is not None
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _from_source(path: Path, module: str, name: str, as_items: bool = False) -> Any:
    """A module-level constant read from the source with :mod:`ast`; if it is not a plain literal there, imported."""
    try:
        node = _assignments(path)[name]
        return _literal_dict_items(node) if as_items else ast.literal_eval(node)
    except (KeyError, ValueError, TypeError, SyntaxError):
        import importlib

        value = getattr(importlib.import_module(module), name)
        return list(value.items()) if as_items else value


def input_columns_table() -> str:
    """Markdown table: canonical column, meaning, built-in aliases."""
    canonical = dict(_from_source(SCHEMA, "drgpay.schema", "CANONICAL_COLUMNS", as_items=True))
    aliases: dict[str, list[str]] = {k: [] for k in canonical}
    for header, target in _from_source(SCHEMA, "drgpay.schema", "ALIASES", as_items=True):
        if header != target:
            aliases.setdefault(target, []).append(header)
    lines = ["| column | meaning | also recognised as |", "|---|---|---|"]
    for name, meaning in canonical.items():
        also = ", ".join(f"`{_cell(a)}`" for a in aliases.get(name, [])) or "—"
        lines.append(f"| `{name}` | {_cell(meaning)} | {also} |")
    return "\n".join(lines)


def _source_tuple(name: str) -> tuple[str, ...]:
    return tuple(_from_source(COMPILED, "drgpay.drg.compiled", name))


def _check_listed(markdown: str, marker: str, expected: tuple[str, ...], page: str) -> None:
    block = re.search(rf"<!-- drgpay:{marker} -->(.*?)<!-- /drgpay:{marker} -->", markdown, flags=re.S)
    if block is None:
        log.warning("%s: the %s table markers are missing", page, marker)
        return
    listed = tuple(re.findall(r"^\|\s*`([a-z_]+)`\s*\|", block.group(1), flags=re.M))
    if listed != expected:
        missing = [r for r in expected if r not in listed]
        extra = [r for r in listed if r not in expected]
        log.warning(
            "%s: the %s table is out of date with src/drgpay/drg/compiled.py (missing %s, not in the source %s, "
            "or not in source order)",
            page,
            marker,
            missing,
            extra,
        )


def _check_choices(markdown: str, page: str) -> None:
    block = re.search(r"<!-- drgpay:choices -->(.*?)<!-- /drgpay:choices -->", markdown, flags=re.S)
    if block is None:
        log.warning("%s: the choices markers are missing", page)
        return
    text = block.group(1)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for key, _ in _literal_dict_items(_assignments(OPTIONS)["CHOICES"]):
        if f"`{key}`" not in text:
            log.warning(
                "%s: the [algorithm] choice %r of src/drgpay/drg/options.py is not documented", page, key
            )
    names = _assignments(BUILDER_11)
    for table in ("SECTION_ROLES", "CONDITION_HEADERS", "MDC_SEX", "KIND_OVERRIDES"):
        for key, _ in _literal_dict_items(names[table]):
            if key not in text:
                log.warning("%s: %s entry %r of scripts/chs_drg_11.py is not documented", page, table, key)
    clauses = {k: [v] for k, v in _literal_dict_items(names["NAME_CLAUSES"])}
    alternatives = dict(_literal_dict_items(names["NAME_ALTERNATIVES"]))
    for table, entries in (("NAME_CLAUSES", clauses), ("NAME_ALTERNATIVES", alternatives)):
        for adrg, groups in entries.items():
            lines = [r for r in rows if re.search(rf"\b{adrg}\b", r)]
            if not lines:
                log.warning("%s: %s entry %s of scripts/chs_drg_11.py is not documented", page, table, adrg)
                continue
            wanted = {str(part) for group in groups for clause in group for part in clause if str(part)}
            missing = sorted(w for w in wanted if not any(w in line for line in lines))
            if missing:
                log.warning(
                    "%s: the row for %s (%s) does not state %s; scripts/chs_drg_11.py has %s",
                    page,
                    adrg,
                    table,
                    missing,
                    groups,
                )


_EXPLAIN = re.compile(
    r"<!-- drgpay:explain (\{.*?\}) -->\s*```text\n(.*?)```\s*<!-- /drgpay:explain -->", re.S
)


def _check_traces(markdown: str, page: str) -> None:
    import json

    found = _EXPLAIN.findall(markdown)
    if markdown.count("<!-- drgpay:explain ") != len(found):
        log.warning("%s: a drgpay:explain block is malformed (marker, ```text block, closing marker)", page)
    if not found:
        return
    try:
        import drgpay
    except ImportError as exc:  # pragma: no cover - the docs extra installs drgpay
        log.warning("%s: cannot check the explain() traces, drgpay is not importable (%s)", page, exc)
        return
    for record_json, pasted in found:
        record = json.loads(record_json)
        grouper = record.pop("grouper", drgpay.DEFAULT_GROUPER)
        actual = str(drgpay.explain(record, grouper=grouper))
        if actual.strip() != pasted.strip():
            log.warning(
                "%s: the explain() trace for %s is out of date; it now reads:\n%s", page, record_json, actual
            )


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    page_name = page.file.src_uri
    if "<!-- drgpay:input-columns -->" in markdown:
        markdown = markdown.replace("<!-- drgpay:input-columns -->", input_columns_table())
    if "<!-- drgpay:reasons -->" in markdown:
        _check_listed(markdown, "reasons", _source_tuple("REASONS"), page_name)
    if "<!-- drgpay:statuses -->" in markdown:
        _check_listed(markdown, "statuses", _source_tuple("STATUSES"), page_name)
    if "<!-- drgpay:choices -->" in markdown:
        _check_choices(markdown, page_name)
    if "<!-- drgpay:explain " in markdown:
        _check_traces(markdown, page_name)
    return markdown
