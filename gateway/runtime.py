"""The runtime: wires settings to the database, broker, index, committer, engine and scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import text
from taskiq import InMemoryBroker

from connectors.builtin_templates import builtin_source
from connectors.registry import ConnectorRegistry, load_connectors
from gateway import __version__
from gateway.core.filters import compile_stored_filter
from gateway.core.matching import MatchIndex
from gateway.core.policy import DeliveryPolicy
from gateway.core.secretbox import SecretBox, load_or_create_key
from gateway.core.templating import compile_template
from gateway.core.templating.pool import RenderPool
from gateway.db.counts import BACKLOG_REFRESH_SECONDS, Backlog, Recount, count_backlog
from gateway.db.engine import make_engine
from gateway.db.groupcommit import GroupCommitter
from gateway.db.migrate import upgrade
from gateway.db.retention import HELD_REFRESH_SECONDS, count_held
from gateway.delivery.broker import DELIVER_TASK, BrokerUrl, broker_reachable, make_broker
from gateway.delivery.engine import DeliveryEngine, EngineConfig
from gateway.delivery.handoff import Handoff
from gateway.delivery.listen import ListenRelay
from gateway.delivery.operational import OperationalEvents
from gateway.delivery.ratelimit import make_rate_limiter
from gateway.delivery.scheduler import Scheduler
from gateway.delivery.sender import Sender
from gateway.delivery.telemetry import DeliveryTelemetry
from gateway.ingest import Ingestor
from gateway.maintenance import IndexWatcher, ListenReaper, Retention
from gateway.metrics import GatewayMetrics, RuntimeCollector
from gateway.settings import Settings

__all__ = ["Runtime", "tune_collector"]

log = logging.getLogger("gateway")
KICK_CHUNK = 200
CLOSE_SECONDS = 3.0
"""After the shutdown grace: the most that saving finished attempts and closing connections may take."""


GC_THRESHOLDS = (50_000, 50, 100)
"""The cyclic collector's thresholds in a serving process (Python's defaults are 700, 10, 10)."""


def tune_collector() -> None:
    """Make the cyclic garbage collector cheap for a process that holds thousands of deliveries.

    A busy gateway keeps tens of thousands of live objects (a task, its coroutine and a claim per
    delivery waiting in a lane) and allocates fast, so with the default thresholds the collector ran
    every few hundred allocations and walked them all over and over: a third of the event loop's CPU
    under a delivery burst. Everything loaded at start-up is frozen out of the collector's sight, and
    collections run a hundred times less often; memory is still freed by reference counting at once,
    only reference cycles wait longer.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Runtime:
    """Everything one process needs; ``start`` connects, ``stop`` drains and closes. Importing connects nothing."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        connectors: ConnectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.db = make_engine(settings.database_url)
        self.committer = GroupCommitter(self.db)
        self.held_rows = Recount(self.db, count_held, HELD_REFRESH_SECONDS)
        self.backlog: Recount[Backlog] = Recount(
            self.db, lambda conn: count_backlog(conn, self._now()), BACKLOG_REFRESH_SECONDS
        )
        self.index = MatchIndex()
        self.connectors = connectors or load_connectors()
        self.metrics = GatewayMetrics(self.connectors.names())
        self.secretbox = SecretBox(settings.secret_key or load_or_create_key(settings.key_file))
        # A broker message is worked until its deliveries are recorded; one per delivery at a steady trickle
        # of single events, so the messages in hand are bounded like the attempts (worker_concurrency).
        self.broker = make_broker(
            settings.broker_url, max_async_tasks=settings.worker_concurrency, prefix=settings.broker_prefix
        )
        self.sender = Sender(
            timeout=settings.attempt_timeout,
            connections_per_host=settings.connections_per_host,
            allow_private=settings.allow_private_targets,
            user_agent=f"blue-gateway/{__version__}",
        )
        self.renderer = RenderPool(settings.render_processes)
        self.engine = DeliveryEngine(
            config=EngineConfig(
                policy=DeliveryPolicy(schedule=settings.schedule(), disable_after=settings.disable_after),
                attempt_timeout=settings.attempt_timeout,
                lease_seconds=settings.lease_seconds,
                worker_concurrency=settings.worker_concurrency,
                webhook_concurrency=settings.webhook_concurrency,
            ),
            committer=self.committer,
            connectors=self.connectors,
            sender=self.sender,
            secretbox=self.secretbox,
            compile_template=self.compile_template,
            renderer=self.renderer,
            on_webhook_disabled=self.index.remove,
            telemetry=DeliveryTelemetry(self.metrics),
            clock=self._now,
            operational=OperationalEvents(self.index, first_delay=settings.schedule().delays[0]),
            rate_limiter=make_rate_limiter(
                BrokerUrl.parse(settings.broker_url).family,
                settings.broker_url,
                prefix=settings.broker_prefix,
                committer=self.committer,
                engine=self.db,
                clock=self._now,
            ),
            # An ordered delivery ended: the scheduler hands out the next one of its sequence now.
            on_sequence_moved=lambda: self.scheduler.wake(),
        )
        engine = self.engine
        self.listen_relay = ListenRelay(engine, self.db, clock=self._now)

        async def deliver(items: list[list[str]]) -> None:
            await engine.deliver_many(items)

        self.deliver_task = self.broker.register_task(deliver, task_name=DELIVER_TASK)
        self.ingestor = Ingestor(
            self.committer,
            self.kick,
            lease_seconds=settings.lease_seconds,
            first_delay=settings.schedule().delays[0],
            clock=self._now,
        )
        self.scheduler = Scheduler(
            self.committer,
            self.kick,
            interval=settings.scheduler_interval,
            lease=settings.lease_seconds,
            clock=self._now,
            skip_locked=not settings.is_sqlite,
        )
        self.index_watcher = IndexWatcher(self.db, self.index)
        self.retention = Retention(self.committer, settings.retention, clock=self._now)
        self.listen_reaper = ListenReaper(self.committer, self.index, clock=self._now)
        self._watcher: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._stop_by: float | None = None
        self._handoffs: set[asyncio.Task[None]] = set()
        self.started = False
        self.metrics.registry.register(RuntimeCollector(self))

    compile_filter = staticmethod(compile_stored_filter)

    def _now(self) -> float:
        return self.clock()

    def compile_template(self, spec: Mapping[str, Any] | None, connector: str) -> Any:
        """A webhook's compiled template, or None for its connector's default body."""
        if not spec:
            return None
        found = self.connectors.get(connector)
        default = found.default_spec() if found is not None else None
        return compile_template(
            spec, default=default, loader=builtin_source, time_limit=self.settings.template_time_limit
        )

    async def start(self, *, worker: bool = True, scheduler: bool = True, migrate: bool | None = None) -> None:
        """Connect, migrate the embedded database, load the index, start the background tasks."""
        if migrate if migrate is not None else self.settings.is_sqlite:
            await upgrade(self.db)
        await self.refresh_index(force=True)
        self.committer.start()
        consumes = worker and not isinstance(self.broker, InMemoryBroker)
        if consumes:
            self.broker.is_worker_process = True  # brokers declare their consuming side only then
        await self.broker.startup()
        if worker:
            await self.sender.start()
            # This process delivers: what it ingests is claimed for its own engine at once (see Handoff).
            self.ingestor.handoff = Handoff(self.engine, self.index.version_of)
            if not isinstance(self.broker, InMemoryBroker):
                from taskiq.api import run_receiver_task

                self._receiver = asyncio.create_task(
                    run_receiver_task(
                        self.broker, max_async_tasks=self.settings.worker_concurrency, run_startup=False
                    ),
                    name="taskiq-receiver",
                )
        if scheduler:
            self.scheduler.start()
            self._retention = asyncio.create_task(self.retention.run(), name="retention")
            self._reaper = asyncio.create_task(self.listen_reaper.run(), name="listen-reaper")
        self._watcher = asyncio.create_task(self.index_watcher.run(), name="index-watcher")
        self.started = True

    async def begin_shutdown(self) -> float:
        """Stop taking work now: no broker messages, no scheduling, no new claims. Idempotent.

        Returns the loop time by which attempts under way must end: ``shutdown_grace`` after the first
        call. ``stop`` enforces it.
        """
        if self._stop_by is not None:
            return self._stop_by
        self._stop_by = stop_by = asyncio.get_running_loop().time() + self.settings.shutdown_grace
        self.engine.close()
        for task in (self._receiver, self._watcher, self._retention, self._reaper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.scheduler.stop()
        return stop_by

    async def stop(self) -> None:
        """Stop taking work, give attempts under way the grace, cancel the rest, then close connections.

        A cancelled attempt's delivery keeps its claim lease: when that runs out, any process works it
        again, so a shutdown loses nothing. Exits within the grace plus ``CLOSE_SECONDS``.
        """
        cut = await self.engine.drain(await self.begin_shutdown())
        if cut:
            log.warning("shutdown cut off %d attempts; they are retried once their leases run out", cut)
        close_by = asyncio.get_running_loop().time() + CLOSE_SECONDS
        await self._within(close_by, "saving finished attempts", self.engine.ledger.drain())
        await self._within(close_by, "closing the rate limiter", self.engine.controls.close())
        if isinstance(self.broker, InMemoryBroker):
            await self._within(close_by, "in-process broker tasks", self._handed_off())
        await self._within(close_by, "stopping render processes", self.renderer.close())
        await self.committer.stop(wait=max(0.1, close_by - asyncio.get_running_loop().time()))
        await self._within(close_by, "closing the broker", self.broker.shutdown())
        await self._within(close_by, "closing outbound connections", self.sender.close())
        for count in (self.held_rows, self.backlog):
            await self._within(close_by, "stopping counts for /metrics", count.close())
        await self._within(close_by, "closing the database", self.db.dispose())
        self.started = False

    @staticmethod
    async def _within(deadline: float, what: str, step: Awaitable[None]) -> None:
        """One shutdown step, abandoned (and logged) at ``deadline`` or when it fails."""
        try:
            async with asyncio.timeout_at(max(deadline, asyncio.get_running_loop().time() + 0.1)):
                await step
        except TimeoutError:
            log.warning("shutdown: %s did not finish in time", what)
        except Exception as exc:
            log.warning("shutdown: %s failed: %s", what, type(exc).__name__)

    async def kick(self, items: Sequence[tuple[str, str]]) -> None:
        """Hand deliveries to the broker; if that fails their reservation expires and the scheduler retries.

        The in-process broker would only serialise each message, parse it back and store a result
        nobody reads: its deliveries go to this process's engine directly, as a task of their own.
        """
        if isinstance(self.broker, InMemoryBroker):
            task = asyncio.get_running_loop().create_task(self.engine.deliver_many(items))
            self._handoffs.add(task)
            task.add_done_callback(self._handoffs.discard)
            return
        try:
            for i in range(0, len(items), KICK_CHUNK):
                await self.deliver_task.kiq([list(item) for item in items[i : i + KICK_CHUNK]])
        except Exception as exc:
            log.warning("broker unavailable, %d deliveries wait for the scheduler: %s", len(items), exc)

    async def _handed_off(self) -> None:
        """Wait for the deliveries handed to this process's engine by ``kick``."""
        await asyncio.gather(*self._handoffs, return_exceptions=True)

    async def refresh_index(self, *, force: bool = False) -> None:
        """Reload the matching index when another process changed a webhook."""
        await self.index_watcher.refresh(force=force)

    async def prune(self) -> int:
        """Apply retention now; returns how many deliveries and events were removed."""
        return await self.retention.prune()

    async def ping(self) -> dict[str, bool]:
        """Readiness of the database and the broker."""
        state = {"database": False, "broker": False}
        try:
            async with self.db.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
            state["database"] = True
        except Exception:  # noqa: S110 - reported as not ready
            pass
        state["broker"] = await broker_reachable(self.settings.broker_url)
        return state
