"""API tokens in the database: created here for the CLI and the tests alike, and their last use."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.ids import new_id
from gateway.db.models import Company, Token, table

__all__ = ["LAST_USED_INTERVAL", "TokenUsage", "create_token"]

log = logging.getLogger("gateway.db")
LAST_USED_INTERVAL = 60.0
"""A token's last-used time is written at most this often per process."""


async def create_token(
    engine: AsyncEngine,
    token_hash: str,
    *,
    company: str,
    user: str,
    role: str,
    projects: Sequence[str] = (),
    scopes: Sequence[str] = ("manage", "ingest"),
    expires_at: float | None = None,
) -> str:
    """Store a token's hash (creating the company on first use); returns the token's id."""
    now = time.time()
    token_id = new_id("tok")
    async with engine.begin() as conn:
        if await conn.scalar(select(Company.id).where(Company.id == company)) is None:
            await conn.execute(table(Company).insert().values(id=company, created_at=now))
        await conn.execute(
            table(Token)
            .insert()
            .values(
                id=token_id,
                token_hash=token_hash,
                company_id=company,
                user_id=user,
                role=role,
                projects=list(projects),
                scopes=list(scopes),
                created_at=now,
                revoked_at=None,
                expires_at=expires_at,
            )
        )
    return token_id


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
