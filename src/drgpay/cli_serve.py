"""``drgpay serve``: the grouping service and its web page on this machine (see docs/serve.md).

Groupers, the policy and the DIP catalogue are loaded once, here, from the command line; a client can name only
a loaded grouper's id. The service binds 127.0.0.1 unless ``--host`` says otherwise, and has no authentication:
bind another address only on a network where every client may see every record sent.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from drgpay.api import DEFAULT_GROUPER
from drgpay.serve.limits import Limits

__all__ = ["register", "run_serve"]

_MIB = 1024 * 1024
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _serve_modules() -> tuple[Any, Any]:
    """The service and the server modules, or an ImportError saying which extra to install."""
    try:
        from drgpay import serve
        from drgpay.serve import server
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] == "drgpay":
            raise
        raise ImportError(
            f"drgpay serve needs the serve extra ({exc.name} is missing): pip install 'drgpay[serve]'"
        ) from None
    return serve, server


def run_serve(args: argparse.Namespace) -> int:
    serve, server = _serve_modules()
    limits = Limits(
        max_body_bytes=int(args.max_body_mb * _MIB),
        max_rows=args.max_rows,
        timeout_seconds=args.timeout,
        max_codes=args.max_codes,
        threads=args.threads or Limits().threads,
    )
    service = serve.load_service(
        args.grouper or [DEFAULT_GROUPER], policy=args.policy, catalog=args.catalog, limits=limits
    )
    app = serve.create_app(service)
    sock = server.bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"drgpay serve: {', '.join(service.groupers)} on http://{shown}:{port}/ (Ctrl-C stops)",
        file=sys.stderr,
    )
    if args.host not in _LOOPBACK:
        print(
            f"drgpay: warning: bound to {args.host}, not this machine only: the service has no authentication, "
            "so anyone who can reach it can send records and read the answers",
            file=sys.stderr,
        )
    server.serve(app, sock, log_level=args.log_level)
    return 0


def register(sub: Any) -> None:
    """Add ``serve`` to the ``drgpay`` command's subparsers."""
    from drgpay.cli import explained

    defaults = Limits()
    p = sub.add_parser(
        "serve",
        help="serve grouping as a local HTTP service with a web page (needs drgpay[serve])",
        description="Serve POST /group, /explain, /pay, GET /groupers, /codes, /healthz and the page at /. Binds "
        "127.0.0.1 by default: nothing leaves this machine.",
    )
    p.add_argument(
        "--grouper",
        action="append",
        help=f"a grouper name or folder, loaded at start; repeat for several (the first is the default; "
        f"default {DEFAULT_GROUPER})",
    )
    p.add_argument("--policy", help="a payment policy folder or TOML file, for /pay and payments in /explain")
    p.add_argument("--catalog", help="the DIP catalogue, for DIP groupers")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: one the system chooses)")
    p.add_argument(
        "--max-body-mb",
        type=_positive(float),
        default=defaults.max_body_bytes / _MIB,
        help=f"largest request body, MiB (default {defaults.max_body_bytes / _MIB:g})",
    )
    p.add_argument(
        "--max-rows",
        type=_positive(int),
        default=defaults.max_rows,
        help=f"most records a request (default {defaults.max_rows})",
    )
    p.add_argument(
        "--timeout",
        type=_positive(float),
        default=defaults.timeout_seconds,
        help=f"seconds a request may take once its body arrived (default {defaults.timeout_seconds:g})",
    )
    p.add_argument(
        "--max-codes",
        type=_positive(int),
        default=defaults.max_codes,
        help=f"most codes in one field such as other diagnoses (default {defaults.max_codes})",
    )
    p.add_argument("--threads", type=_positive(int), help="worker threads (default: one per CPU, at most 4)")
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="default info",
    )
    p.set_defaults(func=explained(run_serve))
