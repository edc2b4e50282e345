"""Pacing decides from measured HTTP time which deliveries queue in memory and which wait in the database."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest

from gateway.delivery.lanes import Lane, Pacing


def full_lane(cap: int, waiting: int, *, stalled: float = 0.0) -> Lane:
    """A lane with every slot taken, ``waiting`` deliveries queued and no turn for ``stalled`` seconds."""
    lane = Lane()
    lane.active = cap
    loop = asyncio.new_event_loop()
    try:
        lane.waiting.extend(loop.create_future() for _ in range(waiting))
    finally:
        loop.close()
    lane.last_turn = time.monotonic() - stalled
    return lane


def test_a_fast_endpoint_backlog_stays_in_memory_however_long_the_lane_stalls() -> None:
    pacing = Pacing(30.0)
    pacing.note("w", 0.004)
    # 10,000 queued at 4 ms over 32 slots drain in 1.25 s; a 2 s stall (the loop busy ingesting) must not
    # count as the endpoint's pace.
    assert pacing.defer_until("w", full_lane(32, 10_000, stalled=2.0), 32, now=1000.0) is None


def test_before_the_first_answer_a_stalled_full_lane_stands_in_for_the_pace() -> None:
    pacing = Pacing(2.0)
    assert pacing.defer_until("w", full_lane(2, 2, stalled=0.1), 2, now=0.0) is None
    until = pacing.defer_until("w", full_lane(2, 2, stalled=1.5), 2, now=0.0)
    assert until is not None and 1.0 < until <= 2.0


def test_a_slow_backlog_is_booked_at_the_rate_the_lane_drains() -> None:
    pacing = Pacing(30.0)
    pacing.note("w", 1.0)
    lane = full_lane(4, 64)  # 64 / 4 x 1 s = 16 s: past half the reservation
    times = [pacing.defer_until("w", lane, 4, now=100.0) for _ in range(8)]
    assert times[0] == pytest.approx(116.25)
    gaps = [b - a for a, b in itertools.pairwise(times) if a is not None and b is not None]
    assert gaps == pytest.approx([0.25] * 7), "each deferred delivery books a quarter second of four slots"


def test_no_delivery_is_deferred_past_one_reservation_and_the_overflow_is_spread() -> None:
    pacing = Pacing(30.0, rng=random.Random(7))
    pacing.note("w", 15.0)  # an endpoint that times out
    lane = full_lane(32, 1000)
    times = [pacing.defer_until("w", lane, 32, now=0.0) for _ in range(200)]
    assert all(t is not None and 15.0 <= t <= 30.0 for t in times)
    assert len({round(t or 0, 3) for t in times}) > 150, "wake-up times are spread, not all at once"


def test_an_unanswered_endpoint_with_room_in_its_lane_is_never_deferred() -> None:
    pacing = Pacing(30.0)
    assert pacing.defer_until("w", Lane(), 32, now=0.0) is None
