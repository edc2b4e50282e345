"""Retention: prune finished deliveries, their attempts and events past ``BLUE_GATEWAY_RETENTION``."""

from __future__ import annotations

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.policy import DeliveryStatus
from gateway.db.models import Attempt, Delivery, Event, RateLimit, SourceReceipt, table

__all__ = ["FINISHED", "HELD_REFRESH_SECONDS", "HELD_TABLES", "count_held", "prune_once"]

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
