"""Scenarios (b) to (e) on one ``blue-gateway serve`` on the embedded default (SQLite, in-process broker).

Each scenario has its own project id, and its webhooks listen to that project only, so one gateway
process serves them all in turn without one scenario's deliveries counting for another.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from bench.figures import Figures
from bench.load import event_bodies, fire, percentile
from bench.procs import BenchError, Processes
from bench.scenarios import BATCH, Burst, Ctx, Probe, burst, latency, make_webhooks

__all__ = ["Sizes", "gateway_ctx", "latency_pair", "run_embedded"]

DEFERRED = "blue_gateway_deliveries_deferred_total"
"""How many deliveries found their lane's backlog too long and went back to the database to wait."""


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is (``--quick`` shrinks them)."""

    ceiling_s: float
    small: int  # events of (b)'s short backlog
    large: int  # events of (b)'s long backlog, batched and single
    slow_rate_s: float  # seconds of (c) at 5 events/s
    fast_rate_s: float  # seconds of (c) at 200 events/s
    fanout_events: int  # events of (d), each to 100 webhooks
    many: int  # webhooks of (e)
    ingest_posts: int  # single posts of the ingest-only measurement
    ingest_probe: int  # sequential single posts per (e) measurement
    isolation_events: int  # events per burst of (f)
    pg_events: int  # events of (g)'s burst
    pending: int  # pending deliveries of (h)


@contextlib.asynccontextmanager
async def gateway_ctx(
    gateway: str, token: str, receiver: str, concurrency: int, timeout: float, pid: int | None = None
) -> AsyncIterator[Ctx]:
    """A client session carrying ``token``, and the probe, for the block (``pid``: the gateway's, for CPU time)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield Ctx(session, Probe(session, gateway, receiver), gateway, token, receiver, concurrency, timeout, pid)


async def latency_pair(ctx: Ctx, figures: Figures, key: str, sizes: Sizes, log: Callable[[str], None]) -> None:
    """(c) on ``ctx``: per-event latency at 5 events/s, then at 200 events/s (single posts)."""
    project = f"p-{key}"
    await make_webhooks(ctx, key, 1, project)
    for rate, seconds in ((5.0, sizes.slow_rate_s), (200.0, sizes.fast_rate_s)):
        log(f"({key}) latency ingest-accepted → received at {rate:g} events/s for {seconds:g}s")
        found = await latency(ctx, key, f"{key}{rate:g}", project, rate=rate, seconds=seconds)
        for q in (50, 95, 99):
            figures.values[f"{key}.p{q}_ms_at_{rate:g}"] = found.p(q / 100)
        figures.values[f"{key}.send_lag_p99_ms_at_{rate:g}"] = percentile(found.lag_ms, 0.99)


async def run_embedded(
    procs: Processes,
    receiver: str,
    figures: Figures,
    sizes: Sizes,
    *,
    concurrency: int,
    timeout: float,
    overrides: dict[str, str],
    log: Callable[[str], None],
    parts: Sequence[str] = ("b", "c", "d", "e"),
    on_start: Callable[[int | None], None] | None = None,
) -> None:
    """(b), (c), (d) and (e) (or those of ``parts``) on one fresh embedded gateway."""
    log("starting the embedded gateway (SQLite + in-process broker)")
    gateway, token = procs.start_gateway(overrides)
    if on_start is not None:
        on_start(procs.gateway_pid)
    async with gateway_ctx(gateway, token, receiver, concurrency, timeout, procs.gateway_pid) as ctx:
        # Each scenario stands alone: one that times out still leaves the others' figures.
        for key, part in (("ingest", _ingest), ("b", _b), ("c", _c), ("d", _d), ("e", _e)):
            if ("b" if key == "ingest" else key) not in parts:  # single ingest belongs to (b)'s group
                continue
            try:
                await part(ctx, figures, sizes, log)
            except BenchError as exc:
                figures.errors[key] = str(exc)
                log(f"({key}) failed: {exc}")
    procs.stop("gateway")


async def _b(ctx: Ctx, figures: Figures, sizes: Sizes, log: Callable[[str], None]) -> None:
    await make_webhooks(ctx, "b", 1, "p-b")
    log("(b) warm-up")
    await burst(ctx, "b", event_bodies("warm", 500, BATCH, project="p-b"), "/v1/events/batch", 1)
    for name, count in (("2k", sizes.small), ("10k", sizes.large)):
        log(f"(b) {count:,} events in batches of {BATCH} → one webhook")
        deferred = (await ctx.probe.metrics()).get(DEFERRED, 0.0)
        got = await burst(ctx, "b", event_bodies(f"b{name}", count, BATCH, project="p-b"), "/v1/events/batch", 1)
        figures.values[f"b.batch_{name}_dps"] = got.per_s
        figures.values[f"b.batch_{name}_deferred"] = (await ctx.probe.metrics()).get(DEFERRED, 0.0) - deferred
        _cpu(figures, f"b.batch_{name}", got)
    log(f"(b) {sizes.large:,} single posts, {ctx.concurrency} clients → one webhook")
    got = await burst(ctx, "b", event_bodies("bsingle", sizes.large, project="p-b"), "/v1/events", 1)
    figures.values["b.single_dps"] = got.per_s
    # Beside (not instead of) the ingest-only figure: here the same process also delivers every event.
    _cpu(figures, "b.single", got)
    figures.values["b.single_ingest_rps"] = got.load.requests_per_s


async def _ingest(ctx: Ctx, figures: Figures, sizes: Sizes, log: Callable[[str], None]) -> None:
    """Single-event ingest as the bare endpoint of (a) is measured: requests answered per second.

    The events belong to a project no webhook listens to, so every request is authenticated, decoded,
    checked, matched and committed, and nothing else competes for the gateway (deliveries are (b)).
    """
    log(f"(ingest) {sizes.ingest_posts:,} single posts matching no webhook, {ctx.concurrency} clients")
    await fire(
        ctx.gateway,
        "/v1/events",
        ctx.token,
        event_bodies("iwarm", 500, project="p-none"),
        concurrency=ctx.concurrency,
    )
    bodies = event_bodies("ingest", sizes.ingest_posts, project="p-none")
    load = await fire(ctx.gateway, "/v1/events", ctx.token, bodies, concurrency=ctx.concurrency)
    if load.errors or load.accepted_events != sizes.ingest_posts:
        raise BenchError(
            f"ingest: {load.accepted_events}/{sizes.ingest_posts} accepted; other answers {load.errors}"
        )
    figures.values["ingest.single_rps"] = load.requests_per_s
    figures.values["ingest.single_p50_ms"] = load.p(0.5)


async def _c(ctx: Ctx, figures: Figures, sizes: Sizes, log: Callable[[str], None]) -> None:
    await latency_pair(ctx, figures, "c", sizes, log)


async def _d(ctx: Ctx, figures: Figures, sizes: Sizes, log: Callable[[str], None]) -> None:
    await make_webhooks(ctx, "d", 100, "p-d")
    log(f"(d) fan-out: {sizes.fanout_events:,} events x 100 webhooks")
    bodies = event_bodies("d", sizes.fanout_events, BATCH, project="p-d")
    got = await burst(ctx, "d", bodies, "/v1/events/batch", 100)
    figures.values["d.fanout_dps"] = got.per_s
    _cpu(figures, "d.fanout", got)


def _cpu(figures: Figures, key: str, got: Burst) -> None:
    """The gateway's CPU µs per delivery (CPU ms per 1,000) of one burst, when it could be read."""
    if got.cpu_ms_per_delivery is not None:
        figures.values[f"{key}_cpu_us_per_dlv"] = got.cpu_ms_per_delivery * 1000.0


async def _e(ctx: Ctx, figures: Figures, sizes: Sizes, log: Callable[[str], None]) -> None:
    await make_webhooks(ctx, "e", 1, "p-e")
    log(f"(e) ingest p50 with 1 webhook for the project ({sizes.ingest_probe} sequential posts)")
    figures.values["e.p50_ms_1"] = await _ingest_p50(ctx, "e1", sizes.ingest_probe)
    log(f"(e) creating {sizes.many - 1:,} more webhooks in the company (other projects)")
    others = [f"p-e-{i}" for i in range(sizes.many - 1)]
    await make_webhooks(ctx, "eo", sizes.many - 1, "", projects=others)
    log(f"(e) ingest p50 with {sizes.many:,} webhooks in the company")
    figures.values["e.p50_ms_many"] = await _ingest_p50(ctx, "e2", sizes.ingest_probe)


async def _ingest_p50(ctx: Ctx, prefix: str, count: int) -> float:
    """Median latency of ``count`` single posts sent one after another, each matching one webhook."""
    load = await fire(
        ctx.gateway, "/v1/events", ctx.token, event_bodies(prefix, count, project="p-e"), concurrency=1
    )
    return load.p(0.5)
