"""Griffe extension for the docs build: Sphinx-style roles in drgpay's docstrings become cross-references.

drgpay's docstrings are plain reST-flavoured text: ``double backticks`` (already valid Markdown code) and roles such
as :func:`drgpay.list_groupers` or :class:`~drgpay.schema.SchemaError`. Markdown has no roles, so without this
extension they would show up literally. Each role becomes an *optional* mkdocs-autorefs reference: a link when the
target is documented somewhere on the site, plain code otherwise (never a build warning).

It also reads Sphinx's ``#:`` comments above a module attribute (``#: Canonical columns …``) as that attribute's
docstring, which griffe does not do by itself.

Loaded from ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``); not part of the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|exc|obj|const|type):`(?P<tilde>~?)(?P<target>[^`<>]+)`")


def _qualify(obj: griffe.Object, target: str) -> str:
    """A dotted path for ``target``: as written when dotted, else looked up from the object outwards."""
    if "." in target.lstrip("."):
        return target.lstrip(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        if target in scope.members:
            return f"{scope.path}.{target}"
        scope = scope.parent
    return target


def _comment_docstring(attr: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's first line, joined, or None."""
    module = attr.module
    if attr.lineno is None or not module.filepath or isinstance(module.filepath, list):
        return None
    lines = module.lines
    i = attr.lineno - 2
    found: list[str] = []
    while i >= 0 and lines[i].lstrip().startswith("#:"):
        found.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(found) or None


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring to an optional autorefs reference; read ``#:`` comments."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if not obj.is_alias and obj.is_attribute and obj.docstring is None:
            text = _comment_docstring(obj)
            if text:
                obj.docstring = griffe.Docstring(text, parent=obj)
        if obj.is_alias or obj.docstring is None or ":" not in obj.docstring.value:
            return

        def replace(m: re.Match[str]) -> str:
            target = m["target"].strip()
            if target.endswith("()"):
                target = target[:-2]
            title = target.rsplit(".", 1)[-1] if m["tilde"] else target
            return f'<autoref identifier="{_qualify(obj, target)}" optional><code>{title}</code></autoref>'

        obj.docstring.value = _ROLE.sub(replace, obj.docstring.value)
