"""Webhooks: the one place that reads and writes webhook rows and keeps the matching index in step."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.delivery_controls import ControlBounds
from gateway.core.ids import new_id, new_uid
from gateway.core.signing import generate_secret
from gateway.core.ssrf import TargetRefused, check_resolved
from gateway.db.models import Company, Webhook, record_fields, table
from gateway.db.webhooks import bump_webhooks_version, discard_pending, subscription_of
from gateway.services.errors import Invalid, NotFound
from gateway.services.webhook_fields import DEFAULT_SIGNING, FieldChecker

if TYPE_CHECKING:
    from gateway.runtime import Runtime
    from gateway.settings import Settings

__all__ = ["Caller", "WebhookRecord", "WebhookService", "control_bounds", "preview_webhook"]


class Caller(Protocol):
    """Who asks: the token's company and user, and which projects it may see."""

    @property
    def company_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    def covers(self, project_ids: Iterable[str]) -> bool:
        """May the caller see an object limited to ``project_ids`` (empty = all projects)?"""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookRecord:
    """A stored webhook, every column (the ciphertexts stay encrypted)."""

    id: str
    uid: str
    company_id: str
    name: str
    url: str
    connector: str
    events: list[str]
    project_ids: list[str]
    filter: dict[str, Any] | None
    template: dict[str, Any] | None
    signing: list[str]
    headers_ct: bytes | None
    header_names: list[str]
    options: dict[str, Any]
    secret_ct: bytes | None
    previous_secret_ct: bytes | None
    previous_secret_until: float | None
    enabled: bool
    status: str
    disabled_reason: str | None
    consecutive_failures: int
    last_success_at: float | None
    failing_since: float | None
    created_by_id: str | None
    created_at: float
    updated_at: float
    version: int
    timeout: float | None = None
    retry_schedule: list[float] | None = None
    max_rate: float | None = None
    ordering: str | None = None
    ordering_key: str | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> WebhookRecord:
        """The record of a ``webhooks`` row."""
        columns = row._mapping
        return cls(
            **record_fields(
                cls,
                row,
                events=list(columns["events"] or ()),
                project_ids=list(columns["project_ids"] or ()),
                signing=list(columns["signing"] or ()),
                header_names=list(columns["header_names"] or ()),
                options=dict(columns["options"] or {}),
            )
        )

    def internal_options(self) -> dict[str, Any]:
        """The gateway's own ``_`` options (such as a REST Hooks subscription's), which a PATCH keeps."""
        return {k: v for k, v in self.options.items() if k.startswith("_")}


def preview_webhook(company_id: str, user_id: str, now: float) -> WebhookRecord:
    """A stand-in webhook for previewing a template without a stored one: no secret, no headers."""
    return WebhookRecord(
        id="wh_preview",
        uid="0" * 32,
        company_id=company_id,
        name="preview",
        url="https://example.invalid/",
        connector="webhook",
        events=[],
        project_ids=[],
        filter=None,
        template=None,
        signing=[],
        headers_ct=None,
        header_names=[],
        options={},
        secret_ct=None,
        previous_secret_ct=None,
        previous_secret_until=None,
        enabled=True,
        status="HEALTHY",
        disabled_reason=None,
        consecutive_failures=0,
        last_success_at=None,
        failing_since=None,
        created_by_id=user_id,
        created_at=now,
        updated_at=now,
        version=0,
    )


def control_bounds(settings: Settings) -> ControlBounds:
    """The server's bounds on a webhook's delivery controls."""
    return ControlBounds(
        max_timeout=settings.max_webhook_timeout,
        max_retries=settings.max_retries,
        max_retry_delay=settings.max_retry_delay,
        max_rate=settings.max_webhook_rate,
    )


def _check_projects(caller: Caller, project_ids: list[str]) -> None:
    if not caller.covers(project_ids):
        if not project_ids:
            raise Invalid("projectIds", "a project-admin must name its projects; empty means all projects")
        raise Invalid("projectIds", "includes projects outside this token's projects")


