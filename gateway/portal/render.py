"""Server-rendered pages: the Jinja2 environment, the page response with its security headers, and filters."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, Final

import jinja2
from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie

from gateway import __version__
from gateway.api.auth import Principal
from gateway.portal.session import CSRF_FIELD, read_session
from gateway.runtime import Runtime

__all__ = ["CSP", "HTMX_VERSION", "STATIC_PATH", "page", "redirect"]

HTMX_VERSION: Final = "2.0.11"
STATIC_PATH: Final = "/portal/static"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@functools.cache
def environment() -> jinja2.Environment:
    """The portal's templates, shipped in the package; autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.portal", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["iso"] = _iso
    env.globals.update(static=STATIC_PATH, version=__version__, htmx_version=HTMX_VERSION, csrf_field=CSRF_FIELD)
    return env


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    principal: Principal | None = None,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    """Render ``template`` as an HTML answer with a strict Content-Security-Policy."""
    runtime: Runtime = request.app.state.runtime
    session = read_session(request, runtime)
    values = {
        "principal": principal,
        "csrf": session.csrf if session is not None else "",
        "path": request.url.path,
        "htmx": request.headers.get("hx-request") == "true",
        **context,
    }
    html = environment().get_template(template).render(values)
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,
        headers={**SECURITY_HEADERS, **(headers or {})},
        cookies=cookies,
    )


def redirect(request: Request[Any, Any, Any], to: str, *, cookies: list[Cookie] | None = None) -> Response[str]:
    """303 to ``to``; an htmx request is told to load it (``HX-Redirect``) instead of swapping it in."""
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=200, headers={"hx-redirect": to, **SECURITY_HEADERS}, cookies=cookies)
    return Response("", status_code=303, headers={"location": to, **SECURITY_HEADERS}, cookies=cookies)
