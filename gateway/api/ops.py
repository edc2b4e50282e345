"""Operations: liveness, readiness, Prometheus metrics, the event catalog and the connector list."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec

from gateway.api.auth import Principal
from gateway.api.deps import ANY_TOKEN
from gateway.api.schemas import ConnectorOut, EventTypeOut, Health, Readiness
from gateway.core.catalog import CATALOG
from gateway.runtime import Runtime

__all__ = ["CatalogController", "OpsController"]


class OpsController(Controller):
    """Unauthenticated probes for load balancers and Prometheus."""

    path = "/"
    tags = ["operations"]

    @get("/healthz", summary="Liveness")
    async def healthz(self) -> Health:
        """200 while the process serves requests."""
        return Health(status="ok")

    @get(
        "/readyz",
        summary="Readiness: database and broker reachable",
        responses={503: ResponseSpec(Readiness, generate_examples=False, description="Not ready: what is down")},
    )
    async def readyz(self, runtime: Runtime) -> Response[Readiness]:
        """200 when the database and broker answer, else 503 naming what is down."""
        state = await runtime.ping()
        ready = all(state.values())
        body = Readiness(
            status="ready" if ready else "unavailable",
            database=state.get("database", False),
            broker=state.get("broker", False),
        )
        return Response(body, status_code=200 if ready else 503)

    @get("/metrics", summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
    async def metrics(self, runtime: Runtime) -> bytes:
        """Counters and histograms in the Prometheus text format."""
        return runtime.metrics.render()


class CatalogController(Controller):
    """What can be subscribed to and delivered through."""

    path = "/v1"
    tags = ["catalog"]
    dependencies = {"principal": ANY_TOKEN}

    @get("/event-types", summary="The event catalog with a sample of each event")
    async def event_types(self, principal: Principal) -> list[EventTypeOut]:
        """Every subscribable event: name, group, description and a realistic sample."""
        return [
            EventTypeOut(name=t.name, group=t.group, description=t.description, sample=t.sample) for t in CATALOG
        ]

    @get("/connectors", summary="Loaded connectors, built-ins and plugins")
    async def connectors(self, runtime: Runtime, principal: Principal) -> list[ConnectorOut]:
        """Name, description, whether it signs, and its options schema."""
        return [
            ConnectorOut(name=c.name, description=c.description, signs=c.signs, optionsSchema=c.options_schema)
            for c in runtime.connectors
        ]
