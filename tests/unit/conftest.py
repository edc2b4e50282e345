"""Fixtures of the unit tests that need a real database file: the gateway's schema, a group committer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import make_engine
from gateway.db.groupcommit import GroupCommitter
from gateway.db.migrate import upgrade


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite file with the gateway's migrated schema (a test module may define its own ``engine``)."""
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def committer(engine: AsyncEngine) -> AsyncIterator[GroupCommitter]:
    """A running committer over the ``engine`` fixture the test module defines; stopped after the test."""
    gc = GroupCommitter(engine)
    gc.start()
    yield gc
    await gc.stop()


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The root logger's handlers and level as they were before the test (which may configure logging)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
