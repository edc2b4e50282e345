"""Listen sessions in the database: the temporary webhooks of ``blue-gateway listen`` and their leases.

A listen webhook is an ordinary webhook row marked with the internal option ``_listen``. Its deliveries are
created, claimed, signed and recorded like any other, but never sent over HTTP by a worker: the process that
holds the session's stream claims them and pushes them to the CLI. A worker that gets one from the broker
parks it (see :meth:`gateway.delivery.ledger.Ledger.park`) for that process to find.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.policy import DeliveryStatus
from gateway.db.models import Delivery, ListenSession, Webhook, table
from gateway.db.webhooks import bump_webhooks_version, discard_pending

__all__ = [
    "LISTEN_OPTION",
    "due_for_listener",
    "end_expired_sessions",
    "end_session",
    "is_listen",
    "renew_session",
]

LISTEN_OPTION = "_listen"
"""The internal webhook option that marks a listen session's webhook."""


def is_listen(row: Any) -> bool:
    """True for a listen session's webhook (a row or record with ``options``)."""
    return bool((row.options or {}).get(LISTEN_OPTION))


async def due_for_listener(conn: AsyncConnection, webhook_id: str, now: float, limit: int) -> list[str]:
    """Ids of the webhook's deliveries a listener may claim now: due, or claimed with a lapsed lease."""
    d = table(Delivery).c
    rows = await conn.execute(
        select(d.id)
        .where(
            d.webhook_id == webhook_id,
            or_(
                and_(d.status == DeliveryStatus.PENDING, d.next_attempt_at <= now),
                and_(d.status == DeliveryStatus.DELIVERING, d.lease_until <= now),
            ),
        )
        .order_by(d.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def renew_session(conn: AsyncConnection, company_id: str, webhook_id: str, until: float) -> bool:
    """Extend a session's lease; False when it has ended (or is another company's)."""
    s = table(ListenSession).c
    result = await conn.execute(
        update(table(ListenSession))
        .where(s.webhook_id == webhook_id, s.company_id == company_id)
        .values(lease_until=until)
    )
    return bool(result.rowcount)


async def end_expired_sessions(conn: AsyncConnection, now: float) -> list[str]:
    """End the sessions whose lease ran out; returns their webhook ids."""
    s = table(ListenSession).c
    expired = list((await conn.execute(select(s.webhook_id).where(s.lease_until < now))).scalars())
    for webhook_id in expired:
        await end_session(conn, webhook_id, now)
    return expired


async def end_session(conn: AsyncConnection, webhook_id: str, now: float) -> None:
    """Remove a session and its webhook; its waiting deliveries are discarded."""
    await conn.execute(delete(table(ListenSession)).where(ListenSession.webhook_id == webhook_id))
    await conn.execute(delete(table(Webhook)).where(Webhook.id == webhook_id))
    await discard_pending(conn, webhook_id, now)
    await bump_webhooks_version(conn)
