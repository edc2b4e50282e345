"""SIGTERM after a burst: the process exits within 10 s, and every accepted delivery still arrives."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from sqlalchemy import func, select

from gateway.db.models import Delivery
from gateway.delivery.adaptive import LimitConfig
from tests.conftest import GatewayFactory, eventually, free_port, listen
from tests.integration.processes import cli_token, gateway_env, send_events, start_serve, wait_healthy
from tests.integration.services import BROKER_URLS, require, worker_process

pytestmark = pytest.mark.slow  # starts and signals real gateway and worker processes

EVENTS = 1000
EXIT_WITHIN = 10.0
STARTING_LIMIT = LimitConfig(maximum=64).initial


class SlowReceiver:
    """A real endpoint that takes ``delay`` seconds per request, or holds requests until ``release``."""

    def __init__(self) -> None:
        self.delay: float | None = None  # None: hold every request until released
        self.released = asyncio.Event()
        self.arrived: list[str] = []
        self.answered: set[str] = set()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        message_id = request.headers["webhook-id"]
        self.arrived.append(message_id)
        if self.delay is None:
            await self.released.wait()
            return web.Response(status=503, text="held past the sender's shutdown")
        await asyncio.sleep(self.delay)
        self.answered.add(message_id)
        return web.Response(text="ok")

    def answer_quickly(self) -> None:
        self.delay = 0.0
        self.released.set()


@pytest.fixture
async def slow_receiver() -> AsyncIterator[SlowReceiver]:
    rec = SlowReceiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner, port = await listen(app, shutdown_timeout=0.1)
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    rec.answer_quickly()
    await runner.cleanup()


def _env(tmp_path: Path) -> dict[str, str]:
    return gateway_env(tmp_path, "shutdown.db", BLUE_GATEWAY_ATTEMPT_TIMEOUT="8")


def _serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    return start_serve(tmp_path, port, _env(tmp_path), log=tmp_path / "serve.log")


def _statuses(tmp_path: Path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "shutdown.db") as conn:
        return dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())


async def _burst(tmp_path: Path, base: str, url: str) -> None:
    token = cli_token(tmp_path, _env(tmp_path))
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        created = await client.post("/v1/webhooks", json={"url": url})
        assert created.status_code == 201, created.text
        await send_events(client, EVENTS, 250)
    assert _statuses(tmp_path) and sum(_statuses(tmp_path).values()) == EVENTS


async def _terminate(server: subprocess.Popen[bytes], log: Path) -> float:
    """SIGTERM, then the wall-clock seconds until the process is gone (fails past the bound)."""
    sent = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(server.wait, EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        pytest.fail(f"still running {EXIT_WITHIN:.0f}s after SIGTERM\n{log.read_text()[-3000:]}")
    took = time.monotonic() - sent
    assert server.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    return took


async def _terminate_mid_burst(
    tmp_path: Path, base: str, server: subprocess.Popen[bytes], receiver: SlowReceiver
) -> float:
    """A burst for ``receiver`` once the gateway is up, then SIGTERM; the seconds it took to exit."""
    await wait_healthy(base)
    await _burst(tmp_path, base, receiver.url)
    # The endpoint holds its requests: the webhook's lane fills (at the limit an endpoint that has not
    # answered yet starts with) and the rest of the burst waits behind it.
    await eventually(lambda: len(receiver.arrived) >= STARTING_LIMIT, timeout=30)
    return await _terminate(server, tmp_path / "serve.log")


async def test_sigterm_after_a_burst_exits_within_bound_and_loses_nothing(
    tmp_path: Path, slow_receiver: SlowReceiver
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        took = await _terminate_mid_burst(tmp_path, base, server, slow_receiver)
        assert _statuses(tmp_path).get("delivered", 0) == 0

        slow_receiver.answer_quickly()
        server = _serve(tmp_path, port)
        await wait_healthy(base)
        await eventually(lambda: _statuses(tmp_path) == {"delivered": EVENTS}, timeout=90, interval=0.2)
        assert len(slow_receiver.answered) == EVENTS
        print(f"exited {took:.1f}s after SIGTERM; all {EVENTS} delivered after a restart")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


async def test_sigterm_lets_in_flight_attempts_finish_and_starts_no_new_ones(
    tmp_path: Path, slow_receiver: SlowReceiver
) -> None:
    slow_receiver.delay = 1.0  # well inside the default 5 s grace
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        took = await _terminate_mid_burst(tmp_path, base, server, slow_receiver)
        # Every attempt under way at SIGTERM was answered and recorded; the backlog was left in the database.
        delivered = _statuses(tmp_path).get("delivered", 0)
        assert delivered == len(slow_receiver.answered) == len(slow_receiver.arrived)
        assert 0 < delivered < EVENTS
        print(f"exited {took:.1f}s after SIGTERM with {delivered} in-flight attempts finished")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


async def test_sigterm_stops_a_worker_within_bound_and_another_worker_delivers_the_rest(
    pg_url: str, gateway_factory: GatewayFactory, slow_receiver: SlowReceiver, tmp_path: Path
) -> None:
    require("redis")
    env = {
        **_env(tmp_path),
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": BROKER_URLS["redis"],
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
    }
    api = await gateway_factory(
        database_url=pg_url, broker_url=BROKER_URLS["redis"], worker_mode=False, lease_seconds=2.0
    )
    auth = await api.token()
    await api.webhook(auth, url=slow_receiver.url)

    async def statuses() -> dict[str, int]:
        async with api.db.connect() as conn:
            rows = await conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
            return {status: count for status, count in rows}

    with worker_process(env, tmp_path / "worker-1.log") as worker:
        for start in range(0, EVENTS, 250):
            batch = [{"event": "TODO_CREATED", "currentValue": {"id": f"t{i}"}} for i in range(start, start + 250)]
            resp = await api.client.post("/v1/events/batch", json={"events": batch}, headers=auth)
            assert resp.status_code == 202, resp.text
        await eventually(lambda: len(slow_receiver.arrived) >= STARTING_LIMIT, timeout=30)
        took = await _terminate(worker, tmp_path / "worker-1.log")
    assert (await statuses()).get("delivered", 0) == 0

    slow_receiver.answer_quickly()
    with worker_process(env, tmp_path / "worker-2.log"):
        await eventually(lambda: _all_delivered(statuses), timeout=90, interval=0.2)
    assert len(slow_receiver.answered) == EVENTS
    print(f"worker exited {took:.1f}s after SIGTERM; another worker delivered all {EVENTS}")


async def _all_delivered(statuses: Callable[[], Awaitable[dict[str, int]]]) -> bool:
    return await statuses() == {"delivered": EVENTS}
