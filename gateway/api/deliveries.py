"""``/v1/deliveries``: the delivery log across webhooks, one delivery with its attempts, and a manual retry."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.log_schemas import parse_time
from gateway.api.responses import CONFLICT
from gateway.api.schemas import DeliveryOut, DeliveryPage, DeliveryRetry, DeliveryStatus
from gateway.runtime import Runtime
from gateway.services.deliveries import DeliveryQuery, DeliveryService

__all__ = ["DeliveriesController", "provide_deliveries"]


def provide_deliveries(runtime: Runtime) -> DeliveryService:
    """The delivery service of this process."""
    return DeliveryService(runtime)


class DeliveriesController(Controller):
    """The delivery log."""

    path = "/v1/deliveries"
    tags = ["deliveries"]
    dependencies = {"principal": MANAGE, "deliveries": Provide(provide_deliveries, sync_to_thread=False)}

    @get("/", summary="Search deliveries across webhooks, newest first")
    async def search_deliveries(
        self,
        principal: Principal,
        deliveries: DeliveryService,
        status: DeliveryStatus | None = None,
        event: str | None = Parameter(default=None, description="Only deliveries of this event type"),
        webhook_id: str | None = Parameter(default=None, query="webhookId", description="Only this webhook's"),
        event_id: str | None = Parameter(default=None, query="eventId", description="Only this event's"),
        since: str | None = Parameter(default=None, description="RFC 3339: created at or after"),
        until: str | None = Parameter(default=None, description="RFC 3339: created at or before"),
        limit: int = Parameter(default=50, ge=1, le=250),
        cursor: str | None = None,
    ) -> DeliveryPage:
        """Deliveries of every webhook the caller may see; pass ``nextCursor`` back as ``cursor``."""
        query = DeliveryQuery(
            status=status,
            event=event,
            webhook_id=webhook_id,
            event_id=event_id,
            since=parse_time("since", since),
            until=parse_time("until", until),
        )
        records, next_cursor = await deliveries.search(principal, query, limit, cursor)
        return DeliveryPage(data=[DeliveryOut.of(r) for r in records], nextCursor=next_cursor)

    @get("/{delivery_id:str}", summary="A delivery and its attempts")
    async def get_delivery(
        self, principal: Principal, deliveries: DeliveryService, delivery_id: str
    ) -> DeliveryOut:
        """Status, next attempt and every attempt with its response excerpt (≤ 4 KiB)."""
        delivery, attempts = await deliveries.get(principal, delivery_id)
        return DeliveryOut.of(delivery, attempts)

    @post("/{delivery_id:str}/retry", status_code=202, summary="Send a delivery again now", responses=CONFLICT)
    async def retry_delivery(
        self, principal: Principal, deliveries: DeliveryService, delivery_id: str
    ) -> Response[DeliveryRetry]:
        """Queue one more attempt of a delivered, failed or discarded delivery (same ``webhook-id``)."""
        delivery = await deliveries.retry(principal, delivery_id)
        return Response(DeliveryRetry(id=delivery.id, status="pending"), status_code=202)
