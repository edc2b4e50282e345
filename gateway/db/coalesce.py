"""Coalescing: many callers' items become one set-based database operation inside a group commit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.groupcommit import DatabaseUnavailable, GroupCommitter

__all__ = ["Coalescer"]

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result

BatchOp = Callable[[AsyncConnection, Sequence[I]], Awaitable[Sequence[R]]]


class Coalescer(Generic[I, R]):
    """``submit(item)`` from many tasks; the items of one loop turn run as one ``batch(conn, items)``.

    Where the group committer saves transactions, this saves statements: a hundred claims become one
    ``UPDATE ... WHERE id IN (...) RETURNING`` instead of a hundred.
    """

    def __init__(self, committer: GroupCommitter, batch: BatchOp[I, R], max_batch: int = 500) -> None:
        self._committer = committer
        self._batch = batch
        self._max_batch = max_batch
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: I) -> R:
        """Queue one item and wait for its result (after the commit)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    async def drain(self) -> None:
        """Send what is queued now and wait until every batch in flight has been committed (or failed)."""
        self._flush()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        group, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, group: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in group]
        try:
            results = await self._committer.submit(lambda conn: self._batch(conn, items))
        except DatabaseUnavailable as exc:
            _fail(group, exc)  # no item can succeed: retrying each alone would only add load
            return
        except Exception as exc:
            if len(group) == 1:
                _fail(group, exc)
                return
            # One item's row could not be written (unserialisable, a constraint): each item is tried
            # alone, so only the callers whose item fails get the error.
            await asyncio.gather(*(self._run([entry]) for entry in group))
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


def _fail(group: list[tuple[I, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
