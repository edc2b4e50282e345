"""Per-company ingest quota: a token bucket per company, so one tenant's flood cannot starve the others."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["IngestQuota"]

PRUNE_ABOVE = 4096
"""Buckets kept before full ones (companies idle long enough to be back at their burst) are dropped."""


class IngestQuota:
    """``rate`` events per second per company, up to ``burst`` at once; ``rate <= 0`` switches it off.

    A request for ``n`` events is granted whole or not at all, so a refused batch stores nothing and
    can be sent again unchanged. State lives in this process: each API process enforces the quota
    on the requests it serves.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # company -> (tokens, when counted)

    @property
    def enabled(self) -> bool:
        """False when no quota is configured."""
        return self.rate > 0

    def take(self, company: str, n: int = 1) -> float:
        """Charge ``n`` events to ``company``: 0.0 when granted, else the seconds until they would be."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens, then = self._buckets.get(company, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if n <= tokens:
            self._buckets[company] = (tokens - n, now)
            if len(self._buckets) > PRUNE_ABOVE:
                self._prune(now)
            return 0.0
        self._buckets[company] = (tokens, now)
        return (n - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            c for c, (tokens, then) in self._buckets.items() if tokens + (now - then) * self.rate >= self.burst
        ]
        for company in full:
            del self._buckets[company]
