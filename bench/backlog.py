"""Scenario (h): the gateway's peak resident memory while it holds a large backlog of pending deliveries.

Ten webhooks point at an endpoint that never answers; ``pending / 10`` events (batches of 100) give
each of them ``pending / 10`` deliveries, nearly all of which stay pending (a few are in flight,
waiting for their attempt to time out). The figure is ``VmHWM``, the process's peak RSS since it started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench.embedded import Sizes, gateway_ctx
from bench.figures import Figures
from bench.load import event_bodies, fire
from bench.procs import BenchError, Processes, read_memory
from bench.scenarios import make_webhooks

__all__ = ["run_backlog"]

SETTLE_S = 3.0  # after the last ingest, for the engine to pick up what it will hold


async def run_backlog(
    procs: Processes,
    bad: str,
    figures: Figures,
    sizes: Sizes,
    *,
    timeout: float,
    overrides: dict[str, str],
    log: Callable[[str], None],
) -> None:
    """(h) on a fresh gateway."""
    log(f"(h) fresh embedded gateway; {sizes.pending:,} pending deliveries to 10 never-answering endpoints")
    gateway, token = procs.start_gateway(overrides, name="backlog")
    pid = procs.gateway_pid
    try:
        async with gateway_ctx(gateway, token, bad, 8, timeout) as ctx:
            await make_webhooks(ctx, "hang", 10, "p-h")
            events = sizes.pending // 10
            bodies = event_bodies("h", events, 100, project="p-h")
            load = await fire(gateway, "/v1/events/batch", token, bodies, concurrency=4)
            if load.errors or load.accepted_events != events:
                raise BenchError(f"(h): {load.accepted_events}/{events} events accepted; {load.errors}")
            await asyncio.sleep(SETTLE_S)
            memory = read_memory(pid)
            if memory is not None:
                figures.values["h.peak_rss_mb"] = memory.hwm_mib * 1.048576  # MiB → MB
                figures.notes["h"] = f"{memory} after {events:,} events x 10 webhooks"
    finally:
        procs.stop("backlog", grace=2.0)
