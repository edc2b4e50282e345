"""Fixtures of the unit tests that need a real database file: a group committer over the module's engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
