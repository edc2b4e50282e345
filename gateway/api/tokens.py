"""Tokens through the API: a company-admin creates project-admin tokens, lists, reads and revokes them.

The token itself appears once, in the answer to its creation; the database keeps only its hash. Every
creation and revocation is audited (who, what, when) and readable under ``/v1/audit``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import Parameter

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.schemas import Timestamp, iso
from gateway.runtime import Runtime
from gateway.services.audit import Actor, AuditRecord, AuditService
from gateway.services.errors import Invalid
from gateway.services.tokens import SCOPES, TokenRecord, TokenService, hash_token, new_token

__all__ = ["AuditController", "TokensController"]

MAX_LIFETIME = 36500 * 86400


def provide_tokens(runtime: Runtime) -> TokenService:
    """The token service on the app's database."""
    return TokenService(runtime.db, runtime.clock)


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    """A project-admin token for ``userId`` and ``projectIds``; it never expires without ``expiresInSeconds``."""

    userId: str
    projectIds: list[str]
    role: str = "project-admin"
    scopes: list[str] = msgspec.field(default_factory=lambda: list(SCOPES))
    expiresInSeconds: int | None = None


class TokenOut(msgspec.Struct):
    """A stored token: never the token itself."""

    id: str
    userId: str
    role: str
    projectIds: list[str]
    scopes: list[str]
    state: str
    createdAt: Timestamp
    createdBy: str | None
    expiresAt: Timestamp | None
    revokedAt: Timestamp | None
    lastUsedAt: Timestamp | None

    @classmethod
    def of(cls, record: TokenRecord, now: float) -> TokenOut:
        """The public object of a stored token."""
        return cls(
            id=record.id,
            userId=record.user_id,
            role=record.role,
            projectIds=list(record.projects),
            scopes=list(record.scopes),
            state=record.state(now),
            createdAt=iso(record.created_at),
            createdBy=record.created_by,
            expiresAt=iso(record.expires_at),
            revokedAt=iso(record.revoked_at),
            lastUsedAt=iso(record.last_used_at),
        )


class TokenCreated(TokenOut):
    """The created token, with ``token``: shown this once, store it now."""

    token: str = ""


class AuditOut(msgspec.Struct):
    """One audited action: ``token.created`` or ``token.revoked``, by which token and user, when."""

    id: str
    action: str
    targetId: str
    actorTokenId: str | None
    actorUserId: str
    at: Timestamp
    detail: dict[str, Any]

    @classmethod
    def of(cls, record: AuditRecord) -> AuditOut:
        """The public object of an audit row."""
        return cls(
            id=record.id,
            action=record.action,
            targetId=record.target_id,
            actorTokenId=record.actor_token_id,
            actorUserId=record.actor_user_id,
            at=iso(record.at),
            detail=record.detail,
        )


class TokenDetail(TokenOut):
    """A token and its audit trail, newest first."""

    audit: list[AuditOut] = msgspec.field(default_factory=list)


class TokenList(msgspec.Struct):
    """The company's tokens, oldest first."""

    data: list[TokenOut]


class AuditList(msgspec.Struct):
    """The company's audit trail, newest first."""

    data: list[AuditOut]


def _company_admin(principal: Principal) -> Actor:
    if not principal.is_company_admin:
        raise PermissionDeniedException(detail="tokens are managed by a company-admin")
    return Actor(token_id=principal.token_id, user_id=principal.user_id)


def _check(data: TokenIn) -> None:
    """Refuse a bad field by name before anything is stored."""
    if data.role != "project-admin":
        raise Invalid("role", "the API creates project-admin tokens only; company-admin tokens come from the CLI")
    if not data.userId.strip() or len(data.userId) > 128:
        raise Invalid("userId", "must be 1 to 128 characters")
    if not data.projectIds or any(not p.strip() or len(p) > 128 for p in data.projectIds):
        raise Invalid("projectIds", "must list at least one project id (1 to 128 characters each)")
    if not data.scopes or not set(data.scopes) <= set(SCOPES):
        raise Invalid("scopes", f"must list one or more of {', '.join(SCOPES)}")
    if data.expiresInSeconds is not None and not 0 < data.expiresInSeconds <= MAX_LIFETIME:
        raise Invalid("expiresInSeconds", f"must be between 1 and {MAX_LIFETIME}")


class TokensController(Controller):
    """``/v1/tokens``: company-admin only; another company's token is not found."""

    path = "/v1/tokens"
    tags = ["tokens"]
    dependencies = {"principal": MANAGE, "tokens": Provide(provide_tokens, sync_to_thread=False)}

    @post("/", status_code=201, summary="Create a project-admin token (shown once)")
    async def create_token(
        self, principal: Principal, tokens: TokenService, runtime: Runtime, data: TokenIn
    ) -> TokenCreated:
        """The answer carries ``token`` this once; only its hash is stored."""
        actor = _company_admin(principal)
        _check(data)
        token = new_token()
        now = runtime.clock()
        record = await tokens.create(
            hash_token(token),
            company=principal.company_id,
            user=data.userId.strip(),
            role=data.role,
            projects=sorted(set(data.projectIds)),
            scopes=[s for s in SCOPES if s in data.scopes],
            expires_at=now + data.expiresInSeconds if data.expiresInSeconds else None,
            actor=actor,
        )
        return TokenCreated(**msgspec.structs.asdict(TokenOut.of(record, now)), token=token)

    @get("/", summary="List the company's tokens")
    async def list_tokens(self, principal: Principal, tokens: TokenService, runtime: Runtime) -> TokenList:
        """Every token of the company with its state, expiry and last use; never the token itself."""
        _company_admin(principal)
        now = runtime.clock()
        return TokenList(data=[TokenOut.of(r, now) for r in await tokens.list_all(principal.company_id)])

    @get("/{token_id:str}", summary="Read a token and its audit trail")
    async def get_token(
        self, principal: Principal, tokens: TokenService, runtime: Runtime, token_id: str
    ) -> TokenDetail:
        """Who created it and when, and who revoked it."""
        _company_admin(principal)
        record = await tokens.get(principal.company_id, token_id)
        trail = await AuditService(runtime.db).list(principal.company_id, target=token_id)
        out = TokenOut.of(record, runtime.clock())
        return TokenDetail(**msgspec.structs.asdict(out), audit=[AuditOut.of(a) for a in trail])

    @delete("/{token_id:str}", status_code=204, summary="Revoke a token")
    async def revoke_token(
        self, request: Request[Any, Any, Any], principal: Principal, tokens: TokenService, token_id: str
    ) -> None:
        """The token is refused at once by this process, within seconds by the others; 409 if already revoked."""
        actor = _company_admin(principal)
        await tokens.revoke_own(principal.company_id, token_id, actor)
        request.app.state.token_cache.clear()  # this process forgets cached lookups now, not in a few seconds


class AuditController(Controller):
    """``/v1/audit``: the company's audit trail (company-admin)."""

    path = "/v1/audit"
    tags = ["tokens"]
    dependencies = {"principal": MANAGE}

    @get("/", summary="The company's audit trail")
    async def list_audit(
        self,
        principal: Principal,
        runtime: Runtime,
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> AuditList:
        """Token creations and revocations, newest first."""
        _company_admin(principal)
        return AuditList(
            data=[AuditOut.of(a) for a in await AuditService(runtime.db).list(principal.company_id, limit=limit)]
        )
