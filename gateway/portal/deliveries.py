"""The delivery log: filters, live rows, one delivery with every attempt, retry and recover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException

from gateway.api.auth import Principal
from gateway.api.schemas import DeliveryStatus, PreviewOut
from gateway.api.templates import PreviewIn, render_preview
from gateway.api.webhooks import WEBHOOKS
from gateway.core.catalog import CATALOG
from gateway.portal.render import page, redirect
from gateway.runtime import Runtime
from gateway.services.deliveries import DeliveryQuery, DeliveryService
from gateway.services.errors import Invalid, NotFound
from gateway.services.event_log import EventLog
from gateway.services.webhook_actions import WebhookActions
from gateway.services.webhooks import WebhookService

__all__ = ["DeliveryPages", "parse_utc"]

STATUSES = get_args(DeliveryStatus)
PAGE = 50


def parse_utc(field: str, value: str) -> float | None:
    """A time typed in a form (``2026-01-31T12:00``, seconds and a zone optional) in UTC; empty: None."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, "must be a date and time such as 2026-01-31T12:00 (UTC)") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class LogFilter:
    """The delivery log's filters as the query string carries them."""

    status: str = ""
    event: str = ""
    webhook: str = ""
    event_id: str = ""
    since: str = ""
    until: str = ""
    cursor: str = ""

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> LogFilter:
        """The filters of the request's query string (long values cut)."""
        q = request.query_params
        return cls(**{name: str(q.get(name) or "")[:200] for name in cls.__dataclass_fields__})

    def query(self) -> DeliveryQuery:
        """The service's query; :class:`Invalid` for a bad status or time."""
        if self.status and self.status not in STATUSES:
            raise Invalid("status", "must be one of " + ", ".join(STATUSES))
        return DeliveryQuery(
            status=self.status or None,
            event=self.event or None,
            webhook_id=self.webhook or None,
            event_id=self.event_id.strip() or None,
            since=parse_utc("since", self.since),
            until=parse_utc("until", self.until),
        )

    def encoded(self, **changes: str) -> str:
        """The query string of these filters (without the cursor unless changed)."""
        values = {**self.__dict__, "cursor": "", **changes}
        return urlencode({k: v for k, v in values.items() if v})


class DeliveryPages(Controller):
    """Deliveries of every webhook the session may see."""

    path = "/portal/deliveries"
    include_in_schema = False
    dependencies = {"webhooks": WEBHOOKS}

    @get("/", name="portal-deliveries")
    async def log_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        done: str = "",
    ) -> Response[str]:
        """The log with its filters; its rows reload every two seconds."""
        found = await _search(request, runtime, principal, webhooks)
        return page(
            request,
            "deliveries.html",
            principal=principal,
            title="Deliveries",
            statuses=STATUSES,
            event_types=CATALOG,
            done=done[:100],
            **found,
        )

    @get("/rows", name="portal-delivery-rows")
    async def rows_fragment(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, webhooks: WebhookService
    ) -> Response[str]:
        """The rows for the same filters (what the log polls)."""
        found = await _search(request, runtime, principal, webhooks)
        return page(request, "delivery_rows.html", principal=principal, **found)

    @post("/recover", status_code=200)
    async def recover(
        self, request: Request[Any, Any, Any], principal: Principal, webhooks: WebhookService
    ) -> Response[str]:
        """Give every failed or discarded delivery of one webhook in a time window one more attempt."""
        form = await request.form()
        webhook_id = str(form.get("webhook") or "")
        if not webhook_id:
            raise Invalid("webhook", "choose the webhook whose deliveries to recover")
        since = parse_utc("since", str(form.get("since") or ""))
        if since is None:
            raise Invalid("since", "is required")
        until = parse_utc("until", str(form.get("until") or ""))
        count = await WebhookActions(webhooks).recover(principal, webhook_id, since, until)
        return redirect(request, f"/portal/deliveries?webhook={webhook_id}&done=requeued+{count}")

    @get("/{delivery_id:str}", name="portal-delivery")
    async def detail_page(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        principal: Principal,
        webhooks: WebhookService,
        delivery_id: str,
        done: str = "",
    ) -> Response[str]:
        """One delivery: every attempt, and the request as the webhook renders it now (secrets masked)."""
        delivery, attempts = await DeliveryService(runtime).get(principal, delivery_id)
        try:
            hook = await webhooks.get(principal, delivery.webhook_id)
        except NotFound:
            hook = None  # deleted since; its deliveries stay until retention
        rendered: PreviewOut | None = None
        render_error = ""
        if hook is not None:
            try:
                event, _ = await EventLog(runtime).get(principal, delivery.event_id)
                rendered = await render_preview(
                    runtime, principal, PreviewIn(webhookId=hook.id, event=event.envelope)
                )
            except (HTTPException, NotFound) as exc:
                render_error = str(getattr(exc, "detail", exc))
        return page(
            request,
            "delivery.html",
            principal=principal,
            title=f"Delivery {delivery.id}",
            delivery=delivery,
            attempts=attempts,
            hook=hook,
            rendered=rendered,
            render_error=render_error,
            done=done[:100],
        )

    @post("/{delivery_id:str}/retry", status_code=200)
    async def retry(
        self, request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, delivery_id: str
    ) -> Response[str]:
        """One more attempt now (same ``webhook-id``)."""
        await DeliveryService(runtime).retry(principal, delivery_id)
        return redirect(request, f"/portal/deliveries/{delivery_id}?done=retry+queued")


async def _search(
    request: Request[Any, Any, Any], runtime: Runtime, principal: Principal, webhooks: WebhookService
) -> dict[str, Any]:
    """The deliveries matching the request's filters, and the webhooks the session may pick from."""
    filters = LogFilter.of(request)
    rows, next_cursor = await DeliveryService(runtime).search(
        principal, filters.query(), PAGE, filters.cursor or None
    )
    hooks, _ = await webhooks.page(principal, 250, None)
    names = {h.id: h.name or h.id for h in hooks}
    return {"rows": rows, "next_cursor": next_cursor, "filters": filters, "hooks": hooks, "names": names}
