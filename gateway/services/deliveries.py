"""Deliveries: read one with its attempts, and queue a manual retry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.models import Attempt, Delivery, Webhook, record_fields, table
from gateway.db.webhooks import requeue
from gateway.services.errors import Conflict, NotFound

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["AttemptRecord", "Caller", "DeliveryQuery", "DeliveryRecord", "DeliveryService", "visible_webhooks"]


class Caller(Protocol):
    """Who asks: a company, and the projects it may see unless it is company-wide."""

    @property
    def company_id(self) -> str: ...

    @property
    def is_company_admin(self) -> bool: ...

    def covers(self, project_ids: Iterable[str]) -> bool:
        """May the caller see an object limited to ``project_ids``?"""
        ...


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery of an event to a webhook; ``attempts`` counts the attempts made."""

    id: str
    company_id: str
    webhook_id: str
    event_id: str
    event: str
    message_id: str
    status: str
    attempts: int
    next_attempt_at: float | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row[Any]) -> DeliveryRecord:
        """The record of a ``deliveries`` row."""
        return cls(**record_fields(cls, row))


@dataclass(frozen=True)
class AttemptRecord:
    """One HTTP attempt of a delivery; ``response_body`` is an excerpt."""

    n: int
    at: float
    duration_ms: float
    status_code: int | None
    error: str | None
    response_body: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> AttemptRecord:
        """The record of an ``attempts`` row."""
        return cls(**record_fields(cls, row))


@dataclass(frozen=True)
class DeliveryQuery:
    """What a delivery search filters on; None: any."""

    status: str | None = None
    event: str | None = None
    webhook_id: str | None = None
    event_id: str | None = None
    since: float | None = None
    until: float | None = None


class DeliveryService:
    """Deliveries as a caller may see and act on them: another company's or project's are not found."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def get(self, caller: Caller, delivery_id: str) -> tuple[DeliveryRecord, list[AttemptRecord]]:
        """The delivery and its attempts in order."""
        async with self._runtime.db.connect() as conn:
            delivery = await _visible(conn, caller, delivery_id)
            rows = await conn.execute(
                select(table(Attempt)).where(Attempt.delivery_id == delivery.id).order_by(Attempt.n, Attempt.id)
            )
            return delivery, [AttemptRecord.from_row(r) for r in rows]

    async def retry(self, caller: Caller, delivery_id: str) -> DeliveryRecord:
        """Queue one more attempt of a delivered, failed or discarded delivery; answers it as pending."""
        runtime = self._runtime
        async with runtime.db.connect() as conn:
            delivery = await _visible(conn, caller, delivery_id)
        if delivery.status in ("pending", "delivering"):
            raise Conflict(f"delivery is already {delivery.status}")
        now, lease = runtime.clock(), runtime.settings.lease_seconds

        async def write(conn: AsyncConnection) -> int:
            return await requeue(conn, [delivery.id], [delivery.status], now, lease)

        # Guarded by the status read above: a concurrent change (another retry, the worker) wins.
        if not await runtime.committer.submit(write):
            raise Conflict("delivery changed meanwhile; read it again")
        await runtime.kick([(delivery.id, delivery.webhook_id)])
        return replace(delivery, status="pending", next_attempt_at=now, updated_at=now)

    async def search(
        self, caller: Caller, query: DeliveryQuery, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        """Deliveries of every webhook the caller may see, newest first, and the next page's cursor."""
        d = table(Delivery).c
        stmt = select(table(Delivery)).where(d.company_id == caller.company_id)
        for column, value in (
            (d.status, query.status),
            (d.event, query.event),
            (d.webhook_id, query.webhook_id),
            (d.event_id, query.event_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.since is not None:
            stmt = stmt.where(d.created_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(d.created_at <= query.until)
        if cursor:
            stmt = stmt.where(d.id < cursor)
        async with self._runtime.db.connect() as conn:
            webhooks = await visible_webhooks(conn, caller)
            if webhooks is not None:
                stmt = stmt.where(d.webhook_id.in_(sorted(webhooks)))
            rows = list(await conn.execute(stmt.order_by(d.id.desc()).limit(limit + 1)))
        page = [DeliveryRecord.from_row(r) for r in rows[:limit]]
        return page, (page[-1].id if len(rows) > limit else None)


async def visible_webhooks(conn: AsyncConnection, caller: Caller) -> set[str] | None:
    """Ids of the company's webhooks the caller covers; None for a company-admin (all of them)."""
    if caller.is_company_admin:
        return None
    rows = await conn.execute(
        select(Webhook.id, Webhook.project_ids).where(Webhook.company_id == caller.company_id)
    )
    # Filtered here, not in SQL: JSON list containment differs per database.
    return {r.id for r in rows if caller.covers(r.project_ids or ())}


async def _visible(conn: AsyncConnection, caller: Caller, delivery_id: str) -> DeliveryRecord:
    """The delivery if the caller may see its webhook; else :class:`NotFound`."""
    row = (
        await conn.execute(
            select(table(Delivery)).where(Delivery.id == delivery_id, Delivery.company_id == caller.company_id)
        )
    ).first()
    if row is None:
        raise NotFound("delivery")
    if not caller.is_company_admin:
        projects = await conn.scalar(select(Webhook.project_ids).where(Webhook.id == row.webhook_id))
        if projects is None or not caller.covers(projects):
            raise NotFound("delivery")
    return DeliveryRecord.from_row(row)
