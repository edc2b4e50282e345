"""Signing in and out: a pasted token, or a single-use portal link."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import Parameter

from gateway.api.auth import Principal, principal_of
from gateway.portal.errors import problem
from gateway.portal.render import page, redirect
from gateway.portal.session import (
    CSRF_COOKIE,
    check_csrf,
    clear_cookies,
    csrf_cookie,
    link_session,
    session_cookie,
    token_session,
)
from gateway.runtime import Runtime
from gateway.services.portal_links import LinkRefused, PortalLinkService
from gateway.services.tokens import hash_token

__all__ = ["SignInController", "SignOutController"]

HOME = "/portal/webhooks"
REFUSALS = {
    "unknown": (404, "This portal link is not known. Ask for a new one."),
    "used": (410, "This portal link was already used: each link opens the portal once. Ask for a new one."),
    "expired": (410, "This portal link has expired. Ask for a new one."),
}


class SignInController(Controller):
    """Pages open to anyone: sign in with a token, open a portal link."""

    path = "/portal"
    include_in_schema = False

    @get("/", name="portal-home")
    async def home(self, request: Request[Any, Any, Any]) -> Response[str]:
        """The portal starts at its webhooks (or at sign-in when there is no session)."""
        return redirect(request, HOME)

    @get("/signin", name="portal-signin")
    async def signin_page(
        self, request: Request[Any, Any, Any], runtime: Runtime, reason: str = ""
    ) -> Response[str]:
        """The sign-in form."""
        return self._form(request, runtime, 200, reason)

    @post("/signin", status_code=200)
    async def signin(self, request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
        """Check the token (it needs the ``manage`` scope) and open a session standing for it."""
        await check_csrf(request, request.cookies.get(CSRF_COOKIE))
        form = await request.form()
        token = str(form.get("token") or "").strip()
        if not token:
            return self._form(request, runtime, 422, "", error="Paste an API token to sign in.")
        digest = hash_token(token)
        try:
            principal: Principal = await principal_of(request, runtime, digest)
            principal.require("manage")
        except (NotAuthorizedException, PermissionDeniedException) as exc:
            return self._form(request, runtime, exc.status_code, "", error=str(exc.detail))
        session = token_session(digest, runtime.clock(), principal.expires_at)
        return redirect(request, HOME, cookies=[session_cookie(request, runtime, session)])

    @get("/links/{token:str}", name="portal-link")
    async def open_link(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        token: str,
        next_page: str = Parameter(default="", query="next"),
    ) -> Response[str]:
        """Open the portal with a single-use link: a session for the link's company or projects.

        ``?next=/portal/...`` lands on that page instead of the webhooks (only portal pages: no open redirect).
        """
        try:
            link = await PortalLinkService(runtime.db, runtime.clock).redeem(token)
        except LinkRefused as exc:
            status, detail = REFUSALS[exc.reason]
            return problem(request, status, detail)
        session = link_session(link, runtime.clock())
        landing = next_page if _portal_page(next_page) else HOME
        return redirect(request, landing, cookies=[session_cookie(request, runtime, session)])

    @staticmethod
    def _form(
        request: Request[Any, Any, Any], runtime: Runtime, status: int, reason: str, error: str = ""
    ) -> Response[str]:
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        return page(
            request,
            "signin.html",
            status=status,
            title="Sign in",
            reason=reason[:200],
            error=error,
            signin_csrf=nonce,
            cookies=[csrf_cookie(request, runtime, nonce)],
        )


def _portal_page(path: str) -> bool:
    return (
        path.startswith("/portal/")
        and len(path) <= 500
        and not any(c in path for c in "\\\r\n")
        and "//" not in path
    )


class SignOutController(Controller):
    """Ending a session (a POST with the session's CSRF token)."""

    path = "/portal/signout"
    include_in_schema = False

    @post("/", status_code=200)
    async def signout(self, request: Request[Any, Any, Any], principal: Principal) -> Response[str]:
        """Remove the session cookie."""
        return redirect(request, "/portal/signin?reason=signed+out", cookies=clear_cookies())
