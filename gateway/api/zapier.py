"""Zapier REST Hooks: subscribe, unsubscribe, samples, the auth test and the project picker."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, delete, get, post

from connectors.base import DELETE_ON_GONE_OPTION
from connectors.zapier import flat_sample
from gateway.api.auth import Principal
from gateway.api.deps import ANY_TOKEN, MANAGE
from gateway.api.schemas import IdRef, ZapierMe, ZapierSubscription, ZapierUnsubscribed
from gateway.api.webhook_schema import ProjectId, WebhookUrl
from gateway.api.webhooks import WEBHOOKS
from gateway.core.catalog import SUBSCRIBABLE
from gateway.core.webhook_object import iso
from gateway.runtime import Runtime
from gateway.services.errors import Invalid, NotFound
from gateway.services.projects import seen_projects
from gateway.services.webhooks import WebhookService

__all__ = ["ZapierController"]


class SubscribeIn(msgspec.Struct):
    """What Zapier's REST Hooks subscribe call sends (``target_url``; ``hookUrl`` is accepted too)."""

    event: str
    target_url: WebhookUrl | None = None
    hookUrl: WebhookUrl | None = None
    projectId: ProjectId | None = None


class ZapierProject(msgspec.Struct):
    """A project for the Zapier app's dropdown: its id, its name when an event carried one, its last event."""

    id: str
    name: str | None
    lastEventAt: str | None


class ZapierController(Controller):
    """The endpoints a Zapier app's triggers call."""

    path = "/v1/zapier"
    tags = ["zapier"]
    dependencies = {"principal": MANAGE, "webhooks": WEBHOOKS}

    @post("/subscriptions", status_code=201, summary="REST Hooks subscribe")
    async def subscribe(
        self, principal: Principal, webhooks: WebhookService, data: SubscribeIn
    ) -> ZapierSubscription:
        """Creates a ``zapier`` webhook for one event; a 410 from Zapier later deletes it."""
        url = data.target_url or data.hookUrl
        if not url:
            raise Invalid("target_url", "is required")
        if data.event not in SUBSCRIBABLE:
            raise Invalid("event", f"{data.event!r} is not in the event catalog")
        fields: dict[str, Any] = {
            "url": url,
            "name": f"Zapier: {data.event}",
            "connector": "zapier",
            "events": [data.event],
            "projectIds": [data.projectId] if data.projectId else [],
            "signing": [],
        }
        record, _ = await webhooks.create(principal, fields, internal_options={DELETE_ON_GONE_OPTION: True})
        return ZapierSubscription(id=record.id, event=data.event, target_url=url)

    @delete("/subscriptions/{subscription_id:str}", status_code=200, summary="REST Hooks unsubscribe")
    async def unsubscribe(
        self, principal: Principal, webhooks: WebhookService, subscription_id: str
    ) -> ZapierUnsubscribed:
        """Deletes the subscription's webhook."""
        record = await webhooks.get(principal, subscription_id)
        if not record.options.get(DELETE_ON_GONE_OPTION):
            raise NotFound("subscription")  # a webhook made through /v1/webhooks is not a subscription
        await webhooks.delete(record)
        return ZapierUnsubscribed(id=record.id, deleted=True)

    @get("/samples/{event:str}", summary="Sample payloads with exactly a live delivery's keys")
    async def samples(self, principal: Principal, event: str) -> list[dict[str, Any]]:
        """A JSON array with one flat sample of ``event``."""
        if event not in SUBSCRIBABLE:
            raise NotFound("event type")
        return [flat_sample(event, principal.company_id)]

    @get(
        "/me",
        summary="Connection test for the Zapier app",
        dependencies={"principal": ANY_TOKEN},  # any valid token, whatever its scopes
    )
    async def me(self, principal: Principal) -> ZapierMe:
        """Who the token belongs to."""
        return ZapierMe(
            company=IdRef(id=principal.company_id),
            user=IdRef(id=principal.user_id),
            role=principal.role,
            projects=sorted(principal.projects),
        )

    @get("/projects", summary="Projects seen in the company's recent events and webhooks")
    async def projects(self, runtime: Runtime, principal: Principal) -> list[ZapierProject]:
        """The projects a Zap may be limited to; a project-admin token sees only its own projects."""
        only = None if principal.is_company_admin else principal.projects
        seen = await seen_projects(runtime.db, principal.company_id, only)
        return [ZapierProject(id=p.id, name=p.name, lastEventAt=iso(p.last_event_at)) for p in seen]
