"""The broker goes away: events are still accepted (the database is the truth) and all arrive later."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import GatewayFactory, Receiver, eventually
from tests.integration.services import worker_process
from tests.integration.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow  # a real worker process through a broker outage


async def test_broker_outage_loses_nothing(
    pg_url: str,
    proxy_to: Callable[[str], Awaitable[TcpProxy]],
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    redis_proxy = await proxy_to("redis")
    queue_db = "/5"  # a Redis database of its own, so other tests' messages stay apart
    api_broker = f"redis://127.0.0.1:{redis_proxy.port}{queue_db}"
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": f"redis://127.0.0.1:6379{queue_db}",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SCHEDULER_INTERVAL": "0.2",
        "BLUE_GATEWAY_LEASE_SECONDS": "2",
        "BLUE_GATEWAY_LOG_LEVEL": "WARNING",
    }
    with worker_process(env, tmp_path / "worker.log") as worker:
        api = await gateway_factory(database_url=pg_url, broker_url=api_broker, worker_mode=False)
        auth = await api.token()
        await api.webhook(auth, url=receiver.url)
        await api.event(auth, id="before", event="TODO_CREATED")
        await eventually(lambda: receiver.requests, timeout=20)

        await redis_proxy.cut()
        for i in range(5):
            resp = await api.client.post(
                "/v1/events", json={"id": f"during-{i}", "event": "TODO_CREATED"}, headers=auth
            )
            assert resp.status_code == 202, resp.text
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["broker"] is False

        redis_proxy.restore()
        await eventually(lambda: len({r.headers["webhook-id"] for r in receiver.requests}) == 6, timeout=30)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
