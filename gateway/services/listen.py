"""Listen sessions: a temporary webhook whose deliveries stream to a ``blue-gateway listen`` CLI.

A session is a webhook marked ``_listen`` (connector ``webhook``, its own secret, signed with the standard and
blue schemes) plus a lease the CLI renews. Events match it like any webhook, and its deliveries are stored,
claimed, rendered, signed and recorded like any other; ``gateway/delivery/listen.py`` relays them down the
session's stream instead of dialling a URL. When the lease runs out (the CLI died), the maintenance job removes
the session and its webhook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.listen import LISTEN_OPTION, end_session, is_listen, renew_session
from gateway.db.models import ListenSession, table
from gateway.services.errors import Conflict, Invalid, NotFound
from gateway.services.webhooks import Caller, WebhookRecord, WebhookService

if TYPE_CHECKING:
    from gateway.delivery.listen import ReceiverAnswer, Relayed
    from gateway.runtime import Runtime

__all__ = ["LEASE_RANGE", "ListenService", "Opened"]

LEASE_RANGE = (2, 600)
"""Allowed lease lengths, seconds."""
PLACEHOLDER_URL = "https://listen.invalid/"
"""A listen webhook's URL: never dialled, its deliveries go down the session's stream."""


@dataclasses.dataclass(frozen=True)
class Opened:
    """A new session: its webhook, the signing secret (shown once) and when its lease runs out."""

    webhook: WebhookRecord
    secret: str
    expires_at: float


def _lease(seconds: int) -> int:
    low, high = LEASE_RANGE
    if not low <= seconds <= high:
        raise Invalid("leaseSeconds", f"must be {low} to {high} seconds")
    return seconds


class ListenService:
    """Open, renew, stream, answer and close listen sessions."""

    def __init__(self, webhooks: WebhookService) -> None:
        self.webhooks = webhooks
        self.runtime: Runtime = webhooks.runtime

    async def open(
        self,
        caller: Caller,
        *,
        events: Sequence[str],
        project_ids: Sequence[str],
        forward: str,
        lease_seconds: int,
    ) -> Opened:
        """A session matching ``events`` of ``project_ids`` (checked like a webhook's), leased for a while."""
        lease = _lease(lease_seconds)
        now = self.runtime.clock()
        fields = {
            "name": f"listen: {forward}"[:200],
            "url": PLACEHOLDER_URL,
            "events": list(events),
            "projectIds": list(project_ids),
            "signing": ["standard", "blue"],
        }

        async def session_row(conn: AsyncConnection, webhook_id: str) -> None:
            await conn.execute(
                table(ListenSession)
                .insert()
                .values(
                    webhook_id=webhook_id, company_id=caller.company_id, lease_until=now + lease, created_at=now
                )
            )

        record, secret = await self.webhooks.create(
            caller, fields, internal_options={LISTEN_OPTION: True}, with_row=session_row
        )
        return Opened(record, secret, now + lease)

    async def session(self, caller: Caller, webhook_id: str) -> WebhookRecord:
        """The session's webhook, or :class:`NotFound` (another company's, or not a listen session)."""
        try:
            record = await self.webhooks.get(caller, webhook_id)
        except NotFound:
            raise NotFound("listen session") from None
        if not is_listen(record):
            raise NotFound("listen session")
        return record

    async def renew(self, caller: Caller, webhook_id: str, lease_seconds: int) -> float:
        """Extend the lease; returns when it now runs out."""
        until = self.runtime.clock() + _lease(lease_seconds)
        renewed = await self.runtime.committer.submit(
            lambda conn: renew_session(conn, caller.company_id, webhook_id, until)
        )
        if not renewed:
            raise NotFound("listen session")
        return until

    async def close(self, caller: Caller, webhook_id: str) -> None:
        """End the session now: its webhook is deleted and what waits for it discarded."""
        record = await self.session(caller, webhook_id)
        await self.runtime.committer.submit(lambda conn: end_session(conn, record.id, self.runtime.clock()))
        self.runtime.index.remove(record.id)

    async def relay(self, caller: Caller, webhook_id: str) -> AsyncIterator[Relayed | None]:
        """The session's deliveries as signed requests (``None``: a keep-alive), until the session ends."""
        record = await self.session(caller, webhook_id)
        async for relayed in self.runtime.listen_relay.relay(record.id):
            yield relayed

    async def answer(self, caller: Caller, webhook_id: str, answer: ReceiverAnswer) -> str:
        """Record the local receiver's answer to a relayed attempt as that attempt's result; returns the
        delivery's new status."""
        from gateway.delivery.listen import AnswerStale

        record = await self.session(caller, webhook_id)
        try:
            status = await self.runtime.listen_relay.answer(record.id, answer)
        except AnswerStale as exc:
            raise Conflict(str(exc)) from None
        if status is None:
            raise NotFound("delivery")
        return status.value
