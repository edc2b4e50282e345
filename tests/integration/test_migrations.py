"""Alembic migrations on SQLite and PostgreSQL: they build exactly the models, and upgrade old data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import make_engine
from gateway.db.migrate import alembic_config, upgrade
from gateway.db.models import Base, Token


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(sync_conn: Any) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
    return str(request.getfixturevalue("pg_url"))


async def test_tokens_from_before_expiry_survive_the_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine, "head")
        await _downgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO companies (id, created_at) VALUES ('acme', 1)"))
            await conn.execute(
                text(
                    "INSERT INTO tokens (id, token_hash, company_id, user_id, role, projects, scopes, created_at)"
                    " VALUES ('tok_old', :h, 'acme', 'u', 'company-admin', '[]', '[\"manage\"]', 1)"
                ),
                {"h": "d" * 64},
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(Token.id, Token.expires_at, Token.last_used_at, Token.created_by))
            ).one()
            assert tuple(row) == ("tok_old", None, None, None)  # its creator is not known
            drift = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert drift == [], "the migrations and gateway/db/models.py disagree"
    finally:
        await engine.dispose()
