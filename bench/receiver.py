"""The benchmark's receiver: an aiohttp server answering 200 and counting requests and distinct ``webhook-id``s.

Run as ``python -m bench.receiver [--port 0] [--delay GROUP=SECONDS ...] [--keyed GROUP ...]``; it prints
``READY <port>`` on stdout once it listens on 127.0.0.1. A request's *group* is the first segment of its
path (``/slow/1`` is in group ``slow``). ``--delay slow=1.0`` makes every delivery to that group wait
one second before it is answered (a slow endpoint); ``--keyed fast`` records, for each delivery to that
group, when it arrived and when it was answered, by the event key in its body (``currentValue.id``).

``GET /_stats`` answers the counters as JSON (totals, then per group); ``GET /_arrivals?group=fast``
answers ``{key: [arrived_at, answered_at]}`` of a keyed group (``answered_at`` 0 until answered). Every
other request is a delivery.

It runs in its own process so that receiving thousands of deliveries does not compete with the load
generator's event loop (which would inflate the measured ingest latencies); the bench reads the
counters over HTTP. Times are wall-clock (``time.time()``), comparable across processes.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

import orjson
from aiohttp import web

__all__ = ["Counter", "Receiver", "main", "make_app"]


class Counter:
    """What the receiver has seen so far, in total or for one group."""

    def __init__(self) -> None:
        self.requests = 0
        self.answered = 0
        self.ids: set[str] = set()
        self.missing_id = 0
        self.first_at: float | None = None
        self.last_new_at: float | None = None

    def stats(self) -> dict[str, object]:
        """The counters as a JSON-able mapping."""
        return {
            "requests": self.requests,
            "answered": self.answered,
            "distinct": len(self.ids),
            "missing_id": self.missing_id,
            "first_at": self.first_at,
            "last_new_at": self.last_new_at,
        }

    def count(self, message_id: str | None, now: float) -> None:
        """Count one delivery request."""
        self.requests += 1
        if self.first_at is None:
            self.first_at = now
        if message_id is None:
            self.missing_id += 1
        elif message_id not in self.ids:
            self.ids.add(message_id)
            self.last_new_at = now


def _event_key(body: bytes) -> str | None:
    try:
        current = orjson.loads(body).get("currentValue")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    key = current.get("id") if isinstance(current, dict) else None
    return str(key) if key is not None else None


class Receiver:
    """Routes requests: stats, arrivals, or a delivery counted in total and in its group."""

    def __init__(self, delays: dict[str, float] | None = None, keyed: set[str] | None = None) -> None:
        self.total = Counter()
        self.groups: dict[str, Counter] = {}
        self.delays = delays or {}
        self.keyed = keyed or set()
        self.arrivals: dict[str, dict[str, list[float]]] = {group: {} for group in self.keyed}

    async def handle(self, request: web.Request) -> web.Response:
        """Answer the stats or arrivals, or count a delivery (after its group's delay) and say 200."""
        if request.path == "/_stats":
            stats = {**self.total.stats(), "groups": {k: c.stats() for k, c in self.groups.items()}}
            return web.Response(body=orjson.dumps(stats), content_type="application/json")
        if request.path == "/_arrivals":
            found = self.arrivals.get(request.query.get("group", ""), {})
            return web.Response(body=orjson.dumps(found), content_type="application/json")
        body = await request.read()
        now = time.time()
        group = request.path.lstrip("/").split("/", 1)[0]
        counter = self.groups.setdefault(group, Counter())
        message_id = request.headers.get("webhook-id")
        self.total.count(message_id, now)
        counter.count(message_id, now)
        times: list[float] | None = None
        if group in self.keyed:
            key = _event_key(body)
            if key is not None and key not in self.arrivals[group]:
                times = self.arrivals[group][key] = [now, 0.0]
        delay = self.delays.get(group, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        answered = time.time()
        self.total.answered += 1
        counter.answered += 1
        if times is not None:
            times[1] = answered
        return web.Response(text="ok")


def make_app(receiver: Receiver) -> web.Application:
    """An application routing every path to ``receiver``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    return app


async def serve(port: int, receiver: Receiver) -> None:
    """Listen on 127.0.0.1 until SIGTERM or SIGINT."""
    runner = web.AppRunner(make_app(receiver), access_log=None, handle_signals=False)
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--delay", action="append", default=[], metavar="GROUP=SECONDS", help="a slow group")
    parser.add_argument("--keyed", action="append", default=[], metavar="GROUP", help="record arrivals by key")
    args = parser.parse_args(argv)
    try:
        delays = {group: float(seconds) for group, seconds in (item.split("=", 1) for item in args.delay)}
    except ValueError:
        parser.error("--delay takes GROUP=SECONDS")
    asyncio.run(serve(args.port, Receiver(delays, set(args.keyed))))


if __name__ == "__main__":
    main()
