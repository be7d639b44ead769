"""One error shape for every client: ``{"error": <code>, "detail": <message>}``.

Expected business outcomes are ``BillingError`` subclasses carrying their status;
anything else is a 500 whose body never contains a stack trace.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from tools.errors import BillingError

log = logging.getLogger("api.errors")


class ErrorBody(BaseModel):
    error: str
    detail: str | list[Any] | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each listed status documented with ``ErrorBody``."""
    descriptions = {
        400: "Bad request",
        401: "Not authenticated",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        413: "Request too large",
        422: "Invalid request",
        429: "Too many requests",
        503: "A dependency is unavailable",
    }
    return {code: {"model": ErrorBody, "description": descriptions.get(code, "Error")} for code in codes}


# The driver's ways of saying "the database cannot serve this now": locked past the busy timeout,
# unreachable, out of pooled connections. A client should retry; it is never the client's fault.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.InterfaceError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    ConnectionError,
)


def install_error_handlers(app: FastAPI, *, retry_after_s: int = 5) -> None:
    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("api.database_unavailable", extra={"error_type": type(exc).__name__})
        return JSONResponse(
            status_code=503,
            content={"error": "database_unavailable", "detail": "the database is unavailable; retry shortly"},
            headers={"Retry-After": str(retry_after_s)},
        )

    for kind in DATABASE_UNAVAILABLE:
        app.add_exception_handler(kind, _database_unavailable)

    @app.exception_handler(BillingError)
    async def _billing_error(_request: Request, exc: BillingError) -> JSONResponse:
        headers = {"Retry-After": str(retry_after_s)} if exc.status_code == 503 else None
        return JSONResponse(
            status_code=exc.status_code, content={"error": exc.code, "detail": exc.detail}, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"error": "invalid_request", "detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": code, "detail": str(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("api.unhandled_error", extra={"error_type": type(exc).__name__})
        return JSONResponse(
            status_code=500, content={"error": "internal_error", "detail": "unexpected error"}
        )
