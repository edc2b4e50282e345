"""The delivery policy: next state, retry delay, failure kinds and health folding, on plain data."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.policy import (
    MAX_RETRY_AFTER,
    DeliveryPolicy,
    DeliveryStatus,
    DisableReason,
    Failure,
    FailureKind,
    Health,
    HealthStatus,
    Outcome,
    OutcomeKind,
    RetrySchedule,
    Transition,
)

SCHEDULE = RetrySchedule.parse("0,5s,5m,30m,2h,5h,10h,10h")
DAY = 86400.0
POLICY = DeliveryPolicy(schedule=SCHEDULE, disable_after=5 * DAY)
NO_JITTER = DeliveryPolicy(schedule=RetrySchedule(SCHEDULE.delays, jitter=0.0), disable_after=5 * DAY)
NOW = 1_000_000.0

D, R, G, F = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.GONE, OutcomeKind.FAIL


@pytest.mark.parametrize(
    ("attempts_made", "outcome", "expected"),
    [
        (1, Outcome(D), Transition(DeliveryStatus.DELIVERED)),
        (1, Outcome(G, reason="gone"), Transition(DeliveryStatus.DISCARDED)),
        (1, Outcome(F, reason="slack 400 invalid_payload"), Transition(DeliveryStatus.FAILED)),
        (1, Outcome(R, reason="http 500"), Transition(DeliveryStatus.PENDING, NOW + 5)),
        (2, Outcome(R, reason="http 500"), Transition(DeliveryStatus.PENDING, NOW + 300)),
        (7, Outcome(R, reason="http 500"), Transition(DeliveryStatus.PENDING, NOW + 36000)),
        (8, Outcome(R, reason="http 500"), Transition(DeliveryStatus.FAILED)),  # the schedule is spent
        (8, Outcome(R, retry_after=10), Transition(DeliveryStatus.FAILED)),  # Retry-After does not add attempts
        (1, Outcome(R, retry_after=60), Transition(DeliveryStatus.PENDING, NOW + 60)),  # longer than 5 s
        (2, Outcome(R, retry_after=60), Transition(DeliveryStatus.PENDING, NOW + 300)),  # shorter than 5 min
        (1, Outcome(R, retry_after=10 * DAY), Transition(DeliveryStatus.PENDING, NOW + MAX_RETRY_AFTER)),
        (1, Failure(FailureKind.TIMEOUT).outcome(), Transition(DeliveryStatus.PENDING, NOW + 5)),
        (1, Failure(FailureKind.SSRF, "x").outcome(), Transition(DeliveryStatus.FAILED)),
        (1, Failure(FailureKind.TEMPLATE_ERROR, "x").outcome(), Transition(DeliveryStatus.FAILED)),
        (1, Failure(FailureKind.SECRET_UNREADABLE, "x").outcome(), Transition(DeliveryStatus.PENDING, NOW + 5)),
    ],
)
def test_next_state(attempts_made: int, outcome: Outcome, expected: Transition) -> None:
    assert NO_JITTER.next_state(attempts_made, outcome, NOW) == expected


@pytest.mark.parametrize(
    ("failure", "text", "retried"),
    [
        (Failure(FailureKind.TIMEOUT), "timeout", True),
        (Failure(FailureKind.CONNECTION, "[Errno 111] refused"), "connection error: [Errno 111] refused", True),
        (Failure(FailureKind.PROTOCOL, "ServerDisconnectedError: gone"), "ServerDisconnectedError: gone", True),
        (Failure(FailureKind.SSRF, "10.0.0.1 is private"), "ssrf: 10.0.0.1 is private", False),
        (Failure(FailureKind.TEMPLATE_ERROR, "template.body: boom"), "template_error: template.body: boom", False),
        (Failure(FailureKind.CONNECTOR_ERROR, "KeyError: 'x'"), "connector_error: KeyError: 'x'", False),
        (
            Failure(FailureKind.CONNECTOR_UNAVAILABLE, "'chat' is not loaded"),
            "connector_unavailable: 'chat' is not loaded",
            False,
        ),
        (Failure(FailureKind.SECRET_UNREADABLE, "wrong key"), "secret_unreadable: wrong key", True),
        (Failure(FailureKind.RENDER_UNAVAILABLE, "shut down"), "render_unavailable: shut down", True),
    ],
)
def test_a_failure_has_its_log_text_and_its_retry_rule(failure: Failure, text: str, retried: bool) -> None:
    outcome = failure.outcome()
    assert str(failure) == text
    assert outcome.reason == text
    assert outcome.failure is failure.kind
    assert outcome.kind is (OutcomeKind.RETRY if retried else OutcomeKind.FAIL)


@pytest.mark.parametrize(
    ("outcome", "failure"),
    [
        (Outcome(D), None),
        (Outcome(G, reason="zap turned off (410)"), FailureKind.GONE),
        (Outcome(R, reason="http 503"), FailureKind.HTTP_STATUS),
        (Outcome(F, reason="slack 400 no_text"), FailureKind.HTTP_STATUS),
        (Outcome(F, reason="x", failure=FailureKind.CONNECTOR_ERROR), FailureKind.CONNECTOR_ERROR),
    ],
)
def test_a_connector_verdict_gets_its_failure_kind(outcome: Outcome, failure: FailureKind | None) -> None:
    assert outcome.failure is failure


def _fold(kinds: str, *, start: Health | None = None, step: float = 60.0, delete_on_gone: bool = False) -> Health:
    """Fold ``kinds`` (D, R, G, F letters), one attempt every ``step`` seconds from ``NOW``."""
    health = start or Health()
    for i, letter in enumerate(kinds):
        kind = {"D": D, "R": R, "G": G, "F": F}[letter]
        health = POLICY.fold(health, kind, NOW + i * step, delete_on_gone=delete_on_gone)
    return health


@pytest.mark.parametrize(
    ("kinds", "failures", "status", "disabled"),
    [
        ("D", 0, HealthStatus.HEALTHY, None),
        ("R", 1, HealthStatus.HEALTHY, None),
        ("RRRR", 4, HealthStatus.HEALTHY, None),
        ("RRRRR", 5, HealthStatus.UNHEALTHY, None),  # UNHEALTHY after five consecutive failures
        ("RRFRR", 5, HealthStatus.UNHEALTHY, None),  # a failed delivery's attempt counts too
        ("RRRRRD", 0, HealthStatus.HEALTHY, None),  # HEALTHY again after a success
        ("RRRRDRRRR", 4, HealthStatus.HEALTHY, None),  # the count restarts after a success
        ("RG", 2, HealthStatus.HEALTHY, DisableReason.GONE),
        ("GD", 1, HealthStatus.HEALTHY, DisableReason.GONE),  # nothing folds into a disabled webhook
    ],
)
def test_health_folds_outcomes_in_order(
    kinds: str, failures: int, status: HealthStatus, disabled: DisableReason | None
) -> None:
    health = _fold(kinds)
    assert (health.failures, health.status, health.disabled, health.deleted) == (failures, status, disabled, False)


def test_failing_for_the_disable_window_disables() -> None:
    assert _fold("RR", step=5 * DAY - 1).disabled is None
    health = _fold("RR", step=5 * DAY)
    assert health.disabled is DisableReason.FAILING
    assert health.failing_since == NOW


def test_the_disable_window_counts_from_the_first_failure_since_the_last_success() -> None:
    earlier = Health(failures=3, failing_since=NOW - 5 * DAY)
    assert POLICY.fold(earlier, R, NOW).disabled is DisableReason.FAILING
    assert POLICY.fold(POLICY.fold(earlier, D, NOW), R, NOW + 1).disabled is None


def test_a_success_records_when_it_happened() -> None:
    health = _fold("DR")
    assert health.last_success_at == NOW
    assert health.failing_since == NOW + 60


def test_a_gone_subscription_is_deleted_without_counting_a_failure() -> None:
    health = _fold("RG", delete_on_gone=True)
    assert (health.deleted, health.disabled, health.failures) == (True, DisableReason.GONE, 1)


@given(attempts=st.integers(0, len(SCHEDULE.delays) - 1), seed=st.integers(0, 2**32))
def test_the_delay_stays_within_twenty_percent_of_the_schedule(attempts: int, seed: int) -> None:
    base = SCHEDULE.delays[attempts]
    delay = POLICY.retry_delay(attempts, rng=random.Random(seed))
    assert delay is not None
    assert 0.8 * base <= delay <= 1.2 * base


@given(
    attempts=st.integers(0, len(SCHEDULE.delays) - 1),
    retry_after=st.floats(0, 30 * DAY, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_the_delay_honours_retry_after_up_to_its_cap(attempts: int, retry_after: float, seed: int) -> None:
    base = SCHEDULE.delays[attempts]
    delay = POLICY.retry_delay(attempts, retry_after, rng=random.Random(seed))
    assert delay is not None
    assert delay >= min(retry_after, MAX_RETRY_AFTER)
    assert delay <= max(1.2 * base, MAX_RETRY_AFTER)


@given(attempts=st.integers(len(SCHEDULE.delays), 100), retry_after=st.none() | st.floats(0, DAY))
def test_a_spent_schedule_fails_the_delivery(attempts: int, retry_after: float | None) -> None:
    outcome = Outcome(R, retry_after=retry_after)
    assert POLICY.next_state(attempts, outcome, NOW) == Transition(DeliveryStatus.FAILED)


@given(st.lists(st.sampled_from([D, R, F]), max_size=40))
def test_health_is_unhealthy_exactly_after_five_failures_in_a_row(kinds: list[OutcomeKind]) -> None:
    health, streak = Health(), 0
    for i, kind in enumerate(kinds):
        health = POLICY.fold(health, kind, NOW + i)
        streak = 0 if kind is D else streak + 1
        assert health.failures == streak
        assert health.status is (HealthStatus.UNHEALTHY if streak >= 5 else HealthStatus.HEALTHY)
        assert health.disabled is None  # forty seconds are far inside the disable window
