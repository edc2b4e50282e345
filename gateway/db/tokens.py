"""API tokens in the database: created here for the CLI and the tests alike."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.ids import new_id
from gateway.db.models import Company, Token, table

__all__ = ["create_token"]


async def create_token(
    engine: AsyncEngine,
    token_hash: str,
    *,
    company: str,
    user: str,
    role: str,
    projects: Sequence[str] = (),
    scopes: Sequence[str] = ("manage", "ingest"),
) -> str:
    """Store a token's hash (creating the company on first use); returns the token's id."""
    now = time.time()
    token_id = new_id("tok")
    async with engine.begin() as conn:
        if await conn.scalar(select(Company.id).where(Company.id == company)) is None:
            await conn.execute(table(Company).insert().values(id=company, created_at=now))
        await conn.execute(
            table(Token)
            .insert()
            .values(
                id=token_id,
                token_hash=token_hash,
                company_id=company,
                user_id=user,
                role=role,
                projects=list(projects),
                scopes=list(scopes),
                created_at=now,
                revoked_at=None,
            )
        )
    return token_id
