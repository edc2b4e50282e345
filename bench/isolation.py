"""Scenario (f), slow endpoint isolation: does a slow webhook slow down a fast one on the same gateway?

Both webhooks point at the receiver: ``/fast/…`` answers at once, ``/slow/…`` after ``delay`` seconds.
Each burst is ``events`` events posted as batches of 100, every one matching every webhook, and is
measured until the fast endpoint has all of its deliveries. Two fresh gateways each run a pair of
bursts, so that every comparison is within one process:

- **alone_…**: the fast webhook only (after a warm-up): the reference of the burst that follows;
- **cold**: then the slow webhook is added: the engine does not know yet that the endpoint is slow, so
  its whole backlog waits in memory, in the webhook's lane;
- **warm**: on the second gateway, the slow endpoint first answers a warm-up, so the engine knows its
  pace and leaves the part of the backlog that could not drain within half a lease
  (``BLUE_GATEWAY_LEASE_SECONDS``) in the database (``blue_gateway_deliveries_deferred_total``).

The slow backlog is not waited for (``events x delay / cap`` seconds); each gateway is stopped after
its pair. Time to delivery is per event: its arrival at ``/fast`` minus the start of the POST
that carried it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp

from bench.load import LoadResult, event_bodies, fire, percentile
from bench.procs import BenchError, Memory, Processes, read_memory
from bench.scenarios import Probe
from gateway.settings import Settings

__all__ = ["FastRun", "IsolationRun", "run_isolation"]

BATCH = 100
WARMUP = 50
STOP_GRACE_S = 2.0  # the gateway would otherwise finish the slow lane before exiting
DEFERRED = "blue_gateway_deliveries_deferred_total"


@dataclass
class FastRun:
    """One burst: the fast endpoint's deliveries, and where the slow backlog was when they were all in."""

    name: str
    load: LoadResult
    deliveries: int
    delivered_s: float  # first POST until the last fast delivery arrived
    ttd_ms: list[float]  # per event: arrival at /fast minus the start of its POST
    memory: Memory | None  # the gateway's, once the fast deliveries were all in
    baseline: str = ""  # the burst of the fast webhook alone on the same gateway, just before
    slow: bool = False
    slow_received: int = 0  # slow deliveries of this burst that had reached /slow by then
    slow_answered: int = 0  # ... and that /slow had answered by then
    deferred: int = 0  # deferrals counted by the gateway during the burst

    @property
    def deliveries_per_s(self) -> float:
        """Fast deliveries per second, first POST to last arrival."""
        return self.deliveries / self.delivered_s if self.delivered_s else 0.0

    def p(self, q: float) -> float:
        """Time-to-delivery quantile in milliseconds."""
        return percentile(self.ttd_ms, q)

    @property
    def in_memory(self) -> int:
        """Slow deliveries of this burst neither answered, in flight nor deferred: waiting in the gateway."""
        return max(0, self.deliveries - self.slow_received - self.deferred) if self.slow else 0


@dataclass
class IsolationRun:
    """The three bursts, with the settings that bound them."""

    events: int
    delay: float
    cap: int  # BLUE_GATEWAY_WEBHOOK_CONCURRENCY
    lease: float  # BLUE_GATEWAY_LEASE_SECONDS
    runs: list[FastRun] = field(default_factory=list)

    def run(self, name: str) -> FastRun | None:
        """The burst called ``name``, if it ran."""
        return next((r for r in self.runs if r.name == name), None)

    def bound(self, run: FastRun) -> float:
        """The most slow deliveries the lanes could have answered by then: cap x elapsed / delay."""
        return self.cap * run.delivered_s / self.delay if self.delay else float("inf")


@dataclass
class _Ctx:
    probe: Probe
    session: aiohttp.ClientSession
    gateway: str
    token: str
    receiver: str
    pid: int | None
    concurrency: int
    timeout: float


@contextlib.asynccontextmanager
async def _gateway(
    procs: Processes, name: str, overrides: dict[str, str], receiver: str, concurrency: int, timeout: float
) -> AsyncIterator[_Ctx]:
    """A fresh gateway (own SQLite file) for the block; stopped, slow backlog and all, at its end."""
    try:
        gateway, token = await asyncio.to_thread(procs.start_gateway, overrides, 60.0, name)
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as session:
            probe = Probe(session, gateway, receiver)
            yield _Ctx(probe, session, gateway, token, receiver, procs.gateway_pid, concurrency, timeout)
    finally:
        await asyncio.to_thread(procs.stop, name, STOP_GRACE_S)


async def _webhooks(ctx: _Ctx, *groups: str, indexed: int) -> None:
    """Create one webhook per receiver group, then wait until the gateway's index holds ``indexed``."""
    for group in groups:
        body = {"name": f"bench {group}", "url": f"{ctx.receiver}/{group}/hook", "events": ["TODO_CREATED"]}
        async with ctx.session.post(ctx.gateway + "/v1/webhooks", json=body) as resp:
            if resp.status != 201:
                raise BenchError(f"creating the {group} webhook: {resp.status} {await resp.text()}")
    deadline = time.monotonic() + 10
    while (await ctx.probe.metrics()).get("blue_gateway_webhooks_indexed", 0.0) < indexed:
        if time.monotonic() > deadline:
            raise BenchError(f"the gateway did not index the webhooks {groups} within 10s")
        await asyncio.sleep(0.05)


