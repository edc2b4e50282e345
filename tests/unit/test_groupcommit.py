"""Group commit and coalescing on a real SQLite file: shared transactions, isolation of a failing op."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.db.coalesce import Coalescer
from gateway.db.engine import make_engine
from gateway.db.groupcommit import DatabaseUnavailable, GroupCommitter

META = MetaData()
ITEMS = Table("items", META, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path}/gc.db")
    async with eng.begin() as conn:
        await conn.run_sync(META.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
async def committer(engine: AsyncEngine) -> AsyncIterator[GroupCommitter]:
    gc = GroupCommitter(engine)
    gc.start()
    yield gc
    await gc.stop()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ITEMS)) or 0)


async def test_concurrent_ops_share_transactions(engine: AsyncEngine, committer: GroupCommitter) -> None:
    async def insert(name: str) -> str:
        async def op(conn: AsyncConnection) -> str:
            await conn.execute(ITEMS.insert().values(name=name))
            return name

        return await committer.submit(op)

    names = await asyncio.gather(*(insert(f"n{i}") for i in range(200)))
    assert names == [f"n{i}" for i in range(200)]
    assert await _count(engine) == 200
    assert committer.ops == 200
    assert committer.batches < 20, f"{committer.batches} transactions for 200 ops"


async def test_a_failing_op_does_not_take_its_neighbours_down(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    async def insert(name: str) -> None:
        await committer.submit(lambda conn: conn.execute(ITEMS.insert().values(name=name)))

    results = await asyncio.gather(insert("a"), insert("dup"), insert("dup"), insert("b"), return_exceptions=True)
    assert [type(r) for r in results].count(IntegrityError) == 1
    async with engine.connect() as conn:
        names = sorted((await conn.execute(select(ITEMS.c.name))).scalars())
    assert names == ["a", "b", "dup"]


async def test_coalescer_turns_many_items_into_one_statement(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    calls: list[int] = []

    async def batch(conn: AsyncConnection, names: Sequence[str]) -> list[int]:
        calls.append(len(names))
        await conn.execute(ITEMS.insert(), [{"name": n} for n in names])
        return [len(n) for n in names]

    coalescer: Coalescer[str, int] = Coalescer(committer, batch)
    results = await asyncio.gather(*(coalescer.submit("x" * (i + 1)) for i in range(50)))
    assert results == list(range(1, 51))
    assert calls == [50]
    assert await _count(engine) == 50


async def test_coalesced_failure_reaches_every_caller(engine: AsyncEngine, committer: GroupCommitter) -> None:
    async def batch(conn: AsyncConnection, names: Sequence[str]) -> list[None]:
        await conn.execute(ITEMS.insert(), [{"name": n} for n in names])
        return [None for _ in names]

    coalescer: Coalescer[str, None] = Coalescer(committer, batch)
    results = await asyncio.gather(coalescer.submit("same"), coalescer.submit("same"), return_exceptions=True)
    assert all(isinstance(r, IntegrityError) for r in results)
    assert await _count(engine) == 0  # nothing half-saved


async def test_stop_is_bounded_and_tells_waiting_callers_their_write_was_not_saved(engine: AsyncEngine) -> None:
    gc = GroupCommitter(engine)
    gc.start()
    started, stuck = asyncio.Event(), asyncio.Event()

    async def hangs(conn: AsyncConnection) -> None:
        started.set()
        await stuck.wait()  # a database that stopped answering

    async def insert(conn: AsyncConnection) -> None:
        await conn.execute(ITEMS.insert().values(name="queued"))

    first = asyncio.create_task(gc.submit(hangs))
    await started.wait()  # the writer is inside the first transaction; the second op waits in the queue
    second = asyncio.create_task(gc.submit(insert))
    await asyncio.wait_for(gc.stop(wait=0.2), timeout=5)
    for caller in (first, second):
        with pytest.raises(DatabaseUnavailable):
            await caller
    assert await _count(engine) == 0


async def test_drain_commits_items_whose_callers_were_cancelled(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    async def insert_all(conn: AsyncConnection, names: Sequence[str]) -> list[None]:
        await conn.execute(ITEMS.insert(), [{"name": n} for n in names])
        return [None] * len(names)

    coalescer: Coalescer[str, None] = Coalescer(committer, insert_all)
    callers = [asyncio.create_task(coalescer.submit(f"n{i}")) for i in range(5)]
    await asyncio.sleep(0)  # one loop turn: the callers (ready first) hand their items in
    for caller in callers:
        caller.cancel()  # a shutdown cut these callers off after they handed their items in
    await coalescer.drain()
    assert await _count(engine) == 5
