"""What operators see of deliveries: one log line and a few metric updates per attempt, one per health change.

Kept cheap, because it runs on every attempt: metric children are looked up once per connector, and the
log line is built only when its level is enabled.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from prometheus_client.metrics import Counter, Histogram

from gateway.core.policy import FailureKind, HealthChange, OutcomeKind
from gateway.delivery.ledger import AttemptRecord, HealthEvent
from gateway.logs import log_event
from gateway.metrics import GatewayMetrics

__all__ = ["ATTEMPT_LOG_KEYS", "ERROR_LOG_CHARS", "DeliveryTelemetry"]

log = logging.getLogger("gateway.delivery")

ATTEMPT_LOG_KEYS: Final = (
    "delivery", "webhook", "company", "event", "event_type", "connector", "attempt",
    "status", "outcome", "reason", "next", "ms", "error",
)  # fmt: skip
"""The keys of the ``delivery attempt`` line, in order (documented in docs/operations.md)."""
ERROR_LOG_CHARS: Final = 300
# Failures someone must fix (the tenant's template, the operator's key or plugins): logged as warnings.
_WARN: Final = frozenset(
    {
        FailureKind.TEMPLATE_ERROR,
        FailureKind.CONNECTOR_ERROR,
        FailureKind.CONNECTOR_UNAVAILABLE,
        FailureKind.SECRET_UNREADABLE,
    }
)
_HEALTH_MESSAGES: Final = {
    HealthChange.UNHEALTHY: (logging.WARNING, "webhook turned unhealthy"),
    HealthChange.DISABLED: (logging.WARNING, "webhook disabled"),
    HealthChange.RECOVERED: (logging.INFO, "webhook healthy again"),
}


class _ConnectorMetrics:
    """The labelled children of one connector, resolved once."""

    def __init__(self, metrics: GatewayMetrics, connector: str) -> None:
        self.attempt_seconds: Histogram = metrics.attempt_seconds.labels(connector)
        self.latency: Histogram = metrics.latency.labels(connector)
        self.outcomes: dict[OutcomeKind, Counter] = {
            k: metrics.outcomes.labels(connector, k.value) for k in OutcomeKind
        }
        self._failures, self._connector = metrics.failures, connector
        self.failures: dict[FailureKind, Counter] = {}

    def failure(self, kind: FailureKind) -> Counter:
        child = self.failures.get(kind)
        if child is None:
            child = self.failures[kind] = self._failures.labels(self._connector, kind.value)
        return child


class DeliveryTelemetry:
    """Feeds the process's metrics and logs from the engine's attempts and the ledger's health changes."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        self._connectors: dict[str, _ConnectorMetrics] = {}
        self._health = {change: metrics.health_changes.labels(change.value) for change in HealthChange}

    def _for(self, connector: str) -> _ConnectorMetrics:
        found = self._connectors.get(connector)
        if found is None:
            found = self._connectors[connector] = _ConnectorMetrics(self.metrics, connector)
        return found

    def attempt(self, record: AttemptRecord, row: Any, finished: float) -> None:
        """One attempt of ``row``'s delivery ended at ``finished`` (Unix seconds)."""
        outcome, result, claim = record.outcome, record.result, record.claim
        children = self._for(row.connector)
        children.outcomes[outcome.kind].inc()
        if result is not None:
            children.attempt_seconds.observe(result.duration_ms / 1000.0)
        if outcome.kind is OutcomeKind.DELIVERED:
            children.latency.observe(max(0.0, finished - claim.created_at))
        elif outcome.failure is not None:
            children.failure(outcome.failure).inc()
        severity = logging.WARNING if outcome.failure in _WARN else logging.INFO
        if not log.isEnabledFor(severity):
            return
        error = record.error
        if error is not None:
            # An endpoint's URL may carry a credential (Slack, Discord, Zapier hooks): never in the logs.
            error = error.replace(row.url, "<webhook url>")[:ERROR_LOG_CHARS]
        log_event(
            log,
            "delivery attempt",
            severity=severity,
            delivery=claim.delivery_id,
            webhook=record.webhook_id,
            company=row.company_id,
            event=claim.event_id,
            event_type=claim.event_name,
            connector=row.connector,
            attempt=claim.n,
            status=result.status if result is not None else None,
            outcome=outcome.kind.value,
            reason=outcome.failure.value if outcome.failure is not None else None,
            next=record.transition.status.value,
            ms=round(result.duration_ms, 1) if result is not None else 0.0,
            error=error,
        )

    def health_changed(self, change: HealthEvent) -> None:
        """A webhook's health changed with an attempt just recorded."""
        self._health[change.change].inc()
        severity, message = _HEALTH_MESSAGES[change.change]
        health = change.health
        log_event(
            log,
            message,
            severity=severity,
            webhook=change.record.webhook_id,
            company=getattr(change.record.claim.webhook, "company_id", None),
            change=change.change.value,
            failures=health.failures,
            disabled_reason=health.disabled.value if health.disabled is not None else None,
        )
