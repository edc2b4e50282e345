"""Group commit: many small write operations share one transaction (ARCHITECTURE "ingest path")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["DatabaseUnavailable", "GroupCommitter", "WriteOp"]

T = TypeVar("T")
WriteOp = Callable[[AsyncConnection], Awaitable[Any]]
log = logging.getLogger("gateway.db")


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or refused the write; callers answer 503."""


class GroupCommitter:
    """Runs submitted operations in shared transactions; each caller's future resolves after the commit.

    Operations run one after another on a single connection, so later ones see earlier ones' rows.
    If a shared transaction fails, every operation of the group is retried alone so that one bad
    operation cannot fail its neighbours.
    """

    def __init__(self, engine: AsyncEngine, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[WriteOp, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        """Start the writer task on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self, wait: float | None = None) -> None:
        """Finish what is queued (for at most ``wait`` seconds), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), wait)
        except TimeoutError:
            log.warning(
                "stopped with %d writes unsaved: the database did not take them in time", self._queue.qsize()
            )
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        while not self._queue.empty():  # callers still waiting learn that their write was not saved
            _, future = self._queue.get_nowait()
            self._queue.task_done()
            if not future.done():
                future.set_exception(DatabaseUnavailable("stopped before this write was saved"))

    async def submit(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Queue ``op`` and wait until its transaction committed; returns what ``op`` returned."""
        if self._task is None:
            raise RuntimeError("GroupCommitter is not started")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            group = [first]
            while len(group) < self._max_batch and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self._commit_group(group)
            except asyncio.CancelledError:  # stopped mid-transaction: its callers must not count on it
                for _, future in group:
                    if not future.done():
                        future.set_exception(DatabaseUnavailable("stopped before this write was saved"))
                raise
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _commit_group(self, group: list[tuple[WriteOp, asyncio.Future[Any]]]) -> None:
        live = [(op, fut) for op, fut in group if not fut.done()]
        if not live:
            return
        results: list[Any] = []
        try:
            async with self._engine.begin() as conn:
                for op, _ in live:
                    results.append(await op(conn))
        except Exception as exc:
            if len(live) == 1:
                self._fail(live[0][1], exc)
                return
            for op, fut in live:
                await self._commit_alone(op, fut)
            return
        self.batches += 1
        self.ops += len(live)
        for (_, fut), result in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _commit_alone(self, op: WriteOp, fut: asyncio.Future[Any]) -> None:
        try:
            async with self._engine.begin() as conn:
                result = await op(conn)
        except Exception as exc:
            self._fail(fut, exc)
            return
        self.batches += 1
        self.ops += 1
        if not fut.done():
            fut.set_result(result)

    @staticmethod
    def _fail(fut: asyncio.Future[Any], exc: Exception) -> None:
        if _unreachable(exc):
            log.warning("database write failed: %s", type(exc).__name__)
            exc = DatabaseUnavailable(str(exc.__class__.__name__))
        if not fut.done():
            fut.set_exception(exc)


def _unreachable(exc: Exception) -> bool:
    """The database (not one operation's rows) failed: a lost connection, an outage, a timeout.

    Anything else (a constraint, a value the column refuses) belongs to the operation that wrote it.
    """
    if isinstance(exc, OperationalError | InterfaceError | OSError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
