"""The delivery engine: claim a delivery, render through its connector, sign, send, record (contract §6, §7)."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import DELETE_ON_GONE_OPTION, DeliveryContext, Outcome, OutcomeKind, ResponseInfo, WebhookView
from connectors.registry import ConnectorRegistry
from gateway import __version__
from gateway.core.retry import RetrySchedule
from gateway.core.secretbox import SecretBox, SecretUnreadable
from gateway.core.signing import sign_blue, sign_github, sign_standard
from gateway.db.groupcommit import GroupCommitter
from gateway.db.models import Attempt, Delivery, Event, Webhook, table
from gateway.db.webhooks import bump_webhooks_version, discard_pending
from gateway.delivery.ratelimit import UrlPacer
from gateway.delivery.sender import Sender, SendResult

__all__ = ["DeliveryEngine", "EngineConfig", "signature_headers"]

log = logging.getLogger("gateway.delivery")
UNHEALTHY_AFTER = 5
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs, taken from settings."""

    schedule: RetrySchedule
    attempt_timeout: float
    lease_seconds: float
    disable_after: float
    worker_concurrency: int = 256
    webhook_concurrency: int = 32


@dataclass
class _Claim:
    delivery_id: str
    n: int
    message_id: str
    event_name: str
    payload: dict[str, Any]
    webhook: Any  # a Core row of the webhooks table, or None when it was deleted


class _Lane:
    """Per-webhook concurrency: at most ``cap`` attempts at once, a bounded queue of waiters behind them."""

    def __init__(self) -> None:
        self.active = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def idle(self) -> bool:
        return self.active == 0 and not self.waiting

    async def acquire(self, cap: int, max_wait: float) -> bool:
        """True with a slot; False when the queue is full or the wait outlived ``max_wait`` (lease safety)."""
        if self.active < cap:
            self.active += 1
            return True
        if len(self.waiting) >= cap * 4:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=max_wait)
        except TimeoutError:
            if future.done():  # the slot arrived just as the wait ran out: keep it
                return True
            future.cancel()
            return False
        return True

    def release(self) -> None:
        """Hand the slot to the next live waiter, or free it."""
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.active -= 1


@dataclass
class _Prepared:
    view: WebhookView
    secrets: list[str]
    header_values: dict[str, str] = field(default_factory=dict)


