"""``/v1/webhooks``: create, list, read, update, delete."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import delete as sql_delete
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.auth import Principal, provide_principal
from gateway.api.errors import Unprocessable, not_found
from gateway.api.schemas import WebhookOut, WebhookPage, iso
from gateway.api.webhook_schema import DEFAULT_SIGNING, WebhookCreate, WebhookPatch, validate_webhook_fields
from gateway.core.ids import new_id, new_uid
from gateway.core.signing import generate_secret
from gateway.core.ssrf import TargetRefused, check_resolved
from gateway.db.models import Company, Webhook, table
from gateway.db.webhooks import bump_webhooks_version, discard_pending, subscription_of
from gateway.runtime import Runtime

__all__ = ["WebhooksController", "create_webhook_row", "delete_webhook_row", "iso", "load_webhook"]

MAX_SECRET = 256


async def load_webhook(runtime: Runtime, principal: Principal, webhook_id: str) -> Any:
    """The webhook if this principal may see it, else 404 (never 403: no hint that it exists)."""
    async with runtime.db.connect() as conn:
        row = (
            await conn.execute(
                select(table(Webhook)).where(Webhook.id == webhook_id, Webhook.company_id == principal.company_id)
            )
        ).first()
    if row is None or not principal.covers(row.project_ids or ()):
        raise not_found("webhook")
    return row


def _check_projects(principal: Principal, project_ids: list[str]) -> None:
    if not principal.covers(project_ids):
        if not project_ids:
            raise Unprocessable("projectIds", "a project-admin must name its projects; empty means all projects")
        raise Unprocessable("projectIds", "includes projects outside this token's projects")


def _secret_value(secret: str | None) -> str:
    if secret is None:
        return generate_secret()
    if not 8 <= len(secret) <= MAX_SECRET:
        raise Unprocessable("secret", f"must be 8 to {MAX_SECRET} characters")
    return secret


class WebhooksController(Controller):
    """Webhook subscriptions of the caller's company."""

    path = "/v1/webhooks"
    tags = ["webhooks"]
    dependencies = {"principal": Provide(provide_principal)}

    @post("/", status_code=201, summary="Create a webhook")
    async def create_webhook(
        self, request: Request[Any, Any, Any], principal: Principal, data: WebhookCreate
    ) -> WebhookOut:
        """Create; the answer carries the secret, the only time it is shown."""
        principal.require("manage")
        fields = {k: v for k, v in msgspec.to_builtins(data).items() if v is not None}
        row, secret = await create_webhook_row(request.app.state.runtime, principal, fields)
        return WebhookOut.from_row(row, secret=secret)

    @get("/", summary="List webhooks, newest first")
    async def list_webhooks(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        limit: int = Parameter(default=50, ge=1, le=250),
        cursor: str | None = None,
    ) -> WebhookPage:
        """Cursor pagination: pass ``nextCursor`` back as ``cursor``."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        query = select(table(Webhook)).where(Webhook.company_id == principal.company_id)
        if cursor:
            query = query.where(Webhook.id < cursor)
        query = query.order_by(Webhook.id.desc())
        data: list[WebhookOut] = []
        next_cursor = None
        async with runtime.db.connect() as conn:
            result = await conn.stream(query)
            async for row in result:
                if not principal.covers(row.project_ids or ()):
                    continue
                if len(data) == limit:
                    next_cursor = data[-1].id
                    break
                data.append(WebhookOut.from_row(row))
            await result.close()
        return WebhookPage(data=data, nextCursor=next_cursor)

    @get("/{webhook_id:str}", summary="Read a webhook")
    async def get_webhook(
        self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str
    ) -> WebhookOut:
        """The webhook object (secret null, header values masked)."""
        principal.require("manage")
        return WebhookOut.from_row(await load_webhook(request.app.state.runtime, principal, webhook_id))

    @patch("/{webhook_id:str}", summary="Update a webhook")
    async def patch_webhook(
        self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str, data: WebhookPatch
    ) -> WebhookOut:
        """Replace the fields named in the body."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if ("template" in fields or "options" in fields) and "connector" not in fields:
            fields["connector"] = row.connector
        values = validate_webhook_fields(
            fields,
            connectors=runtime.connectors,
            allow_private=runtime.settings.allow_private_targets,
            compile_template=runtime.compile_template,
        )
        if "project_ids" in values:
            _check_projects(principal, values["project_ids"])
        if "options" in values:  # internal flags (such as a REST Hooks subscription's) survive a PATCH
            internal = {k: v for k, v in (row.options or {}).items() if k.startswith("_")}
            values["options"] = {**values["options"], **internal}
        if "url" in values:
            await check_target(runtime, values["url"])
        if "headers" in values:
            headers = values.pop("headers")
            values["headers_ct"] = runtime.secretbox.encrypt(orjson.dumps(headers).decode()) if headers else None
            values["header_names"] = sorted(headers)
        if values.get("enabled") is True and not row.enabled:
            values.update(disabled_reason=None, consecutive_failures=0, failing_since=None, status="HEALTHY")
        if values.get("enabled") is False and row.enabled:
            values["disabled_reason"] = "manual"
        return WebhookOut.from_row(await update_webhook(runtime, row, values))

    @delete("/{webhook_id:str}", status_code=204, summary="Delete a webhook")
    async def delete_webhook(self, request: Request[Any, Any, Any], principal: Principal, webhook_id: str) -> None:
        """Delete; its waiting deliveries are discarded, its delivery log stays until retention."""
        principal.require("manage")
        runtime: Runtime = request.app.state.runtime
        row = await load_webhook(runtime, principal, webhook_id)

        await delete_webhook_row(runtime, row.id)


