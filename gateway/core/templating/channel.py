"""The gateway's end of one render process: start it, pipeline requests to it, read its answers."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import orjson

from gateway.core.templating.errors import TemplateError
from gateway.core.templating.rendering import RenderedBody
from gateway.core.templating.worker import ANSWER_HEAD

__all__ = ["Answer", "RenderJob", "RenderProcess"]

_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[3])
_MAX_PIPELINE: Final = 64
_PIPELINE_BUDGET: Final = 0.02
"""Seconds of expected render time a busy process may have waiting behind its current render."""

Answer = tuple[int, RenderedBody | TemplateError | None]
"""``(request id, result)``; ``None`` means "compiled, rendering starts now"."""


class RenderJob:
    """One render request on its way: its frame, its tenant and the future its caller awaits."""

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
        self.allowance = limit
        """Seconds the render may run once it heads its process's pipeline."""
        self.cost = 0.0
        """Seconds it is expected to take (learnt from earlier renders of its template)."""

    def fail(self, exc: Exception) -> None:
        """Hand ``exc`` to the caller, unless it has an answer or gave up already."""
        if not self.future.done():
            self.future.set_exception(exc)


class RenderProcess:
    """A running render process and the renders sent to it, answered in order (a pipeline)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.inflight: collections.deque[RenderJob] = collections.deque()
        self.queued_cost = 0.0
        """Expected seconds of the renders in :attr:`inflight`."""
        self.head_started = 0.0
        self.seen: set[str] = set()
        """Template keys sent to this process (it has them compiled, or is compiling them)."""
        self.timer: asyncio.TimerHandle | None = None
        self.killed = False
        self.reader: asyncio.Task[None] | None = None
        self._outbox: list[bytes] = []

    @classmethod
    async def start(cls, memory_bytes: int) -> RenderProcess:
        """Start ``python -m gateway.core.templating.worker`` with this interpreter and package."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.core.templating.worker",
            str(memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    @property
    def pid(self) -> int:
        """The operating system's process id."""
        return self.proc.pid

    def accepts(self, cost: float) -> bool:
        """Whether a render expected to take ``cost`` seconds may be sent now: always to an idle process; to a
        busy one only while its pipeline stays short, so nothing waits behind a slow render."""
        if self.killed:
            return False
        if not self.inflight:
            return True
        return len(self.inflight) < _MAX_PIPELINE and self.queued_cost + cost <= _PIPELINE_BUDGET

    def send(self, job: RenderJob) -> None:
        """Queue ``job`` on the pipeline; the frames of one loop turn leave in a single write."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(job.frame)
        self.inflight.append(job)
        self.queued_cost += job.cost

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if not self.killed and self.proc.stdin is not None:
            self.proc.stdin.write(b"".join(frames))

    def pop_head(self) -> RenderJob:
        """Take the render at the head of the pipeline off it."""
        job = self.inflight.popleft()
        self.queued_cost = max(0.0, self.queued_cost - job.cost)
        return job

    def kill(self) -> None:
        """Stop the process now (SIGKILL); its answers end."""
        self.killed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def answers(self) -> AsyncIterator[Answer]:
        """Answers as they arrive, until the process exits or sends something unreadable."""
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                ident, meta_size, body_size = ANSWER_HEAD.unpack(await stdout.readexactly(ANSWER_HEAD.size))
                if meta_size == 0:
                    yield ident, None
                    continue
                data = await stdout.readexactly(meta_size + body_size)
                yield ident, _decode(orjson.loads(data[:meta_size]), data[meta_size:])
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            return


def _decode(meta: dict[str, Any], body: bytes) -> RenderedBody | TemplateError:
    error = meta.get("error")
    if error is None:
        return RenderedBody(body=body, content_type=meta["contentType"], headers=meta["headers"])
    return TemplateError(
        str(error.get("reason", "render failed")),
        field=str(error.get("field", "template")),
        line=error.get("line"),
        column=error.get("column"),
    )
