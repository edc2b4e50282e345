"""Scenario (c): the same writes as ingest, one SQLite transaction per event vs the gateway's group commit.

All run in the bench process against a scratch database created from ``Base.metadata`` (no HTTP), with
``concurrency`` tasks. Each event costs what ingest costs: a duplicate check on the idempotency key,
an ``events`` insert and one ``deliveries`` insert per webhook.

- per transaction: ``engine.begin()`` per event — the naive design, the baseline of the ratios;
- group commit: each event a separate operation of the gateway's ``GroupCommitter`` (what ingest does);
- merged: one transaction per drained group *and* one statement per table per group (a dedupe
  ``SELECT … IN``, two ``executemany`` inserts) — the ceiling a committer that merges rows could reach.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.load import percentile, sample_payload
from gateway.db.engine import make_engine
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Base, Delivery, Event, table

__all__ = ["DbResult", "run_group_commit", "run_merged_commit", "run_per_transaction"]


@dataclass
class DbResult:
    """Events written, wall time and per-event commit latencies."""

    events: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    transactions: int = 0

    @property
    def events_per_s(self) -> float:
        """Committed events per second."""
        return self.events / self.wall_s if self.wall_s else 0.0

    def p(self, q: float) -> float:
        """Latency quantile in milliseconds."""
        return percentile(self.latencies_ms, q)


def _rows(count: int, webhooks: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    payload = orjson.dumps(sample_payload()).decode()
    now = time.time()
    out = []
    for i in range(count):
        event_id = f"evt_{i:024d}"
        event = {
            "id": event_id,
            "company_id": "bench",
            "external_id": f"base-{i}",
            "event": "TODO_CREATED",
            "project_id": "p1",
            "payload": payload,
            "created_at": now,
        }
        deliveries = [
            {
                "id": f"dlv_{i:020d}_{w:03d}",
                "company_id": "bench",
                "event_id": event_id,
                "webhook_id": f"whk_{w}",
                "event": "TODO_CREATED",
                "message_id": f"msg_{i:020d}_{w:03d}",
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "lease_until": now + 30,
                "created_at": now,
                "updated_at": now,
            }
            for w in range(webhooks)
        ]
        out.append((event, deliveries))
    return out


async def _write(conn: AsyncConnection, event: dict[str, Any], deliveries: list[dict[str, Any]]) -> None:
    """What ingest does for one event: dedupe check, event row, delivery rows."""
    dup = await conn.scalar(
        select(Event.id).where(Event.company_id == event["company_id"], Event.external_id == event["external_id"])
    )
    if dup is None:
        await conn.execute(table(Event).insert(), [event])
        await conn.execute(table(Delivery).insert(), deliveries)


async def _scratch(path: Path) -> AsyncEngine:
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return engine


async def _drive(
    rows: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    concurrency: int,
    one: Callable[[dict[str, Any], list[dict[str, Any]]], Awaitable[None]],
) -> DbResult:
    result = DbResult()
    shared: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]] = iter(rows)

    async def worker() -> None:
        for event, deliveries in shared:
            t0 = time.perf_counter()
            await one(event, deliveries)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
            result.events += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    result.wall_s = time.perf_counter() - t0
    return result


async def run_per_transaction(path: Path, events: int, concurrency: int, webhooks: int) -> DbResult:
    """One ``engine.begin()`` transaction per event, from ``concurrency`` tasks (the engine's default pool)."""
    engine = await _scratch(path)
    rows = _rows(events, webhooks)
    try:

        async def one(event: dict[str, Any], deliveries: list[dict[str, Any]]) -> None:
            async with engine.begin() as conn:
                await _write(conn, event, deliveries)

        result = await _drive(rows, concurrency, one)
        result.transactions = result.events
        return result
    finally:
        await engine.dispose()


async def run_group_commit(path: Path, events: int, concurrency: int, webhooks: int) -> DbResult:
    """The same writes submitted to the gateway's :class:`GroupCommitter`."""
    engine = await _scratch(path)
    rows = _rows(events, webhooks)
    committer = GroupCommitter(engine)
    committer.start()
    try:

        async def one(event: dict[str, Any], deliveries: list[dict[str, Any]]) -> None:
            await committer.submit(lambda conn: _write(conn, event, deliveries))

        result = await _drive(rows, concurrency, one)
        result.transactions = committer.batches
        return result
    finally:
        await committer.stop()
        await engine.dispose()


async def run_merged_commit(
    path: Path, events: int, concurrency: int, webhooks: int, max_batch: int = 512
) -> DbResult:
    """Group commit whose writer merges the whole group into one statement per table."""
    engine = await _scratch(path)
    rows = _rows(events, webhooks)
    queue: asyncio.Queue[tuple[dict[str, Any], list[dict[str, Any]], asyncio.Future[None]]] = asyncio.Queue()
    result = DbResult()

    async def writer() -> None:
        while True:
            group = [await queue.get()]
            while len(group) < max_batch and not queue.empty():
                group.append(queue.get_nowait())
            async with engine.begin() as conn:
                keys = [event["external_id"] for event, _, _ in group]
                taken = set(
                    (
                        await conn.execute(
                            select(Event.external_id).where(
                                Event.company_id == "bench", Event.external_id.in_(keys)
                            )
                        )
                    ).scalars()
                )
                fresh = [(e, d) for e, d, _ in group if e["external_id"] not in taken]
                if fresh:
                    await conn.execute(table(Event).insert(), [e for e, _ in fresh])
                    await conn.execute(table(Delivery).insert(), list(chain.from_iterable(d for _, d in fresh)))
            result.transactions += 1
            for _, _, fut in group:
                fut.set_result(None)

    async def one(event: dict[str, Any], deliveries: list[dict[str, Any]]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.put_nowait((event, deliveries, fut))
        await fut

    task = asyncio.create_task(writer())
    try:
        driven = await _drive(rows, concurrency, one)
        driven.transactions = result.transactions
        return driven
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()
