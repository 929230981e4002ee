"""One error base class and the handlers that render every 4xx/5xx as JSON.

Body shape: {"error": {"code": str, "message": str, "fields": [{"field", "message"}]}}.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("parley.errors")


class ParleyError(Exception):
    """Base of the errors Parley raises on purpose; carries its HTTP status."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, fields: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = [*(((field, message),) if field else ()), *fields]


class NotFound(ParleyError):
    status_code = 404
    code = "not_found"


class Unauthorized(ParleyError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ParleyError):
    status_code = 403
    code = "forbidden"


class Conflict(ParleyError):
    status_code = 409
    code = "conflict"


class ValidationFailed(ParleyError):
    status_code = 422
    code = "validation_error"


class TooManyRequests(ParleyError):
    """Throttled (429); `retry_after` seconds go out as the Retry-After header."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceBusy(ParleyError):
    """The database stayed locked past its busy timeout (SQLite): try again shortly."""

    status_code = 503
    code = "busy"
    retry_after = 2


def error_headers(exc: ParleyError) -> dict[str, str] | None:
    """The headers an error answer carries (WWW-Authenticate, Retry-After)."""
    if exc.status_code == 401:
        return {"WWW-Authenticate": "Bearer"}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return {"Retry-After": str(retry_after)}
    return None


def error_body(code: str, message: str, fields: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The JSON body every error response carries."""
    return {
        "error": {
            "code": code,
            "message": message,
            "fields": [{"field": f, "message": m} for f, m in fields],
        }
    }


def _loc_to_field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def database_refusal(exc: DBAPIError) -> ParleyError | None:
    """The client-facing error for a database error that is not a bug: a value the
    columns cannot hold (422; the schemas bound every field, this is the backstop) or a
    SQLite lock held past the busy timeout (503 with Retry-After). None otherwise."""
    if isinstance(exc, DataError):
        return ValidationFailed("a value is too long or out of range for its field")
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return ServiceBusy("the database is busy; try again in a moment")
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON body above."""

    @app.exception_handler(ParleyError)
    async def _parley(_request: Request, exc: ParleyError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.fields),
            exc.status_code,
            headers=error_headers(exc),
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        refusal = database_refusal(exc)
        if refusal is None:
            return await _unexpected(request, exc)
        logger.warning(
            "database refused a request",
            extra={"error_type": type(exc.orig).__name__, "status": refusal.status_code},
        )
        return await _parley(request, refusal)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [(_loc_to_field(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
        summary = "; ".join(f"{f}: {m}" for f, m in fields) or "invalid request"
        return JSONResponse(error_body("validation_error", summary, fields), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        fields = [("body", str(exc.detail))] if exc.status_code == 413 else []
        return JSONResponse(
            error_body(code, str(exc.detail), fields), exc.status_code, headers=exc.headers
        )

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A SQLite lock held past the busy timeout is "busy", not an outage.
        if isinstance(exc, DBAPIError) and database_refusal(exc) is not None:
            return await _database(request, exc)
        # The database is down or unreachable: a temporary condition, said as such (503),
        # so Twilio moves on to the fallback URL and clients retry. Nothing was stored.
        logger.error("database unavailable", extra={"error_type": type(exc).__name__})
        return JSONResponse(
            error_body("database_unavailable", "the database is unavailable; try again"),
            503,
            headers={"Retry-After": "5"},
        )

    for unavailable in (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError):
        app.add_exception_handler(unavailable, _database_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return JSONResponse(error_body("internal_error", "internal server error"), 500)
