"""The delivery engine: claim a delivery, render through its connector, sign, send, record."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from connectors.base import DELETE_ON_GONE_OPTION, DeliveryContext, ResponseInfo, WebhookView
from connectors.registry import ConnectorRegistry
from gateway.core.policy import DeliveryPolicy, DeliveryStatus, Failure, FailureKind, HealthChange, Outcome
from gateway.core.secretbox import SecretBox, SecretUnreadable
from gateway.core.signing import sign_blue, sign_github, sign_standard
from gateway.core.templating import TemplateError
from gateway.core.templating.pool import RenderPool, RenderUnavailable
from gateway.db.groupcommit import GroupCommitter
from gateway.db.listen import is_listen
from gateway.delivery.adaptive import AdaptiveLimits, LimitConfig, LoopLag, overloaded
from gateway.delivery.controls import DeliveryControls
from gateway.delivery.lanes import Lane, Pacing, TurnedAway
from gateway.delivery.ledger import AttemptRecord, Claim, HealthEvent, Ledger, OperationalSink
from gateway.delivery.ratelimit import RateLimiter, SqlRateLimiter
from gateway.delivery.sender import Sender, SendResult
from gateway.delivery.telemetry import DeliveryTelemetry

__all__ = ["ConnectorMissing", "DeliveryEngine", "EngineConfig", "WorkItem", "signature_headers"]

log = logging.getLogger("gateway.delivery")
LISTEN_PARK_SECONDS = 3600.0
"""How long a parked listen delivery stays out of the scheduler's way (its session ends sooner)."""
WorkItem = Sequence[str]
"""``(delivery id, webhook id)``: what the broker carries (lists on the wire)."""


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs, taken from settings."""

    policy: DeliveryPolicy
    attempt_timeout: float
    lease_seconds: float
    worker_concurrency: int = 256
    webhook_concurrency: int = 64
    """The most attempts to one webhook at once; each endpoint's own limit adapts below it (see adaptive)."""


