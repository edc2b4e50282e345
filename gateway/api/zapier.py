"""Zapier REST Hooks: subscribe, unsubscribe, samples, the auth test and the project picker."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import Provide

from connectors.base import DELETE_ON_GONE_OPTION
from connectors.zapier import flat_sample
from gateway.api.auth import Principal, provide_principal
from gateway.api.errors import Unprocessable, not_found
from gateway.api.schemas import IdRef, ZapierMe, ZapierSubscription, ZapierUnsubscribed
from gateway.api.webhooks import create_webhook_row, delete_webhook_row, load_webhook
from gateway.core.catalog import SUBSCRIBABLE
from gateway.core.webhook_object import iso
from gateway.runtime import Runtime
from gateway.services.projects import seen_projects

__all__ = ["ZapierController"]


class SubscribeIn(msgspec.Struct):
    """What Zapier's REST Hooks subscribe call sends (``target_url``; ``hookUrl`` is accepted too)."""

    event: str
    target_url: str | None = None
    hookUrl: str | None = None
    projectId: str | None = None


class ZapierProject(msgspec.Struct):
    """A project for the Zapier app's dropdown: its id, its name when an event carried one, its last event."""

    id: str
    name: str | None
    lastEventAt: str | None


class ZapierController(Controller):
    """The endpoints a Zapier app's triggers call."""

    path = "/v1/zapier"
    tags = ["zapier"]
    dependencies = {"principal": Provide(provide_principal)}

    @post("/subscriptions", status_code=201, summary="REST Hooks subscribe")
    async def subscribe(
        self, request: Request[Any, Any, Any], principal: Principal, data: SubscribeIn
    ) -> ZapierSubscription:
        """Creates a ``zapier`` webhook for one event; a 410 from Zapier later deletes it."""
        principal.require("manage")
        url = data.target_url or data.hookUrl
        if not url:
            raise Unprocessable("target_url", "is required")
        if data.event not in SUBSCRIBABLE:
            raise Unprocessable("event", f"{data.event!r} is not in the event catalog")
        fields: dict[str, Any] = {
            "url": url,
            "name": f"Zapier: {data.event}",
            "connector": "zapier",
            "events": [data.event],
            "projectIds": [data.projectId] if data.projectId else [],
            "signing": [],
        }
        row, _ = await create_webhook_row(
            request.app.state.runtime, principal, fields, internal_options={DELETE_ON_GONE_OPTION: True}
        )
        return ZapierSubscription(id=row.id, event=data.event, target_url=url)

    @delete("/subscriptions/{subscription_id:str}", status_code=200, summary="REST Hooks unsubscribe")
    async def unsubscribe(
        self, request: Request[Any, Any, Any], principal: Principal, subscription_id: str
    ) -> ZapierUnsubscribed:
        """Deletes the subscription's webhook."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, subscription_id)
        if not (row.options or {}).get(DELETE_ON_GONE_OPTION):
            raise not_found("subscription")  # a webhook made through /v1/webhooks is not a subscription

        await delete_webhook_row(runtime, row.id)
        return ZapierUnsubscribed(id=row.id, deleted=True)

    @get("/samples/{event:str}", summary="Sample payloads with exactly a live delivery's keys")
    async def samples(
        self, request: Request[Any, Any, Any], principal: Principal, event: str
    ) -> list[dict[str, Any]]:
        """A JSON array with one flat sample of ``event``."""
        principal.require("manage")
        if event not in SUBSCRIBABLE:
            raise not_found("event type")
        return [flat_sample(event, principal.company_id)]

    @get("/me", summary="Connection test for the Zapier app")
    async def me(self, principal: Principal) -> ZapierMe:
        """Who the token belongs to."""
        return ZapierMe(
            company=IdRef(id=principal.company_id),
            user=IdRef(id=principal.user_id),
            role=principal.role,
            projects=sorted(principal.projects),
        )

    @get("/projects", summary="Projects seen in the company's recent events and webhooks")
    async def projects(self, request: Request[Any, Any, Any], principal: Principal) -> list[ZapierProject]:
        """The projects a Zap may be limited to; a project-admin token sees only its own projects."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        only = None if principal.is_company_admin else principal.projects
        seen = await seen_projects(runtime.db, principal.company_id, only)
        return [ZapierProject(id=p.id, name=p.name, lastEventAt=iso(p.last_event_at)) for p in seen]
