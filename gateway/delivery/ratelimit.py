"""A webhook's maximum rate, kept across every process by one shared limiter.

The limiter is a GCRA (generic cell rate algorithm) with reservations: its state is one number per key,
the *theoretical arrival time* (``tat``) of the next request allowed. A caller books the slot at
``max(tat, now)`` and moves ``tat`` on by ``1 / rate``, in one atomic step, then sleeps until its slot.
Slots are only booked up to ``horizon`` seconds ahead; a caller further back is told when to ask again,
so few slots are ever booked and a process that dies wastes at most those.

The state lives where every process sees it: in Redis when Redis is the broker (one Lua script), else
in the database (one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` through the group committer).
Times are Unix seconds from the processes' own clocks, which must agree (as retries already need).

Within one process, callers for the same key queue behind one another (:class:`RateGate`), so one
process asks the shared store at most once per slot, however many deliveries wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import RateLimit, table

__all__ = ["Booking", "RateGate", "RateLimiter", "RedisRateLimiter", "SqlRateLimiter", "make_rate_limiter"]

HORIZON = 0.5
"""Seconds ahead a slot may be booked."""


@dataclass(frozen=True)
class Booking:
    """The answer of the shared limiter: a slot at ``at`` (Unix seconds), or none yet (ask again at ``at``)."""

    granted: bool
    at: float


class RateLimiter(Protocol):
    """The shared state: book the next slot of ``key`` if it starts within ``horizon`` seconds."""

    async def book(self, key: str, interval: float, horizon: float) -> Booking:
        """Book a slot ``interval`` seconds after the previous one, or say when one comes within reach."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class SqlRateLimiter:
    """The limiter's state in the ``rate_limits`` table (SQLite or PostgreSQL)."""

    def __init__(self, committer: GroupCommitter, clock: Callable[[], float] = time.time) -> None:
        self._committer = committer
        self._clock = clock

    async def book(self, key: str, interval: float, horizon: float) -> Booking:
        """One atomic upsert: the row is locked from the update to the commit, so processes take turns."""
        booking: Booking = await self._committer.submit(lambda conn: self._book(conn, key, interval, horizon))
        return booking

    async def _book(self, conn: AsyncConnection, key: str, interval: float, horizon: float) -> Booking:
        now = self._clock()
        r = table(RateLimit).c
        postgres = conn.dialect.name == "postgresql"
        insert = pg_insert if postgres else sqlite_insert
        start = (func.greatest if postgres else func.max)(r.tat, now)
        statement = (
            insert(table(RateLimit))
            .values(key=key, tat=now + interval)
            .on_conflict_do_update(
                index_elements=[r.key], set_={"tat": start + interval}, where=start <= now + horizon
            )
            .returning(r.tat)
        )
        booked = (await conn.execute(statement)).scalar()
        if booked is not None:
            return Booking(True, float(booked) - interval)
        tat = float((await conn.execute(select(r.tat).where(r.key == key))).scalar_one())
        return Booking(False, tat - horizon)

    async def close(self) -> None:
        """Nothing to release: the database engine is the runtime's."""


_REDIS_BOOK = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if start > now + horizon then
  return {0, tostring(start - horizon)}
end
local tat = start + interval
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 60000)
return {1, tostring(start)}
"""


class RedisRateLimiter:
    """The limiter's state in Redis: one key per webhook, updated by a Lua script (atomic on the server)."""

    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        self._script = self._redis.register_script(_REDIS_BOOK)
        self._prefix = prefix
        self._clock = clock

    async def book(self, key: str, interval: float, horizon: float) -> Booking:
        """Run the script; the key expires a minute after its last slot."""
        granted, at = await self._script(
            keys=[f"{self._prefix}:rate:{key}"], args=[repr(self._clock()), repr(interval), repr(horizon)]
        )
        return Booking(bool(granted), float(at))

    async def close(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()


def make_rate_limiter(
    broker_family: str, broker_url: str, *, prefix: str, committer: GroupCommitter, clock: Callable[[], float]
) -> RateLimiter:
    """Redis when it is the broker (every worker already reaches it), else the database."""
    if broker_family == "redis":
        return RedisRateLimiter(broker_url, prefix, clock)
    return SqlRateLimiter(committer, clock)


class RateGate:
    """One process's door to the shared limiter: callers for one key queue here, first come first served."""

    def __init__(
        self, limiter: RateLimiter, *, horizon: float = HORIZON, clock: Callable[[], float] = time.time
    ) -> None:
        self._limiter = limiter
        self._horizon = horizon
        self._clock = clock
        self._queues: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def wait(self, key: str, rate: float, deadline: float) -> float | None:
        """Sleep until this caller's slot and return None; or, rather than wait past ``deadline`` (Unix
        seconds), return the time a slot could come, for the caller to hand its delivery back until then."""
        interval = 1.0 / rate
        queue, users = self._queues.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock())), queue:
                booking = await self._book(key, interval, deadline)
        except TimeoutError:
            return deadline + interval
        finally:
            users[0] -= 1
            if not users[0]:
                del self._queues[key]
        if not booking.granted:
            return booking.at
        delay = booking.at - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)  # the queue is free: the next caller books while this one waits
        return None

    async def _book(self, key: str, interval: float, deadline: float) -> Booking:
        while True:
            booking = await self._limiter.book(key, interval, self._horizon)
            if booking.granted:
                return booking
            if booking.at > deadline:
                return Booking(False, booking.at + self._horizon)
            await asyncio.sleep(max(0.0, booking.at - self._clock()))
