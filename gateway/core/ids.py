"""Identifiers: time-ordered so that ``ORDER BY id DESC`` is newest first and cursors are stable."""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["new_id", "new_uid"]

_RANDOM_MAX = 1 << 64
_lock = threading.Lock()
_last = (0, 0)


def new_id(prefix: str) -> str:
    """``<prefix>_<12 hex of ms time><16 hex random>``: sortable by creation time.

    Within one process the ids strictly increase, even in the same millisecond (the random part then
    counts up from the previous id's), so ids made one after another sort in the order they were made:
    an ordered webhook's deliveries rely on it.
    """
    global _last
    ms = int(time.time() * 1000)
    with _lock:
        last_ms, last_random = _last
        if ms <= last_ms and last_random + 1 < _RANDOM_MAX:
            ms, random_part = last_ms, last_random + 1 + secrets.randbelow(1 << 16)
            random_part = min(random_part, _RANDOM_MAX - 1)
        else:
            ms, random_part = max(ms, last_ms + (ms <= last_ms)), secrets.randbits(63)
        _last = (ms, random_part)
    return f"{prefix}_{ms:012x}{random_part:016x}"


def new_uid() -> str:
    """32 lowercase hex characters, like Blue's ``uid``."""
    return secrets.token_hex(16)
