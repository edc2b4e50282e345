"""Attempt telemetry on plain data: the log line's level and masking, and the metrics each attempt moves."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from gateway.core.policy import (
    DeliveryStatus,
    DisableReason,
    Failure,
    FailureKind,
    Health,
    HealthChange,
    Outcome,
    OutcomeKind,
    Transition,
)
from gateway.delivery.ledger import AttemptRecord, Claim, HealthEvent
from gateway.delivery.sender import SendResult
from gateway.delivery.telemetry import ATTEMPT_LOG_KEYS, DeliveryTelemetry
from gateway.logs import configure_logging
from gateway.metrics import GatewayMetrics
from tests.scrape import sample

URL = "https://hooks.example.com/services/T000/B000/very-secret-token"
ROW = SimpleNamespace(connector="slack", url=URL, company_id="acme")
CREATED = 1_000_000.0


pytestmark = pytest.mark.usefixtures("restored_logging")


def _record(outcome: Outcome, result: SendResult | None, status: DeliveryStatus) -> AttemptRecord:
    claim = Claim("dlv_1", 2, "msg_1", "TODO_CREATED", {}, ROW, event_id="evt_1", created_at=CREATED)
    return AttemptRecord(claim, "wh_1", CREATED + 1, result, outcome, Transition(status), False)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_a_delivered_attempt_is_one_info_line_and_moves_both_histograms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    metrics = GatewayMetrics(["slack"])
    telemetry = DeliveryTelemetry(metrics)
    record = _record(Outcome(OutcomeKind.DELIVERED), SendResult(200, {}, b"ok", 250.0), DeliveryStatus.DELIVERED)
    telemetry.attempt(record, ROW, CREATED + 3.0)
    (line,) = _lines(capsys)
    assert tuple(k for k in line if k not in ("ts", "level", "logger", "message")) == ATTEMPT_LOG_KEYS
    assert (line["level"], line["status"], line["ms"], line["next"]) == ("INFO", 200, 250.0, "delivered")
    text = metrics.render().decode()
    assert sample(text, "blue_gateway_attempt_duration_seconds_count", connector="slack") == 1
    assert sample(text, "blue_gateway_attempt_duration_seconds_sum", connector="slack") == 0.25
    assert sample(text, "blue_gateway_attempt_duration_seconds_bucket", connector="slack", le="0.1") == 0
    assert sample(text, "blue_gateway_attempt_duration_seconds_bucket", connector="slack", le="0.25") == 1
    assert sample(text, "blue_gateway_delivery_latency_seconds_sum", connector="slack") == 3.0
    assert sample(text, "blue_gateway_delivery_outcomes_total", connector="slack", outcome="delivered") == 1


def test_a_template_error_is_a_warning_counted_by_reason_without_an_http_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("WARNING", "json")
    metrics = GatewayMetrics(["slack"])
    outcome = Failure(FailureKind.TEMPLATE_ERROR, "line 1: 'count' is undefined").outcome()
    DeliveryTelemetry(metrics).attempt(_record(outcome, None, DeliveryStatus.FAILED), ROW, CREATED + 1)
    (line,) = _lines(capsys)  # shown even at WARNING: someone must fix the template
    assert (line["level"], line["reason"], line["status"], line["ms"]) == ("WARNING", "template_error", None, 0.0)
    text = metrics.render().decode()
    assert sample(text, "blue_gateway_delivery_failures_total", connector="slack", reason="template_error") == 1
    assert sample(text, "blue_gateway_delivery_outcomes_total", connector="slack", outcome="fail") == 1
    assert sample(text, "blue_gateway_attempt_duration_seconds_count", connector="slack") == 0


def test_at_warning_a_retried_attempt_is_counted_but_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    metrics = GatewayMetrics(["slack"])
    record = _record(
        Outcome(OutcomeKind.RETRY, reason="HTTP 503"), SendResult(503, {}, b"", 5.0), DeliveryStatus.PENDING
    )
    DeliveryTelemetry(metrics).attempt(record, ROW, CREATED + 1)
    assert capsys.readouterr().err == ""
    text = metrics.render().decode()
    assert sample(text, "blue_gateway_delivery_failures_total", connector="slack", reason="http_status") == 1


def test_the_webhook_url_never_reaches_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    failure = Failure(FailureKind.PROTOCOL, f"InvalidURL: {URL}")
    record = _record(failure.outcome(), SendResult(None, {}, b"", 1.0, failure), DeliveryStatus.PENDING)
    DeliveryTelemetry(GatewayMetrics(["slack"])).attempt(record, ROW, CREATED + 1)
    err = capsys.readouterr().err
    assert "very-secret-token" not in err
    assert "InvalidURL: <webhook url>" in err


def test_a_disabled_webhook_is_one_warning_and_counted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    metrics = GatewayMetrics(["slack"])
    record = _record(Outcome(OutcomeKind.GONE), SendResult(410, {}, b"", 3.0), DeliveryStatus.DISCARDED)
    health = Health(failures=1, failing_since=CREATED, disabled=DisableReason.GONE)
    DeliveryTelemetry(metrics).health_changed(HealthEvent(record, HealthChange.DISABLED, health))
    (line,) = _lines(capsys)
    assert {k: line[k] for k in ("level", "message", "webhook", "company", "change", "disabled_reason")} == {
        "level": "WARNING",
        "message": "webhook disabled",
        "webhook": "wh_1",
        "company": "acme",
        "change": "disabled",
        "disabled_reason": "gone",
    }
    text = metrics.render().decode()
    assert sample(text, "blue_gateway_webhook_health_changes_total", change="disabled") == 1
    assert sample(text, "blue_gateway_webhook_health_changes_total", change="unhealthy") == 0
