"""The per-company ingest quota: a token bucket per company, all or nothing per request."""

from __future__ import annotations

import pytest

from gateway.core.quota import PRUNE_ABOVE, IngestQuota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_off_when_the_rate_is_zero() -> None:
    quota = IngestQuota(0, 10)
    assert not quota.enabled
    assert all(quota.take("a", 500) == 0.0 for _ in range(100))


def test_a_burst_then_the_rate_with_the_wait_until_enough_events_are_allowed() -> None:
    clock = Clock()
    quota = IngestQuota(10, 20, clock)
    assert quota.take("a", 20) == 0.0
    assert quota.take("a", 1) == pytest.approx(0.1)
    assert quota.take("a", 5) == pytest.approx(0.5)
    clock.now += 0.5
    assert quota.take("a", 5) == 0.0
    clock.now += 1000
    assert quota.take("a", 21) == pytest.approx(0.1)  # never more than the burst stored up


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    quota = IngestQuota(10, 20, clock)
    assert quota.take("a", 15) == 0.0
    assert quota.take("a", 10) > 0  # 5 left: refused whole
    assert quota.take("a", 5) == 0.0  # the 5 are still there


def test_one_company_over_its_quota_leaves_the_others_alone() -> None:
    clock = Clock()
    quota = IngestQuota(1, 5, clock)
    assert quota.take("flood", 5) == 0.0
    assert all(quota.take("flood") > 0 for _ in range(1000))
    assert [quota.take(c) for c in ("b", "c", "d")] == [0.0, 0.0, 0.0]


def test_idle_companies_are_forgotten_once_there_are_many() -> None:
    clock = Clock()
    quota = IngestQuota(100, 10, clock)
    for i in range(PRUNE_ABOVE):
        quota.take(f"c{i}")
    clock.now += 1  # every bucket refilled
    quota.take("busy", 10)
    quota.take("last")
    assert len(quota._buckets) <= 2
    assert quota.take("busy") > 0  # a company still below its burst was kept
