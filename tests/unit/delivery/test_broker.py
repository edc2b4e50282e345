"""Broker URLs are read in one place: the broker's family, host and port, and whether it answers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gateway.delivery.broker import BrokerUrl, broker_reachable


@pytest.mark.parametrize(
    ("url", "family", "host", "port"),
    [
        ("memory://", "memory", "127.0.0.1", 0),
        ("redis://cache:6390/0", "redis", "cache", 6390),
        ("rediss://cache", "redis", "cache", 6380),
        ("amqp://guest:guest@mq/", "amqp", "mq", 5672),
        ("AMQPS://mq", "amqp", "mq", 5671),
        ("nats://bus", "nats", "bus", 4222),
        ("tls://bus:4333", "nats", "bus", 4333),
    ],
)
def test_a_broker_url_names_its_family_host_and_port(url: str, family: str, host: str, port: int) -> None:
    parsed = BrokerUrl.parse(url)
    assert (parsed.family, parsed.host, parsed.port) == (family, host, port)


def test_an_unknown_scheme_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="use memory://, redis://, amqp:// or nats://"):
        BrokerUrl.parse("kafka://bus")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_in_memory_broker_is_always_reachable_and_a_closed_port_never() -> None:
    assert asyncio.run(broker_reachable("memory://"))
    assert not asyncio.run(broker_reachable(f"redis://127.0.0.1:{_closed_port()}", wait=1.0))
    assert not asyncio.run(broker_reachable("kafka://bus"))


def test_a_server_that_does_not_speak_the_protocol_is_not_a_broker() -> None:
    async def probe() -> bool:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await broker_reachable(f"nats://127.0.0.1:{port}", wait=1.0)

    assert not asyncio.run(probe())
