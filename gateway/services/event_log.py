"""The event log: a company's received events, newest first, and the deliveries each produced."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select

from gateway.db.models import Delivery, Event, SourceReceipt, record_fields, table
from gateway.services.deliveries import Caller, DeliveryRecord, visible_webhooks
from gateway.services.errors import NotFound

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["EventLog", "EventQuery", "EventRecord"]


@dataclass(frozen=True)
class EventRecord:
    """One stored event: its gateway id, the sender's id, name, project and the envelope delivered."""

    id: str
    company_id: str
    external_id: str
    event: str
    project_id: str | None
    envelope: dict[str, Any]
    created_at: float

    @classmethod
    def from_row(cls, row: Row[Any]) -> EventRecord:
        """The record of an ``events`` row."""
        envelope = json.loads(row.payload) if row.payload else {}
        return cls(**record_fields(cls, row, envelope=envelope if isinstance(envelope, dict) else {}))


@dataclass(frozen=True)
class EventQuery:
    """What an event listing filters on; None: any."""

    event: str | None = None
    since: float | None = None
    until: float | None = None


def _sees(caller: Caller, project_id: str | None) -> bool:
    # A project-admin sees the events of its projects; an event without a project is company-wide.
    return caller.is_company_admin or (project_id is not None and caller.covers([project_id]))


class EventLog:
    """Events as a caller may see them: another company's, or a project not covered, are not found."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def page(
        self, caller: Caller, query: EventQuery, limit: int, cursor: str | None
    ) -> tuple[list[EventRecord], str | None]:
        """Up to ``limit`` events, newest first, and the cursor of the next page."""
        e = table(Event).c
        stmt = select(table(Event)).where(e.company_id == caller.company_id)
        if query.event is not None:
            stmt = stmt.where(e.event == query.event)
        if query.since is not None:
            stmt = stmt.where(e.created_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(e.created_at <= query.until)
        if cursor:
            stmt = stmt.where(e.id < cursor)
        if not caller.is_company_admin:
            stmt = stmt.where(e.project_id.is_not(None))
        records: list[EventRecord] = []
        async with self._runtime.db.connect() as conn:
            result = await conn.stream(stmt.order_by(e.id.desc()))
            async for row in result:
                if not _sees(caller, row.project_id):
                    continue
                if len(records) == limit:
                    await result.close()
                    return records, records[-1].id
                records.append(EventRecord.from_row(row))
            await result.close()
        return records, None

    async def get(self, caller: Caller, event_id: str) -> tuple[EventRecord, list[DeliveryRecord]]:
        """The event and the deliveries it produced to webhooks the caller may see, oldest first."""
        async with self._runtime.db.connect() as conn:
            row = (
                await conn.execute(
                    select(table(Event)).where(Event.id == event_id, Event.company_id == caller.company_id)
                )
            ).first()
            if row is None or not _sees(caller, row.project_id):
                raise NotFound("event")
        produced = await self.deliveries_of(caller, [row.id])
        return EventRecord.from_row(row), produced[row.id]

    async def deliveries_of(self, caller: Caller, event_ids: list[str]) -> dict[str, list[DeliveryRecord]]:
        """The deliveries each of these events produced to webhooks the caller may see, oldest first."""
        if not event_ids:
            return {}
        d = table(Delivery).c
        stmt = select(table(Delivery)).where(d.company_id == caller.company_id, d.event_id.in_(event_ids))
        found: dict[str, list[DeliveryRecord]] = {event_id: [] for event_id in event_ids}
        async with self._runtime.db.connect() as conn:
            webhooks = await visible_webhooks(conn, caller)
            if webhooks is not None:
                stmt = stmt.where(d.webhook_id.in_(sorted(webhooks)))
            for row in await conn.execute(stmt.order_by(d.id)):
                found[row.event_id].append(DeliveryRecord.from_row(row))
        return found

    async def received_by(self, caller: Caller, source_id: str, limit: int) -> list[EventRecord]:
        """The events a source received lately (its receipts are kept a day), newest first."""
        e, r = table(Event).c, table(SourceReceipt).c
        stmt = (
            select(table(Event))
            .join(table(SourceReceipt), r.event_id == e.id)
            .where(r.source_id == source_id, e.company_id == caller.company_id)
            .order_by(r.at.desc())
            .limit(limit)
        )
        async with self._runtime.db.connect() as conn:
            rows = await conn.execute(stmt)
            return [EventRecord.from_row(row) for row in rows if _sees(caller, row.project_id)]
