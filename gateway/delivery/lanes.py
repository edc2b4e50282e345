"""Per-webhook lanes and their pacing: which deliveries wait in memory and which wait in the database."""

from __future__ import annotations

import asyncio
import collections
import random
import time

__all__ = ["Lane", "Pacing", "TurnedAway"]

MAX_TRACKED = 10_000
"""Webhooks whose pace is remembered; past it the memory starts afresh (a pace is relearnt in one answer)."""


class TurnedAway(Exception):
    """The engine stopped taking work while this delivery waited for a slot; it stays in the database."""


class Lane:
    """Per-webhook concurrency: at most ``cap`` attempts at once; the rest wait in memory, in order.

    A waiting delivery has not been claimed yet, so it holds no lease and no worker slot; if this
    process dies, its reservation runs out and the scheduler hands it out again.
    """

    def __init__(self) -> None:
        self.active = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.last_turn = time.monotonic()

    def stalled_for(self, cap: int) -> float:
        """Seconds since a slot last changed hands while the lane is full (0 when it has room)."""
        return time.monotonic() - self.last_turn if self.active >= cap else 0.0

    @property
    def idle(self) -> bool:
        """No attempt under way and none waiting."""
        return self.active == 0 and not self.waiting

    async def acquire(self, cap: int) -> None:
        """Wait for a slot."""
        if self.active < cap and not self.waiting:
            self.active += 1
            self.last_turn = time.monotonic()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot arrived as we were cancelled: pass it on
            raise

    def turn_away(self) -> None:
        """Send every waiter away without a slot (the engine is shutting down)."""
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(TurnedAway())

    def release(self, cap: int | None = None) -> None:
        """Give a slot back and let waiters in while fewer than ``cap`` are under way.

        Without ``cap`` the slot passes to the next live waiter. With one (an adaptive limit that moved),
        a lowered cap lets the slot lapse and a raised one admits several waiters at once.
        """
        self.last_turn = time.monotonic()
        self.active -= 1
        room = self.active + 1 if cap is None else cap
        while self.waiting and self.active < room:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(None)
                self.active += 1


class Pacing:
    """Decides whether a delivery queues in its lane or waits in the database, and until when.

    The pace of a webhook is a moving average of its endpoint's HTTP time alone, so commits, a busy
    event loop or ingest work never make a fast endpoint look slow. Only before the endpoint has
    answered once does a full lane that has not moved stand in for it (a brand-new endpoint that
    hangs is then recognised before its first timeout).
    """

    def __init__(self, lease_seconds: float, *, rng: random.Random | None = None) -> None:
        self.lease_seconds = lease_seconds
        self._pace: dict[str, float] = {}
        self._booked: dict[str, float] = {}
        self._rng = rng or random.Random()

    def note(self, webhook_id: str, seconds: float) -> None:
        """Fold one answer's HTTP time into the webhook's pace."""
        if len(self._pace) > MAX_TRACKED:
            self._pace.clear()
        previous = self._pace.get(webhook_id)
        self._pace[webhook_id] = seconds if previous is None else previous * 0.8 + seconds * 0.2

    def pace(self, webhook_id: str) -> float | None:
        """Seconds one attempt to this webhook's endpoint takes, once it has answered."""
        return self._pace.get(webhook_id)

    def defer_until(
        self, webhook_id: str, lane: Lane, cap: int, now: float, *, drain_cap: int | None = None
    ) -> float | None:
        """When a delivery arriving now should be handed out again, or None to queue it in the lane.

        It queues unless its turn would come after half a reservation. A deferred delivery is booked
        behind the ones deferred before it, so a backlog comes back at the rate the lane drains rather
        than all at once; and none is deferred past one reservation, so a wrong estimate costs at most
        that long before it is made again with a fresher pace. ``drain_cap``: the concurrency the lane
        is expected to drain at, when it differs from its cap now (an adaptive limit still growing).
        """
        pace = self._pace.get(webhook_id)
        if pace is None:
            pace = lane.stalled_for(cap)
        cap = drain_cap or cap
        wait = len(lane.waiting) / cap * pace
        if wait <= self.lease_seconds / 2:
            return None
        if len(self._booked) > MAX_TRACKED:
            self._booked.clear()
        horizon = now + self.lease_seconds
        turn = max(self._booked.get(webhook_id, 0.0), now + wait) + pace / cap
        if turn <= horizon:
            self._booked[webhook_id] = turn
            return turn
        # Beyond one reservation: stop booking (these come back and are weighed again) and spread them
        # over the second half of it, so they do not return together.
        self._booked[webhook_id] = horizon
        return now + self.lease_seconds * self._rng.uniform(0.5, 1.0)
