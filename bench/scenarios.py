"""What every scenario does against a live gateway: make webhooks, fire a burst and time its deliveries."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bench.load import Body, LoadResult, event_bodies, fire, paced, percentile
from bench.procs import BenchError, read_cpu_seconds

__all__ = ["Burst", "Ctx", "Probe", "burst", "latency", "make_webhooks"]

BATCH = 100
POLL_S = 0.02


class Probe:
    """Reads the receiver's counters and the gateway's Prometheus counters."""

    def __init__(self, session: aiohttp.ClientSession, gateway: str, receiver: str) -> None:
        self._session = session
        self._gateway = gateway
        self._receiver = receiver

    async def receiver(self) -> dict[str, Any]:
        """The receiver's counters (``["groups"][name]`` for one path group)."""
        async with self._session.get(self._receiver + "/_stats") as resp:
            return orjson.loads(await resp.read())  # type: ignore[no-any-return]

    async def arrivals(self, group: str) -> dict[str, float]:
        """``{event key: arrived_at}`` of a keyed receiver group."""
        async with self._session.get(self._receiver + "/_arrivals", params={"group": group}) as resp:
            return orjson.loads(await resp.read())  # type: ignore[no-any-return]

    async def metrics(self) -> dict[str, float]:
        """The gateway's counters; missing ones read as 0 (the metric names may evolve)."""
        try:
            async with self._session.get(self._gateway + "/metrics") as resp:
                text = await resp.text()
        except aiohttp.ClientError:
            return {}
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    values[name] = float(value)
                except ValueError:
                    continue
        return values

    async def wait_distinct(self, target: int, timeout: float, group: str | None = None) -> dict[str, Any]:
        """Poll until the receiver (or its path ``group``) counted ``target`` distinct webhook-ids; raise if not.

        Returns the whole stats snapshot in which the target was reached.
        """
        deadline = time.monotonic() + timeout
        empty = {"distinct": 0, "requests": 0, "missing_id": 0}
        while True:
            snapshot = await self.receiver()
            stats = snapshot if group is None else snapshot["groups"].get(group, empty)
            if stats["distinct"] >= target:
                return snapshot
            if time.monotonic() > deadline:
                raise BenchError(
                    f"only {stats['distinct']} of {target} distinct webhook-ids arrived within {timeout:.0f}s "
                    f"({stats['requests']} requests, {stats['missing_id']} without webhook-id)"
                )
            await asyncio.sleep(POLL_S)


@dataclass
class Ctx:
    """One gateway as the scenarios see it."""

    session: aiohttp.ClientSession  # carries the token
    probe: Probe
    gateway: str
    token: str
    receiver: str
    concurrency: int
    timeout: float
    pid: int | None = None  # the gateway's, when the bench started it here: its CPU time is measured


async def make_webhooks(
    ctx: Ctx, group: str, count: int, project: str, *, url: str | None = None, projects: list[str] | None = None
) -> None:
    """Create ``count`` webhooks at ``{url or receiver}/{group}/{i}`` for ``project`` (or ``projects[i]``).

    Then wait until the gateway's matching index grew by ``count``.
    """
    before = (await ctx.probe.metrics()).get("blue_gateway_webhooks_indexed", 0.0)
    base = url or ctx.receiver
    pending = iter(range(count))

    async def creator() -> None:
        for i in pending:
            body = {
                "name": f"bench {group} {i}",
                "url": f"{base}/{group}/{i}",
                "events": ["TODO_CREATED"],
                "projectIds": [projects[i] if projects else project],
            }
            async with ctx.session.post(ctx.gateway + "/v1/webhooks", json=body) as resp:
                if resp.status != 201:
                    raise BenchError(f"creating webhook {group}/{i}: {resp.status} {await resp.text()}")

    await asyncio.gather(*(creator() for _ in range(min(16, count))))
    deadline = time.monotonic() + 30
    while (await ctx.probe.metrics()).get("blue_gateway_webhooks_indexed", 0.0) < before + count:
        if time.monotonic() > deadline:
            raise BenchError(f"the gateway did not index {count} new webhooks ({group}) within 30s")
        await asyncio.sleep(0.05)


@dataclass
class Burst:
    """A burst of events and how fast their deliveries arrived."""

    load: LoadResult
    deliveries: int
    delivered_s: float  # first POST until the group's last new webhook-id
    cpu_s: float | None = None  # the gateway's CPU seconds from the first POST to the last arrival

    @property
    def cpu_ms_per_delivery(self) -> float | None:
        """The gateway's CPU milliseconds per delivery (= CPU seconds per 1,000), ingest included."""
        return None if self.cpu_s is None or not self.deliveries else self.cpu_s * 1000.0 / self.deliveries

    @property
    def per_s(self) -> float:
        """Deliveries per second, first POST to last arrival."""
        return self.deliveries / self.delivered_s if self.delivered_s else 0.0


async def burst(
    ctx: Ctx, group: str, bodies: list[Body], path: str, fanout: int, *, concurrency: int = 0
) -> Burst:
    """Fire ``bodies`` at ``path``; wait until ``group`` received ``fanout`` deliveries per event."""
    events = sum(carried for _, carried in bodies)
    empty = {"distinct": 0}
    before = (await ctx.probe.receiver())["groups"].get(group, empty)["distinct"]
    cpu_before = read_cpu_seconds(ctx.pid)
    load = await fire(ctx.gateway, path, ctx.token, bodies, concurrency=concurrency or ctx.concurrency)
    if load.errors or load.accepted_events != events:
        raise BenchError(f"{group}: {load.accepted_events}/{events} events accepted; other answers {load.errors}")
    after = await ctx.probe.wait_distinct(before + events * fanout, ctx.timeout, group=group)
    cpu_after = read_cpu_seconds(ctx.pid)
    last = float(after["groups"][group]["last_new_at"])
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Burst(load, events * fanout, last - load.started_at, cpu)


@dataclass
class Latency:
    """Ingest-accepted to received, per event, at one steady rate."""

    rate: float
    ms: list[float]
    lag_ms: list[float]
    """How late each post left the load generator against its schedule: near 0 means the rate was held."""

    def p(self, q: float) -> float:
        """Quantile in milliseconds."""
        return percentile(self.ms, q)


async def latency(ctx: Ctx, group: str, prefix: str, project: str, *, rate: float, seconds: float) -> Latency:
    """Post single events at ``rate``/s for ``seconds`` (to one webhook of ``group``); per-event latency.

    Latency runs from the moment the 202 reached the client to the delivery's arrival at the receiver.
    """
    count = max(2, round(rate * seconds))
    bodies = event_bodies(prefix, count, keyed=True, project=project)
    load = await paced(ctx.gateway, "/v1/events", ctx.token, bodies, rate=rate)
    if load.errors or load.accepted_events != count:
        raise BenchError(f"{prefix}: {load.accepted_events}/{count} events accepted; other answers {load.errors}")
    deadline = time.monotonic() + ctx.timeout
    while True:
        arrivals = await ctx.probe.arrivals(group)
        mine = [arrivals.get(f"{prefix}-{i}") for i in range(count)]
        if all(t is not None for t in mine):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{prefix}: {sum(t is not None for t in mine)}/{count} deliveries arrived")
        await asyncio.sleep(0.05)
    ms = [(float(t) - load.accepted_at[i]) * 1000.0 for i, t in enumerate(mine) if t is not None]
    lag = [(sent - load.started_at - i / rate) * 1000.0 for i, sent in enumerate(load.sent_at)]
    return Latency(rate, ms, lag)
