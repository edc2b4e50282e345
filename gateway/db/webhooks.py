"""Webhook rows as the matching index sees them, the change counter other processes poll, and the delivery
state changes that whole webhooks or operators cause (discard, requeue)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.matching import EnvelopeFilter, Subscription
from gateway.db.models import Delivery, Meta, Webhook, table

__all__ = [
    "WEBHOOKS_VERSION_KEY",
    "IndexedWebhook",
    "bump_webhooks_version",
    "discard_pending",
    "load_subscriptions",
    "read_webhooks_version",
    "requeue",
    "subscription_of",
]

WEBHOOKS_VERSION_KEY = "webhooks"
FilterCompiler = Callable[[Mapping[str, Any] | None], EnvelopeFilter | None]


class IndexedWebhook(Protocol):
    """What the matching index reads of a webhook (a service's record has it)."""

    @property
    def id(self) -> str: ...
    @property
    def company_id(self) -> str: ...
    @property
    def events(self) -> list[str]: ...
    @property
    def project_ids(self) -> list[str]: ...
    @property
    def filter(self) -> dict[str, Any] | None: ...
    @property
    def version(self) -> int: ...


def subscription_of(webhook: IndexedWebhook, compile_filter: FilterCompiler) -> Subscription:
    """The index entry of a webhook."""
    return _subscription(
        webhook.id,
        webhook.company_id,
        webhook.events,
        webhook.project_ids,
        webhook.filter,
        webhook.version,
        compile_filter,
    )


async def load_subscriptions(conn: AsyncConnection, compile_filter: FilterCompiler) -> list[Subscription]:
    """Every enabled webhook, compiled."""
    w = Webhook
    query = select(w.id, w.company_id, w.events, w.project_ids, w.filter, w.version).where(w.enabled.is_(True))
    rows = await conn.execute(query)
    return [_subscription(i, c, e, p, f, v, compile_filter) for i, c, e, p, f, v in rows]


def _subscription(
    webhook_id: str,
    company_id: str,
    events: Iterable[str] | None,
    project_ids: Iterable[str] | None,
    stored_filter: Mapping[str, Any] | None,
    version: int,
    compile_filter: FilterCompiler,
) -> Subscription:
    return Subscription(
        webhook_id=webhook_id,
        company_id=company_id,
        events=frozenset(events or ()),
        project_ids=frozenset(project_ids or ()),
        filter=compile_filter(stored_filter) if stored_filter else None,
        version=version,
    )


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
