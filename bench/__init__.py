"""Benchmark harness for Blue Gateway: ``make bench`` (= ``python -m bench``).

It starts a real ``blue-gateway serve`` subprocess on SQLite in a temporary directory and a real
receiver subprocess, then measures

(a) ingest throughput and latency of ``POST /v1/events`` and ``POST /v1/events/batch``,
(b) end-to-end delivery throughput (first POST until the receiver counted every ``webhook-id``),
(c) a one-SQLite-transaction-per-event baseline through async SQLAlchemy, and the same writes
    through the gateway's :class:`~gateway.db.groupcommit.GroupCommitter`,
(f) slow endpoint isolation: a fast webhook's deliveries/s and time to delivery alone and beside a
    webhook whose endpoint answers after ``--slow-delay`` seconds (:mod:`bench.isolation`),

and the gateway's resident memory after each phase, and prints the figures with their ratios.
Nothing is written into the repository.
"""

from __future__ import annotations

__all__: list[str] = []
