"""Relaying a listen session's deliveries: claimed, rendered and signed here, sent down the session's stream.

The process holding a session's stream (see ``gateway/services/listen.py``) polls for the session webhook's due
deliveries, claims each like a worker would, and hands the signed request to the stream instead of dialling a
URL. The CLI posts back what the local receiver answered, and that is recorded as the attempt, with the same
fencing and health folding as any attempt. An answer other than 2xx fails the delivery (no retries: the
developer sees it live). Workers park such deliveries for the stream's process
(:meth:`gateway.delivery.ledger.Ledger.park`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.policy import DeliveryStatus, Failure, FailureKind, Outcome, OutcomeKind
from gateway.db.listen import due_for_listener
from gateway.db.models import Delivery, ListenSession, Webhook, table
from gateway.delivery.engine import DeliveryEngine
from gateway.delivery.ledger import AttemptRecord, Claim
from gateway.delivery.sender import SendResult

__all__ = ["AnswerStale", "ListenRelay", "ReceiverAnswer", "Relayed"]

POLL_SECONDS = 0.1
"""How often a stream looks for due deliveries: the relay's added latency."""
ALIVE_CHECK_SECONDS = 1.0
KEEPALIVE_SECONDS = 10.0
BATCH = 20
MAX_RESPONSE_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class Relayed:
    """One signed request for the stream; ``body`` is base64 of the exact bytes signed."""

    delivery_id: str
    attempt: int
    event: str
    headers: dict[str, str]
    body: str


@dataclasses.dataclass(frozen=True)
class ReceiverAnswer:
    """What the local receiver did with a relayed attempt: its status and body, or why it gave none."""

    delivery_id: str
    attempt: int
    status_code: int | None
    error: str | None
    response_body: str | None
    duration_ms: float


class AnswerStale(LookupError):
    """The answered attempt is not awaiting an answer (answered already, or claimed again)."""


class ListenRelay:
    """Claims and records the attempts of listen sessions' deliveries for the streams held by this process."""

    def __init__(self, engine: DeliveryEngine, db: AsyncEngine, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._db = db
        self._clock = clock

    async def relay(self, webhook_id: str) -> AsyncIterator[Relayed | None]:
        """Yield each due delivery of the session's webhook as a signed request, ``None`` now and then to keep
        the connection alive. Ends when the session ends or the process shuts down."""
        engine = self._engine
        loop = asyncio.get_running_loop()
        checked = quiet_since = loop.time()
        while not engine.closing:
            async with self._db.connect() as conn:
                due = await due_for_listener(conn, webhook_id, self._clock(), BATCH)
                if loop.time() - checked >= ALIVE_CHECK_SECONDS:
                    checked = loop.time()
                    alive = select(ListenSession.webhook_id).where(ListenSession.webhook_id == webhook_id)
                    if await conn.scalar(alive) is None:
                        return
            for delivery_id in due:
                relayed = await self._claim(delivery_id)
                if relayed is not None:
                    quiet_since = loop.time()
                    yield relayed
            if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = loop.time()
                yield None
            await asyncio.sleep(POLL_SECONDS)

    async def _claim(self, delivery_id: str) -> Relayed | None:
        claim = await self._engine.claim(delivery_id)
        if claim is None:
            return None
        request = await self._engine.render_attempt(claim.webhook, claim.payload, claim.message_id)
        if isinstance(request, Outcome):  # a template error and the like: recorded like any attempt
            await self._record(claim, None, request, self._clock())
            return None
        body, headers = request
        return Relayed(delivery_id, claim.n, claim.event_name, headers, base64.b64encode(body).decode())

    async def answer(self, webhook_id: str, answer: ReceiverAnswer) -> DeliveryStatus | None:
        """Record the answer as its attempt's result; returns the delivery's new status, None when the delivery
        is not this webhook's.

        Raises :class:`AnswerStale` when that attempt is not awaiting an answer.
        """
        d, w = table(Delivery).c, table(Webhook).c
        async with self._db.connect() as conn:
            delivery = (
                await conn.execute(
                    select(table(Delivery)).where(d.id == answer.delivery_id, d.webhook_id == webhook_id)
                )
            ).first()
            row = (await conn.execute(select(table(Webhook)).where(w.id == webhook_id))).first()
        if delivery is None or row is None:
            return None
        if delivery.status != DeliveryStatus.DELIVERING or delivery.attempts != answer.attempt:
            raise AnswerStale(f"attempt {answer.attempt} of this delivery is not awaiting an answer")
        claim = Claim(
            answer.delivery_id,
            answer.attempt,
            delivery.message_id,
            delivery.event,
            {},
            row,
            event_id=delivery.event_id,
            created_at=delivery.created_at,
        )
        outcome: Outcome
        if answer.status_code is None:
            failure = Failure(FailureKind.CONNECTION, answer.error or "the local receiver did not answer")
            result = SendResult(None, {}, b"", answer.duration_ms, failure)
            outcome = Outcome(OutcomeKind.FAIL, reason=str(failure), failure=FailureKind.CONNECTION)
        else:
            body = (answer.response_body or "").encode()[:MAX_RESPONSE_BYTES]
            result = SendResult(answer.status_code, {}, body, answer.duration_ms)
            if 200 <= answer.status_code < 300:
                outcome = Outcome(OutcomeKind.DELIVERED)
            else:
                outcome = Outcome(OutcomeKind.FAIL, reason=f"http {answer.status_code}")
        return await self._record(claim, result, outcome, self._clock() - answer.duration_ms / 1000.0)

    async def _record(
        self, claim: Claim, result: SendResult | None, outcome: Outcome, started: float
    ) -> DeliveryStatus:
        engine = self._engine
        transition = engine.config.policy.next_state(claim.n, outcome, self._clock())
        record = AttemptRecord(claim, claim.webhook.id, started, result, outcome, transition, delete_on_gone=False)
        engine.telemetry.attempt(record, claim.webhook, self._clock())
        engine.health_changed(await engine.ledger.record(record))
        return transition.status
