"""Per-target-URL pacing for connectors that ask for it (Zapier: 30 requests/s per hook URL)."""

from __future__ import annotations

import asyncio
import time

__all__ = ["UrlPacer"]


class UrlPacer:
    """Spaces requests to one URL at least ``1/rate`` seconds apart (within this process)."""

    def __init__(self) -> None:
        self._next_slot: dict[str, float] = {}

    def reserve(self, url: str, rate: float, now: float | None = None) -> float:
        """Book the next slot for ``url``; returns how many seconds to wait for it."""
        now = time.monotonic() if now is None else now
        slot = max(now, self._next_slot.get(url, 0.0))
        self._next_slot[url] = slot + 1.0 / rate
        if len(self._next_slot) > 50_000:
            self._next_slot = {u: t for u, t in self._next_slot.items() if t > now}
        return slot - now

    async def wait(self, url: str, rate: float | None) -> None:
        """Sleep until this request may go."""
        if not rate:
            return
        delay = self.reserve(url, rate)
        if delay > 0:
            await asyncio.sleep(delay)
