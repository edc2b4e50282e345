"""Scaled out: PostgreSQL as the database and Redis, RabbitMQ or NATS between API and worker processes."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.conftest import GatewayFactory, Receiver, eventually
from tests.integration.services import BROKER_URLS, require, worker_process

pytestmark = pytest.mark.slow  # real API and worker processes on each broker


async def test_postgres_delivers_signed_and_retries(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    receiver.respond((500, {}, "not yet"))
    gw = await gateway_factory(database_url=pg_url)
    auth = await gw.token()
    hook = await gw.webhook(auth, url=f"{receiver.url}/pg", events=["TODO_CREATED"])
    first = await gw.event(auth, id="e1", event="TODO_CREATED", currentValue={"id": "t1"})
    dup = await gw.event(auth, id="e1", event="TODO_CREATED", currentValue={"id": "t1"})
    assert first["deliveries"] == 1
    assert dup["duplicate"] is True
    await eventually(lambda: len(receiver.requests) >= 2)
    got = receiver.requests[-1]
    assert got.headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    StandardWebhook(hook["secret"]).verify(got.body, got.headers)
    expected = hmac.new(hook["secret"].encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, got.headers["X-Signature"])


@pytest.fixture
def worker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_SCHEDULER_INTERVAL": "0.2",
        "BLUE_GATEWAY_LOG_LEVEL": "WARNING",
    }
    yield env


@pytest.mark.parametrize("broker", ["redis", "rabbitmq", "nats"])
async def test_api_and_worker_processes_share_a_broker(
    pg_url: str,
    gateway_factory: GatewayFactory,
    receiver: Receiver,
    broker: str,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    require(broker)
    broker_url = BROKER_URLS[broker]
    env = {**worker_env, "BLUE_GATEWAY_DATABASE_URL": pg_url, "BLUE_GATEWAY_BROKER_URL": broker_url}
    with worker_process(env, tmp_path / "worker.log") as worker:
        api = await gateway_factory(database_url=pg_url, broker_url=broker_url, worker_mode=False)
        auth = await api.token()
        await api.webhook(auth, url=f"{receiver.url}/{broker}")
        for i in range(20):
            await api.event(auth, event="TODO_CREATED", currentValue={"id": f"t{i}"})
        await eventually(lambda: len({r.headers["webhook-id"] for r in receiver.requests}) == 20, timeout=30)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        ready = await api.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["broker"] is True
