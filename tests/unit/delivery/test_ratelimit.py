"""The shared rate limiter on a real SQLite file, and the per-process gate in front of it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import make_engine
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import RateLimit
from gateway.delivery.ratelimit import RateGate, SqlRateLimiter


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path}/rate.db")
    async with eng.begin() as conn:
        await conn.run_sync(RateLimit.metadata.create_all, tables=[RateLimit.__table__])
    yield eng
    await eng.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_bookings_take_consecutive_slots_within_the_horizon(committer: GroupCommitter) -> None:
    clock = Clock()
    limiter = SqlRateLimiter(committer, clock)
    first = await limiter.book("wh_1", 0.1, 0.5, wanted=3, lead=0.0)
    assert first.slots == pytest.approx((1000.0, 1000.1, 1000.2))
    second = await limiter.book("wh_1", 0.1, 0.5, wanted=10, lead=0.0)
    assert second.slots == pytest.approx((1000.3, 1000.4, 1000.5))  # nothing past now + horizon
    refused = await limiter.book("wh_1", 0.1, 0.5, wanted=1, lead=0.0)
    assert refused.slots == () and refused.retry_at == pytest.approx(1000.1)  # when 1000.6 comes within reach
    other = await limiter.book("wh_2", 0.1, 0.5, wanted=1, lead=0.0)
    assert other.slots == (1000.0,)  # each webhook has its own slots
    clock.now = 2000.0  # idle for long: no credit is saved up, the next slot is now (plus the lead)
    assert (await limiter.book("wh_1", 0.1, 0.5, wanted=2, lead=0.05)).slots == pytest.approx((2000.05, 2000.15))


async def test_the_gate_spaces_concurrent_callers_and_hands_back_past_their_deadline(
    committer: GroupCommitter,
) -> None:
    gate = RateGate(SqlRateLimiter(committer))
    sent: list[float] = []

    async def deliver(deadline: float) -> float | None:
        handed_back = await gate.wait("wh_1", 20.0, deadline)
        if handed_back is None:
            await gate.space("wh_1", 20.0)
            sent.append(time.time())
        return handed_back

    now = time.time()
    results = await asyncio.gather(*(deliver(now + 10) for _ in range(12)), deliver(now + 0.2))
    assert results[:12] == [None] * 12
    late = results[12]
    assert late is not None and late > now + 0.2  # could not go by its deadline: handed back for later
    assert len(sent) == 12
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.05 * 0.9, gaps
    assert (len(sent) - 1) / (sent[-1] - sent[0]) <= 20 * 1.1
