"""The ASGI application: the JSON API, its OpenAPI description and the page, over one loaded
:class:`~drgpay.serve.service.Service`.

Every answer that is not a success is an :mod:`~drgpay.serve.errors` body: no traceback leaves the service, and
the service stays up whatever a client sends. The work of a request runs on a bounded pool of worker threads
under the time limit, so the event loop keeps answering (health checks, other clients) meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drgpay import __version__
from drgpay.serve.errors import ApiError, error_body
from drgpay.serve.records import check_record, parse_json, read_upload, records_frame, upload_name
from drgpay.serve.schemas import (
    CodesResponse,
    ErrorResponse,
    ExplainResponse,
    GroupersResponse,
    GroupResponse,
    HealthResponse,
    PayResponse,
    request_body,
)
from drgpay.serve.service import Service, csv_bytes

__all__ = ["create_app"]

log = logging.getLogger("drgpay.serve")
T = TypeVar("T")

STATIC = resources.files("drgpay.serve") / "static"

#: Headers on every answer: the page loads nothing from elsewhere and sends nothing elsewhere.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        b"form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

_ERRORS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}
_JSON = "application/json"
_CSV = "text/csv; charset=utf-8"
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "malformed JSON or upload"),
        (413, "body or row limit exceeded"),
        (415, "unsupported content type"),
        (422, "a record, value or field the service refuses (row and column named)"),
        (503, "the request took longer than the time limit"),
    )
}


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__("body_too_large", f"the body is larger than the {limit:,} bytes a request may send")


class Guard:
    """ASGI middleware: refuses a body over the size limit (by its Content-Length before reading, and by the
    bytes actually received, for chunked uploads), and adds :data:`SECURITY_HEADERS` to every answer."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            error = BodyTooLarge(self.max_body_bytes)
            await _send_error(send_with_headers, error.status, error.body())
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        await self.app(scope, counted, send_with_headers)


