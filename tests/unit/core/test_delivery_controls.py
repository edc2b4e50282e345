"""A webhook's delivery controls on plain data: bounds, its retry policy, the record an event is about."""

from __future__ import annotations

import random

import pytest

from gateway.core.delivery_controls import ControlBounds, ControlRefused, check_controls, policy_with, record_key
from gateway.core.policy import DeliveryPolicy, DeliveryStatus, Outcome, OutcomeKind, RetrySchedule

BOUNDS = ControlBounds(max_timeout=60, max_retries=3, max_retry_delay=3600, max_rate=100)
SERVER = DeliveryPolicy(schedule=RetrySchedule.parse("0,5s,5m,30m,2h"), disable_after=86400)
RETRY = Outcome(OutcomeKind.RETRY, reason="http 500")


@pytest.mark.parametrize(
    ("fields", "columns"),
    [
        ({"timeout": 60}, {"timeout": 60}),
        ({"retrySchedule": [0, 3600, 1]}, {"retry_schedule": [0.0, 3600.0, 1.0]}),
        ({"retrySchedule": []}, {"retry_schedule": []}),
        ({"maxRate": 0.5}, {"max_rate": 0.5}),
        ({"ordering": "fifo", "orderingKey": "record"}, {"ordering": "fifo", "ordering_key": "record"}),
        ({"orderingKey": "webhook"}, {"ordering_key": None}),
        ({"timeout": None, "maxRate": None}, {"timeout": None, "max_rate": None}),
        ({"name": "not a control"}, {}),
    ],
)
def test_controls_within_bounds_become_columns(fields: dict[str, object], columns: dict[str, object]) -> None:
    assert check_controls(fields, BOUNDS) == columns


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timeout": 60.5}, "timeout"),
        ({"retrySchedule": [1, 1, 1, 1]}, "retrySchedule"),
        ({"retrySchedule": [1, 3601]}, "retrySchedule[1]"),
        ({"maxRate": 100.1}, "maxRate"),
    ],
)
def test_controls_over_a_bound_name_their_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ControlRefused) as refused:
        check_controls(fields, BOUNDS)
    assert refused.value.field == field


def test_a_webhook_schedule_replaces_the_server_retries_only() -> None:
    assert policy_with(SERVER, None) is SERVER
    policy = policy_with(SERVER, [10.0, 20.0])
    assert policy.schedule.delays == [0.0, 10.0, 20.0] and policy.disable_after == SERVER.disable_after
    rng = random.Random(1)
    first = policy.next_state(1, RETRY, now=1000.0, rng=rng)
    assert first.status is DeliveryStatus.PENDING and first.next_at is not None
    assert 1008.0 <= first.next_at <= 1012.0  # 10 s ± 20 %
    assert policy.next_state(3, RETRY, now=1000.0).status is DeliveryStatus.FAILED
    assert policy_with(SERVER, []).next_state(1, RETRY, now=1000.0).status is DeliveryStatus.FAILED


@pytest.mark.parametrize(
    ("envelope", "key"),
    [
        ({"currentValue": {"id": "todo_1"}, "previousValue": {"id": "old"}}, "todo_1"),
        ({"currentValue": None, "previousValue": {"id": "todo_1"}}, "todo_1"),
        ({"currentValue": {"id": 42}}, "42"),
        ({"currentValue": {"title": "no id"}}, ""),
        ({"currentValue": ["not", "a", "record"]}, ""),
        ({}, ""),
        ({"currentValue": {"id": "x" * 500}}, "x" * 200),
    ],
)
def test_the_record_key_is_the_id_of_the_record_the_event_is_about(envelope: dict[str, object], key: str) -> None:
    assert record_key(envelope) == key
