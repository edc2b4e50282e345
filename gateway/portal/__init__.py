"""The portal: server-rendered pages for the people who manage webhooks, served by the gateway itself.

An outer web layer like :mod:`gateway.api`: its pages parse a form, call a service with the session's
caller (the API's :class:`~gateway.api.auth.Principal`, so the tenancy rules are the API's) and render
a template. htmx, pinned and shipped in ``static/`` with its licence, makes the few live parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from gateway.portal.deliveries import DeliveryPages
from gateway.portal.errors import PORTAL_EXCEPTION_HANDLERS
from gateway.portal.events import EventPages
from gateway.portal.render import STATIC_PATH
from gateway.portal.session import csrf_guard, provide_portal_principal
from gateway.portal.signin import SignInController, SignOutController
from gateway.portal.sources import SourcePages
from gateway.portal.template_editor import TemplateEditor
from gateway.portal.webhooks import WebhookPages

__all__ = ["portal_handlers"]

STATIC = Path(__file__).parent / "static"


@get("/", include_in_schema=False, name="root")
async def root(request: Request[Any, Any, Any]) -> Response[str]:
    """``/`` opens the portal."""
    return Response("", status_code=302, headers={"location": "/portal"})


def portal_handlers() -> list[Any]:
    """Everything the portal serves: its pages, its static files and the redirect from ``/``."""
    signed_in = Router(
        path="/",
        route_handlers=[SignOutController, WebhookPages, TemplateEditor, DeliveryPages, SourcePages, EventPages],
        dependencies={"principal": Provide(provide_portal_principal)},
        guards=[csrf_guard],
        exception_handlers=PORTAL_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    open_pages = Router(
        path="/",
        route_handlers=[SignInController],
        exception_handlers=PORTAL_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC],
        name="portal-static",
        # Addresses carry the version (?v=...), so a new release is fetched again.
        cache_control=CacheControlHeader(max_age=31536000, public=True),
        include_in_schema=False,
    )
    return [root, signed_in, open_pages, static]
