"""Render processes for tenant templates: off the event loop, under a wall-clock kill.

A template whose spec holds Jinja a tenant wrote (a ``body`` or ``headers``) never renders in the serving
process. :class:`RenderPool` keeps a few long-lived render processes (started on first use) and sends each
one requests back to back over a pipe; when a render runs past its time limit (plus a short grace) the
process is killed, the render fails with a :class:`TemplateError` naming the limit, and a fresh process
takes its place. Waiting renders are handed out round-robin by tenant, so one tenant's slow templates
queue behind each other, not in front of everyone else's.

Trusted templates (the connectors' built-in defaults, JSONPath ``fields``, the raw envelope) render in
process: their cost is linear in the event, which the API already bounds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import orjson

from gateway.core.templating.channel import RenderJob, RenderProcess
from gateway.core.templating.errors import TemplateError, truncate
from gateway.core.templating.rendering import CompiledTemplate, RenderedBody
from gateway.core.templating.standin import call_with_stand_in
from gateway.core.templating.worker import REQUEST_HEAD

__all__ = ["DEFAULT_MEMORY_BYTES", "KILL_GRACE", "RenderPool", "RenderUnavailable"]

log = logging.getLogger("gateway.templating")
T = TypeVar("T")

KILL_GRACE: Final = 0.25
"""Seconds past a template's time limit before its render process is killed."""
COMPILE_ALLOWANCE: Final = 2.0
"""Extra seconds for a render process's first render of a template, which compiles it."""
DEFAULT_MEMORY_BYTES: Final = 1024**3
"""Address-space cap of a render process."""
_UNKNOWN_COST: Final = 0.005
_MAX_TRACKED: Final = 4096


class RenderUnavailable(RuntimeError):
    """The render processes are shut down or could not start; the render may be tried again later."""


