"""``POST /v1/templates/preview``: the exact request a template would produce."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from litestar import Controller, post
from litestar.exceptions import ServiceUnavailableException

from gateway.api.auth import Principal
from gateway.api.deps import MANAGE
from gateway.api.errors import Unprocessable, template_unprocessable
from gateway.api.schemas import PreviewOut
from gateway.core.catalog import SUBSCRIBABLE, sample_event
from gateway.core.signing import PREVIEW_SECRET
from gateway.core.templating import TemplateError
from gateway.core.templating.pool import RenderUnavailable
from gateway.delivery.engine import ConnectorMissing, signature_headers
from gateway.runtime import Runtime
from gateway.services.events import InvalidEvent, prepare_event
from gateway.services.webhooks import WebhookService, preview_webhook

__all__ = ["PreviewIn", "TemplatesController", "render_preview"]

MESSAGE_ID = "msg_preview"


class PreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """A template with an event (as posted to ``/v1/events``) or a catalog event type's sample.

    ``webhookId`` previews as that webhook sends (its connector, headers and, unless ``template`` is
    given, its template); its signature headers are computed with the public preview secret instead.
    """

    template: dict[str, Any] | None = None
    connector: str | None = None
    event: dict[str, Any] | None = None
    eventType: str | None = None
    webhookId: str | None = None


class TemplatesController(Controller):
    """Template tooling."""

    path = "/v1/templates"
    tags = ["templates"]
    dependencies = {"principal": MANAGE}

    @post("/preview", status_code=200, summary="Render a template exactly as a delivery would")
    async def preview(self, runtime: Runtime, principal: Principal, data: PreviewIn) -> PreviewOut:
        """The exact request that would be sent (signed with the preview secret only), or a 422."""
        return await render_preview(runtime, principal, data)


async def render_preview(runtime: Runtime, principal: Principal, data: PreviewIn) -> PreviewOut:
    """The request a template (or a stored webhook) would send for an event; the API's and the portal's preview."""
    if data.webhookId:
        stored = await WebhookService(runtime).get(principal, data.webhookId)
        # The live secrets are never decrypted here: a preview signed with them would let a caller
        # obtain a valid signature over any body it chooses.
        would_sign = bool(stored.secret_ct)
        row = dataclasses.replace(stored, secret_ct=None, previous_secret_ct=None, previous_secret_until=None)
    else:
        would_sign = False
        row = preview_webhook(principal.company_id, principal.user_id, runtime.clock())
    if data.connector:
        if runtime.connectors.get(data.connector) is None:
            raise Unprocessable("connector", f"unknown connector {data.connector!r}")
        row = dataclasses.replace(row, connector=data.connector)
    if data.template is not None:
        row = dataclasses.replace(row, template=data.template)
    try:
        runtime.compile_template(row.template, row.connector)
    except TemplateError as exc:
        raise template_unprocessable(exc) from None
    raw = _event(data)
    try:
        prepared = prepare_event(raw, principal.company_id, None, runtime.clock())
    except InvalidEvent as exc:
        raise Unprocessable("event." + exc.field, exc.message) from None
    try:
        body, headers = await runtime.engine.build_request(row, prepared.envelope, MESSAGE_ID, cache=False)
    except TemplateError as exc:
        raise template_unprocessable(exc) from None
    except RenderUnavailable as exc:
        raise ServiceUnavailableException(str(exc)) from None
    except ConnectorMissing as exc:
        raise Unprocessable("connector", str(exc)) from None
    except Exception as exc:  # a plugin connector's render raised
        raise Unprocessable("connector", f"connector_error: {type(exc).__name__}: {exc}") from None
    for name in row.header_names:
        if name in headers:
            headers[name] = "***"  # custom header values are secrets: never echoed
    connector = runtime.connectors.get(row.connector)
    preview_secret = None
    if would_sign and connector is not None and connector.signs and row.signing:
        preview_secret = PREVIEW_SECRET
        timestamp = int(runtime.clock())
        headers.update(signature_headers(list(row.signing), [PREVIEW_SECRET], MESSAGE_ID, timestamp, body))
    return PreviewOut(
        method="POST",
        url=row.url,
        headers=headers,
        body=body.decode("utf-8", "replace"),
        previewSecret=preview_secret,
    )


def _event(data: PreviewIn) -> dict[str, Any]:
    if data.event is not None:
        return data.event
    name = data.eventType or "TODO_CREATED"
    if name not in SUBSCRIBABLE:
        raise Unprocessable("eventType", f"{name!r} is not in the event catalog")
    return sample_event(name)
