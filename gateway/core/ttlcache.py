"""A small time-bounded cache: lookups other processes may invalidate are trusted for ``ttl`` seconds."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Entries expire ``ttl`` seconds after they were put; the whole cache is dropped past ``max_entries``."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        """``(True, value)`` while fresh (the value may be a cached ``None``), else ``(False, None)``."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``ttl`` seconds."""
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def pop(self, key: K) -> None:
        """Forget one key (after a change made in this process)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
