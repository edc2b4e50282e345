"""``POST /v1/events`` and ``/v1/events/batch``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec

from gateway.api.auth import Principal, provide_principal, require_ingest_projects
from gateway.api.errors import Unprocessable
from gateway.api.quota import charge_ingest
from gateway.api.schemas import EventAccepted, EventBatchAccepted
from gateway.ingest import IngestResult, InvalidEvent, PreparedEvent, prepare_event
from gateway.runtime import Runtime

__all__ = ["EventAccepted", "EventBatchIn", "EventIn", "EventsController", "accepted"]

MAX_BATCH = 500
DUPLICATE = "A duplicate of an earlier event (same `id`): the first event's id, no new deliveries"


class EventIn(msgspec.Struct, omit_defaults=True):
    """A Blue event as posted to the gateway."""

    event: str
    id: str | int | None = None
    occurredAt: str | None = None
    projectId: str | None = None
    user: dict[str, Any] | None = None
    previousValue: Any = None
    currentValue: Any = None


class EventBatchIn(msgspec.Struct):
    """Up to 500 events."""

    events: list[dict[str, Any]]


def _prepare(runtime: Runtime, principal: Principal, raw: Any, prefix: str = "") -> PreparedEvent:
    try:
        return prepare_event(raw, principal.company_id, runtime.index, runtime.clock())
    except InvalidEvent as exc:
        raise Unprocessable(prefix + exc.field, exc.message) from None


class EventsController(Controller):
    """Direct event ingest."""

    path = "/v1/events"
    tags = ["events"]
    dependencies = {"principal": Provide(provide_principal)}

    @post(
        "/",
        status_code=202,
        summary="Ingest one event",
        responses={200: ResponseSpec(EventAccepted, generate_examples=False, description=DUPLICATE)},
    )
    async def ingest_one(
        self, request: Request[Any, Any, Any], principal: Principal, data: EventIn
    ) -> Response[EventAccepted]:
        """Store the event and its deliveries in one transaction; 202 after commit, 200 for a duplicate."""
        principal.require("ingest")
        charge_ingest(request, principal.company_id)
        runtime: Runtime = request.app.state.runtime
        prepared = _prepare(runtime, principal, msgspec.to_builtins(data))
        require_ingest_projects(principal, [("projectId", prepared.project_id)])
        (result,) = await runtime.ingestor.ingest([prepared])
        return Response(accepted(result), status_code=200 if result.duplicate else 202)

    @post("/batch", status_code=202, summary="Ingest up to 500 events")
    async def ingest_batch(
        self, request: Request[Any, Any, Any], principal: Principal, data: EventBatchIn
    ) -> EventBatchAccepted:
        """All events are checked first; one invalid (422) or forbidden (403) event rejects the whole batch."""
        principal.require("ingest")
        if not data.events:
            raise Unprocessable("events", "must hold at least one event")
        if len(data.events) > MAX_BATCH:
            raise Unprocessable("events", f"at most {MAX_BATCH} events per batch")
        charge_ingest(
            request, principal.company_id, len(data.events)
        )  # all or nothing: a refused batch stores none
        runtime: Runtime = request.app.state.runtime
        prepared = [_prepare(runtime, principal, raw, f"events[{i}].") for i, raw in enumerate(data.events)]
        require_ingest_projects(
            principal, [(f"events[{i}].projectId", p.project_id) for i, p in enumerate(prepared)]
        )
        results = await runtime.ingestor.ingest(prepared)
        return EventBatchAccepted(results=[accepted(r) for r in results])


def accepted(result: IngestResult) -> EventAccepted:
    """The public answer for one ingested event."""
    return EventAccepted(id=result.id, deliveries=result.deliveries, duplicate=result.duplicate)
