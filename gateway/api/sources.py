"""Blue's own webhooks pointed at the gateway: ``/v1/sources``."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import delete as sql_delete
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.auth import Principal, provide_principal
from gateway.api.errors import Unprocessable, not_found
from gateway.api.events import accepted
from gateway.api.quota import charge_ingest
from gateway.api.schemas import EventAccepted, SourceHealthCheck, SourceIgnored, SourceList, SourceOut
from gateway.core.catalog import HEALTH_CHECK
from gateway.core.ids import new_id
from gateway.core.secretbox import SecretUnreadable
from gateway.core.signing import verify_blue
from gateway.core.ttlcache import TtlCache
from gateway.db.models import Company, Source, table
from gateway.ingest import InvalidEvent, prepare_event
from gateway.runtime import Runtime

__all__ = ["SourceIngestController", "SourcesController", "new_source_cache"]

SOURCE_CACHE_SECONDS = 10.0
"""A deleted source stops being accepted by other API processes within this many seconds."""

SourceAnswer = EventAccepted | SourceHealthCheck | SourceIgnored
SOURCE_200 = ResponseSpec(
    cast(Any, SourceAnswer),  # a union of Structs: fine for Litestar, not in ResponseSpec's annotation
    generate_examples=False,
    description="A health check, an event outside the source's projects (ignored), or a duplicate body",
)


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


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > 200:
        raise Unprocessable("name", "must be 1 to 200 characters")


def _check_secret(secret: str) -> None:
    if not 8 <= len(secret) <= 256:
        raise Unprocessable("secret", "must be 8 to 256 characters")


def _has_secret(runtime: Runtime, blob: bytes) -> bool | None:
    try:
        return bool(runtime.secretbox.decrypt(blob))
    except SecretUnreadable:
        return None


def _company_admin(principal: Principal) -> None:
    principal.require("manage")
    if not principal.is_company_admin:
        raise HTTPException(status_code=403, detail="sources are managed by a company-admin")


class SourcesController(Controller):
    """Create, list and delete sources (company-admin)."""

    path = "/v1/sources"
    tags = ["sources"]
    dependencies = {"principal": Provide(provide_principal)}

    @post("/", status_code=201, summary="Register a Blue webhook as a source")
    async def create_source(
        self, request: Request[Any, Any, Any], principal: Principal, data: SourceIn
    ) -> SourceOut:
        """Point Blue's webhook at the returned ``ingestPath``; its ``X-Signature`` is checked with ``secret``."""
        _company_admin(principal)
        _check_name(data.name)
        if data.secret is not None:
            _check_secret(data.secret)
        runtime: Runtime = request.app.state.runtime
        now = runtime.clock()
        values: dict[str, Any] = {
            "id": new_id("src"),
            "company_id": principal.company_id,
            "name": data.name,
            "secret_ct": runtime.secretbox.encrypt(data.secret or ""),
            "project_ids": sorted(set(data.projectIds)),
            "created_at": now,
        }

        async def write(conn: AsyncConnection) -> None:
            if await conn.scalar(select(Company.id).where(Company.id == principal.company_id)) is None:
                await conn.execute(table(Company).insert().values(id=principal.company_id, created_at=now))
            await conn.execute(table(Source).insert().values(**values))

        await runtime.committer.submit(write)
        return SourceOut.from_row(SimpleNamespace(**values), has_secret=bool(data.secret))

    @patch("/{source_id:str}", summary="Update a source (set Blue's secret once its webhook exists)")
    async def patch_source(
        self, request: Request[Any, Any, Any], principal: Principal, source_id: str, data: SourcePatch
    ) -> SourceOut:
        """Replace the name, the secret or the project list."""
        _company_admin(principal)
        runtime: Runtime = request.app.state.runtime
        values: dict[str, Any] = {}
        if not isinstance(data.name, msgspec.UnsetType):
            _check_name(data.name)
            values["name"] = data.name
        if not isinstance(data.secret, msgspec.UnsetType):
            _check_secret(data.secret)
            values["secret_ct"] = runtime.secretbox.encrypt(data.secret)
        if not isinstance(data.projectIds, msgspec.UnsetType):
            values["project_ids"] = sorted(set(data.projectIds))
        s = table(Source).c
        mine = (s.id == source_id) & (s.company_id == principal.company_id)

        async def write(conn: AsyncConnection) -> Any:
            if values:
                await conn.execute(update(table(Source)).where(mine).values(**values))
            return (await conn.execute(select(table(Source)).where(mine))).first()

        row = await runtime.committer.submit(write)
        if row is None:
            raise not_found("source")
        request.app.state.source_secrets.pop(source_id)
        return SourceOut.from_row(row, _has_secret(runtime, row.secret_ct))

    @get("/", summary="List sources")
    async def list_sources(self, request: Request[Any, Any, Any], principal: Principal) -> SourceList:
        """Every source of the company (secrets never shown)."""
        _company_admin(principal)
        runtime: Runtime = request.app.state.runtime
        async with runtime.db.connect() as conn:
            rows = await conn.execute(
                select(table(Source)).where(Source.company_id == principal.company_id).order_by(Source.id.desc())
            )
            return SourceList(data=[SourceOut.from_row(r, _has_secret(runtime, r.secret_ct)) for r in rows])

    @delete("/{source_id:str}", status_code=204, summary="Delete a source")
    async def delete_source(self, request: Request[Any, Any, Any], principal: Principal, source_id: str) -> None:
        """Blue's deliveries to it are refused afterwards (404)."""
        _company_admin(principal)
        runtime: Runtime = request.app.state.runtime

        async def write(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sql_delete(table(Source)).where(Source.id == source_id, Source.company_id == principal.company_id)
            )
            return int(result.rowcount or 0)

        if not await runtime.committer.submit(write):
            raise not_found("source")
        request.app.state.source_secrets.pop(source_id)


