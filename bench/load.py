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

__all__ = ["Body", "LoadResult", "event_bodies", "fire", "hammer", "paced", "percentile", "sample_payload"]


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


def event_bodies(
    prefix: str, count: int, batch: int = 1, *, keyed: bool = False, project: str | None = None
) -> list[Body]:
    """``count`` events with unique idempotency keys, as single bodies or ``{"events": [...]}`` of ``batch``.

    ``keyed``: each event's ``currentValue.id`` is its key too, so a keyed receiver group can tell
    which event a delivery carries (the key of event ``i`` is ``f"{prefix}-{i}"``, in body ``i // batch``).
    ``project``: the events' ``projectId``, so that only the webhooks of that project match them.
    """
    base = sample_payload()
    found = base.get("currentValue")
    current: dict[str, Any] = found if isinstance(found, dict) else {}
    extra = {"projectId": project} if project is not None else {}
    events = [{**base, **extra, "id": f"{prefix}-{i}"} for i in range(count)]
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
    accepted_at: list[float] = field(default_factory=list)  # wall clock when each body's 202 arrived

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
        result.accepted_at[index] = time.time()
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
    result = LoadResult(sent_at=[0.0] * len(bodies), accepted_at=[0.0] * len(bodies))
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        shared = iter(enumerate(bodies))
        result.started_at = time.time()
        t0 = time.perf_counter()
        await asyncio.gather(*(_worker(session, base_url + path, shared, result) for _ in range(clients)))
        result.wall_s = time.perf_counter() - t0
    return result


async def hammer(url: str, body: bytes, headers: dict[str, str], *, seconds: float, concurrency: int) -> float:
    """POST the same ``body`` from ``concurrency`` clients for ``seconds``; requests per second answered 2xx."""
    done = 0
    failed: Counter[int | str] = Counter()
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                async with session.post(url, data=body) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        done += 1
                    else:
                        failed[resp.status] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    if failed:
        raise RuntimeError(f"{url}: answers other than 2xx: {dict(failed)}")
    return done / wall


async def paced(base_url: str, path: str, token: str, bodies: list[Body], *, rate: float) -> LoadResult:
    """POST the bodies at a steady ``rate`` per second (each on its own task, so a slow answer delays none)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    result = LoadResult(sent_at=[0.0] * len(bodies), accepted_at=[0.0] * len(bodies))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        url = base_url + path

        async def one(index: int, body: bytes, carried: int) -> None:
            result.sent_at[index] = time.time()
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body) as resp:
                    await resp.read()
                    status: int | str = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            result.accepted_at[index] = time.time()
            result.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
            result.requests += 1
            result.statuses[status] += 1
            if status == 202:
                result.accepted_events += carried

        tasks = []
        result.started_at = time.time()
        t0 = time.perf_counter()
        for index, (body, carried) in enumerate(bodies):
            delay = t0 + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, body, carried)))
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - t0
    return result
