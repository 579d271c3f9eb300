"""Every failure becomes JSON `{"error": {"code", "message"}}` with a fitting status.

Library errors keep their `.code`; the status comes from their class (bad input 400,
missing document 404, model or index unavailable 503). Bad input never gives a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corpustrace import __version__
from corpustrace.errors import (
    CorpusError,
    CorpusTraceError,
    DeadlineExceeded,
    IndexFormatError,
    LimitExceeded,
    ModelError,
    NotFound,
    QueryError,
    TokenizerError,
)

log = logging.getLogger("corpustrace.server")

LIBRARY_STATUS: dict[type[CorpusTraceError], int] = {
    NotFound: 404,
    LimitExceeded: 413,
    DeadlineExceeded: 504,
    QueryError: 400,
    TokenizerError: 400,
    CorpusError: 400,
    ModelError: 503,
    IndexFormatError: 503,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
    504: "timeout",
}


class ServiceError(Exception):
    """An error of the service itself (limits, auth, time), with its HTTP status."""

    status = 500
    code = "internal"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


class Overloaded(ServiceError):
    """Every worker busy and the queue full: try again after Retry-After seconds."""

    status = 503
    code = "overloaded"


class Timeout(ServiceError):
    status = 504
    code = "timeout"


def error_json(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def library_status(exc: CorpusTraceError) -> int:
    for cls in type(exc).__mro__:
        if cls in LIBRARY_STATUS:
            return LIBRARY_STATUS[cls]
    return 500


def describe_validation(exc: RequestValidationError) -> tuple[str, str]:
    """A code and a one-line message from pydantic's list of errors."""
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return "invalid_json", "the request body is not valid JSON"
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg", "invalid"))
        parts.append(f"{where}: {msg}" if where else msg)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid_request", "; ".join(parts) + more


def wants_html(request: Request) -> bool:
    path = request.url.path
    return not path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def html_error(request: Request, status: int, message: str) -> Response:
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status)
    context = {"status": status, "message": message, "title": str(status), "version": __version__}
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "error.html", context, status_code=status
    )


async def on_library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CorpusTraceError)
    status = library_status(exc)
    if status >= 500:
        log.warning("%s: %s", exc.code, exc)
    if wants_html(request):
        return html_error(request, status, str(exc))
    return error_json(status, exc.code, str(exc))


async def on_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_json(exc.status, exc.code, str(exc), exc.headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    code, message = describe_validation(exc)
    if wants_html(request):
        # A page whose address does not name a document (/documents/abc) does not exist:
        # the same HTML 404 page as a document id past the corpus; bad query parameters
        # of a page are a 400 page.
        in_path = any(e.get("loc", ("",))[0] == "path" for e in exc.errors())
        return html_error(request, 404 if in_path else 400, message)
    return error_json(422, code, message)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = str(exc.detail) if exc.detail else "error"
    if wants_html(request):
        return html_error(request, status, message)
    headers = dict(exc.headers) if exc.headers else None
    return error_json(status, HTTP_CODES.get(status, "http_error"), message, headers)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_json(500, "internal", "internal server error (see the server log)")


def install_handlers(app: FastAPI) -> None:
    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
        CorpusTraceError: on_library_error,
        ServiceError: on_service_error,
        RequestValidationError: on_validation_error,
        StarletteHTTPException: on_http_error,
        Exception: on_unexpected,
    }
    for cls, handler in handlers.items():
        app.add_exception_handler(cls, handler)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413: by Content-Length when declared,
    otherwise by counting while the body is read (chunked uploads)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= DRAIN_LIMIT:
                await _drain(receive)
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing unchanged.
                    raise StarletteHTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_json(413, "too_large", self._message(), {"Connection": "close"})
        await response(scope, receive, send)


# Read and drop an oversize body up to this size before answering 413: a client still
# sending when the server answers and closes would see "connection reset", not the 413.
DRAIN_LIMIT = 16 << 20


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
