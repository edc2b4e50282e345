"""The response bodies of the HTTP API, typed so that ``/schema/openapi.json`` documents every field.

Field names are the public JSON names (camelCase) and fields are declared in the order
they are sent. A field whose value is :data:`msgspec.UNSET` is left out of the JSON; ``None`` is sent
as ``null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import msgspec

from gateway.core.webhook_object import blue_webhook_object, iso
from gateway.services.deliveries import AttemptRecord, DeliveryRecord
from gateway.services.sources import SourceRecord

if TYPE_CHECKING:
    from gateway.services.webhooks import WebhookRecord

__all__ = [
    "AttemptOut",
    "ConnectorOut",
    "DeliveryOut",
    "DeliveryPage",
    "DeliveryRetry",
    "EventAccepted",
    "EventBatchAccepted",
    "EventTypeOut",
    "Health",
    "IdRef",
    "PreviewOut",
    "Readiness",
    "RecoverResult",
    "SourceHealthCheck",
    "SourceIgnored",
    "SourceList",
    "SourceOut",
    "WebhookMetadata",
    "WebhookOut",
    "WebhookPage",
    "ZapierMe",
    "ZapierSubscription",
    "ZapierUnsubscribed",
    "iso",
]

Timestamp = Annotated[
    str, msgspec.Meta(description="RFC 3339 UTC with milliseconds, e.g. 2026-01-31T12:00:00.000Z")
]
NextCursor = Annotated[
    str | None, msgspec.Meta(description="Pass back as `cursor` for the next page; null on the last page")
]
DeliveryStatus = Literal["pending", "delivering", "delivered", "failed", "discarded"]


# --- events (§3) ------------------------------------------------------------------------------------


class EventAccepted(msgspec.Struct):
    """The answer for one event: its id, how many deliveries it created, and whether it was a duplicate."""

    id: str
    deliveries: int
    duplicate: bool


class EventBatchAccepted(msgspec.Struct):
    """One result per posted event, in order."""

    results: list[EventAccepted]


# --- webhooks (§4) ----------------------------------------------------------------------------------


class WebhookMetadata(msgspec.Struct):
    """The subscription's event types and projects, as Blue's webhook object carries them."""

    events: list[str]
    projectIds: list[str]


class WebhookOut(msgspec.Struct):
    """A webhook subscription. ``secret`` is shown in the answers to create and rotate-secret only, else null;
    custom header values are masked as ``***``."""

    id: str
    uid: str
    name: str
    url: str
    connector: str
    events: list[str]
    projectIds: list[str]
    filter: dict[str, Any] | None
    template: dict[str, Any] | None
    enabled: bool
    status: Literal["HEALTHY", "UNHEALTHY"]
    disabledReason: Annotated[str | None, msgspec.Meta(description="Why it is disabled (manual, gone, ...)")]
    signing: list[str]
    headers: Annotated[dict[str, str], msgspec.Meta(description="Custom header names; values masked as ***")]
    options: dict[str, Any]
    metadata: WebhookMetadata
    createdById: str | None
    createdAt: Timestamp
    updatedAt: Timestamp
    secret: Annotated[str | None, msgspec.Meta(description="Only in the answers to create and rotate-secret")]
    timeout: Annotated[float | None, msgspec.Meta(description="Attempt timeout (s); null: the server's")]
    retrySchedule: Annotated[
        list[float] | None, msgspec.Meta(description="Delays (s) before each retry; null: the server's schedule")
    ]
    maxRate: Annotated[
        float | None,
        msgspec.Meta(description="Most requests per second; null: the connector's default (zapier, make: 30)"),
    ]
    ordering: Annotated[Literal["fifo"] | None, msgspec.Meta(description="fifo: one delivery at a time, in order")]
    orderingKey: Annotated[
        Literal["webhook", "record"], msgspec.Meta(description="What one ordered sequence spans")
    ]

    @classmethod
    def from_record(cls, row: WebhookRecord, *, secret: str | None = None) -> WebhookOut:
        """A stored webhook: Blue's webhook object (the one deliveries carry) plus our fields."""
        blue = blue_webhook_object(row, secret=secret)
        metadata = blue["metadata"]
        return cls(
            id=blue["id"],
            uid=blue["uid"],
            name=blue["name"],
            url=blue["url"],
            connector=row.connector,
            events=list(metadata["events"]),
            projectIds=list(metadata["projectIds"]),
            filter=row.filter,
            template=row.template,
            enabled=blue["enabled"],
            status=blue["status"],
            disabledReason=row.disabled_reason,
            signing=list(row.signing),
            headers={name: "***" for name in row.header_names},
            options=row.options,
            metadata=WebhookMetadata(**metadata),
            createdById=blue["createdById"],
            createdAt=blue["createdAt"],
            updatedAt=blue["updatedAt"],
            secret=blue["secret"],
            timeout=row.timeout,
            retrySchedule=row.retry_schedule,
            maxRate=row.max_rate,
            ordering=cast(Literal["fifo"] | None, row.ordering),
            orderingKey=cast(Literal["webhook", "record"], row.ordering_key or "webhook"),
        )


class WebhookPage(msgspec.Struct):
    """One page of webhooks, newest first; pass ``nextCursor`` back as ``cursor`` (null on the last page)."""

    data: list[WebhookOut]
    nextCursor: NextCursor


class RecoverResult(msgspec.Struct):
    """How many failed or discarded deliveries were queued again."""

    requeued: int


# --- deliveries (§7) --------------------------------------------------------------------------------


