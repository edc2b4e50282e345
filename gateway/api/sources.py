"""Blue's own webhooks pointed at the gateway: ``/v1/sources``."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.events import accepted, provide_events
from gateway.api.quota import charge_ingest
from gateway.api.responses import RATE_LIMITED, ErrorOut
from gateway.api.schemas import EventAccepted, SourceHealthCheck, SourceIgnored, SourceList, SourceOut
from gateway.core.catalog import HEALTH_CHECK
from gateway.core.secretbox import SecretUnreadable
from gateway.core.signing import verify_blue
from gateway.runtime import Runtime
from gateway.services.sources import SourceService, new_source_cache

__all__ = ["SourceIngestController", "SourcesController", "new_source_cache", "provide_sources"]

SourceAnswer = EventAccepted | SourceHealthCheck | SourceIgnored
SOURCE_200 = ResponseSpec(
    cast(Any, SourceAnswer),  # a union of Structs: fine for Litestar, not in ResponseSpec's annotation
    generate_examples=False,
    description="A health check, an event outside the source's projects (ignored), or a duplicate body",
)


def provide_sources(request: Request[Any, Any, Any], runtime: Runtime) -> SourceService:
    """The source service of this process, sharing the app's cache of source secrets."""
    return SourceService(runtime, request.app.state.source_secrets, provide_events(runtime))


UNSIGNED = ResponseSpec(
    ErrorOut, generate_examples=False, description="A missing or invalid X-Signature, or a source without a secret"
)

SOURCES = Provide(provide_sources, sync_to_thread=False)


class SourceIn(msgspec.Struct, forbid_unknown_fields=True):
    """``secret`` is the one Blue's ``createWebhook`` returned; it may be set later with PATCH."""

    name: str
    secret: str | None = None
    projectIds: list[str] = msgspec.field(default_factory=list)


class SourcePatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields named replace the stored ones."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    secret: str | msgspec.UnsetType = msgspec.UNSET
    projectIds: list[str] | msgspec.UnsetType = msgspec.UNSET


def _company_admin(principal: Principal) -> None:
    if not principal.is_company_admin:
        raise HTTPException(status_code=403, detail="sources are managed by a company-admin")


class SourcesController(Controller):
    """Create, list and delete sources (company-admin)."""

    path = "/v1/sources"
    tags = ["sources"]
    dependencies = {"principal": MANAGE, "sources": SOURCES}

    @post("/", status_code=201, summary="Register a Blue webhook as a source")
    async def create_source(self, principal: Principal, sources: SourceService, data: SourceIn) -> SourceOut:
        """Point Blue's webhook at the returned ``ingestPath``; its ``X-Signature`` is checked with ``secret``."""
        _company_admin(principal)
        return SourceOut.of(await sources.create(principal.company_id, data.name, data.secret, data.projectIds))

    @patch("/{source_id:str}", summary="Update a source (set Blue's secret once its webhook exists)")
    async def patch_source(
        self, principal: Principal, sources: SourceService, source_id: str, data: SourcePatch
    ) -> SourceOut:
        """Replace the name, the secret or the project list."""
        _company_admin(principal)
        record = await sources.update(
            principal.company_id,
            source_id,
            name=None if isinstance(data.name, msgspec.UnsetType) else data.name,
            secret=None if isinstance(data.secret, msgspec.UnsetType) else data.secret,
            project_ids=None if isinstance(data.projectIds, msgspec.UnsetType) else data.projectIds,
        )
        return SourceOut.of(record)

    @get("/", summary="List sources")
    async def list_sources(self, principal: Principal, sources: SourceService) -> SourceList:
        """Every source of the company (secrets never shown)."""
        _company_admin(principal)
        return SourceList(data=[SourceOut.of(r) for r in await sources.list_all(principal.company_id)])

    @get("/{source_id:str}", summary="Read a source")
    async def get_source(self, principal: Principal, sources: SourceService, source_id: str) -> SourceOut:
        """The source and where Blue must deliver to it (its secret never shown)."""
        _company_admin(principal)
        return SourceOut.of(await sources.get(principal.company_id, source_id))

    @delete("/{source_id:str}", status_code=204, summary="Delete a source")
    async def delete_source(self, principal: Principal, sources: SourceService, source_id: str) -> None:
        """Blue's deliveries to it are refused afterwards (404)."""
        _company_admin(principal)
        await sources.delete(principal.company_id, source_id)


class SourceIngestController(Controller):
    """Where Blue delivers: authenticated by ``X-Signature``, not by a bearer token."""

    path = "/v1/sources/{source_id:str}/events"
    tags = ["sources"]
    dependencies = {"sources": SOURCES}

    @post(
        "/",
        status_code=202,
        summary="Blue's webhook deliveries (signed with X-Signature)",
        responses={200: SOURCE_200, 401: UNSIGNED, **RATE_LIMITED},
    )
    async def receive(
        self, request: Request[Any, Any, Any], sources: SourceService, source_id: str
    ) -> Response[SourceAnswer]:
        """Verify the signature over the raw body, answer health checks, dedupe identical bodies for 24 h."""
        try:
            key = await sources.key(source_id)
        except SecretUnreadable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        body = await request.body()
        if not key.secret:
            raise NotAuthorizedException(detail=f"this source has no secret yet: PATCH /v1/sources/{source_id}")
        if not verify_blue(key.secret, body, request.headers.get("x-signature")):
            raise NotAuthorizedException(detail="missing or invalid X-Signature")
        payload = await request.json()  # the shared decoder: input limits as on every route
        if isinstance(payload, dict) and payload.get("event") == HEALTH_CHECK.name:
            return Response(SourceHealthCheck(status="ok"), status_code=200)
        charge_ingest(request, key.company_id)
        result = await sources.receive(source_id, key, hashlib.sha256(body).hexdigest(), payload)
        if result is None:
            return Response(
                SourceIgnored(ignored=True, reason="the event's project is not one of the source's projects"),
                status_code=200,
            )
        return Response(accepted(result), status_code=200 if result.duplicate else 202)
