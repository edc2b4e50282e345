"""``/v1/deliveries``: one delivery with its attempts, and a manual retry."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import Provide

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.schemas import DeliveryOut, DeliveryRetry
from gateway.runtime import Runtime
from gateway.services.deliveries import DeliveryService

__all__ = ["DeliveriesController", "provide_deliveries"]


def provide_deliveries(runtime: Runtime) -> DeliveryService:
    """The delivery service of this process."""
    return DeliveryService(runtime)


class DeliveriesController(Controller):
    """The delivery log."""

    path = "/v1/deliveries"
    tags = ["deliveries"]
    dependencies = {"principal": MANAGE, "deliveries": Provide(provide_deliveries, sync_to_thread=False)}

    @get("/{delivery_id:str}", summary="A delivery and its attempts")
    async def get_delivery(
        self, principal: Principal, deliveries: DeliveryService, delivery_id: str
    ) -> DeliveryOut:
        """Status, next attempt and every attempt with its response excerpt (≤ 4 KiB)."""
        delivery, attempts = await deliveries.get(principal, delivery_id)
        return DeliveryOut.of(delivery, attempts)

    @post("/{delivery_id:str}/retry", status_code=202, summary="Send a delivery again now")
    async def retry_delivery(
        self, principal: Principal, deliveries: DeliveryService, delivery_id: str
    ) -> Response[DeliveryRetry]:
        """Queue one more attempt of a delivered, failed or discarded delivery (same ``webhook-id``)."""
        delivery = await deliveries.retry(principal, delivery_id)
        return Response(DeliveryRetry(id=delivery.id, status="pending"), status_code=202)
