"""``/v1/events``: ingest one event or a batch (ingest scope), and read the event log (manage scope)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from gateway.api.auth import Principal, require_ingest_projects
from gateway.api.deps import INGEST, MANAGE
from gateway.api.errors import Unprocessable
from gateway.api.log_schemas import EventOut, EventPage, parse_time
from gateway.api.quota import charge_ingest
from gateway.api.responses import RATE_LIMITED
from gateway.api.schemas import EventAccepted, EventBatchAccepted
from gateway.runtime import Runtime
from gateway.services.event_log import EventLog, EventQuery
from gateway.services.events import EventIn, EventService, IngestResult

__all__ = [
    "EventAccepted",
    "EventBatchIn",
    "EventIn",
    "EventsController",
    "accepted",
    "provide_event_log",
    "provide_events",
]

MAX_BATCH = 500
DUPLICATE = "A duplicate of an earlier event (same `id`): the first event's id, no new deliveries"


class EventBatchIn(msgspec.Struct):
    """Up to 500 events."""

    events: list[dict[str, Any]]


def provide_events(runtime: Runtime) -> EventService:
    """The event service of this process, matching against the live webhook index."""
    return EventService(runtime.ingestor, lambda: runtime.index, runtime.clock)


def provide_event_log(runtime: Runtime) -> EventLog:
    """The event log of this process."""
    return EventLog(runtime)


INGESTING = {"principal": INGEST}
READING = {"principal": MANAGE}


class EventsController(Controller):
    """Direct event ingest, and the events received with the deliveries each produced."""

    path = "/v1/events"
    tags = ["events"]
    # Ingest builds its event service in the handler: a second injected dependency beside `principal`
    # makes litestar resolve the two in an anyio task group, a cost paid by every ingest request.
    dependencies = {"event_log": Provide(provide_event_log, sync_to_thread=False)}

    @get("/", summary="List received events, newest first", dependencies=READING)
    async def list_events(
        self,
        principal: Principal,
        event_log: EventLog,
        event: str | None = Parameter(default=None, description="Only events of this type, such as TODO_CREATED"),
        since: str | None = Parameter(default=None, description="RFC 3339: received at or after"),
        until: str | None = Parameter(default=None, description="RFC 3339: received at or before"),
        limit: int = Parameter(default=50, ge=1, le=250),
        cursor: str | None = None,
    ) -> EventPage:
        """Events of the caller's company (a project-admin's: of its projects); ``nextCursor`` pages on."""
        query = EventQuery(event=event, since=parse_time("since", since), until=parse_time("until", until))
        records, next_cursor = await event_log.page(principal, query, limit, cursor)
        return EventPage(data=[EventOut.of(r) for r in records], nextCursor=next_cursor)

    @get("/{event_id:str}", summary="An event and the deliveries it produced", dependencies=READING)
    async def get_event(self, principal: Principal, event_log: EventLog, event_id: str) -> EventOut:
        """The event envelope and each delivery it produced to a webhook the caller may see."""
        record, deliveries = await event_log.get(principal, event_id)
        return EventOut.of(record, deliveries)

    @post(
        "/",
        status_code=202,
        summary="Ingest one event",
        responses={
            200: ResponseSpec(EventAccepted, generate_examples=False, description=DUPLICATE),
            **RATE_LIMITED,
        },
        dependencies=INGESTING,
    )
    async def ingest_one(
        self, request: Request[Any, Any, Any], principal: Principal, runtime: Runtime, data: EventIn
    ) -> Response[EventAccepted]:
        """Store the event and its deliveries in one transaction; 202 after commit, 200 for a duplicate."""
        charge_ingest(request, principal.company_id)
        event_service = provide_events(runtime)
        prepared = event_service.prepare(principal.company_id, [data])
        require_ingest_projects(principal, [("projectId", prepared[0].project_id)])
        (result,) = await event_service.ingest(prepared)
        return Response(accepted(result), status_code=200 if result.duplicate else 202)

    @post(
        "/batch",
        status_code=202,
        summary="Ingest up to 500 events",
        responses=RATE_LIMITED,
        dependencies=INGESTING,
    )
    async def ingest_batch(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        runtime: Runtime,
        data: EventBatchIn,
    ) -> EventBatchAccepted:
        """All events are checked first; one invalid (422) or forbidden (403) event rejects the whole batch."""
        if not data.events:
            raise Unprocessable("events", "must hold at least one event")
        if len(data.events) > MAX_BATCH:
            raise Unprocessable("events", f"at most {MAX_BATCH} events per batch")
        # All or nothing: a refused batch stores none and is charged in full before any is stored.
        charge_ingest(request, principal.company_id, len(data.events))
        event_service = provide_events(runtime)
        prepared = event_service.prepare(principal.company_id, data.events, field="events")
        require_ingest_projects(
            principal, [(f"events[{i}].projectId", p.project_id) for i, p in enumerate(prepared)]
        )
        return EventBatchAccepted(results=[accepted(r) for r in await event_service.ingest(prepared)])


def accepted(result: IngestResult) -> EventAccepted:
    """The public answer for one ingested event."""
    return EventAccepted(id=result.id, deliveries=result.deliveries, duplicate=result.duplicate)
