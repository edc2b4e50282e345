"""Operational events, written where their transitions are computed: in the attempt records' transaction.

The ledger hands every flush's attempts and health changes to :class:`OperationalEvents`, which turns them into
``gateway.*`` events (see :mod:`gateway.core.operational` for the names and rules) and inserts each event with
its deliveries in the same transaction as the change: a crash loses both or neither. The deliveries are due at
once and unreserved, so the scheduler hands them to the broker on its next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.ids import new_id
from gateway.core.matching import MatchIndex
from gateway.core.operational import (
    DELIVERY_EXHAUSTED,
    TEMPLATE_ERROR,
    WEBHOOK_DISABLED,
    WEBHOOK_RECOVERED,
    WEBHOOK_UNHEALTHY,
    Notice,
    Subject,
    hears_about,
    is_operational,
    operational_envelope,
)
from gateway.core.policy import DeliveryStatus, FailureKind, HealthChange, OutcomeKind
from gateway.core.webhook_object import iso
from gateway.db.listen import is_listen
from gateway.db.models import Delivery, Event, table
from gateway.delivery.ledger import AttemptRecord, HealthEvent

__all__ = ["OperationalEvents", "notices_of"]

log = logging.getLogger("gateway.delivery")

_HEALTH_EVENTS = {
    HealthChange.UNHEALTHY: WEBHOOK_UNHEALTHY,
    HealthChange.RECOVERED: WEBHOOK_RECOVERED,
    HealthChange.DISABLED: WEBHOOK_DISABLED,
}


def _subject(record: AttemptRecord) -> Subject:
    row = record.claim.webhook
    return Subject(
        id=row.id,
        uid=row.uid,
        company_id=row.company_id,
        name=row.name,
        connector=row.connector,
        url=row.url,
        project_ids=tuple(row.project_ids or ()),
    )


def _reported(record: AttemptRecord) -> bool:
    """Attempts of operational events' deliveries report nothing (operational events are one generation deep),
    and neither do a listen session's: a developer's local receiver is not the company's concern."""
    row = record.claim.webhook
    return row is not None and not is_operational(record.claim.event_name) and not is_listen(row)


def _delivery(record: AttemptRecord, disabled: set[str]) -> dict[str, Any]:
    status = record.transition.status
    if status is DeliveryStatus.PENDING and record.webhook_id in disabled:
        status = DeliveryStatus.DISCARDED  # its retry went with the webhook, in the same transaction
    claim = record.claim
    return {
        "id": claim.delivery_id,
        "messageId": claim.message_id,
        "event": claim.event_name,
        "attempt": claim.n,
        "status": status.value,
        "error": record.error,
    }


def notices_of(records: Sequence[AttemptRecord], changes: Sequence[HealthEvent]) -> list[Notice]:
    """The operational events a flush's attempts and health changes make, in order.

    Attempts of operational events' own deliveries make none (the one-generation rule).
    """
    disabled = {e.record.webhook_id for e in changes if e.change is HealthChange.DISABLED}
    notices: list[Notice] = []
    for record in filter(_reported, records):
        name = None
        if record.outcome.failure is FailureKind.TEMPLATE_ERROR:
            name = TEMPLATE_ERROR
        elif record.transition.status is DeliveryStatus.FAILED and record.outcome.kind is OutcomeKind.RETRY:
            name = DELIVERY_EXHAUSTED
        if name is not None:
            notices.append(Notice(name, _subject(record), {"delivery": _delivery(record, disabled)}))
    for event in changes:
        record = event.record
        if not _reported(record):
            continue
        health = event.health
        current = {
            "health": {
                "status": health.status.value,
                "enabled": health.disabled is None,
                "disabledReason": health.disabled.value if health.disabled is not None else None,
                "deleted": health.deleted,
                "consecutiveFailures": health.failures,
                "failingSince": iso(health.failing_since) if health.failing_since is not None else None,
            },
            "delivery": _delivery(record, disabled),
        }
        previous: dict[str, Any] = {"health": {"enabled": True}}
        if event.change is not HealthChange.DISABLED:
            previous = {"health": {"status": "UNHEALTHY" if event.change is HealthChange.RECOVERED else "HEALTHY"}}
        notices.append(Notice(_HEALTH_EVENTS[event.change], _subject(record), current, previous))
    return notices


class OperationalEvents:
    """Stores operational events and their deliveries to the webhooks that subscribed to them by name."""

    def __init__(self, index: MatchIndex, first_delay: float = 0.0) -> None:
        self._index = index
        self._first_delay = first_delay

    async def write(
        self, conn: AsyncConnection, records: Sequence[AttemptRecord], changes: Sequence[HealthEvent], now: float
    ) -> None:
        """Insert the events of this flush that someone listens to, each with its deliveries."""
        notices = notices_of(records, changes)
        if not notices:
            return
        # A webhook this flush disabled is still in the index until the commit: it must not get news of it.
        disabled = {e.record.webhook_id for e in changes if e.change is HealthChange.DISABLED}
        events: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        due = now + self._first_delay
        for notice in notices:
            event_id = new_id("evt")
            envelope = operational_envelope(notice, event_id, now)
            listeners = [
                sub
                for sub in self._index.named(notice.subject.company_id, notice.name)
                if sub.webhook_id not in disabled
                and hears_about(sub.project_ids, notice.subject.project_ids)
                and (sub.filter is None or sub.filter.matches(envelope))
            ]
            if not listeners:
                continue
            events.append(
                {
                    "id": event_id,
                    "company_id": notice.subject.company_id,
                    "external_id": event_id,
                    "event": notice.name,
                    "project_id": None,
                    "payload": orjson.dumps(envelope).decode(),
                    "created_at": now,
                }
            )
            for sub in listeners:
                delivery_id = new_id("dlv")
                deliveries.append(
                    {
                        "id": delivery_id,
                        "company_id": notice.subject.company_id,
                        "event_id": event_id,
                        "webhook_id": sub.webhook_id,
                        "event": notice.name,
                        "message_id": "msg_" + delivery_id[4:],
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "next_attempt_at": due,
                        "lease_until": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if events:
            await conn.execute(table(Event).insert(), events)
            await conn.execute(table(Delivery).insert(), deliveries)
