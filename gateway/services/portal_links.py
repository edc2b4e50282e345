"""Portal links: single-use URLs that open a portal session for one company, or some of its projects.

Only a link's SHA-256 is stored. Opening a link marks it used in the same statement that checks it is
unused and unexpired, so two concurrent openings cannot both succeed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.ids import new_id
from gateway.db.models import PortalLink, record_fields, table
from gateway.services.errors import Invalid
from gateway.services.tokens import hash_token

__all__ = [
    "DEFAULT_LINK_MINUTES",
    "MAX_LINK_MINUTES",
    "LinkRefused",
    "PortalLinkRecord",
    "PortalLinkService",
    "link_path",
]

DEFAULT_LINK_MINUTES: Final = 10
MAX_LINK_MINUTES: Final = 60
KEEP_USED: Final = 86400.0
"""Used and expired links are deleted a day after their expiry, when the next link is made."""


def link_path(token: str) -> str:
    """The path that opens the portal with a link's token."""
    return f"/portal/links/{token}"


class LinkRefused(Exception):
    """A link that cannot be opened: unknown, already used, or expired (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PortalLinkRecord:
    """A stored link (never its token): whom it lets in, and until when it may be opened."""

    id: str
    company_id: str
    user_id: str
    projects: tuple[str, ...]
    created_by: str
    created_at: float
    expires_at: float
    used_at: float | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> PortalLinkRecord:
        """The record of a ``portal_links`` row."""
        return cls(**record_fields(cls, row, projects=tuple(row.projects or ())))


def _clean_projects(projects: Sequence[str]) -> list[str]:
    cleaned = sorted({p.strip() for p in projects if p.strip()})
    if any(len(p) > 128 for p in cleaned):
        raise Invalid("projects", "a project id has at most 128 characters")
    if len(cleaned) > 100:
        raise Invalid("projects", "at most 100 projects")
    return cleaned


class PortalLinkService:
    """Make and open portal links (the API and the CLI alike), in the database behind ``engine``."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def create(
        self,
        company_id: str,
        *,
        projects: Sequence[str] = (),
        minutes: int = DEFAULT_LINK_MINUTES,
        user_id: str = "portal",
        created_by: str = "cli",
    ) -> tuple[PortalLinkRecord, str]:
        """Store a link; returns it and its token (shown this once)."""
        if not 1 <= minutes <= MAX_LINK_MINUTES:
            raise Invalid("expiresInMinutes", f"must be from 1 to {MAX_LINK_MINUTES}")
        if not company_id.strip() or len(company_id) > 64:
            raise Invalid("company", "must be 1 to 64 characters")
        if not user_id.strip() or len(user_id) > 128:
            raise Invalid("user", "must be 1 to 128 characters")
        token = "bgp_" + secrets.token_urlsafe(32)
        now = self._clock()
        values: dict[str, Any] = {
            "id": new_id("pl"),
            "token_hash": hash_token(token),
            "company_id": company_id,
            "user_id": user_id,
            "projects": _clean_projects(projects),
            "created_by": created_by[:40],
            "created_at": now,
            "expires_at": now + minutes * 60,
            "used_at": None,
        }

        links = table(PortalLink)
        async with self._engine.begin() as conn:
            await conn.execute(delete(links).where(links.c.expires_at < now - KEEP_USED))
            await conn.execute(links.insert().values(**values))
            row = (await conn.execute(select(links).where(links.c.id == values["id"]))).one()
        return PortalLinkRecord.from_row(row), token

    async def redeem(self, token: str) -> PortalLinkRecord:
        """Mark the link used and return it; :class:`LinkRefused` when unknown, used or expired."""
        digest, now, links = hash_token(token), self._clock(), table(PortalLink)
        claimed = 0
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(links).where(links.c.token_hash == digest))).first()
            if row is not None and row.used_at is None and row.expires_at > now:
                # Checked again in the statement itself: of two concurrent openings, one changes the row.
                result = await conn.execute(
                    update(links)
                    .where(links.c.id == row.id, links.c.used_at.is_(None), links.c.expires_at > now)
                    .values(used_at=now)
                )
                claimed = int(result.rowcount or 0)
        if row is None:
            raise LinkRefused("unknown")
        if claimed:
            return PortalLinkRecord.from_row(row)
        if row.used_at is not None or row.expires_at > now:
            raise LinkRefused("used")
        raise LinkRefused("expired")