class AttemptOut(msgspec.Struct):
    """One HTTP attempt; ``responseBody`` is an excerpt of at most 4 KiB."""

    n: Annotated[int, msgspec.Meta(description="Attempt number, from 1")]
    at: Timestamp
    durationMs: float
    statusCode: Annotated[
        int | None, msgspec.Meta(description="The endpoint's HTTP status; null without an answer")
    ]
    error: str | None
    responseBody: Annotated[str | None, msgspec.Meta(description="Excerpt of the response body, at most 4 KiB")]

    @classmethod
    def of(cls, a: AttemptRecord) -> AttemptOut:
        """The public object of a stored attempt."""
        return cls(
            n=a.n,
            at=iso(a.at),
            durationMs=a.duration_ms,
            statusCode=a.status_code,
            error=a.error,
            responseBody=a.response_body,
        )


class DeliveryOut(msgspec.Struct):
    """One delivery of an event to a webhook. ``nextAttemptAt`` is set while it is pending, else null;
    ``attempts`` is present when one delivery is read (``GET /v1/deliveries/{id}``)."""

    id: str
    webhookId: str
    eventId: str
    event: str
    messageId: Annotated[str, msgspec.Meta(description="The `webhook-id` header: the same on every retry")]
    status: DeliveryStatus
    attemptCount: int
    nextAttemptAt: Annotated[str | None, msgspec.Meta(description="When the next attempt is due, while pending")]
    createdAt: Timestamp
    updatedAt: Timestamp
    attempts: Annotated[
        list[AttemptOut] | msgspec.UnsetType, msgspec.Meta(description="Only when one delivery is read")
    ] = msgspec.UNSET

    @classmethod
    def of(cls, row: DeliveryRecord, attempts: list[AttemptRecord] | None = None) -> DeliveryOut:
        """The public object of a stored delivery; ``attempts`` only when given."""
        return cls(
            id=row.id,
            webhookId=row.webhook_id,
            eventId=row.event_id,
            event=row.event,
            messageId=row.message_id,
            status=cast(DeliveryStatus, row.status),
            attemptCount=row.attempts,
            nextAttemptAt=iso(row.next_attempt_at) if row.status == "pending" else None,
            createdAt=iso(row.created_at),
            updatedAt=iso(row.updated_at),
            attempts=msgspec.UNSET if attempts is None else [AttemptOut.of(a) for a in attempts],
        )


class DeliveryPage(msgspec.Struct):
    """One page of deliveries, newest first; pass ``nextCursor`` back as ``cursor`` (null on the last page)."""

    data: list[DeliveryOut]
    nextCursor: NextCursor


class DeliveryRetry(msgspec.Struct):
    """The delivery queued again."""

    id: str
    status: DeliveryStatus


# --- sources (§3.2) ---------------------------------------------------------------------------------


class SourceOut(msgspec.Struct):
    """A Blue webhook pointed at the gateway. ``hasSecret`` is null when the stored secret is unreadable."""

    id: str
    name: str
    hasSecret: bool | None
    projectIds: list[str]
    ingestPath: Annotated[str, msgspec.Meta(description="Where Blue's webhook must point (no bearer token)")]
    createdAt: Timestamp

    @classmethod
    def of(cls, row: SourceRecord) -> SourceOut:
        """The public object of a stored source (never its secret)."""
        return cls(
            id=row.id,
            name=row.name,
            hasSecret=row.has_secret,
            projectIds=list(row.project_ids),
            ingestPath=f"/v1/sources/{row.id}/events",
            createdAt=iso(row.created_at),
        )


class SourceList(msgspec.Struct):
    """Every source of the company, newest first."""

    data: list[SourceOut]


class SourceHealthCheck(msgspec.Struct):
    """The answer to Blue's ``WEBHOOK_HEALTH_CHECK``."""

    status: str


class SourceIgnored(msgspec.Struct):
    """A signed delivery for a project the source does not cover: accepted, not ingested."""

    ignored: bool
    reason: str


# --- templates, catalog, operations (§4.2, §5, §8, §10) ---------------------------------------------


class PreviewOut(msgspec.Struct):
    """The exact request a delivery would send; ``body`` is the exact body as text."""

    method: str
    url: str
    headers: dict[str, str]
    body: str
    previewSecret: Annotated[
        str | None,
        msgspec.Meta(
            description="The fixed, public key the signature headers shown were computed with (never the "
            "webhook's own secret); null when no signature headers are shown"
        ),
    ] = None


class EventTypeOut(msgspec.Struct):
    """A catalog event type; ``sample`` is a realistic event envelope (free-form, per event type)."""

    name: str
    group: str
    description: str
    sample: dict[str, Any]


class ConnectorOut(msgspec.Struct):
    """A loaded connector; ``optionsSchema`` is the JSON Schema of its webhook ``options``."""

    name: str
    description: str
    signs: bool
    optionsSchema: dict[str, Any]


class Health(msgspec.Struct):
    """Liveness."""

    status: str


class Readiness(msgspec.Struct):
    """``status`` is ``ready`` or ``unavailable``; each dependency says whether it answered."""

    status: Literal["ready", "unavailable"]
    database: bool
    broker: bool


# --- Zapier REST Hooks (§5) -------------------------------------------------------------------------


class ZapierSubscription(msgspec.Struct):
    """A REST Hooks subscription; ``id`` is its webhook's id (unsubscribe with it)."""

    id: str
    event: str
    target_url: str


class ZapierUnsubscribed(msgspec.Struct):
    """The subscription that was deleted."""

    id: str
    deleted: bool


class IdRef(msgspec.Struct):
    """A reference by id."""

    id: str


class ZapierMe(msgspec.Struct):
    """Who the token belongs to (the Zapier app's connection test)."""

    company: IdRef
    user: IdRef
    role: str
    projects: list[str]
