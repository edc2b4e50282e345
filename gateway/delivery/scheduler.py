"""The scheduler: moves due retries and deliveries a crash left behind from the database to the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Delivery, table
from gateway.db.ordering import not_waiting_for_predecessor

__all__ = ["Scheduler"]

log = logging.getLogger("gateway.scheduler")


class Scheduler:
    """Every ``interval`` seconds, reserve due deliveries for ``lease`` seconds and kick them to the broker.

    A reservation keeps one delivery from being enqueued twice while the broker holds it; if the
    process that enqueued it dies, the reservation simply runs out and the delivery is due again.
    """

    def __init__(
        self,
        committer: GroupCommitter,
        kick: Callable[[list[tuple[str, str]]], Awaitable[None]],
        *,
        interval: float,
        lease: float,
        clock: Callable[[], float],
        skip_locked: bool,
        batch: int = 500,
    ) -> None:
        self._committer = committer
        self._kick = kick
        self.interval = interval
        self._lease = lease
        self._clock = clock
        self._skip_locked = skip_locked
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Run in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="delivery-scheduler")

    async def stop(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Run a tick now instead of at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                while await self.tick() >= self._batch:
                    pass
            except Exception as exc:  # database down: try again next tick, nothing is lost
                log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    async def tick(self) -> int:
        """Reserve and enqueue what is due now; returns how many."""
        now = self._clock()
        items = await self._committer.submit(lambda conn: self._reserve(conn, now))
        if items:
            await self._kick(items)
        return len(items)

    async def _reserve(self, conn: AsyncConnection, now: float) -> list[tuple[str, str]]:
        d = table(Delivery).c
        due = or_(
            and_(
                d.status == "pending",
                d.next_attempt_at <= now,
                or_(d.lease_until.is_(None), d.lease_until <= now),
                not_waiting_for_predecessor(),
            ),
            and_(d.status == "delivering", d.lease_until <= now),
        )
        query = select(d.id, d.webhook_id).where(due).order_by(d.next_attempt_at).limit(self._batch)
        if self._skip_locked:
            query = query.with_for_update(skip_locked=True)
        items = [(row.id, row.webhook_id) for row in await conn.execute(query)]
        if items:
            await conn.execute(
                update(table(Delivery))
                .where(d.id.in_([item[0] for item in items]))
                .values(status="pending", lease_until=now + self._lease, updated_at=now)
            )
        return items
