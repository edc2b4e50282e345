"""Fixtures of the unit tests that need a real database file: a group committer over the module's engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.groupcommit import GroupCommitter


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
