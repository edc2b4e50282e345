"""``/v1/listen``: the sessions of ``blue-gateway listen``, which relays a temporary webhook's deliveries to a
developer's local receiver over a server-sent event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
import orjson
from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.response import Stream

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.webhooks import WEBHOOKS
from gateway.core.webhook_object import iso
from gateway.delivery.listen import ReceiverAnswer, Relayed
from gateway.services.listen import LEASE_RANGE, ListenService
from gateway.services.webhooks import WebhookService

__all__ = ["ListenController"]

LeaseSeconds = Annotated[int, msgspec.Meta(description=f"{LEASE_RANGE[0]} to {LEASE_RANGE[1]} seconds")]


class ListenIn(msgspec.Struct, forbid_unknown_fields=True):
    """What the session's webhook matches (checked like a webhook's), what the CLI forwards to (shown in the
    webhook's name only; the gateway never dials it) and how long the lease lasts between renewals."""

    events: list[str] = msgspec.field(default_factory=list)
    projectIds: list[str] = msgspec.field(default_factory=list)
    forward: Annotated[str, msgspec.Meta(max_length=500)] = "a local receiver"
    leaseSeconds: LeaseSeconds = 30


class ListenOut(msgspec.Struct):
    """A new session; ``secret`` signs its deliveries and is shown this once."""

    id: str
    secret: str
    events: list[str]
    projectIds: list[str]
    leaseSeconds: int
    expiresAt: str
    streamPath: str


class LeaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """How long the renewed lease lasts."""

    leaseSeconds: LeaseSeconds = 30


class LeaseOut(msgspec.Struct):
    """When the lease now runs out."""

    expiresAt: str


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    """The local receiver's answer to a relayed attempt: ``statusCode`` and ``responseBody``, or ``error``
    when it could not be reached."""

    deliveryId: Annotated[str, msgspec.Meta(max_length=40)]
    attempt: Annotated[int, msgspec.Meta(ge=1)]
    statusCode: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    error: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    responseBody: Annotated[str, msgspec.Meta(max_length=65536)] | None = None
    durationMs: Annotated[float, msgspec.Meta(ge=0, le=3_600_000)] = 0.0


class AnswerOut(msgspec.Struct):
    """The delivery's status once the answer is recorded: ``delivered`` or ``failed``."""

    deliveryId: str
    status: str


def provide_listen(webhooks: WebhookService) -> ListenService:
    """Listen sessions, over the webhook service."""
    return ListenService(webhooks)


def _sse(relayed: Relayed | None) -> bytes:
    if relayed is None:
        return b": keepalive\n\n"
    data = {
        "deliveryId": relayed.delivery_id,
        "attempt": relayed.attempt,
        "event": relayed.event,
        "headers": relayed.headers,
        "body": relayed.body,
    }
    return b"event: delivery\ndata: " + orjson.dumps(data) + b"\n\n"


class ListenController(Controller):
    """Temporary webhooks relayed to a developer's machine (``blue-gateway listen``)."""

    path = "/v1/listen"
    tags = ["listen"]
    dependencies = {
        "principal": MANAGE,
        "webhooks": WEBHOOKS,
        "listen": Provide(provide_listen, sync_to_thread=False),
    }

    @post("/", status_code=201, summary="Open a listen session")
    async def open_session(self, principal: Principal, listen: ListenService, data: ListenIn) -> ListenOut:
        """A temporary webhook whose deliveries go down ``streamPath``; renew its lease or it is removed."""
        opened = await listen.open(
            principal,
            events=data.events,
            project_ids=data.projectIds,
            forward=data.forward,
            lease_seconds=data.leaseSeconds,
        )
        hook = opened.webhook
        return ListenOut(
            id=hook.id,
            secret=opened.secret,
            events=hook.events,
            projectIds=hook.project_ids,
            leaseSeconds=data.leaseSeconds,
            expiresAt=iso(opened.expires_at),
            streamPath=f"/v1/listen/{hook.id}/stream",
        )

    @get(
        "/{webhook_id:str}/stream",
        summary="Stream a session's deliveries (server-sent events)",
        media_type="text/event-stream",
    )
    async def stream(self, principal: Principal, listen: ListenService, webhook_id: str) -> Stream:
        """``event: delivery`` per attempt, with ``deliveryId``, ``attempt``, ``event``, the signed ``headers``
        and ``body`` (base64 of the exact bytes); a comment line now and then keeps the connection open."""
        await listen.session(principal, webhook_id)  # a 404 before the stream starts

        async def events() -> AsyncIterator[bytes]:
            yield b"event: ready\ndata: " + orjson.dumps({"id": webhook_id}) + b"\n\n"
            async for relayed in listen.relay(principal, webhook_id):
                yield _sse(relayed)

        return Stream(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @post("/{webhook_id:str}/lease", status_code=200, summary="Renew a session's lease")
    async def renew(
        self, principal: Principal, listen: ListenService, webhook_id: str, data: LeaseIn | None = None
    ) -> LeaseOut:
        """Keeps the session for ``leaseSeconds`` more; 404 once it has been removed."""
        until = await listen.renew(principal, webhook_id, (data or LeaseIn()).leaseSeconds)
        return LeaseOut(expiresAt=iso(until))

    @post("/{webhook_id:str}/answers", status_code=200, summary="Report the local receiver's answer")
    async def answer(
        self, principal: Principal, listen: ListenService, webhook_id: str, data: AnswerIn
    ) -> AnswerOut:
        """Recorded as the attempt's result: 2xx delivers, anything else fails the delivery; 409 when that
        attempt is not awaiting an answer (answered already, or claimed again after its lease)."""
        answer = ReceiverAnswer(
            data.deliveryId, data.attempt, data.statusCode, data.error, data.responseBody, data.durationMs
        )
        return AnswerOut(deliveryId=data.deliveryId, status=await listen.answer(principal, webhook_id, answer))

    @delete("/{webhook_id:str}", status_code=204, summary="Close a listen session")
    async def close(self, principal: Principal, listen: ListenService, webhook_id: str) -> None:
        """Removes the session's webhook now; what still waited for it is discarded."""
        await listen.close(principal, webhook_id)
