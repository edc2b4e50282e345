"""Deliveries claimed at ingest: written already leased to this process and handed to its engine directly.

A delivery created by a process that also delivers needs no claim of its own: the ingest transaction
writes it as ``delivering``, attempt 1, with a claim lease, and after the commit the engine works it
from memory (the event's envelope and the webhook's row are at hand). That saves a claim statement, a
commit wait and a trip through the broker per delivery. If the process dies, the lease runs out and the
scheduler hands the delivery to any process, exactly as for a claim that was made the ordinary way; the
attempt number fences a late record from a process that lost its lease.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.models import Webhook, table
from gateway.delivery.engine import DeliveryEngine
from gateway.delivery.ledger import Claim

__all__ = ["LOCAL_BACKLOG", "Handoff"]

LOCAL_BACKLOG = 10_000
"""Deliveries the engine may hold in memory before new ones go through the broker (and the database) instead."""
MAX_ROWS = 10_000
"""Webhook rows kept; past it the cache starts afresh."""


class Handoff:
    """Leases fresh deliveries to this process's engine and keeps the webhook rows they are worked with.

    ``version_of(webhook_id)`` is the webhook's version as the matching index knows it (None when it does
    not): a cached row of another version is read again, in the ingest transaction itself.
    """

    def __init__(
        self, engine: DeliveryEngine, version_of: Callable[[str], int | None], *, backlog: int = LOCAL_BACKLOG
    ) -> None:
        self._engine = engine
        self._version_of = version_of
        self._backlog = backlog
        self._rows: dict[str, Any] = {}
        self.handed = 0
        engine.row_caches.append(self.forget)

    @property
    def lease_seconds(self) -> float:
        """How long a delivery leased at ingest stays this process's."""
        return self._engine.ledger.claim_lease

    def accepting(self) -> bool:
        """Whether new deliveries may be leased here now (not shutting down, not holding too many)."""
        return not self._engine.closing and self._engine.held < self._backlog

    async def rows(self, conn: AsyncConnection, webhook_ids: Collection[str]) -> dict[str, Any]:
        """The current row of each webhook that may be claimed at ingest, read on ``conn`` where the cache is
        missing or outdated. An ordered webhook's deliveries are left out: only the claim's check of the
        earlier deliveries of their sequence may hand them out."""
        found: dict[str, Any] = {}
        missing: list[str] = []
        for webhook_id in webhook_ids:
            row = self._rows.get(webhook_id)
            if row is not None and row.version == self._version_of(webhook_id):
                found[webhook_id] = row
            else:
                missing.append(webhook_id)
        if missing:
            if len(self._rows) > MAX_ROWS:
                self._rows.clear()
            w = table(Webhook).c
            for row in await conn.execute(select(table(Webhook)).where(w.id.in_(missing))):
                self._rows[row.id] = found[row.id] = row
        return {webhook_id: row for webhook_id, row in found.items() if not row.ordering}

    def forget(self, webhook_id: str) -> None:
        """Drop a cached row whose health changed (health changes do not move the index's version).

        Only this process's changes arrive here: scaled out, a row cached while another process changes
        the webhook's health keeps the old status until its version moves.
        """
        self._rows.pop(webhook_id, None)

    def deliver(self, claims: Iterable[Claim]) -> None:
        """Hand committed claims to the engine (it works them in the background)."""
        claims = list(claims)
        self.handed += len(claims)
        self._engine.deliver_claimed(claims)
