"""Webhook actions: rotate-secret, enable, disable, test, deliveries, recover."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.auth import Principal, provide_principal
from gateway.api.errors import Unprocessable, conflict
from gateway.api.schemas import DeliveryOut, DeliveryPage, RecoverResult, WebhookOut
from gateway.api.webhooks import load_webhook, update_webhook
from gateway.core.catalog import HEALTH_CHECK, SUBSCRIBABLE, sample_event
from gateway.core.ids import new_id
from gateway.core.signing import generate_secret
from gateway.db.models import Delivery, table
from gateway.db.webhooks import requeue
from gateway.ingest import prepare_event
from gateway.runtime import Runtime

__all__ = ["WebhookActionsController"]

MAX_GRACE = 7 * 86400
MAX_RECOVER_WINDOW = 14 * 86400
DELIVERY_STATUSES = ("pending", "delivering", "delivered", "failed", "discarded")


class RotateIn(msgspec.Struct, forbid_unknown_fields=True):
    """``graceSeconds``: how long the old secret keeps signing too (default one day, at most 7 days)."""

    graceSeconds: int = 86400


class TestIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which catalog event to send as a sample."""

    event: str = "TODO_CREATED"


class RecoverIn(msgspec.Struct, forbid_unknown_fields=True):
    """RFC 3339 window; ``until`` defaults to now. At most 14 days back."""

    since: str
    until: str | None = None


