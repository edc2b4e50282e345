"""Event ingest: the one event request type, its checks, matching, and the write of events with deliveries.

An event is checked once: :func:`parse_event` turns a decoded JSON value into an :class:`EventIn`
(shapes), :func:`prepare` checks its values and matches it. Routes whose body Litestar already
decoded into :class:`EventIn` skip the first step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.core.catalog import derive_project_id
from gateway.core.ids import new_id
from gateway.core.matching import MatchIndex
from gateway.core.operational import OPERATIONAL_PREFIX, is_operational
from gateway.services.errors import Invalid

if TYPE_CHECKING:
    from gateway.ingest import Ingestor

__all__ = [
    "EventIn",
    "EventService",
    "IngestResult",
    "InvalidEvent",
    "PreparedEvent",
    "parse_event",
    "prepare",
    "prepare_event",
]

MAX_EVENT_NAME = 100
MAX_ID = 200
MAX_PROJECT_ID = 128  # as in a webhook's projectIds and the events.project_id column


class InvalidEvent(Invalid):
    """An event that cannot be accepted; ``field`` names the offending field."""


class EventIn(msgspec.Struct, omit_defaults=True):
    """A Blue event as posted to the gateway."""

    event: str
    id: str | int | None = None
    occurredAt: str | None = None
    projectId: str | int | None = None
    user: dict[str, Any] | None = None
    previousValue: Any = None
    currentValue: Any = None


@dataclass(frozen=True)
class PreparedEvent:
    """An event ready to be written: its envelope, project and the webhooks it matched."""

    event_id: str
    external_id: str
    company_id: str
    name: str
    project_id: str | None
    envelope: dict[str, Any]
    webhook_ids: tuple[str, ...]
    receipt: tuple[str, str] | None = None
    """(source id, body hash) for Blue's own deliveries, which carry no event id: deduplicated for 24 h."""


@dataclass(frozen=True)
class IngestResult:
    """One event's answer: its id, deliveries created, and whether it was a duplicate."""

    id: str
    deliveries: int
    duplicate: bool
    work: tuple[tuple[str, str], ...] = ()
    """(delivery id, webhook id) of each delivery created."""


def _id_like(raw: Mapping[str, Any], key: str) -> str | int | None:
    value = raw.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise InvalidEvent(key, "must be a string")
    return value


def parse_event(raw: object) -> EventIn:
    """The event in a decoded JSON value, its fields' shapes checked; raises :class:`InvalidEvent`."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent("body", "an event must be a JSON object")
    name = raw.get("event")
    if not isinstance(name, str):
        raise InvalidEvent("event", "is required and must be a non-empty string")
    occurred_at = raw.get("occurredAt")
    if occurred_at is not None and not isinstance(occurred_at, str):
        raise InvalidEvent("occurredAt", "must be an RFC 3339 string")
    user = raw.get("user")
    if user is not None and not isinstance(user, Mapping):
        raise InvalidEvent("user", 'must be an object such as {"id": "u1"}')
    return EventIn(
        event=name,
        id=_id_like(raw, "id"),
        occurredAt=occurred_at,
        projectId=_id_like(raw, "projectId"),
        user=None if user is None else dict(user),
        previousValue=raw.get("previousValue"),
        currentValue=raw.get("currentValue"),
    )


def _text(value: str | int | None, key: str, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text or len(text) > limit:
        raise InvalidEvent(key, f"must be 1 to {limit} characters")
    return text


def prepare(
    event: EventIn, company_id: str, index: MatchIndex | None, now: float, *, gateway_event: bool = False
) -> PreparedEvent:
    """Check an event's values and match it (``index=None``: match nothing); raises :class:`InvalidEvent`.

    ``gateway.*`` names are refused unless ``gateway_event`` (the gateway's own test sends).
    """
    name = event.event
    if not name.strip():
        raise InvalidEvent("event", "is required and must be a non-empty string")
    if len(name) > MAX_EVENT_NAME or not name.replace("_", "").replace(".", "").isalnum():
        raise InvalidEvent("event", "must be at most 100 letters, digits, '_' or '.'")
    if is_operational(name) and not gateway_event:
        raise InvalidEvent(
            "event", f"names starting with {OPERATIONAL_PREFIX!r} are reserved for the gateway's own events"
        )
    external_id = _text(event.id, "id", MAX_ID)
    if event.occurredAt is not None:
        try:
            datetime.fromisoformat(event.occurredAt.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent("occurredAt", "must be an RFC 3339 timestamp") from None
    _text(event.projectId, "projectId", MAX_ID)
    event_id = new_id("evt")
    envelope: dict[str, Any] = {
        "id": external_id or event_id,
        "event": name,
        "occurredAt": event.occurredAt or _rfc3339(now),
        "companyId": company_id,
        "projectId": None,
        "user": event.user,
        "previousValue": event.previousValue,
        "currentValue": event.currentValue,
    }
    project_id = derive_project_id({**envelope, "projectId": event.projectId})
    if project_id is not None and len(project_id) > MAX_PROJECT_ID:
        raise InvalidEvent("projectId", f"the event's project id must be at most {MAX_PROJECT_ID} characters")
    envelope["projectId"] = project_id
    matched = index.match(company_id, name, project_id, envelope) if index is not None else []
    return PreparedEvent(
        event_id=event_id,
        external_id=external_id or event_id,
        company_id=company_id,
        name=name,
        project_id=project_id,
        envelope=envelope,
        webhook_ids=tuple(s.webhook_id for s in matched),
    )


def prepare_event(
    raw: object,
    company_id: str,
    index: MatchIndex | None,
    now: float | None = None,
    *,
    gateway_event: bool = False,
) -> PreparedEvent:
    """Parse and prepare an event given as a decoded JSON value; raises :class:`InvalidEvent`."""
    return prepare(
        parse_event(raw), company_id, index, time.time() if now is None else now, gateway_event=gateway_event
    )


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventService:
    """Prepares events against the live webhook index and writes them with their deliveries."""

    def __init__(
        self, ingestor: Ingestor, index: Callable[[], MatchIndex | None], clock: Callable[[], float]
    ) -> None:
        self._ingestor = ingestor
        self._index = index
        self._clock = clock

    def prepare(self, company_id: str, events: Sequence[object], field: str | None = None) -> list[PreparedEvent]:
        """Prepare every event (an :class:`EventIn` or a decoded JSON value); with ``field``, an error names
        ``field[i].<key>``; one invalid event refuses them all."""
        index, now, prepared = self._index(), self._clock(), []
        for i, event in enumerate(events):
            try:
                typed = event if isinstance(event, EventIn) else parse_event(event)
                prepared.append(prepare(typed, company_id, index, now))
            except InvalidEvent as exc:
                if field is None:
                    raise
                raise InvalidEvent(f"{field}[{i}].{exc.field}", exc.message) from None
        return prepared

    async def ingest(self, events: list[PreparedEvent]) -> list[IngestResult]:
        """Store the events and their deliveries in one commit, then start their first attempts."""
        return await self._ingestor.ingest(events)

    async def ingest_received(self, event: PreparedEvent, source_id: str, body_hash: str) -> IngestResult:
        """Store one event a source received; an identical body within 24 h is a duplicate."""
        (result,) = await self._ingestor.ingest([replace(event, receipt=(source_id, body_hash))])
        return result
