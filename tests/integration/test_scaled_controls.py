"""Delivery controls scaled out: PostgreSQL, a shared broker, an API process and two worker processes.

The rate limit and the order must hold across processes: neither can rely on one process's memory.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from gateway.db.engine import make_engine
from gateway.db.groupcommit import GroupCommitter
from gateway.delivery.ratelimit import RateLimiter, RedisRateLimiter, SqlRateLimiter
from tests.conftest import GatewayFactory, Receiver, eventually, free_port
from tests.integration.services import BROKER_URLS, require, worker_process
from tests.integration.test_ordering import FlakyReceiver, _flaky, assert_in_order, post_in_order

pytestmark = pytest.mark.slow  # real worker processes; each test runs for tens of seconds


def _env(pg_url: str, broker: str, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": BROKER_URLS[broker],
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_SCHEDULER_INTERVAL": "0.2",
        "BLUE_GATEWAY_LOG_LEVEL": "WARNING",
        **{f"BLUE_GATEWAY_{name.upper()}": value for name, value in settings.items()},
    }


Workers = list[tuple[Popen[bytes], int, Path]]
StartWorkers = Callable[[dict[str, str]], Workers]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[StartWorkers]:
    """Start with ``start(env)``: two ``blue-gateway worker`` processes, each with its own metrics port."""
    stack = ExitStack()
    workers: Workers = []

    def start(env: dict[str, str]) -> Workers:
        for n in range(2):
            port, log = free_port(), tmp_path / f"worker{n}.log"
            proc = stack.enter_context(worker_process({**env, "BLUE_GATEWAY_WORKER_PORT": str(port)}, log))
            workers.append((proc, port, log))
        return workers

    with stack:
        yield start


async def _attempts_made(port: int) -> int:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    match = re.search(r"^blue_gateway_delivery_attempts_total (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
async def test_a_rate_of_5_per_second_holds_across_two_workers(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, two_workers: StartWorkers, broker: str
) -> None:
    """Redis keeps the limiter's state when it is the broker; with RabbitMQ, PostgreSQL does."""
    require(broker)
    workers = two_workers(_env(pg_url, broker))
    api = await gateway_factory(database_url=pg_url, broker_url=BROKER_URLS[broker], worker_mode=False)
    auth = await api.token()
    await api.webhook(auth, url=f"{receiver.url}/limited", maxRate=5, signing=[])
    for i in range(60):  # one broker message each, so that both workers take a share
        await api.event(auth, event="TODO_CREATED", currentValue={"id": f"t{i}"})

    await eventually(lambda: len({r.json()["currentValue"]["id"] for r in receiver.requests}) == 60, timeout=120)
    for proc, _, log in workers:
        assert proc.poll() is None, log.read_text()
    times = sorted(r.at for r in receiver.requests)
    assert len(times) == 60
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 4.5 <= rate <= 5.5, rate
    # Nowhere faster: any 21 requests in a row are spread over at least 3.6 s (at most 5.5 per second).
    tightest = min(b - a for a, b in zip(times, times[20:], strict=False))
    assert tightest >= 3.6, tightest
    made = [await _attempts_made(port) for _, port, _ in workers]
    assert sum(made) == 60 and min(made) >= 10, made  # both workers sent a fair share


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyReceiver]:
    async for receiver in _flaky(0.3):
        yield receiver


async def test_order_holds_across_two_workers_when_one_is_killed(
    pg_url: str, gateway_factory: GatewayFactory, flaky: FlakyReceiver, two_workers: StartWorkers
) -> None:
    require("redis")
    env = _env(pg_url, "redis", lease_seconds="2", attempt_timeout="2")
    workers = two_workers(env)
    api = await gateway_factory(
        database_url=pg_url, broker_url=BROKER_URLS["redis"], worker_mode=False, scheduler_interval=0.2
    )
    auth = await api.token()
    await api.webhook(
        auth, url=flaky.url, ordering="fifo", orderingKey="record", retrySchedule=[0.1] * 25, signing=[]
    )
    keys = [f"todo-{i}" for i in range(8)]
    await post_in_order(api, auth, keys, 25)

    await eventually(lambda: len(flaky.delivered()) >= 50, timeout=120)
    killed, _, _ = workers[0]
    killed.kill()  # mid-sequence: its claimed deliveries wait out their lease, and their successors with them
    await eventually(lambda: len(flaky.delivered()) == 200, timeout=240)
    survivor, _, log = workers[1]
    assert survivor.poll() is None, log.read_text()
    # A request the killed worker had sent may be sent again (at least once); the order still holds.
    assert_in_order(flaky.seen, keys, 25, exactly_once=False)


async def _book_from_two(limiters: list[RateLimiter]) -> list[float]:
    """Many concurrent bookings through two limiters (as two processes would make): every slot booked."""
    answers = await asyncio.gather(
        *(limiters[i % 2].book("wh_shared", 0.01, 30.0, wanted=1 + i % 3, lead=0.0) for i in range(60))
    )
    return sorted(slot for booking in answers for slot in booking.slots)


def _assert_disjoint(slots: list[float]) -> None:
    assert len(slots) == sum(1 + i % 3 for i in range(60))
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.01, abs=1e-6), min(gaps)  # no slot given out twice


async def test_two_database_limiters_never_book_the_same_slot(pg_url: str) -> None:
    engines = [make_engine(pg_url) for _ in range(2)]
    committers = [GroupCommitter(engine) for engine in engines]
    for committer in committers:
        committer.start()
    try:
        limiters = [SqlRateLimiter(c, engine=e) for c, e in zip(committers, engines, strict=True)]
        _assert_disjoint(await _book_from_two(list(limiters)))
    finally:
        for committer, engine in zip(committers, engines, strict=True):
            await committer.stop()
            await engine.dispose()


async def test_two_redis_limiters_never_book_the_same_slot() -> None:
    require("redis")
    prefix = f"bgtest_{secrets.token_hex(4)}"
    limiters = [RedisRateLimiter(BROKER_URLS["redis"], prefix) for _ in range(2)]
    try:
        _assert_disjoint(await _book_from_two(list(limiters)))
    finally:
        for limiter in limiters:
            await limiter.close()