def _parse_time(field: str, value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Unprocessable(field, "must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z") from None


def _probe_payload(company_id: str, now: float) -> dict[str, Any]:
    sample = dict(HEALTH_CHECK.sample)
    sample.update(id=new_id("evt"), companyId=company_id, occurredAt=datetime.fromtimestamp(now).isoformat())
    return sample


class WebhookActionsController(Controller):
    """Operations on one webhook."""

    path = "/v1/webhooks/{webhook_id:str}"
    tags = ["webhooks"]
    dependencies = {"principal": Provide(provide_principal)}

    @post("/rotate-secret", status_code=200, summary="Rotate the signing secret")
    async def rotate_secret(
        self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str, data: RotateIn | None = None
    ) -> WebhookOut:
        """New secret now; the old one signs as well for ``graceSeconds``. The answer shows the new secret once."""
        principal.require("manage")
        grace = (data or RotateIn()).graceSeconds
        if not 0 <= grace <= MAX_GRACE:
            raise Unprocessable("graceSeconds", f"must be between 0 and {MAX_GRACE}")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)
        secret = generate_secret()
        now = runtime.clock()
        values: dict[str, Any] = {"secret_ct": runtime.secretbox.encrypt(secret)}
        if grace and row.secret_ct:
            values.update(previous_secret_ct=row.secret_ct, previous_secret_until=now + grace)
        else:
            values.update(previous_secret_ct=None, previous_secret_until=None)
        return WebhookOut.from_row(await update_webhook(runtime, row, values), secret=secret)

    @post("/disable", status_code=200, summary="Disable a webhook")
    async def disable(self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str) -> WebhookOut:
        """No new deliveries; waiting ones are discarded (recoverable)."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)
        new = await update_webhook(runtime, row, {"enabled": False, "disabled_reason": "manual"})
        return WebhookOut.from_row(new)

    @post("/enable", status_code=200, summary="Enable after a live health check")
    async def enable(
        self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str
    ) -> Response[WebhookOut]:
        """Send a live ``WEBHOOK_HEALTH_CHECK``: 2xx enables it (HEALTHY), else a 422 with the answer."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)
        payload = _probe_payload(principal.company_id, runtime.clock())
        result, outcome = await runtime.engine.send_once(row, payload, "msg_" + new_id("hc")[3:])
        if result is None or result.status is None or not 200 <= result.status < 300:
            answered = f"HTTP {result.status}" if result and result.status else (outcome.reason or "no answer")
            excerpt = result.body[:500].decode("utf-8", "replace") if result and result.body else None
            raise Unprocessable("url", f"health check failed: the endpoint answered {answered}").with_extra(
                {"statusCode": result.status if result else None, "error": outcome.reason, "responseBody": excerpt}
            )
        values = {
            "enabled": True,
            "disabled_reason": None,
            "status": "HEALTHY",
            "consecutive_failures": 0,
            "failing_since": None,
            "last_success_at": runtime.clock(),
        }
        return Response(WebhookOut.from_row(await update_webhook(runtime, row, values)), status_code=200)

    @post("/test", status_code=202, summary="Send a sample event through the whole pipeline")
    async def send_test(
        self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str, data: TestIn | None = None
    ) -> DeliveryOut:
        """Stores a sample event and one delivery to this webhook; returns the delivery (waits briefly for it)."""
        principal.require("manage")
        name = (data or TestIn()).event
        if name not in SUBSCRIBABLE:
            raise Unprocessable("event", f"{name!r} is not in the event catalog")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)
        if not row.enabled:
            raise conflict("webhook is disabled; enable it first")
        # A catalog sample through the ordinary ingest path, addressed to this webhook alone.
        prepared = prepare_event(
            {**sample_event(name), "id": new_id("test")}, principal.company_id, None, runtime.clock()
        )
        (result,) = await runtime.ingestor.ingest([dataclasses.replace(prepared, webhook_ids=(row.id,))])
        delivery_id = result.work[0][0]
        deadline = asyncio.get_running_loop().time() + min(runtime.settings.attempt_timeout + 1, 10)
        while True:
            async with runtime.db.connect() as conn:
                drow = (await conn.execute(select(table(Delivery)).where(Delivery.id == delivery_id))).first()
            if drow is not None and drow.status != "delivering" and (drow.status != "pending" or drow.attempts):
                break
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        return DeliveryOut.from_row(drow)

    @get("/deliveries", summary="The webhook's deliveries, newest first")
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        webhook_id: str,
        status: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=250),
        cursor: str | None = None,
    ) -> DeliveryPage:
        """Filter by ``status``; pass ``nextCursor`` back as ``cursor`` for the next page."""
        principal.require("manage")
        if status is not None and status not in DELIVERY_STATUSES:
            raise Unprocessable("status", "must be one of " + ", ".join(DELIVERY_STATUSES))
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)
        d = table(Delivery).c
        query = select(table(Delivery)).where(d.webhook_id == row.id)
        if status:
            query = query.where(d.status == status)
        if cursor:
            query = query.where(d.id < cursor)
        query = query.order_by(d.id.desc()).limit(limit + 1)
        async with runtime.db.connect() as conn:
            rows = list(await conn.execute(query))
        page = rows[:limit]
        next_cursor = page[-1].id if len(rows) > limit else None
        return DeliveryPage(data=[DeliveryOut.from_row(r) for r in page], nextCursor=next_cursor)

    @post("/recover", status_code=202, summary="Re-send failed and discarded deliveries of a time window")
    async def recover(
        self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str, data: RecoverIn
    ) -> RecoverResult:
        """Each failed or discarded delivery created in ``[since, until]`` gets one more attempt."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        now = runtime.clock()
        since = _parse_time("since", data.since)
        until = _parse_time("until", data.until) if data.until else now
        if since < now - MAX_RECOVER_WINDOW:
            raise Unprocessable("since", "may be at most 14 days ago")
        if until < since:
            raise Unprocessable("until", "must not be before since")
        row = await load_webhook(runtime, principal, webhook_id)
        if not row.enabled:
            raise conflict("webhook is disabled; enable it first")
        d = table(Delivery).c

        async def write(conn: AsyncConnection) -> list[str]:
            ids = list(
                (
                    await conn.execute(
                        select(d.id).where(
                            d.webhook_id == row.id,
                            d.status.in_(("failed", "discarded")),
                            d.created_at >= since,
                            d.created_at <= until,
                        )
                    )
                ).scalars()
            )
            if ids:
                await requeue(conn, ids, ("failed", "discarded"), now, runtime.settings.lease_seconds)
            return ids

        ids = await runtime.committer.submit(write)
        if ids:
            await runtime.kick([(delivery_id, row.id) for delivery_id in ids])
        return RecoverResult(requeued=len(ids))