class ConnectorMissing(LookupError):
    """The webhook names a connector this process has not loaded."""

    def __init__(self, connector: str) -> None:
        self.failure = Failure(FailureKind.CONNECTOR_UNAVAILABLE, f"{connector!r} is not loaded")
        super().__init__(str(self.failure))


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
        renderer: RenderPool,
        on_webhook_disabled: Callable[[str], None],
        telemetry: DeliveryTelemetry,
        clock: Callable[[], float] = time.time,
        operational: OperationalSink | None = None,
        rate_limiter: RateLimiter | None = None,
        on_sequence_moved: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self._connectors = connectors
        self._sender = sender
        self._secretbox = secretbox
        self._compile_template = compile_template
        self._renderer = renderer
        self.on_disabled = on_webhook_disabled
        # Caches of webhook rows (their health is rendered into payloads): told of each health change here.
        self.row_caches: list[Callable[[str], None]] = []
        self.telemetry = telemetry
        self.clock = clock
        self._slots = asyncio.Semaphore(config.worker_concurrency)
        self._lanes: dict[str, Lane] = {}
        self.limits = AdaptiveLimits(LimitConfig(maximum=config.webhook_concurrency))
        self.loop_lag = LoopLag()
        self.pacing = Pacing(config.lease_seconds)
        self.deferred = 0
        self.ledger = Ledger(
            committer,
            claim_lease=config.attempt_timeout + config.lease_seconds,
            policy=config.policy,
            clock=lambda: self.clock(),
            operational=operational,
        )
        self.controls = DeliveryControls(
            committer,
            rate_limiter or SqlRateLimiter(committer, lambda: self.clock()),
            policy=config.policy,
            attempt_timeout=config.attempt_timeout,
            lease_seconds=config.lease_seconds,
            clock=lambda: self.clock(),
            on_sequence_moved=on_sequence_moved,
        )
        self._prepared: dict[str, tuple[tuple[int, bool], _Prepared]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self.attempts_made = 0

    def health_changed(self, changes: Sequence[HealthEvent]) -> None:
        """Report the committed health changes of an attempt; a disabled webhook leaves the index."""
        for change in changes:
            self.telemetry.health_changed(change)
            for forget in self.row_caches:
                forget(change.record.webhook_id)
            if change.change is HealthChange.DISABLED:
                self.on_disabled(change.record.webhook_id)

    async def deliver_many(self, items: Sequence[WorkItem]) -> None:
        """Work ``(delivery id, webhook id)`` pairs concurrently, each webhook within its lane."""
        if self.closing:
            return  # still reserved in the database: a scheduler hands them out again
        tasks = [asyncio.create_task(self._guarded(str(item[0]), str(item[1]))) for item in items]
        self._tasks.update(tasks)
        for task in tasks:
            task.add_done_callback(self._tasks.discard)
        # A task cut off by shutdown ends cancelled; that is not this message's failure.
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def held(self) -> int:
        """Deliveries this process holds in memory now (under way or waiting for a slot)."""
        return len(self._tasks)

    def deliver_claimed(self, claims: Sequence[Claim]) -> None:
        """Work deliveries already claimed for this process (at ingest), in the background."""
        for claim in claims:
            task = asyncio.create_task(self._guarded(claim.delivery_id, claim.webhook.id, claim))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Stop taking work: nothing new is claimed, and deliveries waiting for a slot are left unclaimed."""
        self.closing = True
        for lane in self._lanes.values():
            lane.turn_away()

    async def drain(self, deadline: float) -> int:
        """Close, let attempts under way finish until ``deadline`` (loop time), then cancel the rest.

        Returns how many were cancelled. Their deliveries keep their claim lease and are worked again,
        by any process, once it runs out; records of attempts that did finish are saved.
        """
        self.close()
        self.loop_lag.stop()
        pending = set(self._tasks)
        if pending:
            timeout = max(0.0, deadline - asyncio.get_running_loop().time())
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)

    async def _guarded(self, delivery_id: str, webhook_id: str, claim: Claim | None = None) -> None:
        """One delivery within its lane. ``claim``: already claimed for this process (at ingest)."""
        if self.closing:
            await self._give_back(claim, self.clock())
            return
        self.loop_lag.ensure_started()
        limit = self.limits.get(webhook_id)
        cap = self.controls.lane_cap(webhook_id, limit.cap)
        lane = self._lanes.setdefault(webhook_id, Lane())
        until = self.pacing.defer_until(
            webhook_id, lane, cap, self.clock(), drain_cap=limit.expected(time.monotonic())
        )
        if until is not None:
            # A slow endpoint's backlog would outlive this delivery's reservation: leave it in the
            # database until its turn would come, instead of queueing it here (and re-enqueueing it).
            if lane.idle:
                self._lanes.pop(webhook_id, None)
            try:
                if claim is not None:
                    await self.ledger.release(claim, until)
                else:
                    await self.ledger.defer(delivery_id, until)
            except Exception as exc:  # its reservation (or lease) still holds it: the scheduler hands it out later
                log.warning("could not defer delivery %s: %s", delivery_id, type(exc).__name__)
                return
            self.deferred += 1
            return
        try:
            await lane.acquire(cap)
        except TurnedAway:
            await self._give_back(claim, self.clock())
            return
        try:
            record = None
            try:
                async with self._slots:
                    record = None if self.closing else await self.attempt(delivery_id, claim)
            finally:
                if record is not None and record.result is not None:
                    result = record.result
                    limit.observe(
                        self.loop_lag.discount(result.duration_ms / 1000.0),
                        overload=overloaded(result),
                        in_flight=lane.active,
                        now=time.monotonic(),
                    )
                # The slots are free once the request is answered: the record's commit waits without them,
                # and the attempt number it is fenced by keeps a late save from overwriting a newer claim.
                lane.release(self.controls.lane_cap(webhook_id, limit.cap))
                if lane.idle:
                    self._lanes.pop(webhook_id, None)
            if record is not None:
                self.health_changed(await self.ledger.record(record))
                self.controls.recorded(record.webhook_id, record.transition.status)
        except Exception:
            # The lease expires and the scheduler hands the delivery out again: nothing is lost.
            log.exception("delivery %s failed inside the engine; it is retried after its lease", delivery_id)

    async def claim(self, delivery_id: str) -> Claim | None:
        """Claim a due delivery whose webhook is still enabled; one whose webhook is gone or disabled is
        discarded instead. None when there is nothing to attempt."""
        claim = await self.ledger.claim(delivery_id)
        if claim is None:
            await self.controls.not_claimed(delivery_id)
            return None
        if claim.webhook is None or not claim.webhook.enabled:
            await self.ledger.finish(claim, DeliveryStatus.DISCARDED)
            return None
        return claim

    async def _give_back(self, claim: Claim | None, until: float) -> None:
        """Release a claim made at ingest that will not be worked here (shutting down)."""
        if claim is None:
            return  # only reserved: the reservation runs out by itself
        try:
            await self.ledger.release(claim, until)
        except Exception as exc:  # its lease runs out instead
            log.warning("could not release delivery %s: %s", claim.delivery_id, type(exc).__name__)

    async def attempt(self, delivery_id: str, claim: Claim | None = None) -> AttemptRecord | None:
        """Send one attempt of one delivery, if it is still due; the record is for the caller to save.

        Without ``claim`` (or when the one made at ingest has too little lease left for an attempt) the
        delivery is claimed first.
        """
        if claim is None or claim.lease_until < self.clock() + self.config.attempt_timeout:
            claim = await self.claim(delivery_id)
        if claim is None:
            return None
        row = claim.webhook
        if is_listen(row):  # only the process holding its listen stream sends it (gateway/services/listen.py)
            await self.ledger.park(claim, self.clock() + LISTEN_PARK_SECONDS)
            return None
        if not await self.controls.may_send(claim, row, self._connectors.get(row.connector)):
            return None  # over its rate: handed back, due when its slot comes
        started = self.clock()
        result, outcome = await self.send_once(row, claim.payload, claim.message_id)
        if result is not None:
            floor = self.controls.pace_floor(row.id, self.config.webhook_concurrency)
            self.pacing.note(row.id, max(result.duration_ms / 1000.0, floor))
        finished = self.clock()
        record = AttemptRecord(
            claim=claim,
            webhook_id=row.id,
            started=started,
            result=result,
            outcome=outcome,
            transition=self.controls.policy(row).next_state(claim.n, outcome, finished),
            delete_on_gone=bool((row.options or {}).get(DELETE_ON_GONE_OPTION)),
        )
        self.telemetry.attempt(record, row, finished)
        return record

    async def build_request(
        self, row: Any, payload: Mapping[str, Any], message_id: str, *, cache: bool = True
    ) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of one attempt (signed).

        Raises :class:`ConnectorMissing`, :class:`SecretUnreadable`, :class:`RenderUnavailable`, or whatever
        the connector's render raised. A tenant's Jinja renders in a render process (see ``RenderPool``).

        ``cache=False`` compiles the row afresh (previews of unsaved templates).
        """
        connector = self._connectors.get(row.connector)
        if connector is None:
            raise ConnectorMissing(row.connector)
        prepared = self._prepare(row, cache=cache)
        event, view = DeliveryContext.from_envelope(payload), prepared.view
        if (view.status, view.enabled, view.updated_at) != (row.status, row.enabled, row.updated_at):
            # Health changes keep the version (and so the cached view): carry the row's state as claimed.
            view = dataclasses.replace(view, status=row.status, enabled=row.enabled, updated_at=row.updated_at)
        request = await self._renderer.call(
            view.template,
            lambda template: connector.render(
                event, view if template is view.template else dataclasses.replace(view, template=template)
            ),
            tenant=str(getattr(row, "company_id", None) or row.id),
        )
        headers = {**prepared.header_values, **request.headers}
        headers["Content-Type"] = request.content_type
        headers["x-blue-event"] = str(payload.get("event", ""))
        if connector.signs:
            timestamp = int(self.clock())
            signing = list(row.signing or ())
            headers.update(signature_headers(signing, prepared.secrets, message_id, timestamp, request.body))
        return request.body, headers

    async def render_attempt(
        self, row: Any, payload: Mapping[str, Any], message_id: str
    ) -> tuple[bytes, dict[str, str]] | Outcome:
        """The signed body and headers of one attempt, or the outcome of an attempt that cannot be made."""
        try:
            return await self.build_request(row, payload, message_id)
        except ConnectorMissing as exc:
            return exc.failure.outcome()
        except SecretUnreadable as exc:
            return Failure(FailureKind.SECRET_UNREADABLE, exc.detail).outcome()
        except TemplateError as exc:
            return Failure(FailureKind.TEMPLATE_ERROR, str(exc)).outcome()
        except RenderUnavailable as exc:  # shutting down: the delivery's lease brings it back
            return Failure(FailureKind.RENDER_UNAVAILABLE, str(exc)).outcome()
        except Exception as exc:  # a plugin's render raised: its bug, reported on the delivery
            return Failure(FailureKind.CONNECTOR_ERROR, f"{type(exc).__name__}: {exc}").outcome()

    async def send_once(
        self, row: Any, payload: Mapping[str, Any], message_id: str
    ) -> tuple[SendResult | None, Outcome]:
        """Render, sign, send and classify one attempt; no bookkeeping. ``None`` result: nothing was sent."""
        request = await self.render_attempt(row, payload, message_id)
        if isinstance(request, Outcome):
            return None, request
        body, headers = request
        connector = self._connectors.get(row.connector)
        assert connector is not None
        await self.controls.space(row)
        result = await self._sender.send(row.url, body, headers, time_limit=self.controls.timeout(row))
        self.attempts_made += 1
        if result.failure is not None or result.status is None:
            return result, (result.failure or Failure(FailureKind.CONNECTION, "no answer")).outcome()
        try:
            return result, connector.classify(ResponseInfo(result.status, result.headers, result.body))
        except Exception as exc:  # a plugin's classify raised: record it instead of looping forever
            failure = Failure(FailureKind.CONNECTOR_ERROR, f"classify raised {type(exc).__name__}: {exc}")
            return result, failure.outcome()

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
            status=row.status,
            enabled=row.enabled,
            created_by_id=row.created_by_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        prepared = _Prepared(view=view, secrets=secrets, header_values=header_values)
        if cache:
            self._prepared[row.id] = (key, prepared)
        return prepared
