"""SQLite statements make one trip to aiosqlite's thread each, and still behave as SQLAlchemy promises."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

META = MetaData()
ROWS = Table("rows", META, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture(autouse=True)
async def rows_table(engine: AsyncEngine) -> None:
    """The ``rows`` table beside the gateway's own, in the shared SQLite ``engine``."""
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    """Every call aiosqlite hands to its thread, by the name of the function it runs there."""
    seen: collections.Counter[str] = collections.Counter()
    real = aiosqlite.core.Connection._execute

    async def counted(self: aiosqlite.core.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen[getattr(fn, "__name__", type(fn).__name__)] += 1
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
    yield seen


async def test_a_transaction_of_three_statements_takes_four_trips(
    engine: AsyncEngine, trips: collections.Counter[str]
) -> None:
    async with engine.connect() as conn:  # the pool holds a connection before counting starts
        await conn.execute(text("SELECT 1"))
    trips.clear()
    async with engine.begin() as conn:
        await conn.execute(ROWS.insert(), [{"name": "a"}, {"name": "b"}])
        inserted = await conn.execute(ROWS.insert().values(name="c"))
        found = (await conn.execute(select(ROWS.c.name).order_by(ROWS.c.name))).scalars().all()
    assert found == ["a", "b", "c"]
    assert inserted.inserted_primary_key == (3,)
    assert sum(trips.values()) == 4, trips  # three statements and the commit, nothing else
    assert trips["commit"] == 1


async def test_reads_alone_cost_no_commit_or_rollback_trip(
    engine: AsyncEngine, trips: collections.Counter[str]
) -> None:
    async with engine.begin() as conn:
        await conn.execute(ROWS.insert().values(name="x"))
    trips.clear()
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ROWS)) == 1
    assert sum(trips.values()) == 1, trips


async def test_rowcount_returning_and_errors_are_those_of_sqlite(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(ROWS.insert(), [{"name": n} for n in ("a", "b", "c")])
        updated = await conn.execute(ROWS.update().where(ROWS.c.name != "a").values(name=ROWS.c.name + "!"))
        assert updated.rowcount == 2
        returned = await conn.execute(ROWS.delete().where(ROWS.c.name == "b!").returning(ROWS.c.id))
        assert returned.scalars().all() == [2]
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(ROWS.insert().values(name="z"))
            await conn.execute(ROWS.insert().values(name="a"))  # unique
    async with engine.connect() as conn:  # the failed transaction left nothing behind
        names = (await conn.execute(select(ROWS.c.name).order_by(ROWS.c.id))).scalars().all()
    assert names == ["a", "c!"]
