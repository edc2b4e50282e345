"""The engine's bookkeeping, set-based: claims and attempt records of many deliveries per statement."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update

from gateway.core.policy import (
    DeliveryPolicy,
    DeliveryStatus,
    Health,
    HealthChange,
    HealthStatus,
    Outcome,
    OutcomeKind,
    Transition,
    counts_for_health,
    health_changes,
)
from gateway.db.coalesce import Coalescer
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Attempt, Delivery, Event, Webhook, table
from gateway.db.ordering import not_waiting_for_predecessor
from gateway.db.webhooks import bump_webhooks_version, discard_pending
from gateway.delivery.sender import SendResult

__all__ = ["AttemptRecord", "Claim", "HealthEvent", "Ledger", "OperationalSink"]

MAX_ERROR_CHARS = 500


@dataclass
class Claim:
    """A delivery this process now owns until ``lease`` runs out; ``n`` is its attempt number."""

    delivery_id: str
    n: int
    message_id: str
    event_name: str
    payload: dict[str, Any]
    webhook: Any  # a Core row of the webhooks table, or None when it was deleted
    event_id: str
    created_at: float
    """When the delivery was created (its event committed): the start of its ingest-to-delivered time."""
    lease_until: float = 0.0
    """When the lease written with the claim runs out (kept for claims made at ingest, which wait to be worked)."""


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt and the delivery state that follows from it."""

    claim: Claim
    webhook_id: str
    started: float
    result: SendResult | None
    outcome: Outcome
    transition: Transition
    delete_on_gone: bool

    @property
    def error(self) -> str | None:
        """The attempt's line in the delivery log: why it did not deliver (None when it did)."""
        return None if self.outcome.kind is OutcomeKind.DELIVERED else self.outcome.reason


@dataclass(frozen=True)
class HealthEvent:
    """A webhook's health changed with ``record``'s attempt: ``health`` is the state it changed to."""

    record: AttemptRecord
    change: HealthChange
    health: Health


class OperationalSink(Protocol):
    """Writes what the attempts of a flush mean for operators, in the flush's own transaction."""

    async def write(
        self, conn: AsyncConnection, records: Sequence[AttemptRecord], changes: Sequence[HealthEvent], now: float
    ) -> None:
        """Called with every attempt recorded and every health change they caused, in order."""


def _fenced_update() -> Update:
    """An executemany ``UPDATE`` of claimed deliveries (``b_id``), each only while it is still attempt ``b_n``."""
    d = table(Delivery).c
    return update(table(Delivery)).where(
        d.id == bindparam("b_id"), d.attempts == bindparam("b_n"), d.status == DeliveryStatus.DELIVERING
    )


