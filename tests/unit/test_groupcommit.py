"""Group commit and coalescing on a real SQLite file: shared transactions, isolation of a failing op."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
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


async def test_an_op_whose_row_cannot_be_serialised_fails_alone(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    async def insert(name: str, payload: object) -> None:
        async def op(conn: AsyncConnection) -> None:
            await conn.execute(ITEMS.insert().values(name=name))
            orjson.dumps(payload)  # after a write, as a row serialised inside the transaction would be

        await committer.submit(op)

    results = await asyncio.gather(
        insert("a", {"n": 1}), insert("bad", {"n": 2**70}), insert("b", {"n": 2}), return_exceptions=True
    )
    assert [type(r) for r in results] == [type(None), TypeError, type(None)]
    async with engine.connect() as conn:
        names = sorted((await conn.execute(select(ITEMS.c.name))).scalars())
    assert names == ["a", "b"]  # nothing of the failed op was kept


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


async def _serialising_batch(conn: AsyncConnection, items: Sequence[tuple[str, object]]) -> list[str]:
    """Like ingest: one statement for every caller's rows, each row's payload serialised on the way."""
    rows = [{"name": name + ":" + orjson.dumps(payload).decode()} for name, payload in items]
    await conn.execute(ITEMS.insert(), rows)
    return [name for name, _ in items]


async def test_a_coalesced_item_that_cannot_be_serialised_fails_only_its_caller(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    calls: list[int] = []

    async def batch(conn: AsyncConnection, items: Sequence[tuple[str, object]]) -> list[str]:
        calls.append(len(items))
        return await _serialising_batch(conn, items)

    coalescer: Coalescer[tuple[str, object], str] = Coalescer(committer, batch)
    results = await asyncio.gather(
        coalescer.submit(("company-a", 1)),
        coalescer.submit(("company-bad", 2**70)),
        coalescer.submit(("company-b", [2])),
        return_exceptions=True,
    )
    assert results[0] == "company-a" and results[2] == "company-b"
    assert isinstance(results[1], TypeError)
    assert calls[0] == 3  # they did share one statement before the failure split them
    async with engine.connect() as conn:
        names = sorted((await conn.execute(select(ITEMS.c.name))).scalars())
    assert names == ["company-a:1", "company-b:[2]"]


async def test_a_coalesced_constraint_failure_reaches_only_the_offending_caller(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    async def batch(conn: AsyncConnection, names: Sequence[str]) -> list[None]:
        await conn.execute(ITEMS.insert(), [{"name": n} for n in names])
        return [None for _ in names]

    coalescer: Coalescer[str, None] = Coalescer(committer, batch)
    results = await asyncio.gather(
        coalescer.submit("same"), coalescer.submit("same"), coalescer.submit("other"), return_exceptions=True
    )
    assert [type(r) for r in results] == [type(None), IntegrityError, type(None)]
    assert await _count(engine) == 2


async def test_an_unreachable_database_fails_every_caller_without_retrying_each(
    committer: GroupCommitter,
) -> None:
    calls: list[int] = []

    async def batch(conn: AsyncConnection, names: Sequence[str]) -> list[None]:
        calls.append(len(names))
        raise OperationalError("INSERT", {}, ConnectionRefusedError("refused"))

    coalescer: Coalescer[str, None] = Coalescer(committer, batch)
    results = await asyncio.gather(*(coalescer.submit(f"n{i}") for i in range(20)), return_exceptions=True)
    assert all(isinstance(r, DatabaseUnavailable) for r in results)
    assert calls == [20]  # one shared attempt, no attempt per item


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
