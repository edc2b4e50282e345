"""Real ``blue-gateway serve`` processes for tests that signal, kill or restart the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import eventually

BIN = Path(sys.executable).parent / "blue-gateway"


def gateway_env(tmp_path: Path, database: str = "gateway.db", **settings: str) -> dict[str, str]:
    """The environment of a test gateway: its own SQLite file, fast retries, private targets allowed."""
    return {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{database}",
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_LEASE_SECONDS": "2",
        "BLUE_GATEWAY_ATTEMPT_TIMEOUT": "3",
        "BLUE_GATEWAY_SCHEDULER_INTERVAL": "0.2",
        "BLUE_GATEWAY_RETRY_SCHEDULE": "0,0.5s,0.5s,0.5s,0.5s,0.5s",
        "BLUE_GATEWAY_LOG_LEVEL": "WARNING",
        **settings,
    }


def start_serve(
    tmp_path: Path, port: int, env: dict[str, str], *, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``blue-gateway serve`` on ``port``, run in ``tmp_path``; stderr appended to ``log`` when given."""
    stderr = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr
    )


def cli_token(cwd: Path, env: dict[str, str], company: str = "acme", user: str = "ops") -> str:
    """A new token from ``blue-gateway tokens create``, as an operator makes one."""
    made = subprocess.run(
        [str(BIN), "tokens", "create", "--company", company, "--user", user],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


async def send_events(client: httpx.AsyncClient, count: int, per_batch: int) -> list[dict[str, Any]]:
    """``count`` distinct ``TODO_CREATED`` events through ``/v1/events/batch``; the results of every batch."""
    results: list[dict[str, Any]] = []
    for start in range(0, count, per_batch):
        batch = [
            {"id": f"ev-{i}", "event": "TODO_CREATED", "currentValue": {"id": f"t{i}"}}
            for i in range(start, min(start + per_batch, count))
        ]
        resp = await client.post("/v1/events/batch", json={"events": batch})
        assert resp.status_code == 202, resp.text
        results.extend(resp.json()["results"])
    return results


async def wait_healthy(base: str) -> None:
    """Until ``/healthz`` answers 200."""
    async with httpx.AsyncClient() as client:

        async def up() -> bool:
            try:
                return (await client.get(f"{base}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(up, timeout=30, interval=0.1)
