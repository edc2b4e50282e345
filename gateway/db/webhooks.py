"""Webhook rows as the matching index sees them, the change counter other processes poll, and the delivery
state changes that whole webhooks or operators cause (discard, requeue)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.matching import EnvelopeFilter, Subscription
from gateway.db.models import Delivery, Meta, Webhook, table

__all__ = [
    "WEBHOOKS_VERSION_KEY",
    "bump_webhooks_version",
    "discard_pending",
    "load_subscriptions",
    "read_webhooks_version",
    "requeue",
    "subscription_of",
]

WEBHOOKS_VERSION_KEY = "webhooks"
FilterCompiler = Callable[[Mapping[str, Any] | None], EnvelopeFilter | None]


def subscription_of(row: Any, compile_filter: FilterCompiler) -> Subscription:
    """The index entry of a webhook row (an ORM object or a Core row)."""
    return Subscription(
        webhook_id=row.id,
        company_id=row.company_id,
        events=frozenset(row.events or ()),
        project_ids=frozenset(row.project_ids or ()),
        filter=compile_filter(row.filter) if row.filter else None,
        version=row.version,
    )


async def load_subscriptions(conn: AsyncConnection, compile_filter: FilterCompiler) -> list[Subscription]:
    """Every enabled webhook, compiled."""
    rows = await conn.execute(select(table(Webhook)).where(Webhook.enabled.is_(True)))
    return [subscription_of(row, compile_filter) for row in rows]


async def read_webhooks_version(conn: AsyncConnection) -> int:
    """The counter bumped by every webhook change."""
    value = await conn.scalar(select(Meta.value).where(Meta.key == WEBHOOKS_VERSION_KEY))
    return int(value or 0)


async def bump_webhooks_version(conn: AsyncConnection) -> None:
    """Tell other processes to reload their index (in the same transaction as the change)."""
    result = await conn.execute(update(Meta).where(Meta.key == WEBHOOKS_VERSION_KEY).values(value=Meta.value + 1))
    if result.rowcount == 0:
        await conn.execute(table(Meta).insert().values(key=WEBHOOKS_VERSION_KEY, value=1))


async def discard_pending(conn: AsyncConnection, webhook_id: str, now: float) -> int:
    """A disabled webhook's waiting deliveries become ``discarded`` (recoverable later)."""
    result = await conn.execute(
        update(Delivery)
        .where(Delivery.webhook_id == webhook_id, Delivery.status == "pending")
        .values(status="discarded", next_attempt_at=None, lease_until=None, updated_at=now)
    )
    return int(result.rowcount or 0)


async def requeue(
    conn: AsyncConnection, delivery_ids: Sequence[str], from_statuses: Sequence[str], now: float, lease: float
) -> int:
    """Deliveries still in one of ``from_statuses`` become due now, reserved for the broker kick that follows."""
    d = table(Delivery).c
    result = await conn.execute(
        update(table(Delivery))
        .where(d.id.in_(delivery_ids), d.status.in_(from_statuses))
        .values(status="pending", next_attempt_at=now, lease_until=now + lease, updated_at=now)
    )
    return int(result.rowcount or 0)
