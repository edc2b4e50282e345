"""The background upkeep of one process: keeping the matching index current and applying retention."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.filters import compile_stored_filter
from gateway.core.matching import MatchIndex
from gateway.db.groupcommit import GroupCommitter
from gateway.db.listen import end_expired_sessions
from gateway.db.retention import prune_once
from gateway.db.webhooks import load_subscriptions, read_webhooks_version

__all__ = [
    "INDEX_POLL_SECONDS",
    "LISTEN_REAP_SECONDS",
    "RETENTION_INTERVAL",
    "IndexWatcher",
    "ListenReaper",
    "Retention",
    "repeat",
]

log = logging.getLogger("gateway")
RETENTION_INTERVAL = 600.0
LISTEN_REAP_SECONDS = 1.0
"""How often each process removes listen sessions whose lease ran out."""
INDEX_POLL_SECONDS = 0.25
"""How soon a webhook changed by another process is matched here: one tiny query per poll."""


async def repeat(step: Callable[[], Awaitable[object]], interval: float, what: str, *, first_wait: bool) -> None:
    """Run ``step`` every ``interval`` seconds until cancelled; a failed run is logged and the next one comes."""
    if first_wait:
        await asyncio.sleep(interval)
    while True:
        try:
            await step()
        except Exception as exc:
            log.warning("%s failed: %s", what, type(exc).__name__)
        await asyncio.sleep(interval)


class IndexWatcher:
    """Keeps a :class:`MatchIndex` equal to the enabled webhooks, reloading it when their version moves."""

    def __init__(self, db: AsyncEngine, index: MatchIndex) -> None:
        self._db = db
        self._index = index
        self._version = -1

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the index when another process changed a webhook (always when ``force``)."""
        async with self._db.connect() as conn:
            version = await read_webhooks_version(conn)
            if not force and version == self._version:
                return
            subs = await load_subscriptions(conn, compile_stored_filter)
        self._index.replace_all(subs)
        self._version = version

    async def run(self) -> None:
        """Poll for changes until cancelled."""
        await repeat(self.refresh, INDEX_POLL_SECONDS, "index refresh", first_wait=True)


class Retention:
    """Removes finished deliveries, their attempts and events once they are older than ``retention`` seconds."""

    def __init__(self, committer: GroupCommitter, retention: float, clock: Callable[[], float]) -> None:
        self._committer = committer
        self._retention = retention
        self._clock = clock

    async def prune(self) -> int:
        """Apply retention now; returns how many deliveries and events were removed."""
        removed = 0
        while True:
            n = await self._committer.submit(
                functools.partial(prune_once, now=self._clock(), retention=self._retention)
            )
            removed += n
            if n == 0:
                return removed

    async def run(self) -> None:
        """Prune now and every ``RETENTION_INTERVAL`` seconds until cancelled."""
        await repeat(self.prune, RETENTION_INTERVAL, "retention run", first_wait=False)


class ListenReaper:
    """Removes listen sessions whose lease ran out (their CLI died), with their webhooks."""

    def __init__(self, committer: GroupCommitter, index: MatchIndex, clock: Callable[[], float]) -> None:
        self._committer = committer
        self._index = index
        self._clock = clock

    async def reap(self) -> list[str]:
        """Remove the expired sessions now; returns their webhook ids."""
        ended: list[str] = await self._committer.submit(functools.partial(end_expired_sessions, now=self._clock()))
        for webhook_id in ended:
            self._index.remove(webhook_id)
        return ended

    async def run(self) -> None:
        """Reap every ``LISTEN_REAP_SECONDS`` until cancelled."""
        await repeat(self.reap, LISTEN_REAP_SECONDS, "listen session reaping", first_wait=True)
