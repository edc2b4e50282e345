"""The error answers the OpenAPI document lists, and the bearer security scheme of the ``/v1`` routes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

__all__ = [
    "AUTHENTICATED",
    "BEARER",
    "COMPONENTS",
    "CONFLICT",
    "NOT_FOUND",
    "NOT_FOUND_OR_CONFLICT",
    "RATE_LIMITED",
    "TOO_LARGE",
    "ErrorOut",
    "document_operations",
]


class ErrorOut(msgspec.Struct, omit_defaults=True):
    """Every error: its status, what went wrong and, for a refused field, which (``extra[].key``)."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] | dict[str, Any] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorOut, generate_examples=False, description=description)


BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""Applied to every operation that takes a bearer token."""
COMPONENTS = Components(
    security_schemes={
        "bearer": SecurityScheme(
            type="http",
            scheme="bearer",
            description="An API token (`bg_…`) created with `blue-gateway token create`",
        )
    }
)

AUTHENTICATED: dict[int, ResponseSpec] = {
    401: _spec("No bearer token, or one that is unknown, revoked or expired"),
    403: _spec("The token lacks the scope, role or project the operation needs"),
}
"""Answers any operation behind a bearer token may give."""
UNAVAILABLE: dict[int, ResponseSpec] = {503: _spec("The database or the broker is unavailable; try again shortly")}
INVALID: dict[int, ResponseSpec] = {422: _spec("A field's value is refused; `extra[].key` names it")}
RATE_LIMITED: dict[int, ResponseSpec] = {
    429: _spec("The company is over its events per second: wait `Retry-After`")
}
NOT_FOUND: dict[int, ResponseSpec] = {404: _spec("No such object, or one the caller may not see")}
CONFLICT: dict[int, ResponseSpec] = {409: _spec("The object's state forbids the operation")}
NOT_FOUND_OR_CONFLICT: dict[int, ResponseSpec] = {**NOT_FOUND, **CONFLICT}
TOO_LARGE: dict[int, ResponseSpec] = {413: _spec("The body is larger than the gateway accepts")}


def document_operations(app: Litestar) -> None:
    """Give every ``/v1`` operation its error answers, and the bearer scheme where it takes a token.

    Derived from what each handler declares (a ``principal`` dependency, path parameters, a body), so
    a new route is documented like the others; a handler's own ``responses`` win.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/v1/"):
            continue
        for handler in route.route_handlers:
            answers: dict[int, ResponseSpec] = {**UNAVAILABLE}
            if "principal" in handler.resolve_dependencies():
                answers.update(AUTHENTICATED)
                handler.security = [*(handler.security or ()), *BEARER]
            if route.path_parameters:
                answers.update(NOT_FOUND)
            if handler.http_methods & {"POST", "PATCH", "PUT"}:
                answers.update({**INVALID, **TOO_LARGE})
            elif (
                handler.parsed_fn_signature.parameters.keys() - handler.resolve_dependencies().keys() - {"request"}
            ):
                answers.update(INVALID)  # query parameters are checked
            handler.responses = {**answers, **(handler.responses or {})}
