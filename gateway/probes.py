"""The worker's own small HTTP server: ``/healthz``, ``/readyz`` and ``/metrics``, as ``serve`` answers them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from gateway.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["ProbeServer"]


def _json(body: Mapping[str, object], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class ProbeServer:
    """Liveness, readiness and Prometheus metrics of one worker process, on ``host:port``."""

    def __init__(self, runtime: Runtime, host: str, port: int) -> None:
        self.runtime, self.host, self.port = runtime, host, port
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start(self) -> int:
        """Listen; returns the port actually bound (useful with port 0 in tests)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop answering."""
        await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        state = await self.runtime.ping()
        ready = all(state.values())
        body = {"status": "ready" if ready else "unavailable", **state}
        return _json(body, 200 if ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
