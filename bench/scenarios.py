"""Scenarios (a) and (b) against the running gateway subprocess and receiver."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.load import Body, LoadResult, event_bodies, fire
from bench.procs import BenchError, Memory, read_memory

__all__ = ["GatewayRun", "PhaseResult", "Probe", "run_gateway_scenarios"]

BATCH = 100
POLL_S = 0.02


@dataclass
class PhaseResult:
    """One ingest phase and the deliveries it caused."""

    name: str
    load: LoadResult
    deliveries: int = 0
    delivered_s: float = 0.0  # first POST until the receiver counted the last distinct webhook-id
    redeliveries: int = 0  # requests beyond the distinct ids (at-least-once retries)
    commits: int = 0
    commit_ops: int = 0
    attempts: int = 0
    memory: Memory | None = None  # the gateway's, once the phase's deliveries were all in

    @property
    def deliveries_per_s(self) -> float:
        """End-to-end deliveries per second."""
        return self.deliveries / self.delivered_s if self.delivered_s else 0.0

    @property
    def ops_per_commit(self) -> float:
        """Average operations carried by one group-commit transaction during the phase."""
        return self.commit_ops / self.commits if self.commits else 0.0


@dataclass
class GatewayRun:
    """Everything measured against the live gateway."""

    phases: list[PhaseResult] = field(default_factory=list)

    def phase(self, name: str) -> PhaseResult:
        """The phase called ``name``."""
        return next(p for p in self.phases if p.name == name)


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

    async def arrivals(self, group: str) -> dict[str, list[float]]:
        """``{event key: [arrived_at, answered_at]}`` of a keyed receiver group."""
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


def _delta(after: dict[str, float], before: dict[str, float], key: str) -> int:
    return int(after.get(key, 0.0) - before.get(key, 0.0))


async def _create_webhooks(session: aiohttp.ClientSession, gateway: str, receiver: str, count: int) -> None:
    for i in range(count):
        body = {"name": f"bench {i}", "url": f"{receiver}/hook/{i}", "events": ["TODO_CREATED"]}
        async with session.post(gateway + "/v1/webhooks", json=body) as resp:
            if resp.status != 201:
                raise BenchError(f"creating webhook {i}: {resp.status} {await resp.text()}")


@dataclass(frozen=True)
class _Target:
    """Where and how hard to fire, and how long to wait for deliveries."""

    gateway: str
    token: str
    webhooks: int
    concurrency: int
    delivery_timeout: float
    pid: int | None = None


async def _phase(probe: Probe, target: _Target, name: str, path: str, bodies: list[Body]) -> PhaseResult:
    """Fire ``bodies``, require every event accepted, then wait until each of their deliveries arrived."""
    gateway, token, concurrency = target.gateway, target.token, target.concurrency
    events = sum(carried for _, carried in bodies)
    before, metrics_before = await probe.receiver(), await probe.metrics()
    load = await fire(gateway, path, token, bodies, concurrency=concurrency)
    if load.errors or load.accepted_events != events:
        raise BenchError(f"{name}: {load.accepted_events}/{events} events accepted; other answers {load.errors}")
    expected = events * target.webhooks
    after = await probe.wait_distinct(before["distinct"] + expected, target.delivery_timeout)
    metrics_after = await probe.metrics()
    new_requests = after["requests"] - before["requests"]
    return PhaseResult(
        name=name,
        load=load,
        deliveries=expected,
        delivered_s=float(after["last_new_at"]) - load.started_at if expected else 0.0,
        redeliveries=max(0, new_requests - (after["distinct"] - before["distinct"])),
        commits=_delta(metrics_after, metrics_before, "blue_gateway_commit_batches_total"),
        commit_ops=_delta(metrics_after, metrics_before, "blue_gateway_commit_ops_total"),
        attempts=_delta(metrics_after, metrics_before, "blue_gateway_delivery_attempts_total"),
        memory=read_memory(target.pid),
    )


async def run_gateway_scenarios(
    gateway: str,
    receiver: str,
    token: str,
    *,
    events: int,
    concurrency: int,
    webhooks: int,
    delivery_timeout: float,
    pid: int | None = None,
    log: Any = print,
) -> GatewayRun:
    """Create the webhooks, warm up, then run single and batch ingest, each until fully delivered."""
    run = GatewayRun()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as session:
        probe = Probe(session, gateway, receiver)
        await _create_webhooks(session, gateway, receiver, webhooks)
        target = _Target(gateway, token, webhooks, concurrency, delivery_timeout, pid)
        warm = min(events, max(2 * concurrency, 50))
        log(f"  warm-up: {warm} events")
        run.phases.append(await _phase(probe, target, "warmup", "/v1/events", event_bodies("warm", warm)))
        log(f"  (a/b) single: {events} events, POST /v1/events, {concurrency} clients")
        run.phases.append(await _phase(probe, target, "single", "/v1/events", event_bodies("single", events)))
        batch_bodies = event_bodies("batch", events, BATCH)
        log(f"  (a/b) batch: {events} events, {len(batch_bodies)} x POST /v1/events/batch of {BATCH}")
        run.phases.append(await _phase(probe, target, "batch", "/v1/events/batch", batch_bodies))
    return run
