"""A webhook's maximum rate, kept across every process by one shared limiter.

The limiter is a GCRA (generic cell rate algorithm) with reservations: its state is one number per key,
the *theoretical arrival time* (``tat``) of the next request allowed. Booking takes the slots at
``max(tat, now)``, ``1 / rate`` apart, and moves ``tat`` past them in one atomic step; each caller then
sleeps until its slot. Only slots that start within ``horizon`` seconds are booked; a caller further
back is told when to ask again, so a process that dies wastes at most a horizon's worth of slots.

The state lives where every process sees it: in Redis when Redis is the broker (one Lua script), else
in the database (a row read with ``FOR UPDATE`` and moved, in one group-committed transaction).
Times are Unix seconds from the processes' own clocks, which must agree (as retries already need).

Within one process, the callers for one key queue in a :class:`RateGate`, which books slots for all of
them at once: a process asks the shared store about once per horizon, however many deliveries wait.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.db.groupcommit import DatabaseUnavailable, GroupCommitter
from gateway.db.models import RateLimit, table

__all__ = ["Booking", "RateGate", "RateLimiter", "RedisRateLimiter", "SqlRateLimiter", "make_rate_limiter"]

log = logging.getLogger("gateway.delivery")

HORIZON = 0.5
"""Seconds ahead a slot may be booked."""


@dataclass(frozen=True)
class Booking:
    """The shared limiter's answer: the slots booked (Unix seconds, in order), or none and when to ask again."""

    slots: tuple[float, ...]
    retry_at: float = 0.0


def _slots(start: float, interval: float, now: float, horizon: float, wanted: int) -> tuple[float, ...]:
    """Up to ``wanted`` slots from ``start`` on, ``interval`` apart, that begin within ``horizon`` of ``now``."""
    within = math.floor((now + horizon - start) / interval + 1e-9) + 1
    return tuple(start + i * interval for i in range(max(0, min(wanted, within))))


class RateLimiter(Protocol):
    """The shared state: book the next slots of ``key`` that start within ``horizon`` seconds."""

    async def book(self, key: str, interval: float, horizon: float, wanted: int, lead: float) -> Booking:
        """Book up to ``wanted`` slots ``interval`` apart after the last one booked and at least ``lead``
        seconds from now (the answer takes that long to arrive), or say when to ask again."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class SqlRateLimiter:
    """The limiter's state in the ``rate_limits`` table (SQLite or PostgreSQL).

    On PostgreSQL each booking is its own short transaction, so the row lock is never held together with
    the group committer's other writes (two processes could otherwise deadlock on them); on SQLite it goes
    through the group committer, the database's one writer.
    """

    def __init__(
        self,
        committer: GroupCommitter,
        clock: Callable[[], float] = time.time,
        *,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._committer = committer
        self._clock = clock
        self._engine = engine if engine is not None and engine.dialect.name == "postgresql" else None

    async def book(self, key: str, interval: float, horizon: float, wanted: int, lead: float) -> Booking:
        """Read and move ``tat`` in one transaction, the row locked (PostgreSQL) or the one writer (SQLite)."""
        if self._engine is not None:
            try:
                async with self._engine.begin() as conn:
                    return await self._book(conn, key, interval, horizon, wanted, lead)
            except (OSError, DBAPIError) as exc:
                raise DatabaseUnavailable(str(exc)) from exc
        booking: Booking = await self._committer.submit(
            lambda conn: self._book(conn, key, interval, horizon, wanted, lead)
        )
        return booking

    async def _book(
        self, conn: AsyncConnection, key: str, interval: float, horizon: float, wanted: int, lead: float
    ) -> Booking:
        now = self._clock()
        r = table(RateLimit).c
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(table(RateLimit)).values(key=key, tat=now).on_conflict_do_nothing())
        tat = (await conn.execute(select(r.tat).where(r.key == key).with_for_update())).scalar_one()
        start = max(float(tat), now + lead)
        slots = _slots(start, interval, now, horizon, wanted)
        if not slots:
            return Booking((), start - horizon)
        await conn.execute(update(table(RateLimit)).where(r.key == key).values(tat=slots[-1] + interval))
        return Booking(slots)

    async def close(self) -> None:
        """Nothing to release: the database engine is the runtime's."""


_REDIS_BOOK = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + tonumber(ARGV[5]))
local count = math.min(wanted, math.floor((now + horizon - start) / interval + 1e-9) + 1)
if count < 1 then
  return {0, tostring(start - horizon)}
