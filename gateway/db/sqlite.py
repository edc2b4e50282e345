"""SQLite through aiosqlite in one trip to its thread per statement, instead of three or four.

aiosqlite runs every call on the connection's own thread and hands the result back to the event loop,
which picks it up on its next turn. SQLAlchemy's adapter makes one such call to open a cursor, one to
execute, one to fetch and one to close it, and a rollback when a connection goes back to its pool
even if nothing is open. Under load a loop turn takes milliseconds, so a group commit of three
statements waited a dozen turns. Here a statement is executed, fetched and closed in a single call,
and a commit or rollback with no transaction open costs no call at all.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

__all__ = ["one_trip_dbapi"]


class _Outcome:
    """What SQLAlchemy reads from a cursor once its statement ran: filled in on the SQLite thread."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def close(self) -> None:
        """Nothing to release: the SQLite cursor was closed on its thread."""


def _run(db: sqlite3.Connection, out: _Outcome, operation: str, parameters: Any, many: bool) -> list[Any]:
    """On the SQLite thread: execute, note the outcome, fetch every row, close the cursor."""
    cursor = db.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        out.description = cursor.description
        out.rowcount = cursor.rowcount
        out.lastrowid = cursor.lastrowid
        return cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Outcome()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            conn = self._connection
            rows: Sequence[Any] = await conn._execute(_run, conn._conn, self._cursor, operation, parameters, many)
            if self._cursor.description:
                self._rows = collections.deque(rows)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor

    def _open(self) -> bool:
        """A transaction is open on the SQLite connection (readable from any thread)."""
        db = self._connection._connection
        return db is not None and bool(db.in_transaction)

    def rollback(self) -> None:
        """Roll back, without a trip to the thread when nothing is open."""
        if self._open():
            super().rollback()

    def commit(self) -> None:
        """Commit, without a trip to the thread when nothing is open (a read-only transaction)."""
        if self._open():
            super().commit()


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        plain = super().connect(*arg, **kw)
        return _OneTripConnection(self, plain._connection)


_HOOKS = ("_execute_async", "_executemany_async", "_make_new_cursor", "_aenter_cursor")


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi | None:
    """The aiosqlite DBAPI for ``create_async_engine(..., module=...)``.

    None when SQLAlchemy's adapter lacks the hooks this builds on (they arrived in 2.1): the engine
    then uses SQLAlchemy's own, with its extra trips.
    """
    if not all(hasattr(AsyncAdapt_aiosqlite_cursor, hook) for hook in _HOOKS):
        return None
    import aiosqlite

    return _OneTripDbapi(aiosqlite, sqlite3)