class Ledger:
    """Claims and records go through coalescers: one statement per table for everything in a loop turn."""

    def __init__(
        self,
        committer: GroupCommitter,
        *,
        claim_lease: float,
        policy: DeliveryPolicy,
        clock: Callable[[], float] = time.time,
        operational: OperationalSink | None = None,
    ) -> None:
        self._committer = committer
        self._operational = operational
        self._claim_lease = claim_lease
        self._policy = policy
        self._clock = clock
        self._claims: Coalescer[str, Claim | None] = Coalescer(committer, self._claim_batch)
        self._records: Coalescer[AttemptRecord, tuple[HealthEvent, ...]] = Coalescer(committer, self._record_batch)
        self._defers: Coalescer[tuple[str, float], None] = Coalescer(committer, self._defer_batch)
        self._releases: Coalescer[tuple[Claim, float], None] = Coalescer(committer, self._release_batch)

    @property
    def claim_lease(self) -> float:
        """Seconds a claim owns its delivery: one attempt's timeout plus a reservation."""
        return self._claim_lease

    async def claim(self, delivery_id: str) -> Claim | None:
        """Take a due delivery (or one whose lease ran out); None when it is not ours to work."""
        return await self._claims.submit(delivery_id)

    async def record(self, record: AttemptRecord) -> tuple[HealthEvent, ...]:
        """Store an attempt and its consequences; returns, once committed, the health changes it made."""
        return await self._records.submit(record)

    async def defer(self, delivery_id: str, until: float) -> None:
        """Keep a pending delivery reserved until ``until``: the scheduler hands it out then."""
        await self._defers.submit((delivery_id, until))

    async def release(self, claim: Claim, until: float) -> None:
        """Give back a claim no attempt was made for: pending again, due to the scheduler at ``until``.

        The attempt number goes back too, so the attempt not made does not count against the schedule.
        Fenced by the attempt number: a claim that has since been taken over is left alone.
        """
        await self._releases.submit((claim, until))

    async def drain(self) -> None:
        """Commit the claims, records and deferrals already handed in (even by callers since cancelled)."""
        for coalescer in (self._claims, self._records, self._defers, self._releases):
            await coalescer.drain()

    async def _release_batch(self, conn: AsyncConnection, items: Sequence[tuple[Claim, float]]) -> list[None]:
        await conn.execute(
            _fenced_update().values(
                status=DeliveryStatus.PENDING, attempts=bindparam("b_before"), lease_until=bindparam("b_until")
            ),
            [
                {"b_id": claim.delivery_id, "b_n": claim.n, "b_before": claim.n - 1, "b_until": until}
                for claim, until in items
            ],
        )
        return [None] * len(items)

    async def _defer_batch(self, conn: AsyncConnection, items: Sequence[tuple[str, float]]) -> list[None]:
        d = table(Delivery).c
        await conn.execute(
            update(table(Delivery))
            .where(d.id == bindparam("b_id"), d.status == DeliveryStatus.PENDING)
            .values(lease_until=bindparam("b_until")),
            [{"b_id": delivery_id, "b_until": until} for delivery_id, until in items],
        )
        return [None] * len(items)

    async def finish(self, claim: Claim, status: DeliveryStatus) -> None:
        """End a claimed delivery without an attempt (its webhook is gone or disabled)."""
        now = self._clock()
        await self._committer.submit(
            lambda conn: conn.execute(
                update(table(Delivery))
                .where(Delivery.id == claim.delivery_id, Delivery.attempts == claim.n)
                .values(status=status, next_attempt_at=None, lease_until=None, updated_at=now)
            )
        )

    async def park(self, claim: Claim, until: float) -> None:
        """Hand a claimed delivery back unattempted, due now but reserved until ``until``: a listen session's
        delivery, which only the process holding its stream sends (the scheduler leaves it alone meanwhile)."""
        now = self._clock()
        await self._committer.submit(
            lambda conn: conn.execute(
                update(table(Delivery))
                .where(
                    Delivery.id == claim.delivery_id,
                    Delivery.attempts == claim.n,
                    Delivery.status == DeliveryStatus.DELIVERING,
                )
                .values(
                    status=DeliveryStatus.PENDING,
                    attempts=Delivery.attempts - 1,
                    next_attempt_at=now,
                    lease_until=until,
                    updated_at=now,
                )
            )
        )

    async def _claim_batch(self, conn: AsyncConnection, ids: Sequence[str]) -> list[Claim | None]:
        now = self._clock()
        d = table(Delivery).c
        rows = (
            await conn.execute(
                update(table(Delivery))
                .where(
                    d.id.in_(set(ids)),
                    or_(
                        and_(d.status == DeliveryStatus.PENDING, d.next_attempt_at <= now),
                        and_(d.status == DeliveryStatus.DELIVERING, d.lease_until <= now),
                    ),
                    not_waiting_for_predecessor(),
                )
                .values(
                    status=DeliveryStatus.DELIVERING,
                    attempts=d.attempts + 1,
                    lease_until=now + self._claim_lease,
                    updated_at=now,
                )
                .returning(d.id, d.attempts, d.event_id, d.webhook_id, d.message_id, d.event, d.created_at)
            )
        ).all()
        if not rows:
            return [None] * len(ids)
        e, w = table(Event).c, table(Webhook).c
        payloads = {
            row.id: row.payload
            for row in await conn.execute(select(e.id, e.payload).where(e.id.in_({r.event_id for r in rows})))
        }
        webhooks = {
            row.id: row
            for row in await conn.execute(select(table(Webhook)).where(w.id.in_({r.webhook_id for r in rows})))
        }
        claimed = {
            r.id: Claim(
                delivery_id=r.id,
                n=r.attempts,
                message_id=r.message_id,
                event_name=r.event,
                payload=orjson.loads(payloads[r.event_id]) if r.event_id in payloads else {},
                webhook=webhooks.get(r.webhook_id),
                event_id=r.event_id,
                created_at=r.created_at,
            )
            for r in rows
        }
        results: list[Claim | None] = []
        for delivery_id in ids:  # the same id twice in one batch is claimed once
            results.append(claimed.pop(delivery_id, None))
        return results

    async def _record_batch(
        self, conn: AsyncConnection, records: Sequence[AttemptRecord]
    ) -> list[tuple[HealthEvent, ...]]:
        now = self._clock()
        await conn.execute(
            table(Attempt).insert(),
            [
                {
                    "delivery_id": r.claim.delivery_id,
                    "n": r.claim.n,
                    "at": r.started,
                    "duration_ms": r.result.duration_ms if r.result else 0.0,
                    "status_code": r.result.status if r.result else None,
                    "error": r.error[:MAX_ERROR_CHARS] if r.error else None,
                    "response_body": r.result.body.decode("utf-8", "replace")
                    if r.result and r.result.body
                    else None,
                }
                for r in records
            ],
        )
        retrying = {r.webhook_id for r in records if r.transition.status is DeliveryStatus.PENDING}
        w = table(Webhook).c
        # A webhook disabled while this attempt was under way: its retry is discarded like the waiting ones were.
        disabled = (
            set((await conn.execute(select(w.id).where(w.id.in_(retrying), w.enabled.is_(False)))).scalars())
            if retrying
            else set()
        )
        await conn.execute(
            _fenced_update().values(
                status=bindparam("b_status"), next_attempt_at=bindparam("b_next"), lease_until=None, updated_at=now
            ),
            [
                {"b_id": r.claim.delivery_id, "b_n": r.claim.n, "b_status": status, "b_next": next_at}
                for r in records
                for status, next_at in [
                    (DeliveryStatus.DISCARDED, None)
                    if r.transition.status is DeliveryStatus.PENDING and r.webhook_id in disabled
                    else (r.transition.status, r.transition.next_at)
                ]
            ],
        )
        counted = [r for r in records if counts_for_health(r.outcome, sent=r.result is not None)]
        _, changes = await self._apply_health(conn, counted, now)
        if self._operational is not None:
            await self._operational.write(conn, records, changes, now)
        # Handed back with each record after the commit, so a batch written again alone reports nothing twice.
        made: dict[int, list[HealthEvent]] = {}
        for change in changes:
            made.setdefault(id(change.record), []).append(change)
        return [tuple(made.get(id(r), ())) for r in records]

    async def _apply_health(
        self, conn: AsyncConnection, records: Sequence[AttemptRecord], now: float
    ) -> tuple[set[str], list[HealthEvent]]:
        """Fold each webhook's outcomes, in order, into its health; returns webhooks disabled or deleted, and
        each change of health with the attempt that made it."""
        if not records:
            return set(), []
        w = table(Webhook).c
        current = {
            row.id: Health(
                failures=row.consecutive_failures, failing_since=row.failing_since, status=HealthStatus(row.status)
            )
            for row in await conn.execute(
                select(w.id, w.consecutive_failures, w.failing_since, w.status).where(
                    w.id.in_({r.webhook_id for r in records}), w.enabled.is_(True)
                )
            )
        }
        changes: list[HealthEvent] = []
        for record in records:
            before = current.get(record.webhook_id)
            if before is not None:
                after = self._policy.fold(before, record.outcome.kind, now, delete_on_gone=record.delete_on_gone)
                current[record.webhook_id] = after
                changes.extend(HealthEvent(record, change, after) for change in health_changes(before, after))
        gone: set[str] = set()
        for webhook_id, health in current.items():
            if health.deleted:
                await conn.execute(delete(table(Webhook)).where(w.id == webhook_id))
            else:
                values: dict[str, Any] = {
                    "consecutive_failures": health.failures,
                    "failing_since": health.failing_since,
                    "status": health.status,
                }
                if health.last_success_at is not None:
                    values["last_success_at"] = health.last_success_at
                if health.disabled is not None:
                    values.update(
                        enabled=False, disabled_reason=health.disabled, updated_at=now, version=w.version + 1
                    )
                await conn.execute(update(table(Webhook)).where(w.id == webhook_id).values(**values))
            if health.disabled is not None:
                await discard_pending(conn, webhook_id, now)
                gone.add(webhook_id)
        if gone:
            await bump_webhooks_version(conn)
        return gone, changes