class SourceIngestController(Controller):
    """Where Blue delivers: authenticated by ``X-Signature``, not by a bearer token."""

    path = "/v1/sources/{source_id:str}/events"
    tags = ["sources"]

    @post(
        "/",
        status_code=202,
        summary="Blue's webhook deliveries (signed with X-Signature)",
        responses={200: SOURCE_200},
    )
    async def receive(self, request: Request[Any, Any, Any], source_id: str) -> Response[SourceAnswer]:
        """Verify the signature over the raw body, answer health checks, dedupe identical bodies for 24 h."""
        runtime: Runtime = request.app.state.runtime
        source = await _load_source(request, runtime, source_id)
        body = await request.body()
        if not source.secret:
            raise NotAuthorizedException(detail=f"this source has no secret yet: PATCH /v1/sources/{source_id}")
        if not verify_blue(source.secret, body, request.headers.get("x-signature")):
            raise NotAuthorizedException(detail="missing or invalid X-Signature")
        payload = await request.json()  # the shared decoder: input limits as on every route
        if isinstance(payload, dict) and payload.get("event") == HEALTH_CHECK.name:
            return Response(SourceHealthCheck(status="ok"), status_code=200)
        charge_ingest(request, source.company_id)
        try:
            prepared = prepare_event(payload, source.company_id, runtime.index, runtime.clock())
        except InvalidEvent as exc:
            raise Unprocessable(exc.field, exc.message) from None
        if source.project_ids and prepared.project_id not in source.project_ids:
            return Response(
                SourceIgnored(ignored=True, reason="the event's project is not one of the source's projects"),
                status_code=200,
            )
        receipt = (source_id, hashlib.sha256(body).hexdigest())
        (result,) = await runtime.ingestor.ingest([dataclasses.replace(prepared, receipt=receipt)])
        return Response(accepted(result), status_code=200 if result.duplicate else 202)


@dataclass(frozen=True)
class _SourceEntry:
    secret: str
    company_id: str
    project_ids: frozenset[str]


def new_source_cache() -> TtlCache[str, _SourceEntry]:
    """Sources as the ingest path needs them, trusted for ``SOURCE_CACHE_SECONDS``."""
    return TtlCache(SOURCE_CACHE_SECONDS)


async def _load_source(request: Request[Any, Any, Any], runtime: Runtime, source_id: str) -> _SourceEntry:
    cache: TtlCache[str, _SourceEntry] = request.app.state.source_secrets
    hit, cached = cache.get(source_id)
    if hit and cached is not None:
        return cached
    async with runtime.db.connect() as conn:
        row = (await conn.execute(select(table(Source)).where(Source.id == source_id))).first()
    if row is None:
        raise not_found("source")
    try:
        secret = runtime.secretbox.decrypt(row.secret_ct)
    except SecretUnreadable as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    entry = _SourceEntry(secret, row.company_id, frozenset(row.project_ids or ()))
    cache.put(source_id, entry)
    return entry
