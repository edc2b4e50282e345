"""The load generator: pre-serialised bodies fired by C concurrent aiohttp clients, with latencies."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

__all__ = ["Body", "LoadResult", "event_bodies", "fire", "percentile", "sample_payload"]


def sample_payload() -> dict[str, Any]:
    """A realistic TODO_CREATED event (the catalog's ~2 KiB sample), or a small stand-in if it moved."""
    try:
        from gateway.core.catalog import sample_event

        return sample_event("TODO_CREATED")
    except (ImportError, KeyError):
        return {
            "event": "TODO_CREATED",
            "user": {"id": "u1"},
            "previousValue": None,
            "currentValue": {"id": "t1", "title": "Bench", "todoList": {"id": "l1", "projectId": "p1"}},
        }


Body = tuple[bytes, int]  # a serialised request body and the number of events it carries


def event_bodies(prefix: str, count: int, batch: int = 1, *, keyed: bool = False) -> list[Body]:
    """``count`` events with unique idempotency keys, as single bodies or ``{"events": [...]}`` of ``batch``.

    ``keyed``: each event's ``currentValue.id`` is its key too, so a keyed receiver group can tell
    which event a delivery carries (the key of event ``i`` is ``f"{prefix}-{i}"``, in body ``i // batch``).
    """
    base = sample_payload()
    found = base.get("currentValue")
    current: dict[str, Any] = found if isinstance(found, dict) else {}
    events = [{**base, "id": f"{prefix}-{i}"} for i in range(count)]
    if keyed:
        for event in events:
            event["currentValue"] = {**current, "id": event["id"]}
    if batch <= 1:
        return [(orjson.dumps(e), 1) for e in events]
    chunks = [events[i : i + batch] for i in range(0, count, batch)]
    return [(orjson.dumps({"events": chunk}), len(chunk)) for chunk in chunks]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by nearest rank; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class LoadResult:
    """What one load phase measured."""

    requests: int = 0
    accepted_events: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    started_at: float = 0.0  # wall clock (time.time) of the first request
    wall_s: float = 0.0
    sent_at: list[float] = field(default_factory=list)  # wall clock when each body's request started

    @property
    def events_per_s(self) -> float:
        """Accepted events per second of wall time."""
        return self.accepted_events / self.wall_s if self.wall_s else 0.0

    @property
    def requests_per_s(self) -> float:
        """Requests per second of wall time."""
        return self.requests / self.wall_s if self.wall_s else 0.0

    def p(self, q: float) -> float:
        """Latency quantile in milliseconds."""
        return percentile(self.latencies_ms, q)

    @property
    def errors(self) -> dict[int | str, int]:
        """Every answer that was not a 202, by status (or exception name)."""
        return {k: v for k, v in self.statuses.items() if k != 202}


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    bodies: Iterator[tuple[int, Body]],
    result: LoadResult,
) -> None:
    for index, (body, carried) in bodies:  # a shared iterator: each body is sent exactly once across all workers
        result.sent_at[index] = time.time()
        t0 = time.perf_counter()
        try:
            async with session.post(url, data=body) as resp:
                await resp.read()
                status: int | str = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        result.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        result.requests += 1
        result.statuses[status] += 1
        if status == 202:
            result.accepted_events += carried


async def fire(
    base_url: str,
    path: str,
    token: str,
    bodies: list[Body],
    *,
    concurrency: int,
    timeout: float = 120.0,
) -> LoadResult:
    """POST every body to ``base_url + path`` from ``concurrency`` clients; a 202 counts the events it carried."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    clients = max(1, min(concurrency, len(bodies)))
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    result = LoadResult(sent_at=[0.0] * len(bodies))
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        shared = iter(enumerate(bodies))
        result.started_at = time.time()
        t0 = time.perf_counter()
        await asyncio.gather(*(_worker(session, base_url + path, shared, result) for _ in range(clients)))
        result.wall_s = time.perf_counter() - t0
    return result
