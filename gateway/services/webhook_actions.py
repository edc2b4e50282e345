"""What an operator does to one webhook: rotate its secret, disable, enable, test, read and recover deliveries."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.catalog import HEALTH_CHECK, SUBSCRIBABLE, sample_event
from gateway.core.ids import new_id
from gateway.core.signing import generate_secret
from gateway.db.models import Delivery, table
from gateway.db.webhooks import requeue
from gateway.services.deliveries import DeliveryRecord
from gateway.services.errors import Conflict, Invalid, NotFound
from gateway.services.events import prepare_event
from gateway.services.webhooks import Caller, WebhookRecord, WebhookService

__all__ = ["MAX_GRACE", "MAX_RECOVER_WINDOW", "HealthCheckFailed", "WebhookActions"]

MAX_GRACE: Final = 7 * 86400
MAX_RECOVER_WINDOW: Final = 14 * 86400
RECOVERABLE: Final = ("failed", "discarded")


class HealthCheckFailed(Invalid):
    """The live health check of ``enable`` got no 2xx; carries what the endpoint answered."""

    def __init__(self, answered: str, status_code: int | None, error: str | None, body: str | None) -> None:
        super().__init__("url", f"health check failed: the endpoint answered {answered}")
        self.details = {"statusCode": status_code, "error": error, "responseBody": body}


class WebhookActions:
    """Operations on one webhook, on top of the webhook service's reads and writes."""

    def __init__(self, webhooks: WebhookService) -> None:
        self.webhooks = webhooks
        self.runtime = webhooks.runtime

    async def rotate_secret(self, caller: Caller, webhook_id: str, grace: int) -> tuple[WebhookRecord, str]:
        """A new secret now; the old one signs too for ``grace`` seconds. Returns the webhook and the secret."""
        if not 0 <= grace <= MAX_GRACE:
            raise Invalid("graceSeconds", f"must be between 0 and {MAX_GRACE}")
        record = await self.webhooks.get(caller, webhook_id)
        secret = generate_secret()
        values: dict[str, Any] = {"secret_ct": self.runtime.secretbox.encrypt(secret)}
        if grace and record.secret_ct:
            values.update(previous_secret_ct=record.secret_ct, previous_secret_until=self.runtime.clock() + grace)
        else:
            values.update(previous_secret_ct=None, previous_secret_until=None)
        return await self.webhooks.update(record, values), secret

    async def disable(self, caller: Caller, webhook_id: str) -> WebhookRecord:
        """No new deliveries; waiting ones are discarded (recoverable)."""
        record = await self.webhooks.get(caller, webhook_id)
        return await self.webhooks.update(record, {"enabled": False, "disabled_reason": "manual"})

    async def enable(self, caller: Caller, webhook_id: str) -> WebhookRecord:
        """Send a live ``WEBHOOK_HEALTH_CHECK``; a 2xx enables it (HEALTHY), else :class:`HealthCheckFailed`."""
        record = await self.webhooks.get(caller, webhook_id)
        payload = dict(HEALTH_CHECK.sample)
        payload.update(
            id=new_id("evt"),
            companyId=caller.company_id,
            occurredAt=datetime.fromtimestamp(self.runtime.clock()).isoformat(),
        )
        result, outcome = await self.runtime.engine.send_once(record, payload, "msg_" + new_id("hc")[3:])
        if result is None or result.status is None or not 200 <= result.status < 300:
            answered = f"HTTP {result.status}" if result and result.status else (outcome.reason or "no answer")
            excerpt = result.body[:500].decode("utf-8", "replace") if result and result.body else None
            raise HealthCheckFailed(answered, result.status if result else None, outcome.reason, excerpt)
        values = {
            "enabled": True,
            "disabled_reason": None,
            "status": "HEALTHY",
            "consecutive_failures": 0,
            "failing_since": None,
            "last_success_at": self.runtime.clock(),
        }
        return await self.webhooks.update(record, values)

    async def send_test(self, caller: Caller, webhook_id: str, event: str) -> DeliveryRecord:
        """A catalog sample through the ordinary ingest path, to this webhook alone; waits briefly for it."""
        if event not in SUBSCRIBABLE:
            raise Invalid("event", f"{event!r} is not in the event catalog")
        record = await self._enabled(caller, webhook_id)
        runtime = self.runtime
        prepared = prepare_event(
            {**sample_event(event), "id": new_id("test")},
            caller.company_id,
            None,
            runtime.clock(),
            gateway_event=True,
        )
        (result,) = await runtime.ingestor.ingest([dataclasses.replace(prepared, webhook_ids=(record.id,))])
        delivery_id = result.work[0][0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(runtime.settings.attempt_timeout + 1, 10)
        while True:
            async with runtime.db.connect() as conn:
                row = (await conn.execute(select(table(Delivery)).where(Delivery.id == delivery_id))).first()
            # The ingest committed the row before answering; it is read back once settled or at the deadline.
            delivery = None if row is None else DeliveryRecord.from_row(row)
            past = loop.time() > deadline
            if delivery is not None and (past or _settled(delivery)):
                return delivery
            if past:
                raise NotFound("delivery")
            await asyncio.sleep(0.02)

    async def deliveries(
        self, caller: Caller, webhook_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        """The webhook's deliveries, newest first, optionally of one status, and the next page's cursor."""
        record = await self.webhooks.get(caller, webhook_id)
        d = table(Delivery).c
        query = select(table(Delivery)).where(d.webhook_id == record.id)
        if status:
            query = query.where(d.status == status)
        if cursor:
            query = query.where(d.id < cursor)
        async with self.runtime.db.connect() as conn:
            rows = list(await conn.execute(query.order_by(d.id.desc()).limit(limit + 1)))
        page = [DeliveryRecord.from_row(row) for row in rows[:limit]]
        return page, (page[-1].id if len(rows) > limit else None)

    async def recover(self, caller: Caller, webhook_id: str, since: float, until: float | None) -> int:
        """Failed or discarded deliveries created in ``[since, until]`` get one more attempt; returns how many."""
        runtime = self.runtime
        now = runtime.clock()
        until = now if until is None else until
        if since < now - MAX_RECOVER_WINDOW:
            raise Invalid("since", "may be at most 14 days ago")
        if until < since:
            raise Invalid("until", "must not be before since")
        record = await self._enabled(caller, webhook_id)
        d = table(Delivery).c
        window = (
            d.webhook_id == record.id,
            d.status.in_(RECOVERABLE),
            d.created_at >= since,
            d.created_at <= until,
        )

        async def write(conn: AsyncConnection) -> list[str]:
            ids = list((await conn.execute(select(d.id).where(*window))).scalars())
            if ids:
                await requeue(conn, ids, RECOVERABLE, now, runtime.settings.lease_seconds)
            return ids

        ids: list[str] = await runtime.committer.submit(write)
        if ids:
            await runtime.kick([(delivery_id, record.id) for delivery_id in ids])
        return len(ids)

    async def _enabled(self, caller: Caller, webhook_id: str) -> WebhookRecord:
        record = await self.webhooks.get(caller, webhook_id)
        if not record.enabled:
            raise Conflict("webhook is disabled; enable it first")
        return record


def _settled(delivery: DeliveryRecord) -> bool:
    """Its first attempt is over: delivered, failed, or pending a retry."""
    return delivery.status != "delivering" and (delivery.status != "pending" or delivery.attempts > 0)
