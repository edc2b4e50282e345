"""The Zapier app in integrations/zapier, run by zapier-platform-core's app tester against a live gateway."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import Gateway, listen

APP_DIR = Path(__file__).resolve().parents[2] / "integrations" / "zapier"
INFO = "\N{INFORMATION SOURCE}"  # starts each line of the node test runner's closing summary


@dataclass
class ZapHook:
    """Stands in for Zapier's side of a REST Hook: takes deliveries as Zapier does and lists them."""

    url: str = ""
    received: list[Any] = field(default_factory=list)

    async def catch(self, request: web.Request) -> web.Response:
        self.received.append(orjson.loads(await request.read()))
        n = len(self.received)
        # What Zapier answers a hook delivery with.
        return web.json_response({"attempt": f"a{n}", "id": f"id{n}", "request_id": f"r{n}", "status": "success"})

    async def inbox(self, request: web.Request) -> web.Response:
        return web.json_response(self.received)


@pytest.fixture
async def zap_hook() -> AsyncIterator[ZapHook]:
    hook = ZapHook()
    app = web.Application()
    app.router.add_post("/hooks/standard/1/{token}/", hook.catch)
    app.router.add_get("/inbox", hook.inbox)
    runner, port = await listen(app)
    hook.url = f"http://127.0.0.1:{port}"
    yield hook
    await runner.cleanup()


def node_tools() -> tuple[str, str]:
    """``node`` and ``npm``; skipped without them, except in CI where they are required."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "node and npm are needed to test the Zapier app"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return node, npm


async def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    """Run a command in the app's folder without blocking the event loop the gateway serves on."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=APP_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{' '.join(args)} did not finish within {timeout} s") from None
    return proc.returncode or 0, out.decode("utf-8", "replace")


def summary(output: str, name: str) -> int:
    """A count from the node test runner's closing summary (``pass 9`` after an information sign)."""
    found = re.search(rf"^{INFO} {name} (\d+)$", output, re.MULTILINE)
    assert found, f"no '{name}' count in the test output:\n{output}"
    return int(found.group(1))


async def test_zapier_app_tester_runs_a_zap_against_a_live_gateway(gateway: Gateway, zap_hook: ZapHook) -> None:
    _, npm = node_tools()
    if not (APP_DIR / "node_modules" / "zapier-platform-core").is_dir():
        code, out = await run(npm, "ci", "--no-audit", "--no-fund")
        assert code == 0, f"npm ci failed:\n{out}"
    auth = await gateway.token(user="zap-owner")
    env = {
        **os.environ,
        "ZAPIER_TEST_GATEWAY_URL": str(gateway.client.base_url).rstrip("/"),
        "ZAPIER_TEST_TOKEN": auth["Authorization"].removeprefix("Bearer "),
        "ZAPIER_TEST_HOOK_URL": f"{zap_hook.url}/hooks/standard/1/{time.time_ns()}/",
        "ZAPIER_TEST_INBOX_URL": f"{zap_hook.url}/inbox",
    }

    code, out = await run(npm, "test", env=env)

    assert code == 0, f"npm test failed:\n{out}"
    assert summary(out, "fail") == 0
    assert summary(out, "skipped") == 0, f"the live tests did not run:\n{out}"
    assert summary(out, "pass") >= 12
    # What the app did, seen from the gateway and the hook rather than from the app's own tests:
    assert [body["record_title"] for body in zap_hook.received if body["record_title"].startswith("live ")]
    assert {body["project_id"] for body in zap_hook.received} == {zap_hook.received[0]["project_id"]}
    hooks = (await gateway.client.get("/v1/webhooks", headers=auth)).json()
    listed = hooks["data"] if isinstance(hooks, dict) else hooks
    assert [h for h in listed if h["connector"] == "zapier"] == [], "the Zap's subscription is left behind"
