"""``/v1/deliveries``: one delivery with its attempts, and a manual retry."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.auth import Principal, provide_principal
from gateway.api.errors import conflict, not_found
from gateway.api.schemas import DeliveryOut, DeliveryRetry
from gateway.db.models import Attempt, Delivery, Webhook, table
from gateway.db.webhooks import requeue
from gateway.runtime import Runtime

__all__ = ["DeliveriesController", "load_delivery"]


async def load_delivery(conn: AsyncConnection, principal: Principal, delivery_id: str) -> Any:
    """The delivery if the caller may see its webhook; else 404."""
    row = (
        await conn.execute(
            select(table(Delivery)).where(Delivery.id == delivery_id, Delivery.company_id == principal.company_id)
        )
    ).first()
    if row is None:
        raise not_found("delivery")
    if not principal.is_company_admin:
        projects = await conn.scalar(select(Webhook.project_ids).where(Webhook.id == row.webhook_id))
        if projects is None or not principal.covers(projects):
            raise not_found("delivery")
    return row


class DeliveriesController(Controller):
    """The delivery log."""

    path = "/v1/deliveries"
    tags = ["deliveries"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/{delivery_id:str}", summary="A delivery and its attempts")
    async def get_delivery(
        self, request: Request[Any, Any, Any], principal: Principal, delivery_id: str
    ) -> DeliveryOut:
        """Status, next attempt and every attempt with its response excerpt (≤ 4 KiB)."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        async with runtime.db.connect() as conn:
            row = await load_delivery(conn, principal, delivery_id)
            attempts = list(
                await conn.execute(
                    select(table(Attempt)).where(Attempt.delivery_id == row.id).order_by(Attempt.n, Attempt.id)
                )
            )
        return DeliveryOut.from_row(row, attempts)

    @post("/{delivery_id:str}/retry", status_code=202, summary="Send a delivery again now")
    async def retry_delivery(
        self, request: Request[Any, Any, Any], principal: Principal, delivery_id: str
    ) -> Response[DeliveryRetry]:
        """Queue one more attempt of a delivered, failed or discarded delivery (same ``webhook-id``)."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        async with runtime.db.connect() as conn:
            row = await load_delivery(conn, principal, delivery_id)
        if row.status in ("pending", "delivering"):
            raise conflict(f"delivery is already {row.status}")
        now = runtime.clock()

        lease = runtime.settings.lease_seconds
        if not await runtime.committer.submit(lambda conn: requeue(conn, [row.id], [row.status], now, lease)):
            raise conflict("delivery changed meanwhile; read it again")
        await runtime.kick([(row.id, row.webhook_id)])
        return Response(DeliveryRetry(id=row.id, status="pending"), status_code=202)
