"""Errors as JSON ``{"status_code", "detail", "extra"?}``; nothing answers 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.db.groupcommit import DatabaseUnavailable
from gateway.services.errors import Conflict, Invalid, NotFound, ServiceError

__all__ = ["EXCEPTION_HANDLERS", "Unprocessable", "conflict", "not_found", "template_unprocessable"]

log = logging.getLogger("gateway.api")


class Unprocessable(HTTPException):
    """422 naming the field at fault."""

    status_code = 422

    def __init__(self, field: str, message: str, *, detail: str | None = None) -> None:
        super().__init__(detail=detail or f"{field}: {message}", extra=[{"key": field, "message": message}])

    def with_extra(self, details: dict[str, Any]) -> Unprocessable:
        """Attach more facts (such as what an endpoint answered) to the first ``extra`` entry."""
        if isinstance(self.extra, list) and self.extra:
            self.extra[0].update(details)
        return self


def template_unprocessable(exc: Any) -> Unprocessable:
    """422 for a :class:`~gateway.core.templating.TemplateError`: its field, reason, line and column."""
    return Unprocessable(exc.field, exc.reason, detail=str(exc)).with_extra(
        {"line": exc.line, "column": exc.column}
    )


def not_found(what: str) -> HTTPException:
    """404 for unknown ids and for other tenants' objects alike."""
    return HTTPException(status_code=404, detail=f"{what} not found")


def conflict(message: str) -> HTTPException:
    """409."""
    return HTTPException(status_code=409, detail=message)


def _body(
    status: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    content: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra:
        content["extra"] = extra
    return Response(content, status_code=status, media_type=MediaType.JSON, headers=headers)


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    detail = str(exc.detail)
    if detail.startswith("Validation failed"):
        extra = exc.extra if isinstance(exc.extra, list) else None
        if extra:
            parts = [f"{e.get('key')}: {e.get('message')}" for e in extra if isinstance(e, dict)]
            detail = "; ".join(parts) or detail
        return _body(422, detail, extra)
    return _body(400, detail, exc.extra)


def _service(_: Request[Any, Any, Any], exc: ServiceError) -> Response[dict[str, Any]]:
    if isinstance(exc, Invalid):
        return _body(422, str(exc), [{"key": exc.field, "message": exc.message}])
    return _body(404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400, str(exc))


def _unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.warning("database unavailable: %s", type(exc).__name__)
    return _body(503, "the database is unavailable; try again shortly")


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, HTTPException):
        return _body(exc.status_code, str(exc.detail), exc.extra, exc.headers)  # keeps Retry-After
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _body(500, "internal error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationException: _validation,
    ServiceError: _service,
    DatabaseUnavailable: _unavailable,
    OperationalError: _unavailable,
    DBAPIError: _unavailable,
    OSError: _unavailable,  # connection refused/reset, timeouts: the database or broker is unreachable
    Exception: _internal,
}
