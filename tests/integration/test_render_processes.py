"""Render processes of real `blue-gateway serve` and `worker` processes: none outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import GatewayFactory, Receiver, eventually, free_port, gone
from tests.integration.processes import cli_token, start_serve, wait_healthy
from tests.integration.services import BROKER_URLS, require, worker_process
from tests.integration.test_crash_recovery import _env

pytestmark = [
    pytest.mark.slow,  # watches real render worker processes
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

TENANT_TEMPLATE = {"body": '{"e": {{ event|tojson }}, "id": {{ currentValue.id|tojson }}}'}


def render_processes(parent: int) -> list[int]:
    """Children of ``parent`` that are render processes (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"gateway.core.templating.worker" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """A real ``blue-gateway serve`` on the embedded default, with a company-admin token."""
    token = cli_token(tmp_path, _env(tmp_path))
    port = free_port()
    proc = start_serve(tmp_path, port, _env(tmp_path))
    try:
        yield proc, f"http://127.0.0.1:{port}", token
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


async def _start_render_processes(base: str, token: str) -> None:
    await wait_healthy(base)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        resp = await client.post("/v1/templates/preview", json={"template": TENANT_TEMPLATE}, timeout=30)
    assert resp.status_code == 200, resp.text


async def test_serve_stops_its_render_processes_on_sigterm(
    server: tuple[subprocess.Popen[bytes], str, str],
) -> None:
    proc, base, token = server
    await _start_render_processes(base, token)
    children = await eventually(lambda: render_processes(proc.pid), timeout=10)
    assert len(children) == 2  # BLUE_GATEWAY_RENDER_PROCESSES

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 10
    await eventually(lambda: all(gone(pid) for pid in children), timeout=5)


async def test_render_processes_die_with_a_killed_server(server: tuple[subprocess.Popen[bytes], str, str]) -> None:
    proc, base, token = server
    await _start_render_processes(base, token)
    children = await eventually(lambda: render_processes(proc.pid), timeout=10)

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    await eventually(lambda: all(gone(pid) for pid in children), timeout=5)


async def test_a_worker_renders_tenant_templates_and_stops_its_render_processes(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, tmp_path: Path
) -> None:
    require("redis")
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": BROKER_URLS["redis"],
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_SCHEDULER_INTERVAL": "0.2",
        "BLUE_GATEWAY_LOG_LEVEL": "WARNING",
    }
    with worker_process(env, tmp_path / "worker.log") as worker:
        api = await gateway_factory(database_url=pg_url, broker_url=BROKER_URLS["redis"], worker_mode=False)
        auth = await api.token()
        await api.webhook(auth, url=f"{receiver.url}/w", template=TENANT_TEMPLATE)
        for i in range(5):
            await api.event(auth, event="TODO_CREATED", currentValue={"id": f"t{i}"})
        await eventually(lambda: len(receiver.requests) == 5, timeout=30)
        assert sorted(r.json()["id"] for r in receiver.requests) == [f"t{i}" for i in range(5)]
        assert api.runtime.renderer.pids == [], "the API process sent nothing, so it rendered nothing"
        children = render_processes(worker.pid)
        assert len(children) == 2, (tmp_path / "worker.log").read_text()

        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == -signal.SIGTERM  # a stopped worker re-raises the signal it got
        assert time.monotonic() - started < 10
    await eventually(lambda: all(gone(pid) for pid in children), timeout=5)
