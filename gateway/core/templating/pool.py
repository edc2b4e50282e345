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
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson

from gateway.core.templating.errors import TemplateError, _truncate
from gateway.core.templating.rendering import CompiledTemplate, RenderedBody
from gateway.core.templating.standin import RenderLater, StandIn
from gateway.core.templating.worker import ANSWER_HEAD, REQUEST_HEAD

__all__ = ["DEFAULT_MEMORY_BYTES", "KILL_GRACE", "RenderPool", "RenderUnavailable"]

log = logging.getLogger("gateway.templating")
T = TypeVar("T")

KILL_GRACE: Final = 0.25
"""Seconds past a template's time limit before its render process is killed."""
COMPILE_ALLOWANCE: Final = 2.0
"""Extra seconds for a render process's first render of a template, which compiles it."""
DEFAULT_MEMORY_BYTES: Final = 1024**3
"""Address-space cap of a render process."""
_MAX_PIPELINE: Final = 32
_PIPELINE_BUDGET: Final = 0.02
"""Seconds of expected render time a busy process may have waiting behind its current render."""
_UNKNOWN_COST: Final = 0.005
_MAX_TRACKED: Final = 4096
_MAX_PASSES: Final = 4
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[3])


class RenderUnavailable(RuntimeError):
    """The render processes are shut down or could not start; the render may be tried again later."""


class _Job:
    __slots__ = ("allowance", "cost", "frame", "future", "ident", "key", "limit", "tenant")

    def __init__(
        self, ident: int, tenant: str, key: str, frame: bytes, limit: float, future: asyncio.Future[RenderedBody]
    ) -> None:
        self.ident = ident
        self.tenant = tenant
        self.key = key
        self.frame = frame
        self.limit = limit
        self.future = future
        self.allowance = limit + KILL_GRACE
        self.cost = 0.0


class _Process:
    __slots__ = ("head_started", "inflight", "killed", "outbox", "proc", "queued_cost", "reader", "seen", "timer")

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.inflight: collections.deque[_Job] = collections.deque()
        self.seen: set[str] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.killed = False
        self.reader: asyncio.Task[None] | None = None
        self.queued_cost = 0.0
        self.head_started = 0.0
        self.outbox: list[bytes] = []


