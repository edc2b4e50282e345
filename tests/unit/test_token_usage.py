"""Token last-use recording: one write per token per minute, in the background, never backwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Token
from gateway.services.tokens import TokenService, TokenUsage
from tests.conftest import eventually


async def _last_used(engine: AsyncEngine, token_id: str) -> float | None:
    async with engine.connect() as conn:
        return await conn.scalar(select(Token.last_used_at).where(Token.id == token_id))  # type: ignore[no-any-return]


async def test_a_thousand_uses_in_a_minute_make_one_write(engine: AsyncEngine, committer: GroupCommitter) -> None:
    token = (await TokenService(engine).create("a" * 64, company="acme", user="u", role="company-admin")).id
    usage = TokenUsage(committer.submit, interval=60)
    queued = [usage.touch(token, 1000.0 + i * 0.059) for i in range(1000)]
    assert queued.count(True) == 1 and queued[0]
    await eventually(lambda: usage.writes == 1)
    assert await _last_used(engine, token) == 1000.0
    assert committer.ops == 1

    assert usage.touch(token, 1060.0)
    await eventually(lambda: usage.writes == 2)
    assert await _last_used(engine, token) == 1060.0


async def test_tokens_are_tracked_apart_and_never_move_backwards(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    first = (await TokenService(engine).create("b" * 64, company="acme", user="u", role="company-admin")).id
    second = (await TokenService(engine).create("c" * 64, company="acme", user="v", role="company-admin")).id
    here, elsewhere = TokenUsage(committer.submit), TokenUsage(committer.submit)
    assert here.touch(first, 2000.0)
    assert here.touch(second, 2000.5)
    await eventually(lambda: here.writes == 1)  # both uses came before the background write: one batch
    assert await _last_used(engine, second) == 2000.5
    # Another process that saw the token earlier writes late: the newer time stays.
    assert elsewhere.touch(first, 1500.0)
    await eventually(lambda: elsewhere.writes == 1)
    assert await _last_used(engine, first) == 2000.0


async def test_a_failing_write_is_logged_not_raised(engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    stopped = GroupCommitter(engine)  # never started: every submit fails
    usage = TokenUsage(stopped.submit)
    assert usage.touch("tok_x", 1.0)
    await eventually(lambda: "could not record token use" in caplog.text)
    assert usage.writes == 0
