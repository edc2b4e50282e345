"""A webhook's delivery health: attempts and successes over the last 24 hours in hourly buckets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select

from gateway.db.models import Attempt, Delivery, table
from gateway.services.deliveries import DeliveryRecord

if TYPE_CHECKING:
    from gateway.runtime import Runtime
    from gateway.services.webhooks import WebhookRecord

__all__ = ["BUCKETS", "HourStats", "StatsService", "WebhookStats"]

BUCKETS = 24
HOUR = 3600.0


@dataclass(frozen=True)
class HourStats:
    """One hour: when it starts, how many attempts were made and how many got a 2xx answer."""

    start: float
    attempts: int
    succeeded: int


@dataclass(frozen=True)
class WebhookStats:
    """The last 24 hours of one webhook, oldest hour first, and its newest delivery."""

    webhook_id: str
    since: float
    hours: tuple[HourStats, ...]
    last_delivery: DeliveryRecord | None

    @property
    def attempts(self) -> int:
        """Attempts made in the whole window."""
        return sum(h.attempts for h in self.hours)

    @property
    def succeeded(self) -> int:
        """Attempts answered 2xx in the whole window."""
        return sum(h.succeeded for h in self.hours)

    @property
    def success_rate(self) -> float | None:
        """Share of attempts that succeeded; None when nothing was attempted."""
        return self.succeeded / self.attempts if self.attempts else None


class StatsService:
    """Counts a webhook's attempts; the caller's right to see the webhook is checked before."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def webhook(self, record: WebhookRecord) -> WebhookStats:
        """The webhook's hourly attempts and successes over the 24 hours before now."""
        now = self._runtime.clock()
        # Hours end at the next full hour so that buckets line up with the clock.
        end = (now // HOUR + 1) * HOUR
        since = end - BUCKETS * HOUR
        starts = [since + i * HOUR for i in range(BUCKETS)]
        ok = Attempt.status_code.between(200, 299)
        columns: list[Any] = []
        # One conditional count per hour: portable across databases (no floor/cast differences).
        for start in starts:
            hour = and_(Attempt.at >= start, Attempt.at < start + HOUR)
            columns.append(func.sum(case((hour, 1), else_=0)))
            columns.append(func.sum(case((and_(hour, ok), 1), else_=0)))
        counts = (
            select(*columns)
            .select_from(table(Attempt).join(table(Delivery), Delivery.id == Attempt.delivery_id))
            .where(Delivery.webhook_id == record.id, Attempt.at >= since, Attempt.at < end)
        )
        last = (
            select(table(Delivery)).where(Delivery.webhook_id == record.id).order_by(Delivery.id.desc()).limit(1)
        )
        async with self._runtime.db.connect() as conn:
            row = (await conn.execute(counts)).one()
            newest = (await conn.execute(last)).first()
        hours = tuple(
            HourStats(start=s, attempts=int(row[2 * i] or 0), succeeded=int(row[2 * i + 1] or 0))
            for i, s in enumerate(starts)
        )
        return WebhookStats(
            webhook_id=record.id,
            since=since,
            hours=hours,
            last_delivery=DeliveryRecord.from_row(newest) if newest is not None else None,
        )
