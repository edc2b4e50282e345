"""The adaptive concurrency limit: grows while latency holds, backs off on overload, stays in its bounds."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.core.policy import Failure, FailureKind
from gateway.delivery.adaptive import AdaptiveLimit, AdaptiveLimits, LimitConfig, LoopLag, overloaded
from gateway.delivery.sender import SendResult


def answers(limit: AdaptiveLimit, seconds: float, count: int, *, start: float = 0.0, busy: bool = True) -> float:
    """``count`` successful answers of ``seconds`` each, the limit fully used (``busy``) or barely."""
    now = start
    for _ in range(count):
        now += seconds / max(1, limit.cap)
        limit.observe(seconds, overload=False, in_flight=limit.cap if busy else 1, now=now)
    return now


def test_a_fast_steady_endpoint_grows_to_the_maximum() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=128, initial=4))
    assert limit.cap == 4
    answers(limit, 0.005, 50)
    after_50 = limit.cap
    answers(limit, 0.005, 500)
    assert 4 < after_50 < 128, "it grows step by step, not at once"
    assert limit.cap == 128


def test_it_does_not_grow_past_what_it_uses() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=128, initial=8))
    answers(limit, 0.005, 500, busy=False)
    assert limit.cap == 8


def test_rising_latency_stops_the_growth_without_shrinking_the_limit() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=256, initial=4))
    answers(limit, 0.01, 40)
    grown = limit.limit
    assert 4 < grown < 256
    answers(limit, 0.2, 100, start=100.0)  # twenty times slower: the endpoint (or our own loop) is queueing
    assert limit.limit == grown
    # Held long enough, the slower latency becomes the usual one and growth resumes.
    answers(limit, 0.2, 400, start=200.0)
    assert limit.limit > grown


def test_a_backlog_expects_the_maximum_unless_the_endpoint_was_overloaded_lately() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=64, initial=8))
    assert limit.expected(now=0.0) == 64
    limit.observe(0.05, overload=True, in_flight=8, now=10.0)
    assert limit.expected(now=11.0) == limit.cap == 4
    assert limit.expected(now=41.0) == 64


def test_a_steadily_slow_endpoint_is_not_punished_for_its_latency_alone() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=64, initial=4))
    answers(limit, 1.0, 300)
    assert limit.cap == 64


@pytest.mark.parametrize(
    "result",
    [
        SendResult(None, {}, b"", 15000.0, Failure(FailureKind.TIMEOUT)),
        SendResult(None, {}, b"", 1.0, Failure(FailureKind.CONNECTION, "refused")),
        SendResult(429, {}, b"", 3.0),
        SendResult(503, {}, b"", 3.0),
    ],
)
def test_timeouts_refusals_429_and_5xx_are_overload(result: SendResult) -> None:
    assert overloaded(result)


@pytest.mark.parametrize("status", [200, 204, 400, 404, 410])
def test_other_answers_are_not_overload(status: int) -> None:
    assert not overloaded(SendResult(status, {}, b"", 3.0))


def test_overload_halves_the_limit_once_per_round_trip_down_to_the_minimum() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=64, minimum=2, initial=4))
    now = answers(limit, 0.1, 300)
    assert limit.cap == 64
    # A whole round of answers reports the same overload: one halving for it.
    for i in range(10):
        limit.observe(0.1, overload=True, in_flight=64, now=now + i * 0.001)
    assert limit.cap == 32
    # Overload round after round: down to the minimum, never below.
    for i in range(1, 20):
        limit.observe(0.1, overload=True, in_flight=limit.cap, now=now + i * 1.0)
    assert limit.cap == 2
    assert limit.overloads == 29


def test_an_endpoint_that_never_answers_never_grows() -> None:
    limit = AdaptiveLimit(LimitConfig(maximum=64, initial=8))
    for i in range(8):
        limit.observe(15.0, overload=True, in_flight=8, now=15.0 + i * 0.01)
    assert limit.cap == 1


def test_each_webhook_has_its_own_limit() -> None:
    limits = AdaptiveLimits(LimitConfig(maximum=32, initial=4))
    answers(limits.get("fast"), 0.005, 300)
    for i in range(5):
        limits.get("failing").observe(0.01, overload=True, in_flight=4, now=float(i))
    assert limits.cap("fast") == 32
    assert limits.cap("failing") == 1
    assert limits.cap("unknown") == 4
    assert limits.snapshot() == {"fast": 32, "failing": 1}


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="minimum"):
        LimitConfig(maximum=4, minimum=8)
    assert AdaptiveLimit(LimitConfig(maximum=4, initial=8)).cap == 4


async def test_loop_lag_is_how_late_a_busy_loop_runs_and_is_taken_off_the_http_time() -> None:
    lag = LoopLag(interval=0.01)
    lag.ensure_started()
    try:
        deadline = time.monotonic() + 10
        while lag.seconds < 0.01:  # the loop is kept busy 50 ms at a time: the ticker wakes ~40 ms late
            assert time.monotonic() < deadline, f"lag stayed at {lag.seconds:.4f}s"
            time.sleep(0.05)
            await asyncio.sleep(0.02)
        assert lag.discount(0.2) == pytest.approx(0.2 - lag.seconds)
        assert lag.discount(0.001) == 1e-4, "never below a tenth of a millisecond"
    finally:
        lag.stop()
