"""Retention: prune finished deliveries, their attempts and events past ``BLUE_GATEWAY_RETENTION``."""

from __future__ import annotations

import asyncio
import logging
import math

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.policy import DeliveryStatus
from gateway.db.models import Attempt, Delivery, Event, RateLimit, SourceReceipt, table

__all__ = ["FINISHED", "HELD_TABLES", "HeldRows", "count_held", "prune_once"]

log = logging.getLogger("gateway.db")

FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DISCARDED)
CHUNK = 2000
RECEIPT_SECONDS = 86400.0
HELD_REFRESH_SECONDS = 30.0


async def prune_once(conn: AsyncConnection, now: float, retention: float) -> int:
    """Delete one chunk of expired rows; returns how many deliveries went (call until it returns 0)."""
    cutoff = now - retention
    d = table(Delivery).c
    ids = list(
        (
            await conn.execute(select(d.id).where(d.status.in_(FINISHED), d.created_at < cutoff).limit(CHUNK))
        ).scalars()
    )
    if ids:
        await conn.execute(delete(table(Attempt)).where(table(Attempt).c.delivery_id.in_(ids)))
        await conn.execute(delete(table(Delivery)).where(d.id.in_(ids)))
    e = table(Event).c
    stale_events = select(e.id).where(e.created_at < cutoff, ~exists().where(d.event_id == e.id)).limit(CHUNK)
    event_ids = list((await conn.execute(stale_events)).scalars())
    if event_ids:
        await conn.execute(delete(table(Event)).where(e.id.in_(event_ids)))
    await conn.execute(delete(table(SourceReceipt)).where(table(SourceReceipt).c.at < now - RECEIPT_SECONDS))
    # A rate limiter's row a day past its last slot holds nothing a new one would not (its webhook may be gone).
    await conn.execute(delete(table(RateLimit)).where(table(RateLimit).c.tat < now - RECEIPT_SECONDS))
    return len(ids) + len(event_ids)


HELD_TABLES = {"events": Event, "deliveries": Delivery, "attempts": Attempt}
"""The tables retention prunes, by the name ``config`` and ``/metrics`` give them."""


async def count_held(conn: AsyncConnection) -> dict[str, int]:
    """Rows held now in each table retention prunes."""
    return {
        name: int((await conn.execute(select(func.count()).select_from(table(model)))).scalar_one())
        for name, model in HELD_TABLES.items()
    }


class HeldRows:
    """Row counts for ``/metrics``, recounted in the background at most every ``interval`` seconds.

    A scrape never waits for ``COUNT(*)`` on a large table: it reads the last counts and, when they are
    stale, starts a recount for the next scrape. Processes nobody scrapes never count.
    """

    def __init__(self, db: AsyncEngine, interval: float = HELD_REFRESH_SECONDS) -> None:
        self.db, self.interval = db, interval
        self.counts: dict[str, int] | None = None
        self._counted_at = -math.inf
        self._task: asyncio.Task[None] | None = None

    def latest(self) -> dict[str, int] | None:
        """The last counts (None before the first finishes); starts a recount when they are stale."""
        loop = asyncio.get_running_loop()
        if (self._task is None or self._task.done()) and loop.time() - self._counted_at >= self.interval:
            self._counted_at = loop.time()
            self._task = loop.create_task(self._recount(), name="held-rows")
        return self.counts

    async def _recount(self) -> None:
        try:
            async with self.db.connect() as conn:
                self.counts = await count_held(conn)
        except Exception as exc:
            log.warning("counting held rows failed: %s", type(exc).__name__)