class RenderPool:
    """A few render processes shared by every delivery and preview of this process."""

    def __init__(self, processes: int = 2, *, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.size = processes
        self.memory_bytes = memory_bytes
        self._procs: list[_Process] = []
        self._waiting: dict[str, collections.deque[_Job]] = {}
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
        return [p.proc.pid for p in self._procs]

    async def call(self, template: Any, use: Callable[[Any], T], *, tenant: str = "") -> T:
        """``use(template)``, with every render of an isolated template done in a render process.

        ``use`` is synchronous (a connector's ``render``); it gets a stand-in whose ``render`` answers from
        renders already made, or asks for one and is called again once it is ready.
        """
        if not isinstance(template, CompiledTemplate) or template.recipe is None:
            return use(template)
        stand_in = StandIn(template)
        for _ in range(_MAX_PASSES):
            try:
                result = use(stand_in)
            except RenderLater:
                pass
            else:
                if not stand_in.wanted:
                    return result
            wanted, stand_in.wanted = stand_in.wanted, []
            for context in wanted:
                try:
                    stand_in.answer(context, await self.render(template, context, tenant=tenant))
                except TemplateError as exc:
                    stand_in.answer(context, exc)
        raise TemplateError("the connector asked for a different render on every pass")

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
            raise TemplateError(_truncate(f"invalid render context: {exc}")) from None
        future: asyncio.Future[RenderedBody] = asyncio.get_running_loop().create_future()
        job = _Job(self._ids, tenant, key, REQUEST_HEAD.pack(len(payload)) + payload, template.time_limit, future)
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
            self._retire(proc)
        for proc in self._procs:
            if proc.reader is not None:
                proc.reader.cancel()
            with contextlib.suppress(ProcessLookupError):
                await proc.proc.wait()
            for job in proc.inflight:
                _fail(job, RenderUnavailable("render processes are shut down"))
        self._procs.clear()
        for queue in self._waiting.values():
            for job in queue:
                _fail(job, RenderUnavailable("render processes are shut down"))
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
            if isinstance(proc, _Process):
                self._procs.append(proc)
            else:
                log.error("a render process could not start: %s", proc)

    async def _spawn(self) -> _Process:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.core.templating.worker",
            str(self.memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        if self._closed:
            proc.kill()
            await proc.wait()
            raise RenderUnavailable("render processes are shut down")
        process = _Process(proc)
        process.reader = asyncio.create_task(self._read(process))
        return process

    def _replace(self, process: _Process) -> None:
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
                    for queue in self._waiting.values():
                        for job in queue:
                            _fail(job, RenderUnavailable("render processes could not start"))
                    self._waiting.clear()
                    self._turns.clear()
                return
            self._dispatch()

        task = asyncio.create_task(respawn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _retire(self, process: _Process) -> None:
        process.killed = True
        if process.timer is not None:
            process.timer.cancel()
        with contextlib.suppress(ProcessLookupError):
            process.proc.kill()

    def _requeue(self, process: _Process) -> None:
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

    def _accepts(self, process: _Process, cost: float) -> bool:
        """Whether ``process`` may take a render of ``cost`` seconds now: an idle one always; a busy one
        only while its pipeline stays short, so nothing waits behind a slow render."""
        if process.killed:
            return False
        if not process.inflight:
            return True
        return len(process.inflight) < _MAX_PIPELINE and process.queued_cost + cost <= _PIPELINE_BUDGET

    def _dispatch(self) -> None:
        """Hand waiting renders to processes, one per tenant in turn, while any process can take one."""
        placed = True
        while placed and self._turns:
            placed = False
            for _ in range(len(self._turns)):
                tenant = self._turns.popleft()
                queue = self._waiting[tenant]
                job = queue[0]
                cost = self._cost(job.key)
                ready = [p for p in self._procs if self._accepts(p, cost)]
                if job.future.done() or ready:
                    queue.popleft()
                    if not job.future.done():
                        self._send(min(ready, key=lambda p: p.queued_cost), job, cost)
                        placed = True
                if queue:
                    self._turns.append(tenant)
                else:
                    del self._waiting[tenant]

    def _send(self, process: _Process, job: _Job, cost: float) -> None:
        if job.key not in process.seen:
            job.allowance += COMPILE_ALLOWANCE
            if len(process.seen) > _MAX_TRACKED:
                process.seen.clear()
            process.seen.add(job.key)
        job.cost = cost
        if not process.outbox:
            # One write per loop turn for everything sent to this process in it: fewer wake-ups.
            asyncio.get_running_loop().call_soon(self._flush, process)
        process.outbox.append(job.frame)
        process.inflight.append(job)
        process.queued_cost += cost
        if len(process.inflight) == 1:
            self._arm(process)

    def _flush(self, process: _Process) -> None:
        frames, process.outbox = process.outbox, []
        if not process.killed and process.proc.stdin is not None:
            process.proc.stdin.write(b"".join(frames))

    def _arm(self, process: _Process) -> None:
        """Start the wall clock of the render now at the head of ``process``'s pipeline."""
        job = process.inflight[0]
        process.head_started = time.monotonic()
        process.timer = asyncio.get_running_loop().call_later(job.allowance, self._overrun, process, job)

    def _done(self, process: _Process) -> _Job:
        """Take the head render off ``process``'s pipeline and learn how long its template takes."""
        job = process.inflight.popleft()
        process.queued_cost = max(0.0, process.queued_cost - job.cost)
        took = time.monotonic() - process.head_started
        previous = self._costs.get(job.key)
        if len(self._costs) > _MAX_TRACKED:
            self._costs.clear()
        self._costs[job.key] = took if previous is None else previous * 0.7 + took * 0.3
        return job

    def _overrun(self, process: _Process, job: _Job) -> None:
        if process.killed or not process.inflight or process.inflight[0] is not job:
            return
        self._done(process)
        self._retire(process)
        self.killed += 1
        log.warning("a template render ran past %.3g s and its render process was killed", job.limit)
        _fail(job, TemplateError(f"render time limit exceeded ({job.limit:g} s): the render was stopped"))
        self._replace(process)

    async def _read(self, process: _Process) -> None:
        stdout = process.proc.stdout
        assert stdout is not None
        try:
            while True:
                ident, meta_size, body_size = ANSWER_HEAD.unpack(await stdout.readexactly(ANSWER_HEAD.size))
                if meta_size == 0:
                    self._compiled(process, ident)
                    continue
                data = await stdout.readexactly(meta_size + body_size)
                self._answered(process, ident, orjson.loads(data[:meta_size]), data[meta_size:])
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            pass
        if process.killed:
            return
        code = await process.proc.wait()
        log.error("a render process exited unexpectedly (exit code %s)", code)
        if process.inflight:
            _fail(
                process.inflight.popleft(),
                TemplateError(f"the render process died while rendering (exit code {code})"),
            )
        process.killed = True
        if process.timer is not None:
            process.timer.cancel()
        self._replace(process)

    def _compiled(self, process: _Process, ident: int) -> None:
        """The head render's template is compiled: its time limit counts from now."""
        if process.inflight and process.inflight[0].ident == ident:
            if process.timer is not None:
                process.timer.cancel()
            process.inflight[0].allowance = process.inflight[0].limit + KILL_GRACE
            self._arm(process)

    def _answered(self, process: _Process, ident: int, meta: dict[str, Any], body: bytes) -> None:
        if process.timer is not None:
            process.timer.cancel()
            process.timer = None
        if process.inflight[0].ident != ident:  # answers come in order, else the pipe cannot be trusted
            self._retire(process)
            self._replace(process)
            return
        job = self._done(process)
        if process.inflight:
            self._arm(process)
        error = meta.get("error")
        if error is not None:
            _fail(
                job,
                TemplateError(
                    str(error.get("reason", "render failed")),
                    field=str(error.get("field", "template")),
                    line=error.get("line"),
                    column=error.get("column"),
                ),
            )
        elif not job.future.done():
            job.future.set_result(
                RenderedBody(body=body, content_type=meta["contentType"], headers=meta["headers"])
            )
        self._dispatch()


def _fail(job: _Job, exc: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
