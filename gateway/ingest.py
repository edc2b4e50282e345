"""Ingest writes: prepared events with all their deliveries in one group-committed transaction."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.delivery_controls import record_key
from gateway.core.ids import new_id
from gateway.db.coalesce import Coalescer
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Delivery, Event, SourceReceipt, table
from gateway.delivery.handoff import Handoff
from gateway.delivery.ledger import Claim
from gateway.logs import log_event
from gateway.services.events import IngestResult, InvalidEvent, PreparedEvent, prepare_event

# Prepared events and their checks live in the events service; named here too for older imports.
__all__ = ["IngestResult", "Ingestor", "InvalidEvent", "PreparedEvent", "prepare_event"]

SOURCE_DEDUPE_SECONDS = 86400.0
log = logging.getLogger("gateway.ingest")

# Built once: a statement object keeps its compiled-cache key, so each write skips rebuilding it.
_EVENTS = table(Event)
_EXISTING = select(_EVENTS.c.external_id, _EVENTS.c.id).where(
    _EVENTS.c.company_id == bindparam("company_id"),
    _EVENTS.c.external_id.in_(bindparam("external_ids", expanding=True)),
)
_INSERT_EVENTS = _EVENTS.insert()
_INSERT_DELIVERIES = table(Delivery).insert()


_Written = tuple[IngestResult, tuple[Claim, ...]]


class Ingestor:
    """Writes prepared events through the group committer, then starts their first attempts.

    With a :class:`Handoff` (this process delivers too), fresh deliveries are written already claimed and
    handed to the local engine after the commit; otherwise they are reserved and kicked to the broker.
    """

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
        self.handoff: Handoff | None = None
        # Events of concurrent requests share statements: one duplicate check, one insert per table.
        self._writes: Coalescer[PreparedEvent, _Written] = Coalescer(
            committer, lambda conn, events: self._write(conn, events, self._clock())
        )
        self._clock = clock

    async def ingest(self, events: list[PreparedEvent]) -> list[IngestResult]:
        """Commit, then enqueue; the answer is sent only after the commit."""
        started = time.perf_counter()
        for attempt in range(3):
            try:
                if len(events) == 1:  # a single post: no gather, whose task per item costs a loop turn
                    written = [await self._writes.submit(events[0])]
                else:
                    written = list(await asyncio.gather(*(self._writes.submit(ev) for ev in events)))
                break
            except IntegrityError:
                # Another process stored the same event id between our check and our insert:
                # writing again finds it and answers "duplicate".
                if attempt == 2:
                    raise
        results = [r for r, _ in written]
        claimed = [claim for _, claims in written for claim in claims]
        fresh = [item for r, claims in written if not claims for item in r.work]
        duplicates = sum(r.duplicate for r in results)
        self.counts["duplicate"] += duplicates
        self.counts["accepted"] += len(results) - duplicates
        created = sum(len(r.work) for r in results)
        self.deliveries_created += created
        if claimed and self.handoff is not None:
            self.handoff.deliver(claimed)
        if fresh and not self._first_delay:
            await self._kick(fresh)
        log_event(
            log,
            "ingest",
            company=events[0].company_id if events else None,
            events=len(results),
            accepted=len(results) - duplicates,
            duplicates=duplicates,
            deliveries=created,
            ms=round((time.perf_counter() - started) * 1000.0, 1),
        )
        return results

    async def _write(self, conn: AsyncConnection, events: Sequence[PreparedEvent], now: float) -> list[_Written]:
        by_company: dict[str, set[str]] = {}
        for ev in events:
            by_company.setdefault(ev.company_id, set()).add(ev.external_id)
        existing: dict[tuple[str, str], str] = {}
        for company_id, ext_ids in by_company.items():
            rows = await conn.execute(_EXISTING, {"company_id": company_id, "external_ids": list(ext_ids)})
            existing.update({(company_id, ext): eid for ext, eid in rows})
        event_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        results: list[_Written] = []
        # With an immediate first attempt the delivery is claimed for this process's engine (see Handoff)
        # or reserved for the broker kick that follows the commit; with a delayed one it is left to the
        # scheduler.
        first_at = now + self._first_delay
        reserved_until = None if self._first_delay else now + self._lease
        handoff = self.handoff if self.handoff is not None and not self._first_delay else None
        webhook_rows: dict[str, Any] = {}
        if handoff is not None and handoff.accepting():
            webhook_rows = await handoff.rows(conn, {w for ev in events if ev.webhook_ids for w in ev.webhook_ids})
        leased_until = now + handoff.lease_seconds if handoff is not None else 0.0
        for ev in events:
            key = (ev.company_id, ev.external_id)
            if key in existing:
                results.append((IngestResult(existing[key], 0, True), ()))
                continue
            if ev.receipt is not None:
                seen = await _receipt(conn, ev.receipt, ev.event_id, now)
                if seen is not None:
                    results.append((IngestResult(seen, 0, True), ()))
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
            sequence_key = record_key(ev.envelope) if ev.webhook_ids else None
            claims = []
            for webhook_id in ev.webhook_ids:
                delivery_id = new_id("dlv")
                message_id = "msg_" + delivery_id[4:]
                ids.append((delivery_id, webhook_id))
                row = webhook_rows.get(webhook_id)
                if row is not None:
                    claims.append(
                        Claim(
                            delivery_id,
                            1,
                            message_id,
                            ev.name,
                            ev.envelope,
                            row,
                            event_id=ev.event_id,
                            created_at=now,
                            lease_until=leased_until,
                        )
                    )
                delivery_rows.append(
                    {
                        "id": delivery_id,
                        "company_id": ev.company_id,
                        "event_id": ev.event_id,
                        "webhook_id": webhook_id,
                        "event": ev.name,
                        "message_id": message_id,
                        "status": "delivering" if row is not None else "pending",
                        "attempts": 1 if row is not None else 0,
                        "next_attempt_at": first_at,
                        "lease_until": leased_until if row is not None else reserved_until,
                        "created_at": now,
                        "updated_at": now,
                        "record_key": sequence_key,
                    }
                )
            if claims and len(claims) < len(ids):  # one event's deliveries go one way: all claimed or all kicked
                claims = []
                for item in delivery_rows[-len(ids) :]:
                    item.update(status="pending", attempts=0, lease_until=reserved_until)
            results.append((IngestResult(ev.event_id, len(ids), False, tuple(ids)), tuple(claims)))
        if event_rows:
            await conn.execute(_INSERT_EVENTS, event_rows)
        if delivery_rows:
            await conn.execute(_INSERT_DELIVERIES, delivery_rows)
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
