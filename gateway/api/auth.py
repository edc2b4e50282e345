"""Bearer tokens, roles and scopes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from sqlalchemy import select

from gateway.api.schemas import iso
from gateway.core.ttlcache import TtlCache
from gateway.db.models import Token, table
from gateway.db.tokens import TokenUsage
from gateway.runtime import Runtime

__all__ = [
    "ROLES",
    "SCOPES",
    "Principal",
    "hash_token",
    "new_token",
    "new_token_cache",
    "provide_principal",
    "require_ingest_projects",
]

ROLES = ("company-admin", "project-admin")
SCOPES = ("manage", "ingest")
CACHE_SECONDS = 5.0


def new_token() -> str:
    """A random API token (shown once, stored hashed)."""
    return "bgw_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: company, user, role, projects and scopes of the token."""

    token_id: str
    company_id: str
    user_id: str
    role: str
    projects: frozenset[str]
    scopes: frozenset[str]
    expires_at: float | None = None

    def require(self, scope: str) -> None:
        """403 unless the token carries ``scope``."""
        if scope not in self.scopes:
            raise PermissionDeniedException(detail=f"this token lacks the '{scope}' scope")

    @property
    def is_company_admin(self) -> bool:
        """True for company-wide tokens."""
        return self.role == "company-admin"

    def covers(self, project_ids: Iterable[str]) -> bool:
        """May this principal see an object limited to ``project_ids`` (empty = all projects)?"""
        wanted = set(project_ids)
        if self.is_company_admin:
            return True
        return bool(wanted) and wanted <= self.projects


def require_ingest_projects(principal: Principal, events: Sequence[tuple[str, str | None]]) -> None:
    """403 naming every ``(field, derived project id)`` a project-admin token may not ingest; all or nothing."""
    if principal.is_company_admin:
        return
    refused = [(key, project) for key, project in events if project is None or project not in principal.projects]
    if not refused:
        return
    named = "; ".join(
        f"{key}: {'the event has no project' if project is None else f'project {project!r}'}"
        for key, project in refused
    )
    own = ", ".join(sorted(principal.projects))
    raise PermissionDeniedException(
        detail=f"{named}: this token may only ingest events of its projects ({own})",
        extra=[{"key": key, "projectId": project} for key, project in refused],
    )


def new_token_cache() -> TtlCache[str, Principal | None]:
    """Token lookups cached for a few seconds: a revocation takes effect within ``CACHE_SECONDS``."""
    return TtlCache(CACHE_SECONDS)


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """Litestar dependency: the caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(detail="missing bearer token: send 'Authorization: Bearer <token>'")
    runtime: Runtime = request.app.state.runtime
    cache: TtlCache[str, Principal | None] = request.app.state.token_cache
    digest = hash_token(token.strip())
    hit, principal = cache.get(digest)
    if not hit:
        async with runtime.db.connect() as conn:
            row = (
                await conn.execute(
                    select(table(Token)).where(Token.token_hash == digest, Token.revoked_at.is_(None))
                )
            ).first()
        principal = None
        if row is not None:
            principal = Principal(
                token_id=row.id,
                company_id=row.company_id,
                user_id=row.user_id,
                role=row.role,
                projects=frozenset(row.projects or ()),
                scopes=frozenset(row.scopes or ()),
                expires_at=row.expires_at,
            )
        cache.put(digest, principal)
    if principal is None:
        raise NotAuthorizedException(detail="invalid or revoked token")
    now = runtime.clock()
    # Checked on every request, cached or not, so a token stops working the moment it expires.
    if principal.expires_at is not None and principal.expires_at <= now:
        raise NotAuthorizedException(
            detail=f"this token expired at {iso(principal.expires_at)}; "
            "create a new one with 'blue-gateway tokens create'"
        )
    usage: TokenUsage = request.app.state.token_usage
    usage.touch(principal.token_id, now)
    return principal
