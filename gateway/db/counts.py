"""Counts for ``/metrics`` that cost a query: taken in the background, never while a scrape waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.policy import DeliveryStatus
from gateway.db.models import Delivery, table

__all__ = ["BACKLOG_REFRESH_SECONDS", "BACKLOG_STATES", "Backlog", "Recount", "count_backlog"]

log = logging.getLogger("gateway.db")
T = TypeVar("T")

BACKLOG_REFRESH_SECONDS = 5.0
BACKLOG_STATES = ("pending", "deferred", "leased")
"""Due and waiting for a worker; waiting for a later attempt time; claimed by a worker."""


@dataclass(frozen=True)
class Backlog:
    """Unfinished deliveries by state, and how long the longest-waiting due one has waited."""

    states: dict[str, int]
    oldest_due_seconds: float


async def count_backlog(conn: AsyncConnection, now: float | None = None) -> Backlog:
    """One statement over the unfinished deliveries (the ``status, next_attempt_at`` index holds them)."""
    now = time.time() if now is None else now
    d = table(Delivery).c
    pending, due = d.status == DeliveryStatus.PENDING, d.next_attempt_at <= now
    row = (
        await conn.execute(
            select(
                func.count().filter(and_(pending, due)),
                func.count().filter(and_(pending, d.next_attempt_at > now)),
                func.count().filter(d.status == DeliveryStatus.DELIVERING),
                func.min(d.next_attempt_at).filter(and_(pending, due)),
            ).where(d.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)))
        )
    ).one()
    states = dict(zip(BACKLOG_STATES, (int(n or 0) for n in row[:3]), strict=True))
    return Backlog(states, max(0.0, now - row[3]) if row[3] is not None else 0.0)


class Recount(Generic[T]):
    """A count taken again in the background at most every ``interval`` seconds, when someone reads it.

    A scrape never waits for the query (``COUNT(*)`` on a large table): it reads the last result and, when
    that is stale, starts a new count for the next scrape. Processes nobody scrapes never count.
    """

    def __init__(self, db: AsyncEngine, count: Callable[[AsyncConnection], Awaitable[T]], interval: float) -> None:
        self.db, self._count, self.interval = db, count, interval
        self.value: T | None = None
        self._counted_at = -math.inf
        self._task: asyncio.Task[None] | None = None

    def latest(self) -> T | None:
        """The last result (None before the first finishes); starts a recount when it is stale."""
        loop = asyncio.get_running_loop()
        if (self._task is None or self._task.done()) and loop.time() - self._counted_at >= self.interval:
            self._counted_at = loop.time()
            self._task = loop.create_task(self._recount(), name="recount")
        return self.value

    async def close(self) -> None:
        """Stop a count under way (before the database closes)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _recount(self) -> None:
        try:
            async with self.db.connect() as conn:
                self.value = await self._count(conn)
        except Exception as exc:
            log.warning("counting rows for /metrics failed: %s", type(exc).__name__)
