"""The one place that turns a database URL into an engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.db.sqlite import one_trip_dbapi

__all__ = ["make_engine"]


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, full fsync and a busy timeout so readers never block the writer.

    SQLite statements make one trip each to aiosqlite's thread (:mod:`gateway.db.sqlite`).
    """
    if url.startswith("sqlite"):
        module = one_trip_dbapi() if url.startswith("sqlite+aiosqlite") else None
        if module is not None:
            kwargs.setdefault("module", module)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)
