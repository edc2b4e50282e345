"""Token lookups: requests that miss the cache together read the token's row once, and share the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api.auth import Principal, TokenLookups, look_up_principal, new_token_cache
from gateway.core.ttlcache import TtlCache
from gateway.services.tokens import TokenService, hash_token, new_token


@dataclass
class Lookups:
    """One stored token and the state of one API process's lookups."""

    token: str
    runtime: Any
    lookups: TokenLookups = field(default_factory=dict)
    cache: TtlCache[str, Principal | None] = field(default_factory=new_token_cache)

    def look_up(self, digest: str | None = None) -> Coroutine[Any, Any, Principal | None]:
        return look_up_principal(self.lookups, self.cache, self.runtime, digest or hash_token(self.token))


@pytest.fixture
async def state(engine: AsyncEngine) -> Lookups:
    token = new_token()
    await TokenService(engine).create(hash_token(token), company="acme", user="u1", role="company-admin")
    return Lookups(token, SimpleNamespace(db=engine, clock=lambda: 1000.0))


def _token_reads(engine: AsyncEngine) -> list[str]:
    """Every SELECT on the tokens table the engine runs from now on."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM tokens" in statement:
            seen.append(statement)

    return seen


async def test_fifty_requests_missing_the_cache_read_the_token_once(engine: AsyncEngine, state: Lookups) -> None:
    reads = _token_reads(engine)

    found = await asyncio.gather(*(state.look_up() for _ in range(50)))

    assert len(reads) == 1
    assert all(p is not None and (p.company_id, p.user_id) == ("acme", "u1") for p in found)
    assert state.cache.get(hash_token(state.token))[0] and not state.lookups
    unknown = await asyncio.gather(*(state.look_up("0" * 64) for _ in range(5)))
    assert unknown == [None] * 5 and len(reads) == 2


async def test_a_waiter_that_gives_up_does_not_cancel_the_others_lookup(state: Lookups) -> None:
    leaving = asyncio.ensure_future(state.look_up())
    staying = asyncio.ensure_future(state.look_up())
    await asyncio.sleep(0)  # both wait for the one lookup
    leaving.cancel()
    principal = await staying
    assert principal is not None and principal.user_id == "u1"
    assert leaving.cancelled()
