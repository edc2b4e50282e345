"""The benchmark's receiver: a raw asyncio HTTP/1.1 server counting requests and distinct ``webhook-id``s.

Run as ``python -m bench.receiver [--port 0] [--delay GROUP=SECONDS ...] [--keyed GROUP ...]``; it
prints ``READY <port>`` on stdout once it listens on 127.0.0.1. A request's *group* is the first
segment of its path (``/slow/1`` is in group ``slow``). ``--delay slow=1`` makes every delivery to
that group wait a second before it is answered; ``--delay hang=inf`` never answers (the gateway's
attempt times out). ``--keyed c`` records, for each delivery to that group, when it arrived, by the
event key in its body (``currentValue.id``).

``GET /_stats`` answers the counters as JSON (totals, then per group); ``GET /_arrivals?group=c``
answers ``{key: arrived_at}`` of a keyed group. Every other request is a delivery, answered 200.

It is a hand-written protocol rather than a web framework, on uvloop when installed, so that it is
never the bottleneck: scenario (a) measures exactly how fast a client loop can reach it. It handles
keep-alive and ``Content-Length`` bodies (what HTTP clients send for a known body), nothing more.
Times are wall-clock (``time.time()``), comparable across processes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import time
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["Counter", "Receiver", "main"]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Counter:
    """What the receiver has seen so far, in total or for one group."""

    __slots__ = ("first_at", "ids", "last_new_at", "missing_id", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.ids: set[bytes] = set()
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

    def count(self, message_id: bytes | None, now: float) -> None:
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
    """The shared state: counters in total and per group, delays, keyed arrivals."""

    def __init__(self, delays: dict[str, float] | None = None, keyed: set[str] | None = None) -> None:
        self.total = Counter()
        self.groups: dict[str, Counter] = {}
        self.delays = delays or {}
        self.arrivals: dict[str, dict[str, float]] = {group: {} for group in keyed or ()}

    def query(self, target: str) -> bytes:
        """The body of a ``GET /_stats`` or ``/_arrivals`` request."""
        parts = urlsplit(target)
        if parts.path == "/_arrivals":
            group = parse_qs(parts.query).get("group", [""])[0]
            return orjson.dumps(self.arrivals.get(group, {}))
        return orjson.dumps({**self.total.stats(), "groups": {k: c.stats() for k, c in self.groups.items()}})

    def deliver(self, path: str, message_id: bytes | None, body: bytes) -> float:
        """Count a delivery; the seconds to wait before answering it."""
        now = time.time()
        group = path.lstrip("/").split("/", 1)[0]
        counter = self.groups.get(group)
        if counter is None:
            counter = self.groups[group] = Counter()
        self.total.count(message_id, now)
        counter.count(message_id, now)
        keyed = self.arrivals.get(group)
        if keyed is not None:
            key = _event_key(body)
            if key is not None and key not in keyed:
                keyed[key] = now
        return self.delays.get(group, 0.0)


class _Http(asyncio.Protocol):
    """One connection: parses requests one at a time (clients do not pipeline), answers in order."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a delayed answer is pending; later bytes wait for it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._drain()

    def _drain(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).split(b"\r\n")
            method, target = head[0].split(b" ", 2)[:2]
            length = 0
            message_id: bytes | None = None
            for line in head[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"webhook-id":
                    message_id = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            path = target.decode("latin-1")
            if method == b"GET" and path.startswith("/_"):
                payload = self.receiver.query(path)
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
                continue
            delay = self.receiver.deliver(path, message_id, body)
            if delay <= 0:
                self.transport.write(OK)
            elif math.isfinite(delay):
                self.busy = True
                asyncio.get_running_loop().call_later(delay, self._answer_late)
            else:
                self.busy = True  # never answers: the client's timeout ends it

    def _answer_late(self) -> None:
        self.busy = False
        if self.transport is not None:
            self.transport.write(OK)
            self._drain()


async def serve(port: int, receiver: Receiver) -> None:
    """Listen on 127.0.0.1 until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(receiver), "127.0.0.1", port, backlog=4096)
    bound = int(server.sockets[0].getsockname()[1])
    sys.stdout.write(f"READY {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()


def run(main: object) -> None:
    """Run a coroutine on uvloop when it is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)  # type: ignore[arg-type]


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
    run(serve(args.port, Receiver(delays, set(args.keyed))))


if __name__ == "__main__":
    main()
