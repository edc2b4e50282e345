"""Blue's webhook object: the one shape that the management API answers with and every delivery carries.

Blue puts this object in each delivery body, with ``secret`` always ``""``. Receivers written against Blue's
documentation read ``webhook.metadata.events``, ``webhook.status`` and the millisecond ``Z`` timestamps, so
the keys, their order and the timestamp format are kept exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, overload

__all__ = ["BLUE_WEBHOOK_KEYS", "BlueWebhookFields", "blue_webhook_object", "iso"]

BLUE_WEBHOOK_KEYS = (
    "id",
    "uid",
    "name",
    "url",
    "secret",
    "status",
    "enabled",
    "metadata",
    "createdById",
    "createdAt",
    "updatedAt",
)
"""The keys of Blue's webhook object, in the order Blue sends them."""


@overload
def iso(ts: float) -> str: ...
@overload
def iso(ts: None) -> None: ...
def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds and a ``Z``, as Blue writes times: ``2022-12-01T07:01:25.014Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BlueWebhookFields(Protocol):
    """What the object is made from: a stored webhook row or a connector's ``WebhookView``."""

    @property
    def id(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def events(self) -> Sequence[str] | None: ...
    @property
    def project_ids(self) -> Sequence[str] | None: ...
    @property
    def created_by_id(self) -> str | None: ...
    @property
    def created_at(self) -> float | None: ...
    @property
    def updated_at(self) -> float | None: ...


def blue_webhook_object(webhook: BlueWebhookFields, *, secret: str | None) -> dict[str, Any]:
    """Blue's webhook object, keys in Blue's order. Deliveries pass ``secret=""``, as Blue does."""
    return {
        "id": webhook.id,
        "uid": webhook.uid,
        "name": webhook.name,
        "url": webhook.url,
        "secret": secret,
        "status": webhook.status,
        "enabled": webhook.enabled,
        "metadata": {"events": list(webhook.events or ()), "projectIds": list(webhook.project_ids or ())},
        "createdById": webhook.created_by_id,
        "createdAt": iso(webhook.created_at),
        "updatedAt": iso(webhook.updated_at),
    }
