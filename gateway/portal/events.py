"""The events explorer: recent events and the deliveries each produced."""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, Request, Response, get

from gateway.api.auth import Principal
from gateway.api.webhooks import WEBHOOKS
from gateway.core.catalog import CATALOG
from gateway.portal.render import page
from gateway.runtime import Runtime
from gateway.services.event_log import EventLog, EventQuery
from gateway.services.webhooks import WebhookService

__all__ = ["EventPages"]

PAGE = 50


class EventPages(Controller):
    """Events the session may see."""

    path = "/portal/events"
    include_in_schema = False
    dependencies = {"webhooks": WEBHOOKS}

    @get("/", name="portal-events")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        event: str = "",
        cursor: str = "",
    ) -> Response[str]:
        """Received events, newest first."""
        log = EventLog(runtime)
        records, next_cursor = await log.page(
            principal, EventQuery(event=event[:100] or None), PAGE, cursor[:100] or None
        )
        produced = await log.deliveries_of(principal, [r.id for r in records])
        return page(
            request,
            "events.html",
            principal=principal,
            title="Events",
            events=records,
            produced=produced,
            next_cursor=next_cursor,
            event=event[:100],
            event_types=CATALOG,
        )

    @get("/{event_id:str}", name="portal-event")
    async def detail_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        event_id: str,
    ) -> Response[str]:
        """The envelope as delivered and each delivery it produced."""
        record, deliveries = await EventLog(runtime).get(principal, event_id)
        hooks, _ = await webhooks.page(principal, 250, None)
        return page(
            request,
            "event.html",
            principal=principal,
            title=f"Event {record.id}",
            event=record,
            envelope=json.dumps(record.envelope, indent=2, ensure_ascii=False),
            rows=deliveries,
            names={h.id: h.name or h.id for h in hooks},
        )
