"""Alembic, driven from code: ``blue-gateway migrate`` and the embedded default's self-migration."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "upgrade"]


def alembic_config(url: str) -> Config:
    """An Alembic config whose scripts ship inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", "gateway.db:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` on the engine's database."""

    def _run(sync_conn: Any) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)
