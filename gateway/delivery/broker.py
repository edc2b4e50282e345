"""The one place that reads a broker URL: it makes the taskiq broker and probes the broker's reachability."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from taskiq import AsyncBroker, InMemoryBroker

__all__ = [
    "DEFAULT_PREFIX",
    "DELIVER_TASK",
    "BrokerNames",
    "BrokerUrl",
    "broker_reachable",
    "make_broker",
    "valid_prefix",
]

DELIVER_TASK = "blue_gateway.deliver"
DEFAULT_PREFIX: Final = "blue_gateway"
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")
REDIS_IDLE_POLL: Final = 2.0
"""Seconds one Redis ``BRPOP`` waits for work before asking again, well inside redis-py's 5 s read timeout."""
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


def valid_prefix(prefix: str) -> bool:
    """Letters, digits, ``_`` and ``-``, 1 to 64 of them: safe as a Redis key, AMQP name and NATS token."""
    return _PREFIX.fullmatch(prefix) is not None


@dataclass(frozen=True)
class BrokerNames:
    """The names a gateway uses on a shared broker, all derived from one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def redis_list(self) -> str:
        """The Redis list deliveries are pushed to."""
        return f"{self.prefix}_deliveries"

    @property
    def amqp_exchange(self) -> str:
        """The RabbitMQ exchange messages are published to."""
        return self.prefix

    @property
    def amqp_queue(self) -> str:
        """The RabbitMQ queue workers consume (bound to the exchange under its own name)."""
        return f"{self.prefix}_deliveries"

    @property
    def nats_stream(self) -> str:
        """The JetStream stream (also the durable consumer's name)."""
        return self.prefix

    @property
    def nats_subject(self) -> str:
        """The JetStream subject."""
        return f"{self.prefix}.deliveries"


def make_broker(url: str, *, max_async_tasks: int = 64, prefix: str = DEFAULT_PREFIX) -> AsyncBroker:
    """``memory://`` (in-process), ``redis://``, ``amqp://`` or ``nats://``; the broker only carries ids."""
    if not valid_prefix(prefix):
        raise ValueError(f"broker prefix {prefix!r}: use 1 to 64 letters, digits, '_' or '-'")
    names = BrokerNames(prefix)
    family = BrokerUrl.parse(url).family
    if family == "memory":
        return InMemoryBroker(max_async_tasks=max_async_tasks)
    if family == "redis":
        return _redis_broker(url, names)
    if family == "amqp":
        from taskiq_aio_pika import AioPikaBroker, Exchange, Queue

        return AioPikaBroker(
            url,
            exchange=Exchange(name=names.amqp_exchange),
            task_queues=[Queue(name=names.amqp_queue)],
            dead_letter_queue=Queue(name=f"{names.amqp_queue}.dead_letter"),
        )
    from taskiq_nats import PullBasedJetStreamBroker

    return PullBasedJetStreamBroker(
        servers=[url], subject=names.nats_subject, stream_name=names.nats_stream, durable=names.nats_stream
    )


def _redis_broker(url: str, names: BrokerNames) -> AsyncBroker:
    from redis.asyncio import Redis
    from taskiq_redis import ListQueueBroker

    class IdlePollingListBroker(ListQueueBroker):
        """taskiq-redis's list broker, whose wait for work ends before the client's read timeout.

        taskiq-redis blocks in ``BRPOP`` with no server-side limit while redis-py gives up reading after
        its 5 s socket timeout, so an idle worker raised (and taskiq logged) a timeout every 5 s. A
        bounded ``BRPOP`` answers "nothing yet" in time; a real read timeout still means a stuck server.
        """

        async def listen(self) -> AsyncGenerator[bytes, None]:
            while True:
                async with Redis(connection_pool=self.connection_pool) as conn:
                    popped = await conn.brpop([self.queue_name], timeout=REDIS_IDLE_POLL)
                if popped is not None:
                    data = popped[1]
                    yield data if isinstance(data, bytes) else data.encode()

    return IdlePollingListBroker(url, queue_name=names.redis_list)


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
