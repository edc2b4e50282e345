"""Scenario (g): PostgreSQL + Redis, ``serve --no-worker`` and two ``blue-gateway worker`` processes.

A fresh PostgreSQL database (dropped at the end) on the local server, and Redis database 13 (emptied
first) as the broker, so that nothing is shared with tests running beside the bench. It runs (b)'s
batched burst and (c)'s latency pair again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis

from bench.embedded import Sizes, gateway_ctx, latency_pair
from bench.figures import Figures
from bench.load import event_bodies
from bench.procs import Processes
from bench.scenarios import BATCH, burst, make_webhooks

__all__ = ["run_distributed"]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/13"


async def run_distributed(
    procs: Processes,
    receiver: str,
    figures: Figures,
    sizes: Sizes,
    *,
    concurrency: int,
    timeout: float,
    overrides: dict[str, str],
    log: Callable[[str], None],
) -> None:
    """(g) on a fresh PostgreSQL database and an emptied Redis database."""
    name = f"blue_gateway_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    client = aioredis.from_url(REDIS)
    await client.flushdb()
    await client.aclose()
    env = {
        **overrides,
        "BLUE_GATEWAY_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "BLUE_GATEWAY_BROKER_URL": REDIS,
        "BLUE_GATEWAY_SECRET_KEY": secrets.token_urlsafe(32),
    }
    try:
        log(f"(g) PostgreSQL ({name}) + Redis: serve --no-worker and 2 workers")
        gateway, token = procs.start_gateway(env, name="pg-serve", no_worker=True)
        worker_env = procs.gateway_env("pg-serve", env)
        procs.start_worker("pg-worker-1", worker_env)
        procs.start_worker("pg-worker-2", worker_env)
        async with gateway_ctx(gateway, token, receiver, concurrency, timeout) as ctx:
            await make_webhooks(ctx, "g", 1, "p-g")
            log("(g) warm-up")
            await burst(ctx, "g", event_bodies("gw", 500, BATCH, project="p-g"), "/v1/events/batch", 1)
            log(f"(g) {sizes.pg_events:,} events in batches of {BATCH} → one webhook")
            got = await burst(
                ctx, "g", event_bodies("g", sizes.pg_events, BATCH, project="p-g"), "/v1/events/batch", 1
            )
            figures.values["g.batch_dps"] = got.per_s
            await latency_pair(ctx, figures, "gc", sizes, log)
    finally:
        for proc in ("pg-worker-2", "pg-worker-1", "pg-serve"):
            procs.stop(proc, grace=5.0)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
