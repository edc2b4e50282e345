"""The one place that reads a broker URL: it makes the taskiq broker and probes the broker's reachability."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from taskiq import AsyncBroker, InMemoryBroker

__all__ = ["DELIVER_TASK", "BrokerUrl", "broker_reachable", "make_broker"]

DELIVER_TASK = "blue_gateway.deliver"
_FAMILIES = {
    "memory": "memory",
    "redis": "redis",
    "rediss": "redis",
    "amqp": "amqp",
    "amqps": "amqp",
    "nats": "nats",
    "tls": "nats",
}
_DEFAULT_PORTS = {"redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671, "nats": 4222, "tls": 4222}


@dataclass(frozen=True)
class BrokerUrl:
    """A broker URL taken apart: ``family`` is ``memory``, ``redis``, ``amqp`` or ``nats``."""

    url: str
    scheme: str
    family: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """Read ``url``; ``ValueError`` names the schemes a broker URL may use."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        family = _FAMILIES.get(scheme)
        if family is None:
            raise ValueError(
                f"unsupported broker URL scheme {scheme!r}: use memory://, redis://, amqp:// or nats://"
            )
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
        except ValueError:
            port = 0  # a malformed port: probing finds nothing there
        return cls(url, scheme, family, parts.hostname or "127.0.0.1", port)


def make_broker(url: str, *, max_async_tasks: int = 64) -> AsyncBroker:
    """``memory://`` (in-process), ``redis://``, ``amqp://`` or ``nats://``; the broker only carries ids."""
    family = BrokerUrl.parse(url).family
    if family == "memory":
        return InMemoryBroker(max_async_tasks=max_async_tasks)
    if family == "redis":
        from taskiq_redis import ListQueueBroker

        return ListQueueBroker(url, queue_name="blue_gateway_deliveries")
    if family == "amqp":
        from taskiq_aio_pika import AioPikaBroker

        return AioPikaBroker(url)
    from taskiq_nats import PullBasedJetStreamBroker

    return PullBasedJetStreamBroker(
        servers=[url], subject="blue_gateway.deliveries", stream_name="blue_gateway", durable="blue_gateway"
    )


async def broker_reachable(url: str, wait: float = 2.0) -> bool:
    """The in-memory broker is always there; a networked one must answer its protocol's greeting."""
    try:
        target = BrokerUrl.parse(url)
    except ValueError:
        return False
    if target.family == "memory":
        return True
    try:
        async with asyncio.timeout(wait):
            reader, writer = await asyncio.open_connection(target.host, target.port)
            try:
                return await _greets(target.family, reader, writer)
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return False


async def _greets(family: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    if family == "redis":
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await reader.readline())[:1] in (b"+", b"-")  # PONG, or an auth error: it is there
    if family == "amqp":
        writer.write(b"AMQP\x00\x00\x09\x01")
        await writer.drain()
        return len(await reader.read(7)) > 0  # Connection.Start
    return (await reader.readline()).startswith(b"INFO")  # NATS greets first
