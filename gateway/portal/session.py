"""Portal sessions: a signed, HttpOnly cookie, the caller it stands for, and the CSRF check of every POST.

A session opened with a token keeps only the token's hash, so the token's own rules apply on every
request (revoked or expired: the session ends). A session opened with a portal link carries the link's
company and projects; it acts as a company-admin, or as a project-admin of those projects, with the
``manage`` scope, exactly as a token with those rights would through the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from gateway.api.auth import Principal, principal_of
from gateway.core.secretbox import SecretUnreadable
from gateway.runtime import Runtime
from gateway.services.portal_links import PortalLinkRecord

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "PortalSession",
    "SignInRequired",
    "check_csrf",
    "clear_cookies",
    "clear_flash",
    "csrf_cookie",
    "csrf_guard",
    "flash_cookie",
    "link_session",
    "provide_portal_principal",
    "read_flash",
    "read_session",
    "session_cookie",
    "token_session",
]

SESSION_COOKIE: Final = "bgp_session"
CSRF_COOKIE: Final = "bgp_csrf"
"""Before sign-in there is no session: the sign-in form's CSRF token is checked against this cookie."""
CSRF_FIELD: Final = "_csrf"
CSRF_HEADER: Final = "x-csrf-token"
SESSION_SECONDS: Final = 8 * 3600
COOKIE_PATH: Final = "/portal"


class SignInRequired(Exception):
    """No valid session: the portal sends the browser to the sign-in page, saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PortalSession:
    """What the cookie holds: how the session was opened, until when, and its CSRF token."""

    kind: str  # "token" or "link"
    expires_at: float
    csrf: str
    token_hash: str = ""
    link_id: str = ""
    company_id: str = ""
    user_id: str = ""
    projects: tuple[str, ...] = ()

    def principal(self) -> Principal:
        """The caller of a link session: the link's company, as company-admin or admin of its projects."""
        return Principal(
            token_id="portal:" + self.link_id,
            company_id=self.company_id,
            user_id=self.user_id,
            role="project-admin" if self.projects else "company-admin",
            projects=frozenset(self.projects),
            scopes=frozenset({"manage"}),
            expires_at=self.expires_at,
        )


def token_session(token_hash: str, now: float, expires_at: float | None) -> PortalSession:
    """A session standing for a token; it ends with the token at the latest."""
    until = now + SESSION_SECONDS if expires_at is None else min(now + SESSION_SECONDS, expires_at)
    return PortalSession("token", until, secrets.token_urlsafe(24), token_hash=token_hash)


