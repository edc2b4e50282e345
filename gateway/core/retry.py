"""The retry schedule: parsing, jitter and ``Retry-After``."""

from __future__ import annotations

import email.utils
import random
import re
import time

__all__ = ["DEFAULT_SCHEDULE", "MAX_RETRY_AFTER", "RetrySchedule", "parse_duration", "parse_retry_after"]

DEFAULT_SCHEDULE = "0,5s,5m,30m,2h,5h,10h,10h"
MAX_RETRY_AFTER = 3600.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``"250ms"``, ``"5s"``, ``"5m"``, ``"2h"``, ``"1d"`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use a number with ms, s, m, h or d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class RetrySchedule:
    """Delays before each attempt; attempt ``n`` (1-based) waits ``delays[n-1]`` after the previous one."""

    def __init__(self, delays: list[float], jitter: float = 0.2) -> None:
        if not delays:
            raise ValueError("the retry schedule needs at least one entry")
        self.delays = delays
        self.jitter = jitter

    @classmethod
    def parse(cls, text: str, jitter: float = 0.2) -> RetrySchedule:
        """Build from ``"0,5s,5m,..."``."""
        return cls([parse_duration(part) for part in text.split(",") if part.strip()], jitter)

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets in all."""
        return len(self.delays)

    def delay_after(self, attempts_made: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when the schedule is exhausted."""
        if attempts_made >= len(self.delays):
            return None
        base = self.delays[attempts_made]
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date), capped at one hour."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
