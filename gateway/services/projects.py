"""Projects service: the projects a company has seen in its recent events and in its webhooks' project lists.

The gateway keeps no project table (projects are Blue's); this is what a picker, such as the Zapier app's
project dropdown, can offer without asking Blue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.models import Event, Webhook

__all__ = ["RECENT_EVENTS", "SeenProject", "project_name", "seen_projects"]

RECENT_EVENTS = 10_000
"""How many of a company's newest events are looked at: enough to find every active project, and bounded."""
MAX_PROJECTS = 200
"""At most this many projects are answered (a dropdown, not an export)."""

_NAME_PATHS: tuple[tuple[str, ...], ...] = (
    ("todoList", "project", "name"),
    ("project", "name"),
    ("todo", "todoList", "project", "name"),
)


@dataclass(frozen=True)
class SeenProject:
    """A project id, its name when an event carried one, and when the newest event of it was received."""

    id: str
    name: str | None
    last_event_at: float | None


def project_name(envelope: Mapping[str, Any]) -> str | None:
    """The project's name from an event's values (``todoList.project.name``, ``project.name`` ...), if any."""
    for side in ("currentValue", "previousValue"):
        value = envelope.get(side)
        for path in _NAME_PATHS:
            found: Any = value
            for key in path:
                found = found.get(key) if isinstance(found, Mapping) else None
            if isinstance(found, str) and found.strip():
                return found
    return None


async def seen_projects(
    engine: AsyncEngine, company_id: str, only: Iterable[str] | None = None
) -> list[SeenProject]:
    """Projects of ``company_id``'s newest events and webhooks, newest activity first.

    ``only`` limits the answer to those ids, and every one of them is listed even when no event has been
    seen for it (a project-admin token's own projects).
    """
    allowed = None if only is None else set(only)
    recent = (
        select(Event.id, Event.project_id, Event.created_at)
        .where(Event.company_id == company_id, Event.project_id.is_not(None))
        .order_by(Event.created_at.desc())
        .limit(RECENT_EVENTS)
        .subquery()
    )
    newest = select(recent.c.project_id, func.max(recent.c.id), func.max(recent.c.created_at)).group_by(
        recent.c.project_id
    )
    async with engine.connect() as conn:
        rows = [tuple(row) for row in await conn.execute(newest)]
        rows = [row for row in rows if allowed is None or row[0] in allowed]
        rows.sort(key=lambda row: (-row[2], row[0]))
        rows = rows[:MAX_PROJECTS]
        payloads = {}
        if rows:
            found = await conn.execute(
                select(Event.id, Event.payload).where(Event.id.in_([row[1] for row in rows]))
            )
            payloads = {event_id: payload for event_id, payload in found}
        hooked: set[str] = set()
        for (project_ids,) in await conn.execute(
            select(Webhook.project_ids).where(Webhook.company_id == company_id)
        ):
            hooked.update(str(p) for p in project_ids or ())
    projects = [SeenProject(row[0], _name_of(payloads.get(row[1])), row[2]) for row in rows]
    listed = {p.id for p in projects}
    rest = (hooked | (allowed or set())) - listed
    if allowed is not None:
        rest &= allowed
    projects.extend(SeenProject(p, None, None) for p in sorted(rest))
    return projects[:MAX_PROJECTS]


def _name_of(payload: str | None) -> str | None:
    if payload is None:
        return None
    try:
        envelope = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return project_name(envelope) if isinstance(envelope, Mapping) else None
