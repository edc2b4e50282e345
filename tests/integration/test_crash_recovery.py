"""SIGKILL the real server mid-delivery; after a restart every accepted event still arrives (issue 2)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.conftest import eventually, free_port, listen
from tests.integration.processes import cli_token, gateway_env, send_events, start_serve, wait_healthy

pytestmark = pytest.mark.slow  # kills and restarts a real gateway process

EVENTS = 1000


def _env(tmp_path: Path) -> dict[str, str]:
    return gateway_env(tmp_path, "crash.db")


def _serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    return start_serve(tmp_path, port, _env(tmp_path), log=tmp_path / "serve.log")


async def test_sigkill_during_delivery_loses_nothing(tmp_path: Path) -> None:
    seen: set[str] = set()
    hits = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal hits
        await request.read()
        await asyncio.sleep(0.01)  # a realistic receiver: deliveries are still in flight when the kill lands
        hits += 1
        seen.add(request.headers["webhook-id"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner, rport = await listen(app)

    token = cli_token(tmp_path, _env(tmp_path))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        await wait_healthy(base)
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=30) as client:
            created = await client.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{rport}/hook"})
            assert created.status_code == 201, created.text
            results = await send_events(client, EVENTS, 100)
            accepted = sum(1 for r in results if r["deliveries"] == 1)
        assert accepted == EVENTS
        await eventually(lambda: len(seen) >= 50, timeout=30, interval=0.005)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        at_kill = len(seen)
        assert at_kill < EVENTS, "every event was delivered before the kill; the test proved nothing"

        server = _serve(tmp_path, port)
        await wait_healthy(base)
        started = time.monotonic()
        await eventually(lambda: len(seen) >= EVENTS, timeout=60, interval=0.05)
        assert len(seen) == EVENTS
        assert hits >= EVENTS
        print(f"delivered {at_kill} before SIGKILL, the rest {time.monotonic() - started:.1f}s after restart")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        await runner.cleanup()
