"""The printed report: one compact table of figures, then the ratios between them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from bench.baseline import DbResult
from bench.isolation import IsolationRun
from bench.procs import Memory
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
    isolation: IsolationRun | None = None


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
    out(_row("scenario", "rate", None, None, "").rstrip() + "   p50 ms   p99 ms  notes (f: ms = time to delivery)")
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
    if report.isolation is not None:
        _isolation_rows(report.isolation, out)
    _memory(report, out)
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
    if report.isolation is not None:
        ratios += _isolation_ratios(report.isolation)
    for name, num, den in ratios:
        if den:
            out(f"  {name:<68} {_ratio(num, den)}")
    out("")


_LABELS = {
    "alone_cold": "(f) fast endpoint alone (gateway 1)",
    "cold": "(f) + slow neighbour, pace not yet known",
    "alone_warm": "(f) fast endpoint alone (gateway 2)",
    "warm": "(f) + slow neighbour, pace known",
}


def _isolation_rows(iso: IsolationRun, out: Callable[[str], None]) -> None:
    for run in iso.runs:
        notes = f"{run.deliveries:,} fast deliveries in {run.delivered_s:.2f}s"
        out(_row(_LABELS[run.name], _rate(run.deliveries_per_s, "dlv/s"), run.p(0.5), run.p(0.99), notes))
        if run.slow:
            out(
                f"{'':<8}slow ({iso.delay:g}s) by then: {run.slow_answered:,} answered "
                f"(at most {iso.cap} lanes x {run.delivered_s:.2f}s / {iso.delay:g}s = {iso.bound(run):,.0f}), "
                f"{run.slow_received:,} received; "
                f"{run.deferred:,} deferred to the database, ~{run.in_memory:,} waiting in memory"
            )
    out(
        f"{'':<8}deferral starts past {iso.cap} x (LEASE_SECONDS {iso.lease:g} / 2) / {iso.delay:g}s "
        f"= {iso.cap * iso.lease / 2 / iso.delay:,.0f} waiting deliveries, once the slow pace is known"
    )


def _memory(report: Report, out: Callable[[str], None]) -> None:
    """The gateway's memory after each phase (VmRSS now, VmHWM peak since it started), in MiB."""
    rows: list[tuple[str, Memory | None, str]] = []
    if report.gateway is not None:
        for ph in report.gateway.phases:
            rows.append((f"(a/b) {ph.name}", ph.memory, f"{ph.load.accepted_events:,} events, all delivered"))
    if report.isolation is not None:
        iso = report.isolation
        for run in iso.runs:
            notes = f"{run.deliveries:,} fast delivered"
            alone = iso.run(run.baseline)
            if run.slow:
                notes += f"; slow backlog: ~{run.in_memory:,} waiting in memory, {run.deferred:,} deferred"
            if run.slow and run.memory and alone and alone.memory:
                notes += f"; {run.memory.rss_mib - alone.memory.rss_mib:+.1f} MiB RSS over the burst alone"
            rows.append((f"(f) {run.name}", run.memory, notes))
    if not any(memory for _, memory, _ in rows):
        return
    out("")
    out("gateway memory after each phase (VmRSS now, VmHWM peak since start; each (f) pair shares a process)")
    for name, memory, notes in rows:
        figures = f"{memory.rss_mib:7.1f} MiB  peak {memory.hwm_mib:7.1f} MiB" if memory else "    n/a"
        out(f"  {name:<14} {figures}  {notes}")


def _isolation_ratios(iso: IsolationRun) -> list[tuple[str, float, float]]:
    ratios: list[tuple[str, float, float]] = []
    for run in iso.runs:
        alone = iso.run(run.baseline)
        if not run.slow or alone is None:
            continue
        pace = "pace known" if run.name == "warm" else "pace unknown"
        ratios += [
            (
                f"(f) fast dlv/s with a slow neighbour / alone ({pace})",
                run.deliveries_per_s,
                alone.deliveries_per_s,
            ),
            (f"(f) fast p99 time to delivery, slow neighbour / alone ({pace})", run.p(0.99), alone.p(0.99)),
            (f"(f) slow answered meanwhile / lanes x elapsed / delay ({pace})", run.slow_answered, iso.bound(run)),
        ]
        if run.memory and alone.memory:
            ratios.append(
                (f"(f) gateway RSS, slow backlog / alone ({pace})", run.memory.rss_mib, alone.memory.rss_mib)
            )
    return ratios
