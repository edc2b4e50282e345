"""Adaptive concurrency per endpoint: as many attempts at once as the endpoint answers without slowing down.

A fixed cap per webhook is wrong both ways: too low for a fast endpoint (its throughput is the cap divided
by its latency), too high for a struggling one (every extra request in flight only queues at its end or
times out, holding a worker slot meanwhile). Each webhook gets a limit that moves with what its endpoint
answers, in the manner of TCP congestion control and Netflix's concurrency-limits (its "gradient" limit):

- every answered attempt is a latency sample. A short average of the samples is compared with a long one
  (the endpoint's usual latency). While the short one stays within ``tolerance`` times the long one the
  limit grows, by about its square root per sample (the allowance for queueing), so a fast endpoint
  climbs from a few to a hundred in a few hundred answers. Past that it holds: latency alone never
  shrinks the limit, because on a busy gateway much of the measured time is the gateway's own event
  loop, and shrinking for it would only lower throughput further;
- a timeout, a refused or broken connection, a 429 or a 5xx is overload: the limit is multiplied by
  ``backoff``, once per round trip (the answers of one round trip report the same overload);
- the limit grows only while it is used (at least half of it in flight): a quiet endpoint does not build
  up a limit it never tested;
- it stays between ``minimum`` and the webhook's ``maximum`` (the ``webhook_concurrency`` setting).

A new endpoint starts at ``initial``: one that never answers holds at most that many worker slots.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from gateway.core.policy import FailureKind
from gateway.delivery.sender import SendResult

__all__ = ["AdaptiveLimit", "AdaptiveLimits", "LimitConfig", "LoopLag", "overloaded"]

MAX_TRACKED = 10_000
"""Endpoints whose limit is remembered; past it the memory starts afresh."""
OVERLOAD_MEMORY = 30.0
"""Seconds after an overload during which a backlog is expected to drain at the current limit only."""
_OVERLOAD_FAILURES = frozenset({FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.PROTOCOL})


def overloaded(result: SendResult) -> bool:
    """Whether an attempt's answer says the endpoint is overloaded (or down): slow down."""
    if result.failure is not None and result.failure.kind in _OVERLOAD_FAILURES:
        return True
    return result.status is not None and (result.status == 429 or result.status >= 500)


@dataclass(frozen=True)
class LimitConfig:
    """How every endpoint's limit moves (see the module's description)."""

    maximum: int
    minimum: int = 1
    initial: int = 8
    tolerance: float = 2.0
    backoff: float = 0.5
    smoothing: float = 0.2
    short_weight: float = 0.3  # weight of a new sample in the short latency average
    long_weight: float = 0.005  # ... and in the long one (a new normal is accepted over a few hundred answers)

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError("need 1 <= minimum <= maximum")


@dataclass
class AdaptiveLimit:
    """One endpoint's concurrency limit."""

    config: LimitConfig
    limit: float = 0.0
    short_rtt: float | None = None
    long_rtt: float | None = None
    backed_off_at: float = -math.inf
    overloaded_at: float = -math.inf
    samples: int = 0
    overloads: int = 0

    def __post_init__(self) -> None:
        if not self.limit:
            self.limit = float(min(max(self.config.initial, self.config.minimum), self.config.maximum))

    @property
    def cap(self) -> int:
        """How many attempts may be in flight now."""
        return max(self.config.minimum, min(self.config.maximum, int(self.limit)))

    def expected(self, now: float) -> int:
        """The concurrency a backlog can count on: the maximum for an endpoint that has not been
        overloaded lately (its limit grows as the backlog is worked), else the current limit."""
        return self.cap if now - self.overloaded_at < OVERLOAD_MEMORY else self.config.maximum

    def observe(self, seconds: float, *, overload: bool, in_flight: int, now: float) -> None:
        """Fold one attempt's outcome in: ``seconds`` its HTTP time, ``in_flight`` the attempts under way
        when it finished (itself included), ``now`` a monotonic clock reading."""
        c = self.config
        if overload:
            self.overloads += 1
            self.overloaded_at = now
            # One backoff per round trip: the other answers of the same round report the same overload.
            if now - self.backed_off_at >= (self.short_rtt or 0.0):
                self.backed_off_at = now
                self.limit = max(float(c.minimum), self.limit * c.backoff)
            return
        self.samples += 1
        seconds = max(seconds, 1e-4)
        self.short_rtt = seconds if self.short_rtt is None else _ema(self.short_rtt, seconds, c.short_weight)
        self.long_rtt = seconds if self.long_rtt is None else _ema(self.long_rtt, seconds, c.long_weight)
        if self.long_rtt > self.short_rtt:
            # An endpoint that got faster: its usual latency is the lower one from now on.
            self.long_rtt = self.short_rtt
        if self.short_rtt > c.tolerance * self.long_rtt or in_flight < self.limit / 2:
            return  # slower than usual, or not using what it has: no proof it could take more
        new = self.limit + math.sqrt(self.limit) * c.smoothing
        self.limit = max(float(c.minimum), min(float(c.maximum), new))


class AdaptiveLimits:
    """The limits of every endpoint this process sends to, by webhook id."""

    def __init__(self, config: LimitConfig) -> None:
        self.config = config
        self._limits: dict[str, AdaptiveLimit] = {}

    def get(self, webhook_id: str) -> AdaptiveLimit:
        """The webhook's limit (a fresh one at ``initial`` the first time)."""
        found = self._limits.get(webhook_id)
        if found is None:
            if len(self._limits) > MAX_TRACKED:
                self._limits.clear()
            found = self._limits[webhook_id] = AdaptiveLimit(self.config)
        return found

    def cap(self, webhook_id: str) -> int:
        """How many attempts to this webhook may be in flight now."""
        found = self._limits.get(webhook_id)
        return found.cap if found is not None else AdaptiveLimit(self.config).cap

    def snapshot(self) -> dict[str, int]:
        """Every tracked webhook's current cap."""
        return {webhook_id: limit.cap for webhook_id, limit in self._limits.items()}


class LoopLag:
    """How late this process's event loop runs what is ready (a moving average), from a ticker's overshoot.

    An answer's HTTP time includes the wait for the loop to read it. On a busy gateway that wait is the
    gateway's own, not the endpoint's, and subtracting it keeps a loaded loop from passing for a slower
    endpoint (which would stop every limit from growing just when the work piles up).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.seconds = 0.0
        self._task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        """Start the ticker on the running loop, if it is not running."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._tick(), name="loop-lag")

    def stop(self) -> None:
        """Stop the ticker (it ends at the loop's next turn)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def discount(self, seconds: float) -> float:
        """``seconds`` of measured HTTP time less the loop's current lag."""
        return max(seconds - self.seconds, 1e-4)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            late = max(0.0, loop.time() - started - self.interval)
            self.seconds = _ema(self.seconds, late, 0.3)


def _ema(previous: float, sample: float, weight: float) -> float:
    return previous * (1.0 - weight) + sample * weight
