"""Ingest: validate, match, and write an event with all its deliveries in one group-committed transaction."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.catalog import derive_project_id
from gateway.core.ids import new_id
from gateway.core.matching import MatchIndex
from gateway.db.coalesce import Coalescer
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Delivery, Event, SourceReceipt, table

__all__ = ["IngestResult", "Ingestor", "InvalidEvent", "PreparedEvent", "prepare_event"]

MAX_EVENT_NAME = 100
SOURCE_DEDUPE_SECONDS = 86400.0
MAX_ID = 200
MAX_PROJECT_ID = 128  # as in a webhook's projectIds and the events.project_id column


class InvalidEvent(ValueError):
    """An event that cannot be accepted; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PreparedEvent:
    """An event ready to be written: its envelope, project and the webhooks it matched."""

    event_id: str
    external_id: str
    company_id: str
    name: str
    project_id: str | None
    envelope: dict[str, Any]
    webhook_ids: tuple[str, ...]
    receipt: tuple[str, str] | None = None
    """(source id, body hash) for Blue's own deliveries, which carry no event id: deduplicated for 24 h."""


@dataclass(frozen=True)
class IngestResult:
    """One event's answer: its id, deliveries created, and whether it was a duplicate."""

    id: str
    deliveries: int
    duplicate: bool
    work: tuple[tuple[str, str], ...] = ()
    """(delivery id, webhook id) of each delivery created."""


