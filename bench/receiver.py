"""The benchmark's receiver: an aiohttp server answering 200 and counting requests and distinct ``webhook-id``s.

Run as ``python -m bench.receiver [--port 0]``; it prints ``READY <port>`` on stdout once it listens on
127.0.0.1. ``GET /_stats`` answers the counters as JSON; every other request is a delivery.

It runs in its own process so that receiving thousands of deliveries does not compete with the load
generator's event loop (which would inflate the measured ingest latencies); the bench reads the
counters over HTTP. ``last_new_at`` is wall-clock time (``time.time()``), comparable across processes.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

import orjson
from aiohttp import web

__all__ = ["Counter", "main", "make_app"]


class Counter:
    """What the receiver has seen so far."""

    def __init__(self) -> None:
        self.requests = 0
        self.ids: set[str] = set()
        self.missing_id = 0
        self.first_at: float | None = None
        self.last_new_at: float | None = None

    def stats(self) -> dict[str, object]:
        """The counters as a JSON-able mapping."""
        return {
            "requests": self.requests,
            "distinct": len(self.ids),
            "missing_id": self.missing_id,
            "first_at": self.first_at,
            "last_new_at": self.last_new_at,
        }

    async def handle(self, request: web.Request) -> web.Response:
        """Count a delivery (or answer the stats) and say 200."""
        if request.path == "/_stats":
            return web.Response(body=orjson.dumps(self.stats()), content_type="application/json")
        await request.read()
        now = time.time()
        self.requests += 1
        if self.first_at is None:
            self.first_at = now
        message_id = request.headers.get("webhook-id")
        if message_id is None:
            self.missing_id += 1
        elif message_id not in self.ids:
            self.ids.add(message_id)
            self.last_new_at = now
        return web.Response(text="ok")


def make_app(counter: Counter) -> web.Application:
    """An application routing every path to ``counter``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", counter.handle)
    return app


async def serve(port: int) -> None:
    """Listen on 127.0.0.1 until SIGTERM or SIGINT."""
    runner = web.AppRunner(make_app(Counter()), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = int(runner.addresses[0][1])
    sys.stdout.write(f"READY {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