class WebhookService:
    """Create, read, list, change and delete a company's webhooks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.fields = FieldChecker(
            runtime.connectors,
            allow_private=runtime.settings.allow_private_targets,
            compile_template=runtime.compile_template,
            bounds=control_bounds(runtime.settings),
        )

    async def get(self, caller: Caller, webhook_id: str) -> WebhookRecord:
        """The webhook if the caller may see it, else :class:`NotFound` (never a hint that it exists)."""
        async with self.runtime.db.connect() as conn:
            row = (
                await conn.execute(
                    select(table(Webhook)).where(Webhook.id == webhook_id, Webhook.company_id == caller.company_id)
                )
            ).first()
        if row is None or not caller.covers(row.project_ids or ()):
            raise NotFound("webhook")
        return WebhookRecord.from_row(row)

    async def page(self, caller: Caller, limit: int, cursor: str | None) -> tuple[list[WebhookRecord], str | None]:
        """Up to ``limit`` webhooks the caller may see, newest first, and the cursor of the next page."""
        query = select(table(Webhook)).where(Webhook.company_id == caller.company_id)
        if cursor:
            query = query.where(Webhook.id < cursor)
        records: list[WebhookRecord] = []
        async with self.runtime.db.connect() as conn:
            result = await conn.stream(query.order_by(Webhook.id.desc()))
            async for row in result:
                if not caller.covers(row.project_ids or ()):
                    continue  # filtered here, not in SQL: JSON list containment differs per database
                if len(records) == limit:
                    await result.close()
                    return records, records[-1].id
                records.append(WebhookRecord.from_row(row))
            await result.close()
        return records, None

    async def create(
        self,
        caller: Caller,
        fields: Mapping[str, Any],
        *,
        internal_options: Mapping[str, Any] | None = None,
        with_row: Callable[[AsyncConnection, str], Awaitable[object]] | None = None,
    ) -> tuple[WebhookRecord, str]:
        """Check and store a webhook; returns it and its secret (shown this once).

        ``with_row(conn, webhook_id)`` writes what belongs with it in the same transaction; such a webhook is
        never sent to over HTTP, so its URL's host is not resolved.
        """
        values = self.fields.check(fields)
        values.setdefault("project_ids", [])
        _check_projects(caller, values["project_ids"])
        if with_row is None:
            await self.check_target(values["url"])
        secret = fields.get("secret") or generate_secret()
        headers = values.pop("headers", {})
        if internal_options:
            values["options"] = {**values.get("options", {}), **internal_options}
        runtime, now = self.runtime, self.runtime.clock()
        row_values = {
            **values,
            "id": new_id("wh"),
            "uid": new_uid(),
            "company_id": caller.company_id,
            "signing": values.get("signing", list(DEFAULT_SIGNING)),
            "secret_ct": runtime.secretbox.encrypt(secret),
            "headers_ct": self._headers_ct(headers),
            "header_names": sorted(headers),
            "status": "HEALTHY",
            "consecutive_failures": 0,
            "created_by_id": caller.user_id,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }

        async def write(conn: AsyncConnection) -> WebhookRecord:
            exists = await conn.scalar(select(Company.id).where(Company.id == caller.company_id))
            if exists is None:
                await conn.execute(table(Company).insert().values(id=caller.company_id, created_at=now))
            await conn.execute(table(Webhook).insert().values(**row_values))
            if with_row is not None:
                await with_row(conn, row_values["id"])
            await bump_webhooks_version(conn)
            return await _read(conn, row_values["id"])

        record: WebhookRecord = await runtime.committer.submit(write)
        self._index(record)
        return record, secret

    async def patch(self, caller: Caller, webhook_id: str, fields: Mapping[str, Any]) -> WebhookRecord:
        """Replace the named fields, with the same checks as create; enabling clears the failure state."""
        record = await self.get(caller, webhook_id)
        fields = dict(fields)
        if ("template" in fields or "options" in fields) and "connector" not in fields:
            fields["connector"] = record.connector  # both are checked against the webhook's connector
        values = self.fields.check(fields)
        if "project_ids" in values:
            _check_projects(caller, values["project_ids"])
        if "options" in values:
            values["options"] = {**values["options"], **record.internal_options()}
        if "url" in values:
            await self.check_target(values["url"])
        if "headers" in values:
            headers = values.pop("headers")
            values.update(headers_ct=self._headers_ct(headers), header_names=sorted(headers))
        if values.get("enabled") is True and not record.enabled:
            values.update(disabled_reason=None, consecutive_failures=0, failing_since=None, status="HEALTHY")
        if values.get("enabled") is False and record.enabled:
            values["disabled_reason"] = "manual"
        return await self.update(record, values)

    async def update(self, record: WebhookRecord, values: Mapping[str, Any]) -> WebhookRecord:
        """Write column ``values``, bump the version, keep the index in step; returns the stored webhook."""
        now = self.runtime.clock()
        values = {**values, "updated_at": now}

        async def write(conn: AsyncConnection) -> WebhookRecord:
            w = table(Webhook).c
            await conn.execute(
                update(table(Webhook)).where(w.id == record.id).values(**values, version=w.version + 1)
            )
            if values.get("enabled") is False:
                await discard_pending(conn, record.id, now)
            await bump_webhooks_version(conn)
            return await _read(conn, record.id)

        new: WebhookRecord = await self.runtime.committer.submit(write)
        self._index(new)
        return new

    async def delete(self, record: WebhookRecord) -> None:
        """Delete: its waiting deliveries are discarded, its delivery log stays until retention."""

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(delete(table(Webhook)).where(Webhook.id == record.id))
            await discard_pending(conn, record.id, self.runtime.clock())
            await bump_webhooks_version(conn)

        await self.runtime.committer.submit(write)
        self.runtime.index.remove(record.id)

    async def check_target(self, url: str) -> None:
        """:class:`Invalid` when the URL's host resolves to a private address (unless those are allowed)."""
        try:
            await check_resolved(url, allow_private=self.runtime.settings.allow_private_targets)
        except TargetRefused as exc:
            raise Invalid("url", str(exc)) from None

    def _headers_ct(self, headers: Mapping[str, str]) -> bytes | None:
        return self.runtime.secretbox.encrypt(orjson.dumps(headers).decode()) if headers else None

    def _index(self, record: WebhookRecord) -> None:
        if record.enabled:
            self.runtime.index.put(subscription_of(record, self.runtime.compile_filter))
        else:
            self.runtime.index.remove(record.id)


async def _read(conn: AsyncConnection, webhook_id: str) -> WebhookRecord:
    row = (await conn.execute(select(table(Webhook)).where(Webhook.id == webhook_id))).one()
    return WebhookRecord.from_row(row)