async def _send_error(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(error: ApiError) -> Response:
    return Response(error.body(), status_code=error.status, media_type=_JSON)


def create_app(service: Service) -> FastAPI:
    """The service's ASGI application (serve it with uvicorn; :func:`drgpay.serve.server.serve` does)."""
    limits = service.limits
    pool = ThreadPoolExecutor(max_workers=limits.threads, thread_name_prefix="drgpay-serve")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="drgpay",
        version=__version__,
        summary="CHS-DRG / DIP grouping, explanation and payment of discharge records, on this machine.",
        docs_url=None,  # the interactive pages load their scripts from a CDN: the service loads nothing from elsewhere
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(Guard, max_body_bytes=limits.max_body_bytes)

    async def in_worker(work: Callable[[], T]) -> T:
        """``work()`` on the worker pool, within the time limit (waiting for a free worker included)."""
        future = pool.submit(work)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), limits.timeout_seconds)
        except TimeoutError:
            future.cancel()
            raise ApiError(
                "timeout",
                f"the request took longer than the {limits.timeout_seconds:g} s limit; send fewer records at a time",
            ) from None

    # -- errors --------------------------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = _ERRORS.get(exc.status_code, "bad_request")
        body = error_body(code, str(exc.detail))
        return Response(body, status_code=exc.status_code, media_type=_JSON, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = first.get("loc", ())
        column = str(where[-1]) if where else None
        message = f"{column}: {first.get('msg', 'invalid')}" if column else str(first.get("msg", "invalid"))
        return Response(
            error_body("invalid_value", message, column=column), status_code=422, media_type=_JSON
        )

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> Response:
        log.warning(
            "%s %s: the client disconnected before its body had arrived (400)",
            request.method,
            request.url.path,
        )
        return Response(error_body("client_disconnected", "the client disconnected during the upload"), 400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        body = error_body(
            "internal_error", "internal error: the request was not done; the service log has details"
        )
        return Response(body, status_code=500, media_type=_JSON)

    # -- reading requests ----------------------------------------------------------------------------------------
    async def read_records(request: Request, *, upload: bool) -> Callable[[], Any]:
        """The body, received (within the size limit), and a function that reads it into a frame on a worker."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == _JSON:
            body = await request.body()
            return lambda: records_frame(parse_json(body), limits)
        if upload and kind == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=5)
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise ApiError("malformed_upload", "the form has no file field named 'file'", column="file")
            data, name = await file.read(), upload_name(file.filename)
            await form.close()
            return lambda: read_upload(data, name, limits)
        if upload and kind in ("text/csv", "text/tab-separated-values"):
            body = await request.body()
            name = "upload.tsv" if kind.endswith("values") else "upload.csv"
            return lambda: read_upload(body, name, limits)
        accepted = "application/json" + (", multipart/form-data (field 'file') or text/csv" if upload else "")
        raise ApiError(
            "unsupported_media_type", f"content type {kind or '(none)'!r} is not read here; send {accepted}"
        )

    def answer_format(request: Request, chosen: str | None) -> str:
        if chosen is not None:
            return chosen
        accept = request.headers.get("accept", "")
        return "csv" if "text/csv" in accept and _JSON not in accept else "json"

    # -- the API -------------------------------------------------------------------------------------------------
    @app.get("/healthz", response_model=HealthResponse, tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Liveness: answers while the service runs, whatever the workers are doing."""
        return {"status": "ok", "groupers": list(service.groupers)}

    @app.get("/groupers", response_model=GroupersResponse, tags=["service"])
    async def groupers() -> dict[str, Any]:
        """The groupers loaded at start (the first is the default), the policy, the catalogue and the limits."""
        return service.describe()

    @app.get("/codes", response_model=CodesResponse, tags=["grouping"], responses=_ERROR_RESPONSES)
    async def codes(
        q: str = Query(description="the start of a code (K80.1) or a part of a name (胆囊)", max_length=64),
        kind: Literal["dx", "proc"] = Query(
            "dx", description="dx: diagnoses (ICD-10); proc: procedures (ICD-9-CM-3)"
        ),
        limit: int = Query(20, ge=1, le=100),
        grouper: str | None = Query(None, description="a loaded grouper's id (default: the default grouper)"),
    ) -> dict[str, Any]:
        """Look up codes of the grouper's 医保版 lists by code or by name."""
        chosen = service.grouper(grouper)
        return {"kind": kind, "query": q, "results": service.lookup(chosen, kind, q, limit)}

    @app.post(
        "/group",
        tags=["grouping"],
        responses={200: {"model": GroupResponse, "content": {"text/csv": {}}}, **_ERROR_RESPONSES},
        openapi_extra=request_body(records=True, upload=True, max_rows=limits.max_rows),
    )
    async def group(
        request: Request,
        format: Literal["json", "csv"] | None = Query(
            None,
            description="json (default) or csv (the input columns, then the results); or send Accept: text/csv",
        ),
        grouper: str | None = Query(None, description="a loaded grouper's id (default: the default grouper)"),
    ) -> Response:
        """Group records: a JSON array, or an uploaded CSV / TSV / Excel / Parquet file. Every record comes back,
        in order, with its status and reason."""
        chosen = service.grouper(grouper)
        read = await read_records(request, upload=True)
        as_csv = answer_format(request, format) == "csv"

        def work() -> bytes:
            frame = read()
            result = service.group(frame, chosen)
            return csv_bytes(frame, result) if as_csv else service.group_json(frame, result, chosen)

        body = await in_worker(work)
        return Response(body, media_type=_CSV if as_csv else _JSON)

    @app.post(
        "/explain",
        tags=["grouping"],
        response_model=ExplainResponse,
        responses=_ERROR_RESPONSES,
        openapi_extra=request_body(records=False, upload=False, max_rows=1),
    )
    async def explain(
        request: Request,
        grouper: str | None = Query(None, description="a loaded grouper's id (default: the default grouper)"),
    ) -> Response:
        """Group one record step by step: the structured trace of drgpay.explain, the group names and, with a
        policy loaded, its weight and payment."""
        chosen = service.grouper(grouper)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != _JSON:
            raise ApiError(
                "unsupported_media_type",
                f"content type {kind or '(none)'!r} is not read here; send application/json",
            )
        body = await request.body()

        def work() -> dict[str, Any]:
            record = check_record(parse_json(body), 0)
            records_frame([record], limits)  # the code checks of /group
            return service.explain(record, chosen)

        return Response(json.dumps(await in_worker(work), ensure_ascii=False), media_type=_JSON)

    @app.post(
        "/pay",
        tags=["payment"],
        responses={200: {"model": PayResponse, "content": {"text/csv": {}}}, **_ERROR_RESPONSES},
        openapi_extra=request_body(records=True, upload=True, max_rows=limits.max_rows),
    )
    async def pay(
        request: Request,
        format: Literal["json", "csv"] | None = Query(None, description="json (default) or csv"),
    ) -> Response:
        """Group records with the policy's grouper and pay them under the loaded policy: the grouping and the
        payment columns per record, in order (409 when no policy is loaded)."""
        service.policy_grouper()  # 409 before the body is read
        read = await read_records(request, upload=True)
        as_csv = answer_format(request, format) == "csv"

        def work() -> bytes:
            frame = read()
            paid, added, notes = service.pay(frame)
            if as_csv:
                return paid.to_csv(index=False, lineterminator="\n").encode()
            return service.pay_json(paid, notes, added)

        body = await in_worker(work)
        return Response(body, media_type=_CSV if as_csv else _JSON)

    # -- the page ------------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app
