"""The audit trail: who created or revoked which token, and when, per company."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.ids import new_id
from gateway.db.models import AuditEvent, record_fields, table

__all__ = ["CLI", "Actor", "AuditRecord", "AuditService", "write_audit"]


@dataclass(frozen=True)
class Actor:
    """Who acts: the API token and its user, or the command line (no token)."""

    token_id: str | None
    user_id: str


CLI = Actor(token_id=None, user_id="cli")
"""The operator at ``blue-gateway`` with database access."""


@dataclass(frozen=True)
class AuditRecord:
    """One audited action on a token."""

    id: str
    company_id: str
    at: float
    action: str
    actor_token_id: str | None
    actor_user_id: str
    target_id: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditRecord:
        """The record of an ``audit_events`` row."""
        return cls(**record_fields(cls, row, detail=dict(row.detail or {})))


async def write_audit(
    conn: AsyncConnection, company: str, actor: Actor, action: str, target: str, at: float, **detail: Any
) -> None:
    """Add one audit row inside the caller's transaction, so the action and its record commit together."""
    await conn.execute(
        table(AuditEvent)
        .insert()
        .values(
            id=new_id("aud"),
            company_id=company,
            at=at,
            action=action,
            actor_token_id=actor.token_id,
            actor_user_id=actor.user_id,
            target_id=target,
            detail=detail,
        )
    )


class AuditService:
    """Reads a company's audit trail."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(self, company: str, target: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """The company's audit rows (or one target's), newest first."""
        query = select(table(AuditEvent)).where(AuditEvent.company_id == company)
        if target is not None:
            query = query.where(AuditEvent.target_id == target)
        query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [AuditRecord.from_row(row) for row in await conn.execute(query)]
