"""Source pages: Blue webhooks pointed at the gateway, with the two steps that connect one."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import PermissionDeniedException

from gateway.api.auth import Principal
from gateway.api.sources import SOURCES
from gateway.portal.render import page, redirect
from gateway.runtime import Runtime
from gateway.services.event_log import EventLog
from gateway.services.sources import SourceService

__all__ = ["SourcePages"]


def _company_admin(principal: Principal) -> None:
    if not principal.is_company_admin:
        raise PermissionDeniedException(detail="sources are managed by a company-wide session, as in the API")


def _projects(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


class SourcePages(Controller):
    """The company's sources (company-wide sessions only)."""

    path = "/portal/sources"
    include_in_schema = False
    dependencies = {"sources": SOURCES}

    @get("/", name="portal-sources")
    async def list_page(
        self, request: Request[Any, Any, Any], principal: Principal, sources: SourceService
    ) -> Response[str]:
        """Every source of the company."""
        _company_admin(principal)
        records = await sources.list_all(principal.company_id)
        return page(request, "sources.html", principal=principal, title="Sources", sources=records)

    @get("/new", name="portal-source-new")
    async def new_page(self, request: Request[Any, Any, Any], principal: Principal) -> Response[str]:
        """The form of a new source."""
        _company_admin(principal)
        return page(request, "source_new.html", principal=principal, title="New source", name="", projects="")

    @post("/new", status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], principal: Principal, sources: SourceService
    ) -> Response[str]:
        """Store the source, then show where Blue must deliver to it."""
        _company_admin(principal)
        form = await request.form()
        name, projects = str(form.get("name") or ""), str(form.get("projects") or "")
        secret = str(form.get("secret") or "") or None
        record = await sources.create(principal.company_id, name, secret, _projects(projects))
        return redirect(request, f"/portal/sources/{record.id}?done=created")

    @get("/{source_id:str}", name="portal-source")
    async def detail_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        sources: SourceService,
        source_id: str,
        done: str = "",
    ) -> Response[str]:
        """The ingest URL, the secret step and the events received lately with their deliveries."""
        _company_admin(principal)
        record = await sources.get(principal.company_id, source_id)
        log = EventLog(runtime)
        received = [await log.get(principal, e.id) for e in await log.received_by(principal, record.id, 20)]
        base = runtime.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        return page(
            request,
            "source.html",
            principal=principal,
            title=f"Source {record.name}",
            source=record,
            ingest_url=f"{base}/v1/sources/{record.id}/events",
            received=received,
            done=done[:100],
        )

    @post("/{source_id:str}/secret", status_code=200)
    async def set_secret(
        self, request: Request[Any, Any, Any], principal: Principal, sources: SourceService, source_id: str
    ) -> Response[str]:
        """Step two: the secret Blue's ``createWebhook`` returned."""
        _company_admin(principal)
        form = await request.form()
        await sources.update(principal.company_id, source_id, secret=str(form.get("secret") or ""))
        return redirect(request, f"/portal/sources/{source_id}?done=secret+saved")
