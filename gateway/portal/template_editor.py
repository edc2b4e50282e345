"""The template editor: Jinja or JSONPath fields, a live preview of the exact request, every event type at once.

The preview is the API's own (:func:`gateway.api.templates.render_preview`): what the editor shows is
what ``POST /v1/templates/preview`` answers, and saving goes through the webhook service's checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.exceptions import HTTPException

from gateway.api.auth import Principal
from gateway.api.schemas import PreviewOut
from gateway.api.templates import PreviewIn, render_preview
from gateway.api.webhooks import WEBHOOKS
from gateway.core.catalog import CATALOG
from gateway.portal.render import page, redirect
from gateway.portal.webhooks import HOOK
from gateway.runtime import Runtime
from gateway.services.deliveries import DeliveryQuery, DeliveryService
from gateway.services.errors import Invalid, ServiceError
from gateway.services.event_log import EventLog
from gateway.services.webhooks import WebhookRecord, WebhookService

__all__ = ["TemplateEditor", "TemplateForm"]

MODES = (
    ("default", "The connector's default"),
    ("jinja", "Jinja body"),
    ("fields", "JSONPath fields"),
    ("named", "A built-in template by name"),
)


@dataclass
class TemplateForm:
    """The editor's values."""

    mode: str = "default"
    body: str = ""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    fields: str = ""
    name: str = ""

    @classmethod
    def of(cls, spec: dict[str, Any] | None) -> TemplateForm:
        """The form of a stored template."""
        if not spec:
            return cls()
        if "fields" in spec:
            lines = [f"{k} = {v}" for k, v in (spec.get("fields") or {}).items()]
            return cls(mode="fields", fields="\n".join(lines))
        if "body" in spec:
            headers = list((spec.get("headers") or {}).items())
            return cls(
                mode="jinja",
                body=str(spec["body"]),
                content_type=str(spec.get("contentType") or ""),
                headers=headers,
            )
        return cls(mode="named", name=str(spec.get("name") or ""))

    @classmethod
    def parse(cls, form: FormMultiDict) -> TemplateForm:
        """The values posted."""
        names, values = form.getall("tpl_header_name", []), form.getall("tpl_header_value", [])
        headers = [(str(n).strip(), str(values[i]) if i < len(values) else "") for i, n in enumerate(names)]
        return cls(
            mode=str(form.get("mode") or "default"),
            body=str(form.get("body") or ""),
            content_type=str(form.get("content_type") or "").strip(),
            headers=[(n, v) for n, v in headers if n],
            fields=str(form.get("fields") or ""),
            name=str(form.get("name") or "").strip(),
        )

    def spec(self) -> dict[str, Any]:
        """The template object the API takes (``{}``: the connector's default); :class:`Invalid` when malformed."""
        if self.mode == "default":
            return {}
        if self.mode == "jinja":
            spec: dict[str, Any] = {"body": self.body, "contentType": self.content_type or "application/json"}
            if self.headers:
                spec["headers"] = dict(self.headers)
            return spec
        if self.mode == "fields":
            out: dict[str, str] = {}
            for n, line in enumerate(self.fields.splitlines(), start=1):
                if not line.strip():
                    continue
                key, sep, path = line.partition("=")
                if not sep or not key.strip() or not path.strip():
                    raise Invalid("template.fields", f"line {n}: write one field a line, as name = $.path")
                out[key.strip()] = path.strip()
            return {"fields": out}
        if self.mode == "named":
            return {"name": self.name}
        raise Invalid("mode", "choose default, jinja, fields or named")


@dataclass(frozen=True)
class PreviewResult:
    """What the preview shows: the request, or the error with its line and column."""

    request: PreviewOut | None = None
    error: str = ""
    line: int | None = None
    column: int | None = None


async def _preview(
    runtime: Runtime, principal: Principal, hook: WebhookRecord, spec: dict[str, Any], sample: str
) -> PreviewResult:
    data = PreviewIn(webhookId=hook.id, template=spec)
    try:
        if sample.startswith("event:"):
            event, _ = await EventLog(runtime).get(principal, sample.removeprefix("event:"))
            data.event = event.envelope
        else:
            data.eventType = sample.removeprefix("type:") or "TODO_CREATED"
        return PreviewResult(request=await render_preview(runtime, principal, data))
    except HTTPException as exc:
        extra = exc.extra[0] if isinstance(exc.extra, list) and exc.extra else {}
        return PreviewResult(error=str(exc.detail), line=extra.get("line"), column=extra.get("column"))
    except ServiceError as exc:  # a malformed field, or a sample event no longer there
        return PreviewResult(error=str(exc))


def _failed(request: Request[Any, Any, Any], principal: Principal, exc: Invalid) -> Response[str]:
    return page(request, "template_preview.html", principal=principal, result=PreviewResult(error=str(exc)))


class TemplateEditor(Controller):
    """One webhook's template."""

    path = "/portal/webhooks/{webhook_id:str}/template"
    include_in_schema = False
    dependencies = {"webhooks": WEBHOOKS, "hook": HOOK}

    @get("/", name="portal-template")
    async def editor_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        hook: WebhookRecord,
        done: str = "",
    ) -> Response[str]:
        """The editor with the stored template; its preview renders as the page loads."""
        return await self._editor(
            request, runtime, principal, hook, TemplateForm.of(hook.template), done=done[:100]
        )

    @post("/", status_code=200)
    async def save(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        hook: WebhookRecord,
    ) -> Response[str]:
        """Store the template, checked as the API checks it (a syntax error: 422 with its line and column)."""
        shown = TemplateForm.parse(await request.form())
        try:
            await webhooks.patch(principal, hook.id, {"template": shown.spec() or None})
        except Invalid as exc:
            details = getattr(exc, "details", {}) or {}
            error = PreviewResult(error=str(exc), line=details.get("line"), column=details.get("column"))
            return await self._editor(request, runtime, principal, hook, shown, error=error, status=422)
        return redirect(request, f"/portal/webhooks/{hook.id}/template?done=saved")

    @post("/preview", status_code=200)
    async def preview(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, hook: WebhookRecord
    ) -> Response[str]:
        """The exact request for the chosen sample, or the error at its line and column (htmx swaps it in)."""
        form = await request.form()
        try:
            spec = TemplateForm.parse(form).spec()
        except Invalid as exc:
            return _failed(request, principal, exc)
        result = await _preview(runtime, principal, hook, spec, str(form.get("sample") or ""))
        return page(request, "template_preview.html", principal=principal, result=result)

    @post("/preview-all", status_code=200)
    async def preview_all(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, hook: WebhookRecord
    ) -> Response[str]:
        """The template rendered for every catalog event type: which ones fail, and why."""
        try:
            spec = TemplateForm.parse(await request.form()).spec()
        except Invalid as exc:
            return _failed(request, principal, exc)
        results = [(t.name, await _preview(runtime, principal, hook, spec, "type:" + t.name)) for t in CATALOG]
        failed = sum(1 for _, r in results if r.error)
        return page(request, "template_all.html", principal=principal, results=results, failed=failed)

    async def _editor(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        hook: WebhookRecord,
        shown: TemplateForm,
        *,
        error: PreviewResult | None = None,
        status: int = 200,
        done: str = "",
    ) -> Response[str]:
        recent, _ = await DeliveryService(runtime).search(principal, DeliveryQuery(webhook_id=hook.id), 10, None)
        return page(
            request,
            "template.html",
            status=status,
            principal=principal,
            title=f"Template of {hook.name or hook.id}",
            hook=hook,
            form=shown,
            modes=MODES,
            event_types=CATALOG,
            recent=recent,
            error=error,
            done=done,
        )
