"""What an operator with database access does across companies: list webhooks, requeue deliveries in bulk."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.models import Delivery, Webhook, table
from gateway.db.webhooks import requeue
from gateway.services.errors import Invalid
from gateway.services.webhook_actions import MAX_RECOVER_WINDOW, RECOVERABLE
from gateway.services.webhooks import WebhookRecord

__all__ = ["RETRYABLE", "BulkRetry", "BulkService"]

RETRYABLE: Final = RECOVERABLE
"""The statuses a bulk retry takes: the same as a webhook's recover."""


@dataclass(frozen=True)
class BulkRetry:
    """What a bulk retry did: deliveries requeued per webhook, and those left because their webhook is disabled."""

    requeued: dict[str, int]
    skipped_disabled: int

    @property
    def total(self) -> int:
        """Deliveries requeued in all."""
        return sum(self.requeued.values())


class BulkService:
    """Bulk reads and actions on the database behind ``engine``; no tenant boundary (the operator sees all)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def webhooks(self, company: str | None = None) -> list[WebhookRecord]:
        """Every webhook (or one company's), by company then creation."""
        w = table(Webhook).c
        query = select(table(Webhook)).order_by(w.company_id, w.id)
        if company:
            query = query.where(w.company_id == company)
        async with self._engine.connect() as conn:
            return [WebhookRecord.from_row(row) for row in await conn.execute(query)]

    async def retry(
        self, status: str, since: float, now: float, *, webhook: str | None = None, company: str | None = None
    ) -> BulkRetry:
        """Deliveries in ``status`` created since ``since`` become due now, for the scheduler's next sweep."""
        if status not in RETRYABLE:
            raise Invalid("status", f"must be one of {', '.join(RETRYABLE)}")
        if since < now - MAX_RECOVER_WINDOW:
            raise Invalid("since", "may be at most 14 days ago")
        d, w = table(Delivery).c, table(Webhook).c
        query = (
            select(d.id, d.webhook_id, w.enabled)
            .join(table(Webhook), w.id == d.webhook_id)
            .where(d.status == status, d.created_at >= since)
        )
        if webhook:
            query = query.where(d.webhook_id == webhook)
        if company:
            query = query.where(d.company_id == company)
        async with self._engine.begin() as conn:
            rows = list(await conn.execute(query))
            wanted = [r for r in rows if r.enabled]  # a disabled webhook would discard them again at once
            requeued: Counter[str] = Counter()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                # lease 0: due for the scheduler now, as no broker kick follows from the command line
                if await requeue(conn, [r.id for r in chunk], [status], now, 0.0):
                    requeued.update(r.webhook_id for r in chunk)
        return BulkRetry(dict(requeued), len(rows) - len(wanted))
