"""The public shapes of the event log and of a webhook's stats, and the time filters they take."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from gateway.api.schemas import DeliveryOut, NextCursor, Timestamp
from gateway.core.webhook_object import iso
from gateway.services.deliveries import DeliveryRecord
from gateway.services.errors import Invalid
from gateway.services.event_log import EventRecord
from gateway.services.stats import WebhookStats

__all__ = ["EventOut", "EventPage", "HourOut", "WebhookStatsOut", "parse_time"]


def parse_time(field: str, value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 filter value; 422 naming ``field`` when it is not one."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Invalid(field, "must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z") from None


class EventOut(msgspec.Struct):
    """One received event; ``deliveries`` is present when one event is read (``GET /v1/events/{id}``)."""

    id: Annotated[str, msgspec.Meta(description="The gateway's id of the event")]
    externalId: Annotated[
        str, msgspec.Meta(description="The sender's `id`, or the gateway's id when none was sent")
    ]
    event: str
    projectId: str | None
    payload: Annotated[dict[str, Any], msgspec.Meta(description="The event envelope as delivered")]
    createdAt: Timestamp
    deliveries: Annotated[
        list[DeliveryOut] | msgspec.UnsetType,
        msgspec.Meta(description="The deliveries it produced, oldest first; only when one event is read"),
    ] = msgspec.UNSET

    @classmethod
    def of(cls, record: EventRecord, deliveries: list[DeliveryRecord] | None = None) -> EventOut:
        """The public object of a stored event; ``deliveries`` only when given."""
        return cls(
            id=record.id,
            externalId=record.external_id,
            event=record.event,
            projectId=record.project_id,
            payload=record.envelope,
            createdAt=iso(record.created_at),
            deliveries=msgspec.UNSET if deliveries is None else [DeliveryOut.of(d) for d in deliveries],
        )


class EventPage(msgspec.Struct):
    """One page of events, newest first; pass ``nextCursor`` back as ``cursor`` (null on the last page)."""

    data: list[EventOut]
    nextCursor: NextCursor


class HourOut(msgspec.Struct):
    """One hour: attempts made and attempts answered 2xx."""

    start: Timestamp
    attempts: int
    succeeded: int


class WebhookStatsOut(msgspec.Struct):
    """The last 24 hours of a webhook in hourly buckets (oldest first), its success rate and newest delivery."""

    webhookId: str
    since: Timestamp
    attempts: int
    succeeded: int
    successRate: Annotated[
        float | None, msgspec.Meta(description="succeeded / attempts over 24 h; null when nothing was attempted")
    ]
    hours: list[HourOut]
    lastDelivery: Annotated[DeliveryOut | None, msgspec.Meta(description="The newest delivery, if any")]

    @classmethod
    def of(cls, stats: WebhookStats) -> WebhookStatsOut:
        """The public object of a webhook's stats."""
        return cls(
            webhookId=stats.webhook_id,
            since=iso(stats.since),
            attempts=stats.attempts,
            succeeded=stats.succeeded,
            successRate=stats.success_rate,
            hours=[HourOut(start=iso(h.start), attempts=h.attempts, succeeded=h.succeeded) for h in stats.hours],
            lastDelivery=DeliveryOut.of(stats.last_delivery) if stats.last_delivery else None,
        )
