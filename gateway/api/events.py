"""``POST /v1/events`` and ``/v1/events/batch``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec

from gateway.api.auth import Principal, require_ingest_projects
from gateway.api.deps import INGEST
from gateway.api.errors import Unprocessable
from gateway.api.quota import charge_ingest
from gateway.api.schemas import EventAccepted, EventBatchAccepted
from gateway.runtime import Runtime
from gateway.services.events import EventIn, EventService, IngestResult

__all__ = ["EventAccepted", "EventBatchIn", "EventIn", "EventsController", "accepted", "provide_events"]

MAX_BATCH = 500
DUPLICATE = "A duplicate of an earlier event (same `id`): the first event's id, no new deliveries"


class EventBatchIn(msgspec.Struct):
    """Up to 500 events."""

    events: list[dict[str, Any]]


def provide_events(runtime: Runtime) -> EventService:
    """The event service of this process, matching against the live webhook index."""
    return EventService(runtime.ingestor, lambda: runtime.index, runtime.clock)


class EventsController(Controller):
    """Direct event ingest."""

    path = "/v1/events"
    tags = ["events"]
    dependencies = {"principal": INGEST, "events": Provide(provide_events, sync_to_thread=False)}

    @post(
        "/",
        status_code=202,
        summary="Ingest one event",
        responses={200: ResponseSpec(EventAccepted, generate_examples=False, description=DUPLICATE)},
    )
    async def ingest_one(
        self, request: Request[Any, Any, Any], principal: Principal, events: EventService, data: EventIn
    ) -> Response[EventAccepted]:
        """Store the event and its deliveries in one transaction; 202 after commit, 200 for a duplicate."""
        charge_ingest(request, principal.company_id)
        prepared = events.prepare(principal.company_id, [data])
        require_ingest_projects(principal, [("projectId", prepared[0].project_id)])
        (result,) = await events.ingest(prepared)
        return Response(accepted(result), status_code=200 if result.duplicate else 202)

    @post("/batch", status_code=202, summary="Ingest up to 500 events")
    async def ingest_batch(
        self, request: Request[Any, Any, Any], principal: Principal, events: EventService, data: EventBatchIn
    ) -> EventBatchAccepted:
        """All events are checked first; one invalid (422) or forbidden (403) event rejects the whole batch."""
        if not data.events:
            raise Unprocessable("events", "must hold at least one event")
        if len(data.events) > MAX_BATCH:
            raise Unprocessable("events", f"at most {MAX_BATCH} events per batch")
        # All or nothing: a refused batch stores none and is charged in full before any is stored.
        charge_ingest(request, principal.company_id, len(data.events))
        prepared = events.prepare(principal.company_id, data.events, field="events")
        require_ingest_projects(
            principal, [(f"events[{i}].projectId", p.project_id) for i, p in enumerate(prepared)]
        )
        return EventBatchAccepted(results=[accepted(r) for r in await events.ingest(prepared)])


def accepted(result: IngestResult) -> EventAccepted:
    """The public answer for one ingested event."""
    return EventAccepted(id=result.id, deliveries=result.deliveries, duplicate=result.duplicate)