def _mine(arrivals: dict[str, list[float]], prefix: str) -> dict[int, list[float]]:
    """The arrivals of events keyed ``f"{prefix}-{i}"``, by ``i``."""
    start = prefix + "-"
    return {int(k[len(start) :]): t for k, t in arrivals.items() if k.startswith(start)}


async def _fire_and_wait(ctx: _Ctx, prefix: str, events: int) -> tuple[LoadResult, dict[int, list[float]]]:
    """Post ``events`` keyed events in batches; wait for every one of them at /fast; their arrivals."""
    before = (await ctx.probe.receiver())["groups"].get("fast", {}).get("distinct", 0)
    bodies = event_bodies(prefix, events, BATCH, keyed=True)
    load = await fire(ctx.gateway, "/v1/events/batch", ctx.token, bodies, concurrency=ctx.concurrency)
    if load.errors or load.accepted_events != events:
        raise BenchError(
            f"(f) {prefix}: {load.accepted_events}/{events} events accepted; other answers {load.errors}"
        )
    await ctx.probe.wait_distinct(before + events, ctx.timeout, group="fast")
    arrived = _mine(await ctx.probe.arrivals("fast"), prefix)
    if len(arrived) < events:
        raise BenchError(f"(f) {prefix}: the receiver keyed {len(arrived)} of {events} fast deliveries")
    return load, arrived


async def _warm_up(ctx: _Ctx, prefix: str, slow_answers: int = 0) -> None:
    """A small burst; with ``slow_answers``, also wait until /slow answered that many (so its pace is known)."""
    await _fire_and_wait(ctx, prefix, WARMUP)
    deadline = time.monotonic() + ctx.timeout
    while (
        sum(1 for _, answered in _mine(await ctx.probe.arrivals("slow"), prefix).values() if answered)
        < slow_answers
    ):
        if time.monotonic() > deadline:
            raise BenchError(f"(f) {prefix}: /slow answered fewer than {slow_answers} within {ctx.timeout:.0f}s")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # the gateway records the attempts (and their durations) just after the answers


async def _burst(ctx: _Ctx, name: str, events: int, slow: bool, baseline: str = "") -> FastRun:
    """The measured burst: fast deliveries, and the slow backlog, memory and deferrals when they were all in."""
    deferred_before = (await ctx.probe.metrics()).get(DEFERRED, 0.0)
    load, fast = await _fire_and_wait(ctx, name, events)
    memory = read_memory(ctx.pid)
    deferred = int((await ctx.probe.metrics()).get(DEFERRED, 0.0) - deferred_before)
    done_at = max(arrived for arrived, _ in fast.values())
    ttd = [(times[0] - load.sent_at[i // BATCH]) * 1000.0 for i, times in fast.items()]
    run = FastRun(name, load, events, done_at - load.started_at, ttd, memory, baseline, slow, deferred=deferred)
    if slow:
        times = _mine(await ctx.probe.arrivals("slow"), name).values()
        run.slow_received = sum(1 for arrived, _ in times if arrived <= done_at)
        run.slow_answered = sum(1 for _, answered in times if 0 < answered <= done_at)
    return run


async def _pair(
    procs: Processes, gateway: tuple[str, dict[str, str], str, int, float], result: IsolationRun, name: str
) -> None:
    """On a fresh gateway: the fast webhook alone, then with the slow one (``warm``: after a slow warm-up)."""
    events, alone = result.events, f"alone_{name}"
    async with _gateway(procs, *gateway) as ctx:
        await _webhooks(ctx, "fast", indexed=1)
        await _warm_up(ctx, f"{alone}_w")
        result.runs.append(await _burst(ctx, alone, events, slow=False))
        await _webhooks(ctx, "slow", indexed=2)
        if name == "warm":
            await _warm_up(ctx, f"{name}_w", slow_answers=min(WARMUP, result.cap))
        result.runs.append(await _burst(ctx, name, events, slow=True, baseline=alone))


async def run_isolation(
    procs: Processes,
    receiver: str,
    *,
    events: int,
    delay: float,
    concurrency: int,
    overrides: dict[str, str],
    timeout: float,
    log: Callable[[str], None] = print,
) -> IsolationRun:
    """Run both pairs of bursts (``receiver`` must delay group ``slow`` and key groups ``fast`` and ``slow``)."""
    settings = Settings.from_env(overrides)
    result = IsolationRun(events, delay, settings.webhook_concurrency, settings.lease_seconds)
    log(
        f"(f) fresh gateway: fast webhook alone, then with a slow one ({delay:g}s) whose pace is not known yet; "
        f"{events} events in batches of {BATCH} each"
    )
    await _pair(procs, ("isolation", overrides, receiver, concurrency, timeout), result, "cold")
    log("(f) fresh gateway: fast webhook alone, then with a slow one that answered a warm-up first")
    await _pair(procs, ("isolation-warm", overrides, receiver, concurrency, timeout), result, "warm")
    return result