def signature_headers(
    schemes: list[str], secrets: list[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Signature headers for ``body``; ``secrets[0]`` is current, any others are still in their grace window."""
    if not secrets:
        return {}
    headers: dict[str, str] = {}
    current = secrets[0]
    if "blue" in schemes:
        headers["X-Signature"] = sign_blue(current, body)
    if "standard" in schemes:
        headers["webhook-id"] = message_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = " ".join(sign_standard(s, message_id, timestamp, body) for s in secrets)
    if "github" in schemes:
        headers["X-Hub-Signature-256"] = sign_github(current, body)
    return headers


class DeliveryEngine:
    """Works deliveries by id. Safe to run in any number of processes: claims are conditional updates."""

    def __init__(
        self,
        *,
        config: EngineConfig,
        committer: GroupCommitter,
        connectors: ConnectorRegistry,
        sender: Sender,
        secretbox: SecretBox,
        compile_template: Callable[[Mapping[str, Any] | None, str], Any],
        on_webhook_disabled: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._committer = committer
        self._connectors = connectors
        self._sender = sender
        self._secretbox = secretbox
        self._compile_template = compile_template
        self._on_disabled = on_webhook_disabled
        self.clock = clock
        self._slots = asyncio.Semaphore(config.worker_concurrency)
        self._lanes: dict[str, _Lane] = {}
        self._pacer = UrlPacer()
        self._prepared: dict[str, tuple[tuple[int, bool], _Prepared]] = {}
        self.user_agent = f"blue-gateway/{__version__}"
        self.attempts_made = 0

    async def deliver_many(self, delivery_ids: list[str]) -> None:
        """Work a batch of deliveries concurrently; claims of the whole batch share transactions."""
        await asyncio.gather(*(self._guarded(d) for d in delivery_ids))

    async def _guarded(self, delivery_id: str) -> None:
        try:
            await self.deliver(delivery_id)
        except Exception:
            # The lease expires and the scheduler hands the delivery out again: nothing is lost.
            log.exception("delivery %s failed inside the engine; it is retried after its lease", delivery_id)

    async def deliver(self, delivery_id: str) -> None:
        """One attempt of one delivery, if it is still due."""
        now = self.clock()
        claim = await self._committer.submit(lambda conn: self._claim(conn, delivery_id, now))
        if claim is None:
            return
        row = claim.webhook
        if row is None or not row.enabled:
            await self._committer.submit(lambda conn: self._set_status(conn, claim, "discarded"))
            return
        lane = self._lanes.setdefault(row.id, _Lane())
        if not await lane.acquire(self.config.webhook_concurrency, self.config.lease_seconds):
            # One slow endpoint must not hold the worker: hand the delivery back for a moment.
            if lane.idle:
                self._lanes.pop(row.id, None)
            await self._committer.submit(lambda conn: self._release(conn, claim, self.clock() + 0.25))
            return
        try:
            async with self._slots:
                await self._attempt(claim, row)
        finally:
            lane.release()
            if lane.idle:
                self._lanes.pop(row.id, None)

    async def _attempt(self, claim: _Claim, row: Any) -> None:
        started = self.clock()
        result, outcome = await self.send_once(row, claim.payload, claim.message_id)
        await self._record(claim, row, started, result, outcome, result.error if result else outcome.reason)

    def build_request(
        self, row: Any, payload: Mapping[str, Any], message_id: str, *, cache: bool = True
    ) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of one attempt (signed). Raises ``LookupError`` or the template's error.

        ``cache=False`` compiles the row afresh (previews of unsaved templates).
        """
        connector = self._connectors.get(row.connector)
        if connector is None:
            raise LookupError(f"connector_unavailable: {row.connector!r} is not loaded")
        prepared = self._prepare(row, cache=cache)
        request = connector.render(_context_of(payload), prepared.view)
        headers = {**prepared.header_values, **request.headers}
        headers["Content-Type"] = request.content_type
        headers["x-blue-event"] = str(payload.get("event", ""))
        if connector.signs:
            timestamp = int(self.clock())
            signing = list(row.signing or ())
            headers.update(signature_headers(signing, prepared.secrets, message_id, timestamp, request.body))
        return request.body, headers

    async def send_once(
        self, row: Any, payload: Mapping[str, Any], message_id: str
    ) -> tuple[SendResult | None, Outcome]:
        """Render, sign, send and classify one attempt; no bookkeeping. ``None`` result: nothing was sent."""
        try:
            body, headers = self.build_request(row, payload, message_id)
        except LookupError as exc:
            return None, Outcome(OutcomeKind.FAIL, reason=str(exc))
        except SecretUnreadable as exc:
            # An operator can restore the right key: keep retrying rather than fail the delivery.
            return None, Outcome(OutcomeKind.RETRY, reason=str(exc))
        except Exception as exc:
            return None, Outcome(OutcomeKind.FAIL, reason=f"template_error: {exc}")
        connector = self._connectors.get(row.connector)
        assert connector is not None
        await self._pacer.wait(row.url, connector.max_requests_per_second)
        result = await self._sender.send(row.url, body, headers)
        self.attempts_made += 1
        if result.status is None:
            refused = (result.error or "").startswith("ssrf")
            return result, Outcome(OutcomeKind.FAIL if refused else OutcomeKind.RETRY, reason=result.error)
        return result, connector.classify(ResponseInfo(result.status, result.headers, result.body))

    def _prepare(self, row: Any, *, cache: bool = True) -> _Prepared:
        """Decrypt secrets and compile the template once per webhook version."""
        now = self.clock()
        prev_active = bool(row.previous_secret_ct) and (row.previous_secret_until or 0) > now
        key = (row.version, prev_active)
        cached = self._prepared.get(row.id) if cache else None
        if cached is not None and cached[0] == key:
            return cached[1]
        secrets: list[str] = []
        if row.secret_ct:
            secrets.append(self._secretbox.decrypt(row.secret_ct))
        if prev_active:
            secrets.append(self._secretbox.decrypt(row.previous_secret_ct))
        header_values: dict[str, str] = {}
        if row.headers_ct:
            header_values = orjson.loads(self._secretbox.decrypt(row.headers_ct))
        view = WebhookView(
            id=row.id,
            uid=row.uid,
            name=row.name,
            url=row.url,
            connector=row.connector,
            events=tuple(row.events or ()),
            project_ids=tuple(row.project_ids or ()),
            options=dict(row.options or {}),
            template=self._compile_template(row.template, row.connector),
        )
        prepared = _Prepared(view=view, secrets=secrets, header_values=header_values)
        if cache:
            self._prepared[row.id] = (key, prepared)
        return prepared

    # --- database operations, each run inside a group commit -------------------------------------------

    async def _claim(self, conn: AsyncConnection, delivery_id: str, now: float) -> _Claim | None:
        lease = now + self.config.attempt_timeout + self.config.lease_seconds
        d = table(Delivery).c
        claimed = (
            await conn.execute(
                update(table(Delivery))
                .where(
                    d.id == delivery_id,
                    or_(
                        and_(d.status == "pending", d.next_attempt_at <= now),
                        and_(d.status == "delivering", d.lease_until <= now),
                    ),
                )
                .values(status="delivering", attempts=d.attempts + 1, lease_until=lease, updated_at=now)
                .returning(d.attempts, d.event_id, d.webhook_id, d.message_id, d.event)
            )
        ).first()
        if claimed is None:
            return None
        payload = await conn.scalar(select(Event.payload).where(Event.id == claimed.event_id))
        webhook = (await conn.execute(select(table(Webhook)).where(Webhook.id == claimed.webhook_id))).first()
        return _Claim(
            delivery_id=delivery_id,
            n=claimed.attempts,
            message_id=claimed.message_id,
            event_name=claimed.event,
            payload=orjson.loads(payload) if payload else {},
            webhook=webhook,
        )

    async def _set_status(self, conn: AsyncConnection, claim: _Claim, status: str) -> None:
        await conn.execute(
            update(Delivery)
            .where(Delivery.id == claim.delivery_id, Delivery.attempts == claim.n)
            .values(status=status, next_attempt_at=None, lease_until=None, updated_at=self.clock())
        )

    async def _release(self, conn: AsyncConnection, claim: _Claim, at: float) -> None:
        await conn.execute(
            update(Delivery)
            .where(Delivery.id == claim.delivery_id, Delivery.attempts == claim.n)
            .values(
                status="pending",
                attempts=claim.n - 1,
                next_attempt_at=at,
                lease_until=None,
                updated_at=self.clock(),
            )
        )

    async def _record(
        self,
        claim: _Claim,
        row: Any,
        started: float,
        result: SendResult | None,
        outcome: Outcome,
        error: str | None,
    ) -> None:
        now = self.clock()
        status, next_at = self._next_state(claim.n, outcome, now)
        delete_on_gone = bool((row.options or {}).get(DELETE_ON_GONE_OPTION))
        disabled = await self._committer.submit(
            lambda conn: self._write_result(
                conn, claim, row.id, started, now, result, outcome, error, status, next_at, delete_on_gone
            )
        )
        if disabled:
            self._on_disabled(row.id)

    def _next_state(self, n: int, outcome: Outcome, now: float) -> tuple[str, float | None]:
        if outcome.kind is OutcomeKind.DELIVERED:
            return "delivered", None
        if outcome.kind is OutcomeKind.GONE:
            return "discarded", None
        if outcome.kind is OutcomeKind.FAIL:
            return "failed", None
        delay = self.config.schedule.delay_after(n)
        if delay is None:
            return "failed", None
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        return "pending", now + delay

    async def _write_result(
        self,
        conn: AsyncConnection,
        claim: _Claim,
        webhook_id: str,
        started: float,
        now: float,
        result: SendResult | None,
        outcome: Outcome,
        error: str | None,
        status: str,
        next_at: float | None,
        delete_on_gone: bool,
    ) -> bool:
        body_text = result.body.decode("utf-8", "replace") if result and result.body else None
        if error is None and outcome.kind is not OutcomeKind.DELIVERED and outcome.reason:
            error = outcome.reason
        await conn.execute(
            table(Attempt)
            .insert()
            .values(
                delivery_id=claim.delivery_id,
                n=claim.n,
                at=started,
                duration_ms=result.duration_ms if result else 0.0,
                status_code=result.status if result else None,
                error=error[:MAX_ERROR_CHARS] if error else None,
                response_body=body_text,
            )
        )
        await conn.execute(
            update(Delivery)
            .where(Delivery.id == claim.delivery_id, Delivery.attempts == claim.n, Delivery.status == "delivering")
            .values(status=status, next_attempt_at=next_at, lease_until=None, updated_at=now)
        )
        if result is None:  # nothing reached the endpoint: its health is unchanged
            return False
        if outcome.kind is OutcomeKind.GONE and delete_on_gone:
            # A REST Hooks subscription whose target is gone is removed, as the REST Hooks rules ask.
            await conn.execute(delete(table(Webhook)).where(table(Webhook).c.id == webhook_id))
            await discard_pending(conn, webhook_id, now)
            await bump_webhooks_version(conn)
            return True
        return await self._update_health(conn, webhook_id, outcome, now)

    async def _update_health(self, conn: AsyncConnection, webhook_id: str, outcome: Outcome, now: float) -> bool:
        w = table(Webhook).c
        if outcome.kind is OutcomeKind.DELIVERED:
            await conn.execute(
                update(table(Webhook))
                .where(w.id == webhook_id)
                .values(consecutive_failures=0, status="HEALTHY", last_success_at=now, failing_since=None)
            )
            return False
        row = (
            await conn.execute(
                select(w.consecutive_failures, w.failing_since, w.enabled).where(w.id == webhook_id)
            )
        ).first()
        if row is None or not row.enabled:
            return False
        failures = row.consecutive_failures + 1
        failing_since = row.failing_since if row.failing_since is not None else now
        values: dict[str, Any] = {
            "consecutive_failures": failures,
            "failing_since": failing_since,
            "status": "UNHEALTHY" if failures >= UNHEALTHY_AFTER else "HEALTHY",
        }
        reason = None
        if outcome.kind is OutcomeKind.GONE:
            reason = "gone"
        elif now - failing_since >= self.config.disable_after:
            reason = "failing"
        if reason:
            values.update(enabled=False, disabled_reason=reason, updated_at=now, version=w.version + 1)
        await conn.execute(update(table(Webhook)).where(w.id == webhook_id).values(**values))
        if reason:
            await discard_pending(conn, webhook_id, now)
            await bump_webhooks_version(conn)
            return True
        return False


def _context_of(payload: Mapping[str, Any]) -> DeliveryContext:
    user = payload.get("user")
    return DeliveryContext(
        event=str(payload.get("event", "")),
        company_id=str(payload.get("companyId", "")),
        project_id=payload.get("projectId"),
        user=user if isinstance(user, Mapping) else None,
        previous_value=payload.get("previousValue"),
        current_value=payload.get("currentValue"),
        occurred_at=payload.get("occurredAt"),
        event_id=str(payload.get("id", "")),
    )
