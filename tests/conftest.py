"""Shared fixtures: a real local HTTP receiver and the real app on a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.registry import ConnectorRegistry
from gateway.app import create_app
from gateway.db.engine import make_engine
from gateway.runtime import Runtime
from gateway.services.tokens import TokenService, hash_token, new_token
from gateway.settings import Settings

# One broker prefix per test run: test gateways and workers (in process, or subprocesses, which inherit the
# environment) use queue, stream and list names of their own, so two test runs on one machine (or a stray
# worker left by a killed run) never take each other's deliveries. tests/integration/conftest.py removes
# them at the end of the run.
TEST_BROKER_PREFIX = os.environ.setdefault("BLUE_GATEWAY_BROKER_PREFIX", f"bgtest_{os.getpid()}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With CI=true a skipped test fails: CI runs everything, so a skip there hides a test that did not run."""
    report = yield
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true, and this test was skipped: {reason}"
    return report


@dataclass
class Captured:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A real aiohttp server on 127.0.0.1; answers from a script of responses, then 200."""

    url: str = ""
    requests: list[Captured] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    default: tuple[int, dict[str, str], str] = (200, {}, "ok")

    def respond(self, *responses: tuple[int, dict[str, str], str]) -> None:
        self.script.extend(responses)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Captured(request.path, dict(request.headers), body, time.time()))
        status, headers, text = self.script.pop(0) if self.script else self.default
        return web.Response(status=status, headers=headers, text=text)


async def listen(app: web.Application, port: int = 0, **options: Any) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1 (a free port unless one is given): its runner, to clean up, and its port."""
    runner = web.AppRunner(app, access_log=None, **options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    """A :class:`Receiver` listening on 127.0.0.1 until the block ends."""
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner, port = await listen(app)
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as rec:
        yield rec


async def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy.

    The deadline is generous on purpose: it only costs time when the test fails anyway, and a busy
    machine must not turn a slow pass into a failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


class FakeClock:
    """Time the test controls: the engine and scheduler read it instead of the wall clock."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Gateway:
    """The running app, its client and runtime, and token helpers."""

    client: httpx.AsyncClient
    runtime: Runtime
    db: AsyncEngine  # the test's own engine, apart from the app's
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        """Shut this gateway down (as a deploy would) before the test ends."""
        if self.server is not None and self.task is not None and not self.task.done():
            self.server.should_exit = True
            await asyncio.wait_for(self.task, timeout=30)

    async def token(
        self,
        company: str = "acme",
        *,
        role: str = "company-admin",
        projects: tuple[str, ...] = (),
        scopes: tuple[str, ...] = ("manage", "ingest"),
        user: str = "user-1",
        expires_at: float | None = None,
    ) -> dict[str, str]:
        token = new_token()
        await TokenService(self.runtime.db).create(
            hash_token(token),
            company=company,
            user=user,
            role=role,
            projects=projects,
            scopes=scopes,
            expires_at=expires_at,
        )
        return {"Authorization": f"Bearer {token}"}

    async def webhook(self, auth: dict[str, str], **body: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/webhooks", json=body, headers=auth)
        assert resp.status_code == 201, resp.text
        return resp.json()  # type: ignore[no-any-return]

    async def event(self, auth: dict[str, str], **body: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/events", json=body, headers=auth)
        assert resp.status_code in (200, 202), resp.text
        return resp.json()  # type: ignore[no-any-return]


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
        "allow_private_targets": True,
        "retry_schedule": "0,0.2s,0.2s,0.2s,0.2s",
        "scheduler_interval": 0.05,
        "lease_seconds": 2.0,
        "attempt_timeout": 5.0,
        "secret_key": "test-secret-key",
        "broker_prefix": TEST_BROKER_PREFIX,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


GatewayFactory = Callable[..., Any]


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Start real gateways (uvicorn on a local port, this test's event loop); all are stopped at the end."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    closers: list[Callable[[], Awaitable[None]]] = []

    async def start(
        clock: Callable[[], float] | None = None,
        worker_mode: bool = True,
        connectors: ConnectorRegistry | None = None,
        **overrides: Any,
    ) -> Gateway:
        settings = test_settings(tmp_path, **overrides)
        runtime = Runtime(settings, clock=clock or time.time, connectors=connectors)
        app = create_app(settings, runtime=runtime, worker=worker_mode)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        await eventually(lambda: server.started or task.done(), timeout=20)
        if task.done():
            task.result()
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        closers.append(client.aclose)
        db = make_engine(settings.database_url)
        closers.append(db.dispose)
        return Gateway(client, runtime, db, server, task)

    yield start
    for close in closers:
        await close()
    for server, task in reversed(servers):
        if not task.done():
            server.should_exit = True
            await asyncio.wait_for(task, timeout=30)


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory()  # type: ignore[no-any-return]
