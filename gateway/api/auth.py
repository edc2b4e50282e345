"""Bearer tokens, roles and scopes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from gateway.api.schemas import iso
from gateway.core.ttlcache import TtlCache
from gateway.runtime import Runtime
from gateway.services.tokens import ROLES, SCOPES, TokenRecord, TokenService, TokenUsage, hash_token, new_token

__all__ = [
    "ROLES",
    "SCOPES",
    "Principal",
    "hash_token",
    "new_token",
    "new_token_cache",
    "principal_of",
    "provide_principal",
    "require_ingest_projects",
]

CACHE_SECONDS = 5.0


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

    @classmethod
    def of(cls, token: TokenRecord) -> Principal:
        """The caller a stored token stands for."""
        return cls(
            token_id=token.id,
            company_id=token.company_id,
            user_id=token.user_id,
            role=token.role,
            projects=frozenset(token.projects),
            scopes=frozenset(token.scopes),
            expires_at=token.expires_at,
        )

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


async def provide_principal(request: Request[Any, Any, Any], runtime: Runtime) -> Principal:
    """Litestar dependency: the caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(detail="missing bearer token: send 'Authorization: Bearer <token>'")
    return await principal_of(request, runtime, hash_token(token.strip()))


async def principal_of(request: Request[Any, Any, Any], runtime: Runtime, digest: str) -> Principal:
    """The caller a token's hash stands for (cached a few seconds), or 401 when revoked, unknown or expired."""
    cache: TtlCache[str, Principal | None] = request.app.state.token_cache
    hit, principal = cache.get(digest)
    if not hit:
        stored = await TokenService(runtime.db, runtime.clock).lookup(digest)
        principal = None if stored is None else Principal.of(stored)
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