def _optional_str(raw: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent(key, "must be a string")
    text = str(value)
    if not text or len(text) > limit:
        raise InvalidEvent(key, f"must be 1 to {limit} characters")
    return text


def prepare_event(raw: Any, company_id: str, index: MatchIndex | None, now: float | None = None) -> PreparedEvent:
    """Validate one posted event and match it (``index=None``: match nothing); raises :class:`InvalidEvent`."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent("body", "an event must be a JSON object")
    name = raw.get("event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEvent("event", "is required and must be a non-empty string")
    if len(name) > MAX_EVENT_NAME or not name.replace("_", "").replace(".", "").isalnum():
        raise InvalidEvent("event", "must be at most 100 letters, digits, '_' or '.'")
    external_id = _optional_str(raw, "id", MAX_ID)
    occurred_at = raw.get("occurredAt")
    if occurred_at is not None:
        if not isinstance(occurred_at, str):
            raise InvalidEvent("occurredAt", "must be an RFC 3339 string")
        try:
            datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent("occurredAt", "must be an RFC 3339 timestamp") from None
    _optional_str(raw, "projectId", MAX_ID)
    user = raw.get("user")
    if user is not None and not isinstance(user, Mapping):
        raise InvalidEvent("user", 'must be an object such as {"id": "u1"}')
    event_id = new_id("evt")
    envelope: dict[str, Any] = {
        "id": external_id or event_id,
        "event": name,
        "occurredAt": occurred_at or _rfc3339(time.time() if now is None else now),
        "companyId": company_id,
        "projectId": None,
        "user": user,
        "previousValue": raw.get("previousValue"),
        "currentValue": raw.get("currentValue"),
    }
    project_id = derive_project_id({**envelope, "projectId": raw.get("projectId")})
    if project_id is not None and len(project_id) > MAX_PROJECT_ID:
        raise InvalidEvent("projectId", f"the event's project id must be at most {MAX_PROJECT_ID} characters")
    envelope["projectId"] = project_id
    matched = index.match(company_id, name, project_id, envelope) if index is not None else []
    return PreparedEvent(
        event_id=event_id,
        external_id=external_id or event_id,
        company_id=company_id,
        name=name,
        project_id=project_id,
        envelope=envelope,
        webhook_ids=tuple(s.webhook_id for s in matched),
    )


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Ingestor:
    """Writes prepared events through the group committer, then kicks their first attempts."""

    def __init__(
        self,
        committer: GroupCommitter,
        kick: Callable[[list[tuple[str, str]]], Awaitable[None]],
        *,
        lease_seconds: float,
        first_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._kick = kick
        self._lease = lease_seconds
        self._first_delay = first_delay
        self.counts: collections.Counter[str] = collections.Counter()
        self.deliveries_created = 0
        # Events of concurrent requests share statements: one duplicate check, one insert per table.
        self._writes: Coalescer[PreparedEvent, IngestResult] = Coalescer(
            committer, lambda conn, events: self._write(conn, events, self._clock())
        )
        self._clock = clock

    async def ingest(self, events: list[PreparedEvent]) -> list[IngestResult]:
        """Commit, then enqueue; the answer is sent only after the commit."""
        for attempt in range(3):
            try:
                results = list(await asyncio.gather(*(self._writes.submit(ev) for ev in events)))
                break
            except IntegrityError:
                # Another process stored the same event id between our check and our insert:
                # writing again finds it and answers "duplicate".
                if attempt == 2:
                    raise
        fresh = [item for r in results for item in r.work]
        for r in results:
            self.counts["duplicate" if r.duplicate else "accepted"] += 1
        self.deliveries_created += len(fresh)
        if fresh and not self._first_delay:
            await self._kick(fresh)
        return results

    async def _write(
        self, conn: AsyncConnection, events: Sequence[PreparedEvent], now: float
    ) -> list[IngestResult]:
        by_company: dict[str, set[str]] = {}
        for ev in events:
            by_company.setdefault(ev.company_id, set()).add(ev.external_id)
        existing: dict[tuple[str, str], str] = {}
        for company_id, ext_ids in by_company.items():
            rows = await conn.execute(
                select(Event.external_id, Event.id).where(
                    Event.company_id == company_id, Event.external_id.in_(ext_ids)
                )
            )
            existing.update({(company_id, ext): eid for ext, eid in rows})
        event_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        results: list[IngestResult] = []
        # With an immediate first attempt the delivery is reserved for the broker kick that follows the
        # commit; with a delayed one it is left to the scheduler.
        first_at = now + self._first_delay
        reserved_until = None if self._first_delay else now + self._lease
        for ev in events:
            key = (ev.company_id, ev.external_id)
            if key in existing:
                results.append(IngestResult(existing[key], 0, True))
                continue
            if ev.receipt is not None:
                seen = await _receipt(conn, ev.receipt, ev.event_id, now)
                if seen is not None:
                    results.append(IngestResult(seen, 0, True))
                    continue
            existing[key] = ev.event_id
            event_rows.append(
                {
                    "id": ev.event_id,
                    "company_id": ev.company_id,
                    "external_id": ev.external_id,
                    "event": ev.name,
                    "project_id": ev.project_id,
                    "payload": orjson.dumps(ev.envelope).decode(),
                    "created_at": now,
                }
            )
            ids = []
            for webhook_id in ev.webhook_ids:
                delivery_id = new_id("dlv")
                ids.append((delivery_id, webhook_id))
                delivery_rows.append(
                    {
                        "id": delivery_id,
                        "company_id": ev.company_id,
                        "event_id": ev.event_id,
                        "webhook_id": webhook_id,
                        "event": ev.name,
                        "message_id": "msg_" + delivery_id[4:],
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": first_at,
                        "lease_until": reserved_until,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            results.append(IngestResult(ev.event_id, len(ids), False, tuple(ids)))
        if event_rows:
            await conn.execute(table(Event).insert(), event_rows)
        if delivery_rows:
            await conn.execute(table(Delivery).insert(), delivery_rows)
        return results


async def _receipt(conn: AsyncConnection, receipt: tuple[str, str], event_id: str, now: float) -> str | None:
    """The event id of an identical body seen in the last 24 h, else record this one and return None."""
    source_id, body_hash = receipt
    r = table(SourceReceipt).c
    row = (
        await conn.execute(select(r.event_id, r.at).where(r.source_id == source_id, r.body_hash == body_hash))
    ).first()
    if row is not None and row.at >= now - SOURCE_DEDUPE_SECONDS:
        return str(row.event_id)
    if row is not None:
        await conn.execute(delete(table(SourceReceipt)).where(r.source_id == source_id, r.body_hash == body_hash))
    await conn.execute(
        table(SourceReceipt).insert().values(source_id=source_id, body_hash=body_hash, event_id=event_id, at=now)
    )
    return None
