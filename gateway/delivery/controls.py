"""The engine's side of a webhook's delivery controls: its timeout, retries, rate and ordering.

Kept apart from the engine: the engine asks this module four questions (how long may the attempt take,
which retry policy applies, may the claimed delivery go now, and who to tell when an ordered delivery
ended) and otherwise works every delivery alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Connector
from gateway.core.delivery_controls import policy_with
from gateway.core.policy import DeliveryPolicy, DeliveryStatus
from gateway.db.coalesce import Coalescer
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Delivery, table
from gateway.db.ordering import release_reservations
from gateway.delivery.ledger import Claim
from gateway.delivery.ratelimit import RateGate, RateLimiter

__all__ = ["DeliveryControls"]

RATE_LANE_SECONDS = 2.0
"""A rate-limited webhook has at most this many seconds' worth of its rate claimed at once in a process."""
LEASE_MARGIN = 1.0
"""Seconds of its claim lease a delivery keeps in hand for recording its attempt."""
ENDED = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DISCARDED})


class DeliveryControls:
    """Per-webhook timeout, retry policy, rate and ordering, as the engine applies them."""

    def __init__(
        self,
        committer: GroupCommitter,
        limiter: RateLimiter,
        *,
        policy: DeliveryPolicy,
        attempt_timeout: float,
        lease_seconds: float,
        clock: Callable[[], float],
        on_sequence_moved: Callable[[], None] = lambda: None,
    ) -> None:
        self._committer = committer
        self.limiter = limiter
        self._gate = RateGate(limiter, clock=clock)
        self._policy = policy
        self._attempt_timeout = attempt_timeout
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._on_sequence_moved = on_sequence_moved
        self._policies: dict[str, tuple[int, DeliveryPolicy]] = {}
        self._rates: dict[str, float] = {}
        self._ordered: set[str] = set()
        self._released: Coalescer[str, None] = Coalescer(committer, release_reservations)
        self._handed_back: Coalescer[tuple[Claim, float, float], None] = Coalescer(committer, _hand_back)
        self._extended: Coalescer[tuple[Claim, float], None] = Coalescer(committer, _extend_lease)
        self.handed_back = 0

    def timeout(self, row: Any) -> float:
        """Seconds this webhook's attempt may take."""
        return float(row.timeout) if row.timeout is not None else self._attempt_timeout

    def policy(self, row: Any) -> DeliveryPolicy:
        """The retry policy with this webhook's own schedule, if it has one (built once per version)."""
        if row.retry_schedule is None:
            return self._policy
        cached = self._policies.get(row.id)
        if cached is None or cached[0] != row.version:
            if len(self._policies) > 10_000:
                self._policies.clear()
            cached = (row.version, policy_with(self._policy, row.retry_schedule))
            self._policies[row.id] = cached
        return cached[1]

    @staticmethod
    def rate(row: Any, connector: Connector | None) -> float | None:
        """Requests per second this webhook may get: its ``maxRate``, else its connector's default."""
        if row.max_rate is not None:
            return float(row.max_rate)
        return connector.max_requests_per_second if connector is not None else None

    def lane_cap(self, webhook_id: str, cap: int) -> int:
        """Concurrent attempts for this webhook in this process: fewer when a low rate would keep them waiting.

        Known from the webhook's last claim here; until then the usual cap applies.
        """
        rate = self._rates.get(webhook_id)
        return cap if rate is None else max(1, min(cap, math.ceil(rate * RATE_LANE_SECONDS)))

    def pace_floor(self, webhook_id: str, cap: int) -> float:
        """Seconds one lane slot of this webhook takes at least, from its rate: with ``lane_cap`` slots
        sharing ``rate`` requests a second, each takes ``lane_cap / rate``. 0 without a rate.

        The lane's pacing then sees a rate-limited backlog as the slow queue it is, and leaves it in the
        database instead of in memory past its reservation.
        """
        rate = self._rates.get(webhook_id)
        return self.lane_cap(webhook_id, cap) / rate if rate else 0.0

    async def not_claimed(self, delivery_id: str) -> None:
        """A claim found nothing to take: if an ordered delivery waits for its predecessor, drop its reservation
        so that the scheduler hands it out as soon as it may go."""
        await self._released.submit(delivery_id)

    async def may_send(self, claim: Claim, row: Any, connector: Connector | None) -> bool:
        """Make room for the webhook's timeout in the claim, and keep its rate: wait for its slot, or hand the
        delivery back when that would outlast the claim. True when the attempt may go now."""
        self._note(row, connector)
        claimed_at, timeout = self._clock(), self.timeout(row)
        if timeout > self._attempt_timeout:
            # The claim lease was sized for the server's timeout: a longer one must not let it run out mid-request.
            await self._extended.submit((claim, claimed_at + timeout + self._lease_seconds))
        rate = self._rates.get(row.id)
        if rate is None:
            return True
        deadline = claimed_at + max(timeout, self._attempt_timeout) + self._lease_seconds - timeout - LEASE_MARGIN
        retry_at = await self._gate.wait(row.id, rate, deadline)
        if retry_at is None:
            return True
        await self._handed_back.submit((claim, retry_at, self._clock()))
        self.handed_back += 1
        return False

    async def space(self, row: Any) -> None:
        """Right before a request to a rate-limited webhook: keep it an interval after this process's last one."""
        rate = self._rates.get(row.id)
        if rate is not None:
            await self._gate.space(row.id, rate)

    def recorded(self, webhook_id: str, status: DeliveryStatus) -> None:
        """An attempt's record is saved: when it ended a delivery of an ordered webhook, the next may go."""
        if status in ENDED and webhook_id in self._ordered:
            self._on_sequence_moved()

    async def close(self) -> None:
        """Commit reservations released so far and close the limiter."""
        await self._released.drain()
        await self._handed_back.drain()
        await self._extended.drain()
        await self._gate.close()
        await self.limiter.close()

    def _note(self, row: Any, connector: Connector | None) -> None:
        rate = self.rate(row, connector)
        if len(self._rates) > 10_000:
            self._rates.clear()
        if rate is None:
            self._rates.pop(row.id, None)
        else:
            self._rates[row.id] = rate
        if row.ordering:
            self._ordered.add(row.id)
        else:
            self._ordered.discard(row.id)


def _claimed(claim: Claim) -> ColumnElement[bool]:
    """Still this claim's: fenced by its attempt number, like every write that follows a claim."""
    d = table(Delivery).c
    return and_(d.id == claim.delivery_id, d.attempts == claim.n, d.status == DeliveryStatus.DELIVERING)


async def _hand_back(conn: AsyncConnection, items: Sequence[tuple[Claim, float, float]]) -> list[None]:
    """Claimed deliveries that may not go yet become pending again, due when their slot could come.

    The claim's attempt number is taken back: no request was made.
    """
    d = table(Delivery).c
    for claim, retry_at, now in items:
        await conn.execute(
            update(table(Delivery))
            .where(_claimed(claim))
            .values(
                status=DeliveryStatus.PENDING,
                attempts=d.attempts - 1,
                next_attempt_at=retry_at,
                lease_until=None,
                updated_at=now,
            )
        )
    return [None] * len(items)


async def _extend_lease(conn: AsyncConnection, items: Sequence[tuple[Claim, float]]) -> list[None]:
    for claim, lease_until in items:
        await conn.execute(update(table(Delivery)).where(_claimed(claim)).values(lease_until=lease_until))
    return [None] * len(items)