end
local tat = start + count * interval
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 60000)
return {count, tostring(start)}
"""


class RedisRateLimiter:
    """The limiter's state in Redis: one key per webhook, moved by a Lua script (atomic on the server)."""

    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        self._script = self._redis.register_script(_REDIS_BOOK)
        self._prefix = prefix
        self._clock = clock

    async def book(self, key: str, interval: float, horizon: float, wanted: int, lead: float) -> Booking:
        """Run the script; the key expires a minute after its last slot."""
        args: list[str | int] = [repr(self._clock()), repr(interval), repr(horizon), wanted, repr(lead)]
        count, at = await self._script(keys=[f"{self._prefix}:rate:{key}"], args=args)
        if not count:
            return Booking((), float(at))
        start = float(at)
        return Booking(tuple(start + i * interval for i in range(int(count))))

    async def close(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()


def make_rate_limiter(
    broker_family: str,
    broker_url: str,
    *,
    prefix: str,
    committer: GroupCommitter,
    engine: AsyncEngine,
    clock: Callable[[], float],
) -> RateLimiter:
    """Redis when it is the broker (every worker already reaches it), else the database."""
    if broker_family == "redis":
        return RedisRateLimiter(broker_url, prefix, clock)
    return SqlRateLimiter(committer, clock, engine=engine)


@dataclass
class _Waiter:
    deadline: float
    future: asyncio.Future[tuple[bool, float]]
    """Resolved with (True, its slot) or (False, when to hand the delivery back for)."""


@dataclass
class _Door:
    interval: float
    waiters: collections.deque[_Waiter] = field(default_factory=collections.deque)
    task: asyncio.Task[None] | None = None


class RateGate:
    """One process's door to the shared limiter for each key.

    Callers queue first come, first served; one task per key books slots for everyone queued at once,
    so a process asks the shared store about once per ``horizon``, not once per request.
    """

    def __init__(
        self, limiter: RateLimiter, *, horizon: float = HORIZON, clock: Callable[[], float] = time.time
    ) -> None:
        self._limiter = limiter
        self._horizon = horizon
        self._clock = clock
        self._doors: dict[str, _Door] = {}
        self._round_trip = 0.0
        self._sent: dict[str, float] = {}

    async def wait(self, key: str, rate: float, deadline: float) -> float | None:
        """Sleep until this caller's slot and return None; or, rather than wait past ``deadline`` (Unix
        seconds), return the time a slot could come, for the caller to hand its delivery back until then."""
        door = self._doors.get(key)
        if door is None or door.interval != 1.0 / rate:
            door = self._doors[key] = _Door(1.0 / rate) if door is None else _Door(1.0 / rate, door.waiters)
        waiter = _Waiter(deadline, asyncio.get_running_loop().create_future())
        door.waiters.append(waiter)
        if door.task is None:
            door.task = asyncio.create_task(self._serve(key, door), name=f"rate-gate-{key}")
        granted, slot = await waiter.future
        if not granted:
            return slot
        delay = slot - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        return None

    async def close(self) -> None:
        """Stop booking: the callers still waiting are being cancelled with the engine's tasks."""
        tasks = [door.task for door in self._doors.values() if door.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def space(self, key: str, rate: float) -> None:
        """Just before a request goes: at least ``1 / rate`` after this process's previous one for ``key``.

        Slots are booked ahead, and rendering or a busy event loop can delay a request past its slot
        until it goes together with the next one; this keeps them one interval apart instead.
        """
        now = self._clock()
        if len(self._sent) > 10_000:
            self._sent.clear()
        at = self._sent[key] = max(now, self._sent.get(key, -math.inf) + 1.0 / rate)
        if at > now:
            await asyncio.sleep(at - now)

    async def _serve(self, key: str, door: _Door) -> None:
        try:
            while door.waiters:
                now = self._clock()
                while door.waiters and (door.waiters[0].future.done() or door.waiters[0].deadline <= now):
                    gone = door.waiters.popleft()
                    if not gone.future.done():
                        gone.future.set_result((False, now + door.interval))  # out of time: handed back
                if not door.waiters:
                    break
                # Slots start no sooner than the answer arrives: a slot already past when it is handed out
                # would be sent at once with the next ones, a burst.
                lead = min(self._round_trip * 1.5, self._horizon / 2)
                asked = self._clock()
                booking = await self._limiter.book(key, door.interval, self._horizon, len(door.waiters), lead)
                self._round_trip = self._round_trip * 0.7 + (self._clock() - asked) * 0.3
                for slot in booking.slots:
                    while door.waiters:
                        waiter = door.waiters.popleft()
                        if not waiter.future.done():
                            waiter.future.set_result((True, slot))
                            break
                if not booking.slots:
                    self._hand_back_late(door, booking.retry_at + self._horizon)
                    await asyncio.sleep(max(0.0, booking.retry_at - self._clock()))
        except Exception as exc:  # the store is unreachable: every waiter is handed back, to try again later
            retry_at = self._clock() + max(door.interval, 1.0)
            for waiter in door.waiters:
                if not waiter.future.done():
                    waiter.future.set_result((False, retry_at))
            door.waiters.clear()
            log.warning("rate limiter for %s unavailable: %s", key, type(exc).__name__)
        finally:
            door.task = None
            if self._doors.get(key) is door and not door.waiters:
                del self._doors[key]

    @staticmethod
    def _hand_back_late(door: _Door, first_slot: float) -> None:
        """Waiters whose deadline comes before the first slot any of them could get are handed back now."""
        kept: collections.deque[_Waiter] = collections.deque()
        for waiter in door.waiters:
            if waiter.future.done():
                continue
            if waiter.deadline < first_slot:
                waiter.future.set_result((False, first_slot))
            else:
                kept.append(waiter)
        door.waiters = kept
