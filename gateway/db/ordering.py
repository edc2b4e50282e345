"""Ordered delivery in SQL: an ordered webhook's delivery is claimable only once the one before it has ended.

The condition is part of the claim and of the scheduler's query, so it holds in every process and after a
crash: a delivery whose predecessor is still ``pending`` or ``delivering`` (retrying, or claimed by a
process that died and whose lease has not run out) is simply not due yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, exists, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.delivery_controls import Ordering
from gateway.core.policy import DeliveryStatus
from gateway.db.models import Delivery, Webhook, table

__all__ = ["OPEN_STATUSES", "not_waiting_for_predecessor", "release_reservations"]

OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)
"""A delivery in one of these has not ended yet."""


def not_waiting_for_predecessor() -> ColumnElement[bool]:
    """True for a ``deliveries`` row that no earlier open delivery of its sequence holds back.

    A webhook without ordering never holds anything back. With ``orderingKey`` ``record``, the sequence
    is the webhook's deliveries of the same record (events without a record id share the key ``""``).
    Each lookup is an equality on the partial index of open deliveries, so it costs the same however
    long a webhook's history is.
    """
    deliveries = table(Delivery)
    w = table(Webhook).c
    dc = deliveries.c
    earlier_table = deliveries.alias("earlier")
    earlier = earlier_table.c
    # Literal statuses, so the planner sees that the partial index's condition holds.
    open_statuses: BindParameter[list[str]] = bindparam(
        "open_statuses", list(OPEN_STATUSES), expanding=True, literal_execute=True
    )

    def open_before(*same: ColumnElement[bool]) -> ColumnElement[bool]:
        return (
            exists()
            .where(
                earlier.webhook_id == dc.webhook_id, *same, earlier.id < dc.id, earlier.status.in_(open_statuses)
            )
            .correlate_except(earlier_table)
        )

    held = or_(
        and_(w.ordering_key.is_(None), open_before()),
        and_(w.ordering_key.is_not(None), open_before(earlier.record_key == dc.record_key)),
    )
    return ~exists().where(w.id == dc.webhook_id, w.ordering == Ordering.FIFO, held)


async def release_reservations(conn: AsyncConnection, delivery_ids: Sequence[str]) -> list[None]:
    """Clear the reservation of pending deliveries of ordered webhooks that could not be claimed.

    Such a delivery waits for its predecessor. Without its reservation the scheduler hands it out as soon
    as it may go, instead of when the reservation it got at ingest runs out.
    """
    d = table(Delivery).c
    w = table(Webhook).c
    ordered = exists().where(w.id == d.webhook_id, w.ordering == Ordering.FIFO)
    await conn.execute(
        update(table(Delivery))
        .where(d.id.in_(set(delivery_ids)), d.status == DeliveryStatus.PENDING, ordered)
        .values(lease_until=None)
    )
    return [None] * len(delivery_ids)
