"""Webhook actions: rotate-secret, enable, disable, test, deliveries, recover."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, get_args

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.responses import CONFLICT
from gateway.api.schemas import DeliveryOut, DeliveryPage, DeliveryStatus, RecoverResult, WebhookOut
from gateway.api.webhooks import WEBHOOKS
from gateway.services.errors import Invalid
from gateway.services.webhook_actions import WebhookActions
from gateway.services.webhooks import WebhookService

__all__ = ["WebhookActionsController"]


class RotateIn(msgspec.Struct, forbid_unknown_fields=True):
    """``graceSeconds``: how long the old secret keeps signing too (default one day, at most 7 days)."""

    graceSeconds: int = 86400


class TestIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which catalog event to send as a sample."""

    event: str = "TODO_CREATED"


Rfc3339 = Annotated[str, msgspec.Meta(description="RFC 3339, such as 2026-01-31T12:00:00Z")]


class RecoverIn(msgspec.Struct, forbid_unknown_fields=True):
    """RFC 3339 window; ``until`` defaults to now. At most 14 days back."""

    since: Rfc3339
    until: Rfc3339 | None = None


def _parse_time(field: str, value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Invalid(field, "must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z") from None


def provide_actions(webhooks: WebhookService) -> WebhookActions:
    """The actions on one webhook, over the webhook service."""
    return WebhookActions(webhooks)


class WebhookActionsController(Controller):
    """Operations on one webhook."""

    path = "/v1/webhooks/{webhook_id:str}"
    tags = ["webhooks"]
    dependencies = {
        "principal": MANAGE,
        "webhooks": WEBHOOKS,
        "actions": Provide(provide_actions, sync_to_thread=False),
    }

    @post("/rotate-secret", status_code=200, summary="Rotate the signing secret")
    async def rotate_secret(
        self, principal: Principal, actions: WebhookActions, webhook_id: str, data: RotateIn | None = None
    ) -> WebhookOut:
        """New secret now; the old one signs as well for ``graceSeconds``. The answer shows the new secret once."""
        record, secret = await actions.rotate_secret(principal, webhook_id, (data or RotateIn()).graceSeconds)
        return WebhookOut.from_record(record, secret=secret)

    @post("/disable", status_code=200, summary="Disable a webhook")
    async def disable(self, principal: Principal, actions: WebhookActions, webhook_id: str) -> WebhookOut:
        """No new deliveries; waiting ones are discarded (recoverable)."""
        return WebhookOut.from_record(await actions.disable(principal, webhook_id))

    @post("/enable", status_code=200, summary="Enable after a live health check")
    async def enable(self, principal: Principal, actions: WebhookActions, webhook_id: str) -> WebhookOut:
        """Send a live ``WEBHOOK_HEALTH_CHECK``: 2xx enables it (HEALTHY), else a 422 with the answer."""
        return WebhookOut.from_record(await actions.enable(principal, webhook_id))

    @post("/test", status_code=202, summary="Send a sample event through the whole pipeline", responses=CONFLICT)
    async def send_test(
        self, principal: Principal, actions: WebhookActions, webhook_id: str, data: TestIn | None = None
    ) -> DeliveryOut:
        """Stores a sample event and one delivery to this webhook; returns the delivery (waits briefly for it)."""
        return DeliveryOut.of(await actions.send_test(principal, webhook_id, (data or TestIn()).event))

    @get("/deliveries", summary="The webhook's deliveries, newest first")
    async def deliveries(
        self,
        principal: Principal,
        actions: WebhookActions,
        webhook_id: str,
        status: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=250),
        cursor: str | None = None,
    ) -> DeliveryPage:
        """Filter by ``status``; pass ``nextCursor`` back as ``cursor`` for the next page."""
        statuses = get_args(DeliveryStatus)
        if status is not None and status not in statuses:
            raise Invalid("status", "must be one of " + ", ".join(statuses))
        page, next_cursor = await actions.deliveries(principal, webhook_id, status, limit, cursor)
        return DeliveryPage(data=[DeliveryOut.of(d) for d in page], nextCursor=next_cursor)

    @post(
        "/recover",
        status_code=202,
        summary="Re-send failed and discarded deliveries of a time window",
        responses=CONFLICT,
    )
    async def recover(
        self, principal: Principal, actions: WebhookActions, webhook_id: str, data: RecoverIn
    ) -> RecoverResult:
        """Each failed or discarded delivery created in ``[since, until]`` gets one more attempt."""
        since = _parse_time("since", data.since)
        until = _parse_time("until", data.until) if data.until else None
        return RecoverResult(requeued=await actions.recover(principal, webhook_id, since, until))
