"""``/v1/webhooks``: create, list, read, update, delete."""

from __future__ import annotations

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.log_schemas import WebhookStatsOut
from gateway.api.schemas import WebhookOut, WebhookPage
from gateway.api.webhook_schema import WebhookCreate, WebhookPatch
from gateway.runtime import Runtime
from gateway.services.stats import StatsService
from gateway.services.webhooks import WebhookService

__all__ = ["WEBHOOKS", "WebhooksController", "provide_webhooks"]


def provide_webhooks(runtime: Runtime) -> WebhookService:
    """The webhook service of this process."""
    return WebhookService(runtime)


WEBHOOKS = Provide(provide_webhooks, sync_to_thread=False)
"""``webhooks``: the :class:`WebhookService`."""


class WebhooksController(Controller):
    """Webhook subscriptions of the caller's company."""

    path = "/v1/webhooks"
    tags = ["webhooks"]
    dependencies = {"principal": MANAGE, "webhooks": WEBHOOKS}

    @post("/", status_code=201, summary="Create a webhook")
    async def create_webhook(
        self, principal: Principal, webhooks: WebhookService, data: WebhookCreate
    ) -> WebhookOut:
        """Create; the answer carries the secret, the only time it is shown."""
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        record, secret = await webhooks.create(principal, fields)
        return WebhookOut.from_record(record, secret=secret)

    @get("/", summary="List webhooks, newest first")
    async def list_webhooks(
        self,
        principal: Principal,
        webhooks: WebhookService,
        limit: int = Parameter(default=50, ge=1, le=250),
        cursor: str | None = None,
    ) -> WebhookPage:
        """Cursor pagination: pass ``nextCursor`` back as ``cursor``."""
        records, next_cursor = await webhooks.page(principal, limit, cursor)
        return WebhookPage(data=[WebhookOut.from_record(r) for r in records], nextCursor=next_cursor)

    @get("/{webhook_id:str}", summary="Read a webhook")
    async def get_webhook(self, principal: Principal, webhooks: WebhookService, webhook_id: str) -> WebhookOut:
        """The webhook object (secret null, header values masked)."""
        return WebhookOut.from_record(await webhooks.get(principal, webhook_id))

    @get("/{webhook_id:str}/stats", summary="Attempts and success rate over the last 24 hours")
    async def webhook_stats(
        self, principal: Principal, webhooks: WebhookService, runtime: Runtime, webhook_id: str
    ) -> WebhookStatsOut:
        """Hourly attempts and 2xx answers for the 24 hours up to the next full hour, and the newest delivery."""
        record = await webhooks.get(principal, webhook_id)
        return WebhookStatsOut.of(await StatsService(runtime).webhook(record))

    @patch("/{webhook_id:str}", summary="Update a webhook")
    async def patch_webhook(
        self, principal: Principal, webhooks: WebhookService, webhook_id: str, data: WebhookPatch
    ) -> WebhookOut:
        """Replace the fields named in the body."""
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return WebhookOut.from_record(await webhooks.patch(principal, webhook_id, fields))

    @delete("/{webhook_id:str}", status_code=204, summary="Delete a webhook")
    async def delete_webhook(self, principal: Principal, webhooks: WebhookService, webhook_id: str) -> None:
        """Delete; its waiting deliveries are discarded, its delivery log stays until retention."""
        await webhooks.delete(await webhooks.get(principal, webhook_id))
