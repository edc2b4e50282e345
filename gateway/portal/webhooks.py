"""Webhook pages: the list with health and a 24-hour chart, create and edit, and the actions on one webhook."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import Provide

from gateway.api.auth import Principal
from gateway.api.webhook_schema import WebhookCreate, WebhookPatch
from gateway.api.webhooks import WEBHOOKS
from gateway.portal.render import page, redirect
from gateway.portal.session import clear_flash, flash_cookie, read_flash
from gateway.portal.webhook_form import (
    FILTER_OPS,
    SIGNING,
    Condition,
    WebhookForm,
    event_groups,
    option_fields,
    parse_webhook_form,
)
from gateway.runtime import Runtime
from gateway.services.errors import Invalid
from gateway.services.stats import StatsService, WebhookStats
from gateway.services.webhook_actions import WebhookActions
from gateway.services.webhooks import WebhookRecord, WebhookService

__all__ = ["HOOK", "WebhookPages", "provide_hook"]


PAGE = 50


def _schemas(runtime: Runtime) -> dict[str, dict[str, Any]]:
    return {c.name: c.options_schema for c in runtime.connectors}


def _checked(fields: dict[str, Any], body: type[Any]) -> dict[str, Any]:
    """The fields through the API's own request type: the same lengths, patterns and types are enforced."""
    try:
        typed = msgspec.convert(fields, body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        where = message.rsplit("at `$.", 1)[-1].rstrip("`") if "at `$." in message else "form"
        raise Invalid(where, message.split(" - at ")[0]) from None
    values = msgspec.structs.asdict(typed)
    return {k: v for k, v in values.items() if k in fields and v is not msgspec.UNSET}


async def provide_hook(principal: Principal, webhooks: WebhookService, webhook_id: str) -> WebhookRecord:
    """The webhook of the path, if the session may see it (else not found, as in the API)."""
    return await webhooks.get(principal, webhook_id)


HOOK = Provide(provide_hook)
"""``hook``: the webhook named by ``webhook_id`` in the path."""


def chart(stats: WebhookStats) -> dict[str, Any]:
    """The 24-hour bars of the list's small chart: one per hour, height by attempts, the successful part."""
    top = max((h.attempts for h in stats.hours), default=0) or 1
    bars = []
    for i, hour in enumerate(stats.hours):
        height = round(20 * hour.attempts / top, 1)
        ok = round(20 * hour.succeeded / top, 1)
        bars.append({"x": i * 4, "height": height, "ok": ok})
    rate = stats.success_rate
    return {
        "bars": bars,
        "rate": None if rate is None else round(rate * 100),
        "attempts": stats.attempts,
        "succeeded": stats.succeeded,
    }


class WebhookPages(Controller):
    """The webhooks of the signed-in company (or of its projects)."""

    path = "/portal/webhooks"
    include_in_schema = False
    dependencies = {"webhooks": WEBHOOKS}

    @get("/", name="portal-webhooks")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        cursor: str = "",
    ) -> Response[str]:
        """The webhooks, newest first, with their health, newest delivery and 24-hour success rate."""
        records, next_cursor = await webhooks.page(principal, PAGE, cursor[:100] or None)
        stats = StatsService(runtime)
        rows = []
        for record in records:
            numbers = await stats.webhook(record)
            rows.append({"hook": record, "stats": numbers, "chart": chart(numbers)})
        return page(
            request, "webhooks.html", principal=principal, title="Webhooks", rows=rows, next_cursor=next_cursor
        )

    @get("/new", name="portal-webhook-new")
    async def new_page(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal
    ) -> Response[str]:
        """An empty webhook form."""
        return self._form(request, runtime, principal, WebhookForm(), None)

    @post("/new", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, webhooks: WebhookService
    ) -> Response[str]:
        """Create the webhook; the answer shows its secret, this once."""
        form = await request.form()
        shown = WebhookForm()
        try:
            shown, fields = parse_webhook_form(form, _schemas(runtime))
            record, secret = await webhooks.create(principal, _checked(fields, WebhookCreate))
        except Invalid as exc:
            return self._form(request, runtime, principal, _kept(shown, form), None, error=exc, status=422)
        return _show_secret(request, runtime, record, secret, "created")

    @get("/options", name="portal-webhook-options")
    async def options_fragment(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, connector: str = "webhook"
    ) -> Response[str]:
        """The options fields of a connector (swapped in when the connector changes)."""
        chosen = runtime.connectors.get(connector)
        fields = option_fields(chosen.options_schema, {}) if chosen is not None else []
        return page(request, "webhook_options.html", principal=principal, option_fields=fields, connector=chosen)

    @get("/condition", name="portal-webhook-condition")
    async def condition_fragment(self, request: Request[Any, Any, Any], principal: Principal) -> Response[str]:
        """One more empty row of the filter builder (its ids are new, so rows never share one)."""
        row_id = "n" + secrets.token_hex(4)
        return page(
            request, "webhook_condition.html", principal=principal, cond=Condition(), i=row_id, ops=FILTER_OPS
        )

    @get("/{webhook_id:str}", name="portal-webhook", dependencies={"hook": HOOK})
    async def edit_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        hook: WebhookRecord,
        done: str = "",
    ) -> Response[str]:
        """The webhook's form and its actions."""
        return self._form(request, runtime, principal, WebhookForm.of(hook), hook, done=done[:100])

    @post("/{webhook_id:str}", status_code=200, dependencies={"hook": HOOK})
    async def update(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        hook: WebhookRecord,
    ) -> Response[str]:
        """Save the form; every field is checked as the API checks it."""
        record = hook
        form = await request.form()
        shown = WebhookForm.of(record)
        try:
            shown, fields = parse_webhook_form(form, _schemas(runtime), editing=record)
            await webhooks.patch(principal, record.id, _checked(fields, WebhookPatch))
        except Invalid as exc:
            return self._form(request, runtime, principal, _kept(shown, form), record, error=exc, status=422)
        return redirect(request, f"/portal/webhooks/{record.id}?done=saved")

    @post("/{webhook_id:str}/enable", status_code=200)
    async def enable(
        self, request: Request[Any, Any, Any], principal: Principal, webhooks: WebhookService, webhook_id: str
    ) -> Response[str]:
        """Enable after a live health check (a 422 page says what the endpoint answered)."""
        await WebhookActions(webhooks).enable(principal, webhook_id)
        return redirect(request, f"/portal/webhooks/{webhook_id}?done=enabled")

    @post("/{webhook_id:str}/disable", status_code=200)
    async def disable(
        self, request: Request[Any, Any, Any], principal: Principal, webhooks: WebhookService, webhook_id: str
    ) -> Response[str]:
        """No new deliveries; waiting ones are discarded."""
        await WebhookActions(webhooks).disable(principal, webhook_id)
        return redirect(request, f"/portal/webhooks/{webhook_id}?done=disabled")

    @post("/{webhook_id:str}/test", status_code=200)
    async def send_test(
        self, request: Request[Any, Any, Any], principal: Principal, webhooks: WebhookService, webhook_id: str
    ) -> Response[str]:
        """Send a catalog sample through the pipeline and show its delivery."""
        form = await request.form()
        event = str(form.get("event") or "TODO_CREATED")
        delivery = await WebhookActions(webhooks).send_test(principal, webhook_id, event)
        return redirect(request, f"/portal/deliveries/{delivery.id}")

    @post("/{webhook_id:str}/rotate-secret", status_code=200)
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        webhook_id: str,
    ) -> Response[str]:
        """A new secret, shown this once; the old one keeps signing for a day."""
        record, secret = await WebhookActions(webhooks).rotate_secret(principal, webhook_id, 86400)
        return _show_secret(request, runtime, record, secret, "rotated")

    @get("/{webhook_id:str}/secret", name="portal-webhook-secret", dependencies={"hook": HOOK})
    async def secret_page(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, hook: WebhookRecord
    ) -> Response[str]:
        """The secret just made, shown once: the one-time cookie that carried it is removed by this answer."""
        record = hook
        what, secret = read_flash(request, runtime, record.id)
        return page(
            request,
            "secret.html",
            principal=principal,
            title="Webhook created" if what == "created" else "Signing secret",
            hook=record,
            secret=secret,
            created=what == "created",
            cookies=[clear_flash(record.id)],
        )

    @post("/{webhook_id:str}/delete", status_code=200)
    async def delete(
        self, request: Request[Any, Any, Any], principal: Principal, webhooks: WebhookService, webhook_id: str
    ) -> Response[str]:
        """Delete the webhook; its delivery log stays until retention."""
        await webhooks.delete(await webhooks.get(principal, webhook_id))
        return redirect(request, "/portal/webhooks")

    @staticmethod
    def _form(
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        shown: WebhookForm,
        record: WebhookRecord | None,
        *,
        error: Invalid | None = None,
        status: int = 200,
        done: str = "",
    ) -> Response[str]:
        chosen = runtime.connectors.get(shown.connector)
        return page(
            request,
            "webhook_form.html",
            status=status,
            principal=principal,
            title=f"Webhook {record.name or record.id}" if record else "New webhook",
            hook=record,
            form=shown,
            error=error,
            done=done,
            groups=event_groups(),
            connectors=list(runtime.connectors),
            connector=chosen,
            option_fields=option_fields(chosen.options_schema, shown.options) if chosen is not None else [],
            signing=SIGNING,
            ops=FILTER_OPS,
        )


def _show_secret(
    request: Request[Any, Any, Any], runtime: Runtime, record: WebhookRecord, secret: str, what: str
) -> Response[str]:
    """Post/redirect/get: the secret travels once, encrypted, to the page that shows it; a reload shows nothing."""
    cookie = flash_cookie(request, runtime, record.id, what, secret)
    return redirect(request, f"/portal/webhooks/{record.id}/secret", cookies=[cookie])


def _kept(shown: WebhookForm, form: FormMultiDict) -> WebhookForm:
    """What the user typed, shown again after a refusal (even when the form's shape itself was refused)."""
    if shown.url or not form.get("url"):
        return shown
    return WebhookForm(name=str(form.get("name") or ""), url=str(form.get("url") or ""))