class RenderPool:
    """A few render processes shared by every delivery and preview of this process."""

    def __init__(self, processes: int = 2, *, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.size = processes
        self.memory_bytes = memory_bytes
        self._procs: list[RenderProcess] = []
        self._waiting: dict[str, collections.deque[RenderJob]] = {}
        self._turns: collections.deque[str] = collections.deque()
        self._costs: dict[str, float] = {}
        self._starting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._ids = 0
        self.killed = 0
        """Renders stopped by the wall-clock kill, since start."""

    @property
    def pids(self) -> list[int]:
        """Process ids of the running render processes (empty before the first render and after close)."""
        return [p.pid for p in self._procs]

    async def call(self, template: Any, use: Callable[[Any], T], *, tenant: str = "") -> T:
        """``use(template)`` (a connector's synchronous ``render``), with every render of an isolated
        template made in a render process (see :func:`~gateway.core.templating.standin.call_with_stand_in`)."""
        if not isinstance(template, CompiledTemplate) or template.recipe is None:
            return use(template)
        return await call_with_stand_in(
            template, use, lambda context: self.render(template, context, tenant=tenant)
        )

    async def render(
        self, template: CompiledTemplate, context: Mapping[str, Any], *, tenant: str = ""
    ) -> RenderedBody:
        """Render ``template`` for ``context`` in a render process. Raises :class:`TemplateError` (including a
        killed overrun) or :class:`RenderUnavailable`."""
        recipe = template.recipe
        if recipe is None:
            return template.render(context)
        if self._closed:
            raise RenderUnavailable("render processes are shut down")
        key = recipe.key
        self._ids = (self._ids + 1) & 0xFFFFFFFF
        try:
            payload = orjson.dumps(
                {"id": self._ids, "key": key, "recipe": orjson.Fragment(recipe.json), "context": context},
                option=orjson.OPT_NON_STR_KEYS,
            )
        except TypeError as exc:
            raise TemplateError(truncate(f"invalid render context: {exc}")) from None
        future: asyncio.Future[RenderedBody] = asyncio.get_running_loop().create_future()
        job = RenderJob(
            self._ids, tenant, key, REQUEST_HEAD.pack(len(payload)) + payload, template.time_limit, future
        )
        await self._ensure_started()
        if tenant not in self._waiting:
            self._waiting[tenant] = collections.deque()
            self._turns.append(tenant)
        self._waiting[tenant].append(job)
        self._dispatch()
        return await future

    async def close(self) -> None:
        """Kill the render processes and fail what waits with :class:`RenderUnavailable`."""
        self._closed = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        for task in list(self._tasks):
            task.cancel()
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            if proc.reader is not None:
                proc.reader.cancel()
            with contextlib.suppress(ProcessLookupError):
                await proc.proc.wait()
            for job in proc.inflight:
                job.fail(RenderUnavailable("render processes are shut down"))
        self._procs.clear()
        self._fail_waiting(RenderUnavailable("render processes are shut down"))

    def _fail_waiting(self, exc: Exception) -> None:
        for queue in self._waiting.values():
            for job in queue:
                job.fail(exc)
        self._waiting.clear()
        self._turns.clear()

    # -- processes ---------------------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._procs:
            return
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start_all())
        try:
            await asyncio.shield(self._starting)
        except asyncio.CancelledError:
            if not self._closed or not self._starting.cancelled():
                raise
        if not self._procs:
            raise RenderUnavailable("render processes could not start")

    async def _start_all(self) -> None:
        started = await asyncio.gather(*(self._spawn() for _ in range(self.size)), return_exceptions=True)
        for proc in started:
            if isinstance(proc, RenderProcess):
                self._procs.append(proc)
            else:
                log.error("a render process could not start: %s", proc)

    async def _spawn(self) -> RenderProcess:
        process = await RenderProcess.start(self.memory_bytes)
        if self._closed:
            process.kill()
            await process.proc.wait()
            raise RenderUnavailable("render processes are shut down")
        process.reader = asyncio.create_task(self._read(process))
        return process

    def _replace(self, process: RenderProcess) -> None:
        """Take ``process`` out of service and start another in its place."""
        if process in self._procs:
            self._procs.remove(process)
        self._requeue(process)
        if self._closed:
            return
        self._dispatch()

        async def respawn() -> None:
            try:
                self._procs.append(await self._spawn())
            except Exception as exc:
                log.error("a render process could not start: %s", exc)
                if not self._procs:
                    self._fail_waiting(RenderUnavailable("render processes could not start"))
                return
            self._dispatch()

        task = asyncio.create_task(respawn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _requeue(self, process: RenderProcess) -> None:
        """Put renders that were sent but never started back at the front of their tenants' queues."""
        while process.inflight:
            job = process.inflight.pop()
            if job.future.done():
                continue
            if job.tenant not in self._waiting:
                self._waiting[job.tenant] = collections.deque()
                self._turns.appendleft(job.tenant)
            self._waiting[job.tenant].appendleft(job)

    # -- requests and answers ----------------------------------------------------------------------------

    def _cost(self, key: str) -> float:
        return self._costs.get(key, _UNKNOWN_COST)

    def _dispatch(self) -> None:
        """Hand waiting renders to processes, one per tenant in turn, while any process can take one.

        A tenant whose next render finds no room keeps its place ahead of the tenants just served.
        """
        placed = True
        while placed and self._turns:
            placed = False
            skipped: list[str] = []
            served: list[str] = []
            while self._turns:
                tenant = self._turns.popleft()
                queue = self._waiting[tenant]
                job = queue[0]
                cost = self._cost(job.key)
                ready = [] if job.future.done() else [p for p in self._procs if p.accepts(cost)]
                if ready:
                    self._send(min(ready, key=lambda p: p.queued_cost), job, cost)
                elif not job.future.done():
                    skipped.append(tenant)
                    continue
                placed = True  # sent, or dropped because its caller gave up
                queue.popleft()
                if queue:
                    served.append(tenant)
                else:
                    del self._waiting[tenant]
            self._turns.extend(skipped + served)

    def _send(self, process: RenderProcess, job: RenderJob, cost: float) -> None:
        job.cost = cost
        job.allowance = job.limit + KILL_GRACE
        if job.key not in process.seen:
            job.allowance += COMPILE_ALLOWANCE
            if len(process.seen) > _MAX_TRACKED:
                process.seen.clear()
            process.seen.add(job.key)
        process.send(job)
        if len(process.inflight) == 1:
            self._arm(process)

    def _arm(self, process: RenderProcess) -> None:
        """Start the wall clock of the render now at the head of ``process``'s pipeline."""
        job = process.inflight[0]
        process.head_started = time.monotonic()
        process.timer = asyncio.get_running_loop().call_later(job.allowance, self._overrun, process, job)

    def _done(self, process: RenderProcess) -> RenderJob:
        """Take the head render off ``process``'s pipeline and learn how long its template takes."""
        if process.timer is not None:
            process.timer.cancel()
            process.timer = None
        job = process.pop_head()
        took = time.monotonic() - process.head_started
        previous = self._costs.get(job.key)
        if len(self._costs) > _MAX_TRACKED:
            self._costs.clear()
        self._costs[job.key] = took if previous is None else previous * 0.7 + took * 0.3
        if process.inflight:
            self._arm(process)
        return job

    def _overrun(self, process: RenderProcess, job: RenderJob) -> None:
        if process.killed or not process.inflight or process.inflight[0] is not job:
            return
        process.kill()
        self._done(process)
        self.killed += 1
        log.warning("a template render ran past %.3g s and its render process was killed", job.limit)
        job.fail(TemplateError(f"render time limit exceeded ({job.limit:g} s): the render was stopped"))
        self._replace(process)

    async def _read(self, process: RenderProcess) -> None:
        async for ident, result in process.answers():
            if not process.inflight or process.inflight[0].ident != ident:
                break  # answers come in order: anything else means the pipe cannot be trusted
            if result is None:  # compiled: the render's own time limit counts from now
                head = process.inflight[0]
                if process.timer is not None:
                    process.timer.cancel()
                head.allowance = head.limit + KILL_GRACE
                self._arm(process)
                continue
            job = self._done(process)
            if isinstance(result, TemplateError):
                job.fail(result)
            elif not job.future.done():
                job.future.set_result(result)
            self._dispatch()
        if process.killed:
            return
        process.kill()
        code = await process.proc.wait()
        log.error("a render process exited unexpectedly (exit code %s)", code)
        if process.inflight:
            self._done(process).fail(TemplateError(f"the render process died while rendering (exit code {code})"))
        self._replace(process)
