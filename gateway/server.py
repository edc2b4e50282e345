"""``blue-gateway serve``: uvicorn running the app, with a shutdown bounded by ``shutdown_grace``."""

from __future__ import annotations

import math
import socket

import uvicorn

from gateway.app import create_app
from gateway.logs import uvicorn_log_config
from gateway.runtime import Runtime, tune_collector
from gateway.settings import Settings

__all__ = ["GatewayServer", "run_server"]


class GatewayServer(uvicorn.Server):
    """Uvicorn whose shutdown first tells the runtime to stop taking work.

    The runtime's grace for deliveries under way then runs alongside uvicorn's wait for open requests
    instead of after it, so SIGTERM costs one grace period, not two.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop claiming and scheduling, then let uvicorn close connections and run the lifespan's end."""
        await self.runtime.begin_shutdown()
        await super().shutdown(sockets=sockets)


def run_server(settings: Settings, *, worker: bool) -> None:
    """Serve until SIGTERM or SIGINT; open requests and delivery attempts get ``shutdown_grace`` to finish."""
    application = create_app(settings, worker=worker)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(),  # uvicorn's records take the gateway's format (gateway.logs)
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace)),
    )
    tune_collector()
    GatewayServer(config, application.state.runtime).run()
