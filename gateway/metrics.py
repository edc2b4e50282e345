"""Prometheus metrics of one process: what the engine observes as it works, and what is read when scraped.

Each runtime has its own registry, so two gateways in one process (tests) never mix their numbers. Labels
are bounded: connector names (those loaded), outcome and failure enums, health changes, table and backlog
state names; never a webhook, company or URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.core.policy import HealthChange, OutcomeKind

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["ATTEMPT_BUCKETS", "CONTENT_TYPE", "LATENCY_BUCKETS", "GatewayMetrics", "RuntimeCollector"]

CONTENT_TYPE: Final = prometheus_client.CONTENT_TYPE_PLAIN_0_0_4
# `_created` series double every counter and histogram for a timestamp Prometheus reads from elsewhere.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

ATTEMPT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
"""Seconds of one HTTP attempt; the default attempt timeout is 15 s."""
LATENCY_BUCKETS: Final = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
    7200.0,
    36000.0,
    86400.0,
)
"""Seconds from an event's commit to its delivery: first attempts, then the retry schedule's steps."""


class GatewayMetrics:
    """The registry of one process and the metrics its engine feeds on every attempt."""

    def __init__(self, connectors: Iterable[str]) -> None:
        self.registry = CollectorRegistry()
        self.attempt_seconds = Histogram(
            "blue_gateway_attempt_duration_seconds",
            "Time of each HTTP request of a delivery attempt, by connector.",
            ["connector"],
            buckets=ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "blue_gateway_delivery_latency_seconds",
            "Time from an event's commit to its delivery (the attempt that delivered it), by connector.",
            ["connector"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "blue_gateway_delivery_outcomes_total",
            "Delivery attempts worked by this process, by connector and verdict.",
            ["connector", "outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "blue_gateway_delivery_failures_total",
            "Attempts that did not deliver, by connector and reason (timeout, http_status, template_error ...).",
            ["connector", "reason"],
            registry=self.registry,
        )
        self.health_changes = Counter(
            "blue_gateway_webhook_health_changes_total",
            "Webhooks that turned unhealthy, recovered or were disabled by this process's attempts.",
            ["change"],
            registry=self.registry,
        )
        for name in connectors:
            for kind in OutcomeKind:
                self.outcomes.labels(name, kind.value)
        for change in HealthChange:
            self.health_changes.labels(change.value)

    def render(self) -> bytes:
        """Everything in the registry, in the Prometheus text format (0.0.4)."""
        return prometheus_client.generate_latest(self.registry)


_Values = float | dict[str, int] | dict[str, float] | None


def _family(
    kind: type[CounterMetricFamily | GaugeMetricFamily], name: str, doc: str, values: _Values, label: str = ""
) -> Metric:
    """One family: a single value, one sample per ``label`` value, or (``None``) no sample yet."""
    family = kind(name, doc, labels=[label] if label else None)
    if isinstance(values, dict):
        for key, value in values.items():
            family.add_metric([key], value)
    elif values is not None:
        family.add_metric([], values)
    return family


class RuntimeCollector(Collector):
    """Counters the runtime keeps as plain numbers, and gauges counted in the background, read per scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[Metric]:
        """Nothing up front: the values exist only once the runtime runs."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families, each present on every scrape (the counted ones without samples until counted)."""
        runtime = self.runtime
        engine, ingestor, committer = runtime.engine, runtime.ingestor, runtime.committer
        held, backlog = runtime.held_rows.latest(), runtime.backlog.latest()
        counter, gauge = CounterMetricFamily, GaugeMetricFamily
        families: list[tuple[type[CounterMetricFamily | GaugeMetricFamily], str, str, _Values, str]] = [
            (counter, "blue_gateway_events_total", "Events received by this process, by result.",
             {"accepted": ingestor.counts["accepted"], "duplicate": ingestor.counts["duplicate"]}, "result"),
            (counter, "blue_gateway_deliveries_created_total",
             "Deliveries created by the events this process accepted.", ingestor.deliveries_created, ""),
            (counter, "blue_gateway_delivery_attempts_total",
             "HTTP requests sent by this process for deliveries.", engine.attempts_made, ""),
            (counter, "blue_gateway_deliveries_deferred_total",
             "Deliveries left in the database behind a slow endpoint.", engine.deferred, ""),
            (counter, "blue_gateway_deliveries_rate_handed_back_total",
             "Claimed deliveries put back to wait for their webhook's rate.", engine.controls.handed_back, ""),
            (counter, "blue_gateway_commit_batches_total",
             "Group-commit transactions written by this process.", committer.batches, ""),
            (counter, "blue_gateway_commit_ops_total",
             "Write operations carried by those transactions.", committer.ops, ""),
            (gauge, "blue_gateway_webhooks_indexed",
             "Enabled webhooks in this process's matching index.", len(runtime.index), ""),
            (gauge, "blue_gateway_retention_seconds",
             "How long finished deliveries, their attempts and events are kept.", runtime.settings.retention, ""),
            (gauge, "blue_gateway_rows_held", "Rows in the database by table, counted at most every 30 s.",
             held, "table"),
            (gauge, "blue_gateway_deliveries_backlog",
             "Unfinished deliveries in the database by state, counted at most every 5 s.",
             backlog.states if backlog is not None else None, "state"),
            (gauge, "blue_gateway_backlog_oldest_due_seconds",
             "How long the longest-waiting due delivery has waited past its attempt time (0: none waits).",
             backlog.oldest_due_seconds if backlog is not None else None, ""),
        ]  # fmt: skip
        for kind, name, doc, values, label in families:
            yield _family(kind, name, doc, values, label)