async def update_webhook(runtime: Runtime, row: Any, values: dict[str, Any]) -> Any:
    """Write ``values`` to a webhook, bump its version, keep the index in step; returns the new row."""
    now = runtime.clock()
    values = {**values, "updated_at": now}

    async def write(conn: AsyncConnection) -> Any:
        w = table(Webhook).c
        await conn.execute(update(table(Webhook)).where(w.id == row.id).values(**values, version=w.version + 1))
        if values.get("enabled") is False:
            await discard_pending(conn, row.id, now)
        await bump_webhooks_version(conn)
        return (await conn.execute(select(table(Webhook)).where(w.id == row.id))).first()

    new_row = await runtime.committer.submit(write)
    if new_row.enabled:
        runtime.index.put(subscription_of(new_row, runtime.compile_filter))
    else:
        runtime.index.remove(new_row.id)
    return new_row


async def create_webhook_row(
    runtime: Runtime,
    principal: Principal,
    fields: dict[str, Any],
    *,
    internal_options: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """Validate and insert a webhook; returns the stored row and its secret (to be shown once)."""
    values = validate_webhook_fields(
        fields,
        connectors=runtime.connectors,
        allow_private=runtime.settings.allow_private_targets,
        compile_template=runtime.compile_template,
    )
    values.setdefault("project_ids", [])
    _check_projects(principal, values["project_ids"])
    await check_target(runtime, values["url"])
    secret = _secret_value(fields.get("secret"))
    headers = values.pop("headers", {})
    if internal_options:
        values["options"] = {**values.get("options", {}), **internal_options}
    now = runtime.clock()
    row_values = {
        **values,
        "id": new_id("wh"),
        "uid": new_uid(),
        "company_id": principal.company_id,
        "signing": values.get("signing", DEFAULT_SIGNING),
        "secret_ct": runtime.secretbox.encrypt(secret),
        "headers_ct": runtime.secretbox.encrypt(orjson.dumps(headers).decode()) if headers else None,
        "header_names": sorted(headers),
        "status": "HEALTHY",
        "consecutive_failures": 0,
        "created_by_id": principal.user_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }

    async def write(conn: AsyncConnection) -> Any:
        exists = await conn.scalar(select(Company.id).where(Company.id == principal.company_id))
        if exists is None:
            await conn.execute(table(Company).insert().values(id=principal.company_id, created_at=now))
        await conn.execute(table(Webhook).insert().values(**row_values))
        await bump_webhooks_version(conn)
        return (await conn.execute(select(table(Webhook)).where(Webhook.id == row_values["id"]))).first()

    row = await runtime.committer.submit(write)
    if row.enabled:
        runtime.index.put(subscription_of(row, runtime.compile_filter))
    return row, secret


async def check_target(runtime: Runtime, url: str) -> None:
    """422 when the URL's host resolves to a private address (unless private targets are allowed)."""
    try:
        await check_resolved(url, allow_private=runtime.settings.allow_private_targets)
    except TargetRefused as exc:
        raise Unprocessable("url", str(exc)) from None


async def delete_webhook_row(runtime: Runtime, webhook_id: str) -> None:
    """Delete a webhook: its waiting deliveries are discarded, its delivery log stays until retention."""

    async def write(conn: AsyncConnection) -> None:
        await conn.execute(sql_delete(table(Webhook)).where(Webhook.id == webhook_id))
        await discard_pending(conn, webhook_id, runtime.clock())
        await bump_webhooks_version(conn)

    await runtime.committer.submit(write)
    runtime.index.remove(webhook_id)
