"""Which attempts make operational events, on plain records: one generation deep, never about listen sessions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.core.policy import (
    DeliveryStatus,
    Failure,
    FailureKind,
    Health,
    HealthChange,
    HealthStatus,
    Outcome,
    OutcomeKind,
    Transition,
)
from gateway.delivery.ledger import AttemptRecord, Claim, HealthEvent
from gateway.delivery.operational import notices_of


def record(event: str, outcome: Outcome, status: DeliveryStatus, **options: Any) -> AttemptRecord:
    row = SimpleNamespace(
        id="wh_1",
        uid="u" * 32,
        company_id="acme",
        name="n",
        connector="webhook",
        url="https://example.com/h",
        project_ids=[],
        options=options,
    )
    claim = Claim("dlv_1", 5, "msg_1", event, {}, row, event_id="evt_1", created_at=0.0)
    return AttemptRecord(claim, "wh_1", 0.0, None, outcome, Transition(status), delete_on_gone=False)


TEMPLATE = Failure(FailureKind.TEMPLATE_ERROR, "line 1").outcome()
EXHAUSTED = Outcome(OutcomeKind.RETRY, reason="http 500")
UNHEALTHY = Health(failures=5, failing_since=0.0, status=HealthStatus.UNHEALTHY)


@pytest.mark.parametrize(
    ("outcome", "status", "names"),
    [
        (TEMPLATE, DeliveryStatus.FAILED, ["gateway.template.error"]),
        (EXHAUSTED, DeliveryStatus.FAILED, ["gateway.delivery.exhausted"]),
        (EXHAUSTED, DeliveryStatus.PENDING, []),  # retried later: not exhausted
        (Outcome(OutcomeKind.FAIL, reason="ssrf: private"), DeliveryStatus.FAILED, []),
        (Outcome(OutcomeKind.DELIVERED), DeliveryStatus.DELIVERED, []),
    ],
)
def test_exhausted_deliveries_and_template_errors_are_reported(
    outcome: Outcome, status: DeliveryStatus, names: list[str]
) -> None:
    attempt = record("TODO_CREATED", outcome, status)
    assert [n.name for n in notices_of([attempt], [])] == names


def test_a_health_change_is_reported_with_the_attempt_that_made_it() -> None:
    attempt = record("TODO_CREATED", EXHAUSTED, DeliveryStatus.PENDING)
    (notice,) = notices_of([attempt], [HealthEvent(attempt, HealthChange.UNHEALTHY, UNHEALTHY)])
    assert notice.name == "gateway.webhook.unhealthy"
    assert notice.current["health"]["consecutiveFailures"] == 5
    assert notice.current["delivery"] == {
        "id": "dlv_1",
        "messageId": "msg_1",
        "event": "TODO_CREATED",
        "attempt": 5,
        "status": "pending",
        "error": "http 500",
    }


@pytest.mark.parametrize(
    ("event", "options"),
    [("gateway.webhook.unhealthy", {}), ("TODO_CREATED", {"_listen": True})],
    ids=["an operational event's delivery", "a listen session's delivery"],
)
def test_some_attempts_report_nothing_at_all(event: str, options: dict[str, Any]) -> None:
    records = [
        record(event, TEMPLATE, DeliveryStatus.FAILED, **options),
        record(event, EXHAUSTED, DeliveryStatus.FAILED, **options),
    ]
    changes = [HealthEvent(records[1], HealthChange.UNHEALTHY, UNHEALTHY)]
    assert notices_of(records, changes) == []
