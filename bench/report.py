"""The printed report: one compact table of figures, then the ratios between them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from bench.baseline import DbResult
from bench.scenarios import GatewayRun

__all__ = ["Report", "render"]


@dataclass
class Report:
    """All results of one bench run."""

    events: int
    concurrency: int
    webhooks: int
    overrides: dict[str, str]
    gateway: GatewayRun | None
    per_tx: DbResult | None
    group: DbResult | None
    merged: DbResult | None


def _rate(value: float, unit: str) -> str:
    return f"{value:>9,.0f} {unit}"


def _ratio(num: float, den: float) -> str:
    return f"{num / den:6.2f}x" if den else "   n/a"


def _row(name: str, rate: str, p50: float | None, p99: float | None, notes: str) -> str:
    lat = f"{p50:8.1f} {p99:8.1f}" if p50 is not None and p99 is not None else " " * 17
    return f"{name:<44} {rate:>15} {lat}  {notes}"


def render(report: Report, out: Callable[[str], None] = print) -> None:
    """Print the table and ratios."""
    cpus = os.cpu_count() or 0
    out("")
    out(
        f"Blue Gateway benchmark: {report.events:,} events, {report.concurrency} clients, "
        f"{report.webhooks} webhook(s), SQLite (WAL, synchronous=FULL), {cpus} CPU(s)"
    )
    if report.overrides:
        out("gateway settings: " + " ".join(f"{k}={v}" for k, v in sorted(report.overrides.items())))
    out(_row("scenario", "rate", None, None, "").rstrip() + "   p50 ms   p99 ms  notes")
    out("-" * 100)
    run = report.gateway
    if run is not None:
        single, batch = run.phase("single"), run.phase("batch")
        for label, ph in (
            ("(a) ingest  POST /v1/events", single),
            ("(a) ingest  POST /v1/events/batch x100", batch),
        ):
            out(
                _row(
                    label,
                    _rate(ph.load.events_per_s, "ev/s"),
                    ph.load.p(0.5),
                    ph.load.p(0.99),
                    f"{ph.load.requests:,} req in {ph.load.wall_s:.2f}s ({ph.load.requests_per_s:,.0f} req/s)",
                )
            )
        for label, ph in (
            ("(b) delivery  after single ingest", single),
            ("(b) delivery  after batch ingest", batch),
        ):
            if not ph.deliveries:
                continue
            out(
                _row(
                    label,
                    _rate(ph.deliveries_per_s, "dlv/s"),
                    None,
                    None,
                    f"{ph.deliveries:,} distinct webhook-ids in {ph.delivered_s:.2f}s, "
                    f"{ph.redeliveries} redelivered, {ph.attempts:,} attempts; "
                    f"phase: {ph.commits:,} commits x {ph.ops_per_commit:.0f} ops",
                )
            )
    for label, db in (
        ("(c) baseline  1 SQLite tx per event", report.per_tx),
        ("(c) group commit  same writes, in-process", report.group),
        ("(c) merged group commit  1 statement/table", report.merged),
    ):
        if db is not None:
            per = db.events / db.transactions if db.transactions else 0.0
            out(
                _row(
                    label,
                    _rate(db.events_per_s, "ev/s"),
                    db.p(0.5),
                    db.p(0.99),
                    f"{db.transactions:,} transactions ({per:.1f} events each), no HTTP",
                )
            )
    out("")
    out("ratios")
    ratios: list[tuple[str, float, float]] = []
    per_tx = report.per_tx.events_per_s if report.per_tx is not None else 0.0
    if run is not None:
        single, batch = run.phase("single"), run.phase("batch")
        ratios.append(
            ("batch ingest / single ingest (events/s)", batch.load.events_per_s, single.load.events_per_s)
        )
        if single.deliveries:
            ratios.append(("deliveries/s / events/s (single)", single.deliveries_per_s, single.load.events_per_s))
            ratios.append(("deliveries/s / events/s (batch)", batch.deliveries_per_s, batch.load.events_per_s))
        ratios.append(
            ("gateway single ingest (HTTP + group commit) / 1-tx-per-event", single.load.events_per_s, per_tx)
        )
        ratios.append(("gateway batch ingest / 1-tx-per-event", batch.load.events_per_s, per_tx))
    if report.group is not None:
        ratios.append(("group commit / 1-tx-per-event (same writes, no HTTP)", report.group.events_per_s, per_tx))
    if report.merged is not None:
        ratios.append(("merged group commit / 1-tx-per-event (no HTTP)", report.merged.events_per_s, per_tx))
    for name, num, den in ratios:
        if den:
            out(f"  {name:<64} {_ratio(num, den)}")
    out("")
