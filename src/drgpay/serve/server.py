"""Running the application on uvicorn: in the foreground for ``drgpay serve``, or on a thread for tests and the
benchmark (:func:`serve_in_thread`, on 127.0.0.1 and a port the system chooses)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["bind", "serve", "serve_in_thread"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: one the system chooses); OSError when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # the TCP protocol named: asyncio switches Nagle off (TCP_NODELAY) only on sockets whose proto says TCP; without
    # it an answer written in two parts waits for the client's delayed ACK, 40 ms a request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _server(app: Any, log_level: str) -> uvicorn.Server:
    # the limits are the application's; uvicorn only closes idle connections after a while
    config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=5, lifespan="on")
    return uvicorn.Server(config)


def serve(app: Any, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``sock`` until SIGINT or SIGTERM."""
    _server(app, log_level).run(sockets=[sock])


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", *, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` on a thread, on ``host`` and a free port; yields the base URL (``http://127.0.0.1:PORT``)
    once the server accepts connections, and stops it on leaving the block."""
    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = _server(app, log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="drgpay-serve", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