def link_session(link: PortalLinkRecord, now: float) -> PortalSession:
    """A session opened by a portal link."""
    return PortalSession(
        "link",
        now + SESSION_SECONDS,
        secrets.token_urlsafe(24),
        link_id=link.id,
        company_id=link.company_id,
        user_id=link.user_id,
        projects=link.projects,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(runtime: Runtime) -> bytes:
    return runtime.secretbox.subkey("portal-session")


def _encode(session: PortalSession, key: bytes) -> str:
    payload = {
        "k": session.kind,
        "x": session.expires_at,
        "n": session.csrf,
        "h": session.token_hash,
        "l": session.link_id,
        "c": session.company_id,
        "u": session.user_id,
        "p": list(session.projects),
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return body + "." + _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def _decode(value: str, key: bytes) -> PortalSession | None:
    body, _, mac = value.partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, expected):
        return None
    try:
        p: dict[str, Any] = json.loads(_unb64(body))
        return PortalSession(
            kind=str(p["k"]),
            expires_at=float(p["x"]),
            csrf=str(p["n"]),
            token_hash=str(p["h"]),
            link_id=str(p["l"]),
            company_id=str(p["c"]),
            user_id=str(p["u"]),
            projects=tuple(str(x) for x in p["p"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _secure(request: Request[Any, Any, Any], runtime: Runtime) -> bool:
    return request.url.scheme == "https" or runtime.settings.public_url.startswith("https://")


def session_cookie(request: Request[Any, Any, Any], runtime: Runtime, session: PortalSession) -> Cookie:
    """The signed session cookie: HttpOnly, SameSite=Lax, Secure over https, scoped to ``/portal``."""
    return Cookie(
        key=SESSION_COOKIE,
        value=_encode(session, _key(runtime)),
        path=COOKIE_PATH,
        max_age=max(1, int(session.expires_at - runtime.clock())),
        httponly=True,
        samesite="lax",
        secure=_secure(request, runtime),
    )


def csrf_cookie(request: Request[Any, Any, Any], runtime: Runtime, value: str) -> Cookie:
    """The pre-sign-in CSRF cookie (double submit): the sign-in form must carry the same value."""
    return Cookie(
        key=CSRF_COOKIE,
        value=value,
        path=COOKIE_PATH,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request, runtime),
    )


def clear_cookies() -> list[Cookie]:
    """Cookies that remove the session (sign-out)."""
    return [Cookie(key=SESSION_COOKIE, value="", path=COOKIE_PATH, max_age=0, httponly=True, samesite="lax")]


def read_session(request: Request[Any, Any, Any], runtime: Runtime) -> PortalSession | None:
    """The request's valid, unexpired session, or None."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    session = _decode(value, _key(runtime))
    if session is None or session.expires_at <= runtime.clock():
        return None
    return session


async def provide_portal_principal(request: Request[Any, Any, Any], runtime: Runtime) -> Principal:
    """Litestar dependency: the caller of this session, with the API's rules; else :class:`SignInRequired`."""
    session = read_session(request, runtime)
    if session is None:
        raise SignInRequired("sign in to open the portal" if SESSION_COOKIE not in request.cookies else "expired")
    if session.kind == "link":
        return session.principal()
    try:
        principal = await principal_of(request, runtime, session.token_hash)
        principal.require("manage")
    except (NotAuthorizedException, PermissionDeniedException) as exc:
        raise SignInRequired(str(exc.detail)) from None
    return principal


async def check_csrf(request: Request[Any, Any, Any], expected: str | None) -> None:
    """403 unless the request carries ``expected`` in the ``X-CSRF-Token`` header or the ``_csrf`` field."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise PermissionDeniedException(
            detail="the form's CSRF token is missing or wrong; reload the page and try again"
        )


async def csrf_guard(connection: Any, _: Any) -> None:
    """Guard of the signed-in portal: every POST carries the session's CSRF token, else 403."""
    if connection.scope.get("method") != "POST":
        return
    request: Request[Any, Any, Any] = connection
    session = read_session(request, request.app.state.runtime)
    if session is None:
        raise SignInRequired("sign in again: the session has ended")
    await check_csrf(request, session.csrf)


FLASH_COOKIE: Final = "bgp_secret"


def _flash_path(webhook_id: str) -> str:
    return f"/portal/webhooks/{webhook_id}/secret"


def flash_cookie(
    request: Request[Any, Any, Any], runtime: Runtime, webhook_id: str, what: str, secret: str
) -> Cookie:
    """A new secret on its way to the one page that shows it: encrypted, HttpOnly, a minute, that path only."""
    blob = runtime.secretbox.encrypt(json.dumps([webhook_id, what, secret]))
    return Cookie(
        key=FLASH_COOKIE,
        value=_b64(blob),
        path=_flash_path(webhook_id),
        max_age=60,
        httponly=True,
        samesite="strict",
        secure=_secure(request, runtime),
    )


def read_flash(request: Request[Any, Any, Any], runtime: Runtime, webhook_id: str) -> tuple[str, str | None]:
    """``(what, secret)`` carried for this webhook (``created`` or ``rotated``), or ``("", None)``."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return "", None
    try:
        hook, what, secret = json.loads(runtime.secretbox.decrypt(_unb64(value)))
    except (SecretUnreadable, ValueError, TypeError):
        return "", None
    return (str(what), str(secret)) if hook == webhook_id else ("", None)


def clear_flash(webhook_id: str) -> Cookie:
    """Removes the one-time secret cookie."""
    return Cookie(
        key=FLASH_COOKIE, value="", path=_flash_path(webhook_id), max_age=0, httponly=True, samesite="strict"
    )
