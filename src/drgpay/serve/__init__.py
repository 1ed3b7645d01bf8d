"""``drgpay serve``: grouping, explanation and payment as a local HTTP service with a web page for coders.

Install with ``pip install 'drgpay[serve]'`` (FastAPI and uvicorn). Build the application with::

    from drgpay.serve import Limits, create_app, load_service
    app = create_app(load_service(["chs-drg-2.0"], limits=Limits(max_rows=10_000)))

and serve it with any ASGI server; ``drgpay serve`` runs it on uvicorn, bound to 127.0.0.1 by default. Groupers,
the policy and the catalogue are loaded once, at start, from the command line; no request can name a path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drgpay.serve.limits import Limits

if TYPE_CHECKING:
    from drgpay.serve.app import create_app
    from drgpay.serve.errors import ERROR_CODES, ApiError
    from drgpay.serve.service import Service, load_service

# The names that need FastAPI are imported on first use (PEP 562): ``Limits`` alone, which the command line
# reads its defaults from, works without the serve extra.
_LAZY = {
    "create_app": "drgpay.serve.app",
    "ERROR_CODES": "drgpay.serve.errors",
    "ApiError": "drgpay.serve.errors",
    "Service": "drgpay.serve.service",
    "load_service": "drgpay.serve.service",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drgpay.serve' has no attribute {name!r}")


__all__ = ["ERROR_CODES", "ApiError", "Limits", "Service", "create_app", "load_service"]
