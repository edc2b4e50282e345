"""Scenario (f), isolation: do a few bad endpoints slow down the healthy ones on the same gateway?

On one fresh embedded gateway, three bursts of ``events`` events (batches of 100), each in its own
project, timed until the healthy endpoints have every delivery:

- **reference**: 10 webhooks, all answering at once;
- **slow**: 9 healthy webhooks and one (10 %) whose endpoint answers after a second;
- **hang**: 9 healthy webhooks and one whose endpoint never answers (its attempts time out).

The bad endpoints live on a second receiver (another host:port), as a tenant's broken server would,
so they do not share the healthy endpoints' connection pool. Each burst's healthy deliveries/s is
compared with the reference's. The slow backlog is still draining while the hang burst runs, so
that burst has both bad neighbours.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.embedded import Sizes, gateway_ctx
from bench.figures import Figures
from bench.load import event_bodies
from bench.procs import Processes
from bench.scenarios import BATCH, burst, make_webhooks

__all__ = ["run_isolation"]


async def run_isolation(
    procs: Processes,
    receiver: str,
    bad: str,
    figures: Figures,
    sizes: Sizes,
    *,
    concurrency: int,
    timeout: float,
    overrides: dict[str, str],
    log: Callable[[str], None],
) -> None:
    """(f) on a fresh gateway: the reference burst, then with a slow neighbour, then with a hanging one."""
    log("(f) starting a fresh embedded gateway")
    gateway, token = procs.start_gateway(overrides, name="isolation")
    try:
        async with gateway_ctx(gateway, token, receiver, concurrency, timeout) as ctx:
            n = sizes.isolation_events
            await make_webhooks(ctx, "fref", 10, "p-fref")
            log(f"(f) warm-up, then reference: {n:,} events x 10 healthy webhooks")
            await burst(ctx, "fref", event_bodies("fw", 200, BATCH, project="p-fref"), "/v1/events/batch", 10)
            ref = await burst(
                ctx, "fref", event_bodies("fref", n, BATCH, project="p-fref"), "/v1/events/batch", 10
            )
            figures.values["f.reference_dps"] = ref.per_s
            for kind in ("slow", "hang"):
                group = f"f{kind}"
                await make_webhooks(ctx, group, 9, f"p-{group}")
                await make_webhooks(ctx, kind, 1, f"p-{group}", url=bad)
                log(f"(f) {n:,} events x (9 healthy + 1 {kind}) webhooks")
                got = await burst(
                    ctx, group, event_bodies(group, n, BATCH, project=f"p-{group}"), "/v1/events/batch", 9
                )
                figures.values[f"f.{kind}_healthy_dps"] = got.per_s
    finally:
        procs.stop("isolation", grace=2.0)
