"""API tokens: create, list, revoke, look up by hash, and record their last use.

The CLI manages tokens and the API authenticates callers through this one module; the database keeps
only a token's SHA-256, never the token itself.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.ids import new_id
from gateway.db.models import Company, Token, record_fields, table
from gateway.services.audit import CLI, Actor, write_audit
from gateway.services.errors import Conflict, NotFound

__all__ = [
    "LAST_USED_INTERVAL",
    "ROLES",
    "SCOPES",
    "TokenRecord",
    "TokenService",
    "TokenUsage",
    "hash_token",
    "new_token",
]

log = logging.getLogger("gateway.db")
ROLES = ("company-admin", "project-admin")
SCOPES = ("manage", "ingest")
LAST_USED_INTERVAL = 60.0
"""A token's last-used time is written at most this often per process."""


def new_token() -> str:
    """A random API token (shown once, stored hashed)."""
    return "bgw_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    """A stored token (never the token itself): who it acts for, its scopes and its lifetime."""

    id: str
    company_id: str
    user_id: str
    role: str
    projects: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None
    expires_at: float | None
    last_used_at: float | None
    created_by: str | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> TokenRecord:
        """The record of a ``tokens`` row."""
        return cls(**record_fields(cls, row, projects=tuple(row.projects or ()), scopes=tuple(row.scopes or ())))

    def state(self, now: float) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class TokenService:
    """Tokens in the database behind ``engine``."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def create(
        self,
        token_hash: str,
        *,
        company: str,
        user: str,
        role: str,
        projects: Sequence[str] = (),
        scopes: Sequence[str] = SCOPES,
        expires_at: float | None = None,
        actor: Actor = CLI,
    ) -> TokenRecord:
        """Store a token's hash, creating the company on first use, and audit who created it."""
        now = self._clock()
        values: dict[str, Any] = {
            "id": new_id("tok"),
            "token_hash": token_hash,
            "company_id": company,
            "user_id": user,
            "role": role,
            "projects": list(projects),
            "scopes": list(scopes),
            "created_at": now,
            "revoked_at": None,
            "expires_at": expires_at,
            "created_by": actor.token_id or actor.user_id,
        }
        async with self._engine.begin() as conn:
            if await conn.scalar(select(Company.id).where(Company.id == company)) is None:
                await conn.execute(table(Company).insert().values(id=company, created_at=now))
            await conn.execute(table(Token).insert().values(**values))
            await write_audit(
                conn,
                company,
                actor,
                "token.created",
                values["id"],
                now,
                role=role,
                userId=user,
                expiresAt=expires_at,
            )
            row = (await conn.execute(select(table(Token)).where(Token.id == values["id"]))).one()
        return TokenRecord.from_row(row)

    async def list_all(self, company: str | None = None) -> list[TokenRecord]:
        """Every token (or one company's), oldest first."""
        query = select(table(Token)).order_by(Token.created_at)
        if company:
            query = query.where(Token.company_id == company)
        async with self._engine.connect() as conn:
            return [TokenRecord.from_row(row) for row in await conn.execute(query)]

    async def get(self, company: str, token_id: str) -> TokenRecord:
        """One of the company's tokens; another company's is :class:`NotFound`."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(table(Token)).where(Token.id == token_id, Token.company_id == company))
            ).first()
        if row is None:
            raise NotFound("token")
        return TokenRecord.from_row(row)

    async def revoke(self, token_id: str, company: str | None = None, actor: Actor = CLI) -> bool:
        """Revoke an active token (of ``company`` when given) and audit it; False when no such active token."""
        now = self._clock()
        where = [Token.id == token_id, Token.revoked_at.is_(None)]
        if company is not None:
            where.append(Token.company_id == company)
        async with self._engine.begin() as conn:
            owner = await conn.scalar(select(Token.company_id).where(*where))
            if owner is None:
                return False
            result = await conn.execute(update(Token).where(*where).values(revoked_at=now))
            if not result.rowcount:
                return False
            await write_audit(conn, owner, actor, "token.revoked", token_id, now)
            return True

    async def revoke_own(self, company: str, token_id: str, actor: Actor) -> TokenRecord:
        """Revoke one of the company's tokens: :class:`NotFound` if not its, :class:`Conflict` if revoked."""
        if not await self.revoke(token_id, company, actor):
            await self.get(company, token_id)  # raises NotFound for another company's or an unknown id
            raise Conflict("token is already revoked")
        return await self.get(company, token_id)

    async def lookup(self, token_hash: str) -> TokenRecord | None:
        """The unrevoked token with this hash (expired or not: the caller words the refusal)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(table(Token)).where(Token.token_hash == token_hash, Token.revoked_at.is_(None))
                )
            ).first()
        return None if row is None else TokenRecord.from_row(row)


class TokenUsage:
    """Records when tokens were last used without a write per request.

    A token's time is written on its first use seen by this process, then at most once per
    ``interval``; the write runs in the background through ``submit`` (the group committer), so a
    request never waits for it.
    """

    def __init__(
        self,
        submit: Callable[[Callable[[AsyncConnection], Awaitable[None]]], Awaitable[None]],
        interval: float = LAST_USED_INTERVAL,
        max_tokens: int = 10_000,
    ) -> None:
        self._submit = submit
        self._interval = interval
        self._max = max_tokens
        self._written: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._flushing: asyncio.Task[None] | None = None
        self.writes = 0

    def touch(self, token_id: str, now: float) -> bool:
        """Note one use; True when it is queued for writing (else a write less than ``interval`` ago covers it)."""
        last = self._written.get(token_id)
        if last is not None and now - last < self._interval:
            return False
        if len(self._written) >= self._max:
            self._written.clear()  # forgetting costs at most one extra write per token
        self._written[token_id] = now
        self._pending[token_id] = now
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="token-last-used")
        return True

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                await self._submit(functools.partial(_write_last_used, batch))
                self.writes += 1
            except Exception as exc:  # advisory data: a failed write is logged, never a request's problem
                log.warning("could not record token use: %s", type(exc).__name__)


async def _write_last_used(batch: dict[str, float], conn: AsyncConnection) -> None:
    t = table(Token).c
    stmt: Any = (
        update(table(Token))
        .where(t.id == bindparam("token_id"), or_(t.last_used_at.is_(None), t.last_used_at < bindparam("at")))
        .values(last_used_at=bindparam("at"))
    )
    await conn.execute(stmt, [{"token_id": k, "at": v} for k, v in batch.items()])
