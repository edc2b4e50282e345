"""Prometheus metrics, read from the runtime's own counters when scraped."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["render_metrics"]


def render_metrics(runtime: Runtime) -> bytes:
    """Text exposition format 0.0.4."""
    engine, ingestor = runtime.engine, runtime.ingestor
    lines = [
        "# HELP blue_gateway_events_total Events received by this process, by result.",
        "# TYPE blue_gateway_events_total counter",
        *(f'blue_gateway_events_total{{result="{r}"}} {ingestor.counts[r]}' for r in ("accepted", "duplicate")),
        "# HELP blue_gateway_deliveries_created_total Deliveries created by the events this process accepted.",
        "# TYPE blue_gateway_deliveries_created_total counter",
        f"blue_gateway_deliveries_created_total {ingestor.deliveries_created}",
        "# HELP blue_gateway_delivery_attempts_total Delivery attempts made by this process.",
        "# TYPE blue_gateway_delivery_attempts_total counter",
        f"blue_gateway_delivery_attempts_total {engine.attempts_made}",
        "# HELP blue_gateway_delivery_outcomes_total Attempt verdicts: delivered, retry, gone or fail.",
        "# TYPE blue_gateway_delivery_outcomes_total counter",
        *(
            f'blue_gateway_delivery_outcomes_total{{outcome="{k}"}} {engine.outcomes[k]}'
            for k in ("delivered", "retry", "gone", "fail")
        ),
        "# HELP blue_gateway_deliveries_deferred_total Deliveries left in the database behind a slow endpoint.",
        "# TYPE blue_gateway_deliveries_deferred_total counter",
        f"blue_gateway_deliveries_deferred_total {engine.deferred}",
        "# HELP blue_gateway_deliveries_rate_handed_back_total Claimed deliveries put back to wait for their "
        "webhook's rate.",
        "# TYPE blue_gateway_deliveries_rate_handed_back_total counter",
        f"blue_gateway_deliveries_rate_handed_back_total {engine.controls.handed_back}",
        "# HELP blue_gateway_attempt_duration_seconds_total Time spent in HTTP attempts (divide by attempts).",
        "# TYPE blue_gateway_attempt_duration_seconds_total counter",
        f"blue_gateway_attempt_duration_seconds_total {engine.attempt_seconds:.6f}",
        "# HELP blue_gateway_commit_batches_total Group-commit transactions written by this process.",
        "# TYPE blue_gateway_commit_batches_total counter",
        f"blue_gateway_commit_batches_total {runtime.committer.batches}",
        "# HELP blue_gateway_commit_ops_total Write operations carried by those transactions.",
        "# TYPE blue_gateway_commit_ops_total counter",
        f"blue_gateway_commit_ops_total {runtime.committer.ops}",
        "# HELP blue_gateway_webhooks_indexed Enabled webhooks in this process's matching index.",
        "# TYPE blue_gateway_webhooks_indexed gauge",
        f"blue_gateway_webhooks_indexed {len(runtime.index)}",
        *_retention_lines(runtime),
    ]
    return ("\n".join(lines) + "\n").encode()


def _retention_lines(runtime: Runtime) -> list[str]:
    """How long finished rows are kept and how many the database holds (last background count)."""
    lines = [
        "# HELP blue_gateway_retention_seconds How long finished deliveries, their attempts and events are kept.",
        "# TYPE blue_gateway_retention_seconds gauge",
        f"blue_gateway_retention_seconds {runtime.settings.retention}",
    ]
    held = runtime.held_rows.latest()
    if held is not None:
        lines += [
            "# HELP blue_gateway_rows_held Rows in the database by table, counted at most every 30 s.",
            "# TYPE blue_gateway_rows_held gauge",
            *(f'blue_gateway_rows_held{{table="{name}"}} {n}' for name, n in held.items()),
        ]
    return lines
