"""``POST /v1/portal/links``: a single-use URL that opens the portal for a company or some of its projects."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import PermissionDeniedException

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.schemas import Timestamp
from gateway.core.webhook_object import iso
from gateway.runtime import Runtime
from gateway.services.portal_links import DEFAULT_LINK_MINUTES, MAX_LINK_MINUTES, PortalLinkService, link_path

__all__ = ["PortalLinkIn", "PortalLinkOut", "PortalLinksController"]


class PortalLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    """Whom the link lets in: the caller's company (all of it, or ``projects``), and how long it may be opened."""

    company: Annotated[str | None, msgspec.Meta(description="The caller's company (the default); no other")] = None
    projects: Annotated[
        list[str], msgspec.Meta(description="Limit the session to these projects; empty: the whole company")
    ] = msgspec.field(default_factory=list)
    expiresInMinutes: Annotated[int, msgspec.Meta(description=f"1 to {MAX_LINK_MINUTES}")] = DEFAULT_LINK_MINUTES
    user: Annotated[str, msgspec.Meta(description="Recorded as the creator of what the session makes")] = "portal"


class PortalLinkOut(msgspec.Struct):
    """The link, shown once; it opens one session and may not be opened again."""

    url: str
    expiresAt: Timestamp


class PortalLinksController(Controller):
    """Portal links for embedding the portal in a product."""

    path = "/v1/portal/links"
    tags = ["portal"]
    dependencies = {"principal": MANAGE}

    @post("/", status_code=201, summary="Make a single-use portal link")
    async def create_link(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, data: PortalLinkIn
    ) -> PortalLinkOut:
        """The session it opens has no more rights than the caller: its company, and a project-admin's projects."""
        company = data.company or principal.company_id
        if company != principal.company_id:
            raise PermissionDeniedException(detail="company: a token may only make links to its own company")
        if not principal.covers(data.projects):
            raise PermissionDeniedException(
                detail="projects: a project-admin token must name some of its own projects, and only those"
            )
        record, token = await PortalLinkService(runtime.db, runtime.clock).create(
            company,
            projects=data.projects,
            minutes=data.expiresInMinutes,
            user_id=data.user,
            created_by=principal.token_id,
        )
        base = runtime.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        return PortalLinkOut(url=base + link_path(token), expiresAt=iso(record.expires_at))
