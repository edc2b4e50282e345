"""Errors as pages: a refusal names its reason with the right status; nothing a user types answers 500."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.api.errors import EXCEPTION_HANDLERS as API_HANDLERS
from gateway.db.groupcommit import DatabaseUnavailable
from gateway.portal.render import page, redirect
from gateway.portal.session import SignInRequired
from gateway.services.errors import Conflict, Invalid, NotFound, ServiceError

__all__ = ["PORTAL_EXCEPTION_HANDLERS", "portal_or_api_not_found", "problem"]

log = logging.getLogger("gateway.portal")

TITLES = {
    400: "The request could not be read",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible right now",
    410: "This link no longer works",
    413: "Too large",
    422: "Check what you entered",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


def problem(request: Request[Any, Any, Any], status: int, detail: str) -> Response[str]:
    """An error page (or, for htmx, an error fragment) with ``status``."""
    title = TITLES.get(status, "Something went wrong")
    return page(request, "error.html", status=status, title=title, detail=detail, status_code=status)


def _sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[str]:
    return redirect(request, "/portal/signin?reason=" + quote(exc.reason[:200]))


def _service(request: Request[Any, Any, Any], exc: ServiceError) -> Response[str]:
    if isinstance(exc, Invalid):
        return problem(request, 422, str(exc))
    return problem(
        request, 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400, str(exc)
    )


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    status = exc.status_code
    detail = str(exc.detail)
    if isinstance(exc, ValidationException):
        extra = exc.extra if isinstance(exc.extra, list) else []
        parts = [f"{e.get('key')}: {e.get('message')}" for e in extra if isinstance(e, dict)]
        detail = "; ".join(parts) or detail
        status = 422 if parts else 400
    return problem(request, status, detail)


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem(request, 503, "the database is unavailable; try again shortly")


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(request, 500, "an internal error; it has been logged")


PORTAL_EXCEPTION_HANDLERS: dict[Any, Any] = {
    SignInRequired: _sign_in,
    ServiceError: _service,
    HTTPException: _http,
    DatabaseUnavailable: _unavailable,
    OperationalError: _unavailable,
    DBAPIError: _unavailable,
    OSError: _unavailable,
    Exception: _internal,
}


def portal_or_api_not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """An address that matches no route: a portal page under ``/portal``, the API's JSON error elsewhere."""
    if request.url.path == "/portal" or request.url.path.startswith("/portal/"):
        return problem(request, 404, "There is no such page in the portal.")
    answer: Response[Any] = API_HANDLERS[Exception](request, exc)
    return answer
