"""Fixtures for tests against real services: a fresh PostgreSQL database, TCP proxies to cut."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway.db.engine import make_engine
from gateway.db.migrate import upgrade
from tests.conftest import TEST_BROKER_PREFIX, Gateway, GatewayFactory
from tests.integration.services import BROKER_URLS, POSTGRES_ADMIN_DSN, SERVICES, require
from tests.integration.tcpproxy import TcpProxy

# Fixtures that reach a real service; a test parametrized with a service's name ("postgresql", "redis",
# "rabbitmq", "nats") reaches it too. Such tests are marked `integration` here, at collection, so that a
# new test using them is marked without anyone remembering to.
SERVICE_FIXTURES = frozenset({"pg_url", "proxy_to"})
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test under tests/integration that needs PostgreSQL/Redis/RabbitMQ/NATS."""
    for item in items:
        if not item.path.is_relative_to(HERE):
            continue
        callspec = getattr(item, "callspec", None)
        params = {str(value) for value in callspec.params.values()} if callspec else set()
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or params & set(SERVICES):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_broker_names() -> Iterator[None]:
    """At the end of the run, delete the RabbitMQ queues and the NATS stream named with this run's prefix."""
    yield
    asyncio.run(_remove_broker_names(TEST_BROKER_PREFIX))


async def _remove_broker_names(prefix: str) -> None:
    with contextlib.suppress(Exception):
        import aio_pika

        async with asyncio.timeout(5):
            connection = await aio_pika.connect(BROKER_URLS["rabbitmq"])
            async with connection:
                channel = await connection.channel()
                for queue in (f"{prefix}_deliveries", f"{prefix}_deliveries.dead_letter"):
                    await channel.queue_delete(queue)
                await channel.exchange_delete(prefix)
    with contextlib.suppress(Exception):
        import nats

        async with asyncio.timeout(5):
            client = await nats.connect(BROKER_URLS["nats"])
            try:
                await client.jetstream().delete_stream(prefix)
            finally:
                await client.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, migrated with Alembic, dropped afterwards."""
    async with fresh_pg_database() as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """The database of :func:`pg_url`, for fixtures that choose their database themselves."""
    require("postgresql")
    name = f"bg_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def proxy_to() -> AsyncIterator[Callable[[str], Awaitable[TcpProxy]]]:
    """``await proxy_to("redis")``: a proxy in front of that service, closed after the test."""
    proxies: list[TcpProxy] = []

    async def start(service: str) -> TcpProxy:
        require(service)
        proxy = TcpProxy(*SERVICES[service])
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        await proxy.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def gateway_on(request: pytest.FixtureRequest, gateway_factory: GatewayFactory) -> AsyncIterator[Gateway]:
    """The gateway on the embedded SQLite and on PostgreSQL (which refuses more at the column level)."""
    if request.param == "sqlite":
        yield await gateway_factory()
        return
    async with fresh_pg_database() as url:
        gw = await gateway_factory(database_url=url)
        yield gw
        await gw.stop()
