"""The CLI as an operator uses it: tokens create/list/revoke, migrate, and clear errors."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually, free_port
from tests.integration.processes import BIN, start_serve, wait_healthy
from tests.integration.test_crash_recovery import _env

pytestmark = pytest.mark.slow  # runs the real blue-gateway command, one interpreter per call


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], cwd=tmp_path, env=env or _env(tmp_path), capture_output=True, text=True, timeout=60
    )


def test_tokens_create_prints_the_token_alone(tmp_path: Path) -> None:
    made = cli(tmp_path, "tokens", "create", "--company", "acme", "--user", "ops")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("bgw_")
    listed = cli(tmp_path, "tokens", "list")
    assert listed.returncode == 0
    assert lines[0] not in listed.stdout  # the token itself is never shown again
    assert "acme\tops\tcompany-admin\t\tmanage,ingest\tactive\texpires=never\tlast-used=never" in listed.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--role", "owner"], "--role"),
        (["--role", "project-admin"], "--projects"),
        (["--scopes", "admin"], "--scopes"),
        (["--expires-in", "90"], "--expires-in"),
        (["--expires-in", "0d"], "--expires-in"),
        (["--expires-in", "99999999999d"], "--expires-in"),
    ],
)
def test_tokens_create_refuses_bad_options(tmp_path: Path, args: list[str], needle: str) -> None:
    made = cli(tmp_path, "tokens", "create", "--company", "acme", "--user", "ops", *args)
    assert made.returncode == 2
    assert needle in made.stderr
    assert made.stdout == ""


def _listed(tmp_path: Path) -> dict[str, list[str]]:
    """``tokens list`` as {user: columns}."""
    out = cli(tmp_path, "tokens", "list")
    assert out.returncode == 0, out.stderr
    return {cols[2]: cols for cols in (line.split("\t") for line in out.stdout.splitlines())}


async def test_tokens_expire_and_list_shows_expiry_and_last_use(tmp_path: Path) -> None:
    made = {
        user: cli(tmp_path, "tokens", "create", "--company", "acme", "--user", user, *args)
        for user, args in [("long", ["--expires-in", "90d"]), ("short", ["--expires-in", "3s"]), ("idle", [])]
    }
    assert all(m.returncode == 0 and m.stdout.startswith("bgw_") for m in made.values())
    listed = _listed(tmp_path)
    expires = datetime.fromisoformat(listed["long"][7].removeprefix("expires=").replace("Z", "+00:00"))
    assert abs(expires.timestamp() - (time.time() + 90 * 86400)) < 120
    assert listed["long"][6:] == ["active", listed["long"][7], "last-used=never"]
    assert listed["idle"][6:] == ["active", "expires=never", "last-used=never"]

    port = free_port()
    server = start_serve(tmp_path, port, _env(tmp_path))
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base)
        async with httpx.AsyncClient(base_url=base) as client:

            def auth(user: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {made[user].stdout.strip()}"}

            assert (await client.get("/v1/webhooks", headers=auth("long"))).status_code == 200
            # The last use is written in the background, just after the request.
            stamp = await eventually(
                lambda: _listed(tmp_path)["long"][8].removeprefix("last-used=").replace("never", ""),
                timeout=20,
                interval=0.5,
            )
            used = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            assert abs(used.timestamp() - time.time()) < 120

            async def expired() -> bool:
                resp = await client.get("/v1/webhooks", headers=auth("short"))
                return resp.status_code == 401 and "expired at" in resp.json()["detail"]

            await eventually(expired, timeout=20, interval=0.25)
        listed = _listed(tmp_path)
        assert listed["short"][6] == "expired"
        assert listed["idle"][6:] == ["active", "expires=never", "last-used=never"]
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
        "BLUE_GATEWAY_SECRET_KEY": "k",
    }
    listed = cli(tmp_path, "tokens", "list", env=env)
    assert listed.returncode == 1
    assert "error: the database" in listed.stderr
    assert "Traceback" not in listed.stderr
    no_key = cli(tmp_path, "migrate", env={**env, "BLUE_GATEWAY_SECRET_KEY": ""})
    assert no_key.returncode == 2
    assert "BLUE_GATEWAY_SECRET_KEY is required" in no_key.stderr


async def test_revoked_token_stops_working(tmp_path: Path) -> None:
    token = cli(tmp_path, "tokens", "create", "--company", "acme", "--user", "ops").stdout.strip()
    port = free_port()
    server = start_serve(tmp_path, port, _env(tmp_path))
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            assert (await client.get("/v1/webhooks")).status_code == 200
            token_id = cli(tmp_path, "tokens", "list").stdout.split("\t")[0]
            revoked = cli(tmp_path, "tokens", "revoke", token_id)
            assert revoked.returncode == 0, revoked.stderr

            async def refused() -> bool:
                return (await client.get("/v1/webhooks")).status_code == 401

            await eventually(refused, timeout=10, interval=0.25)
        assert cli(tmp_path, "tokens", "revoke", token_id).returncode == 1
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_migrate_brings_a_postgres_database_up(tmp_path: Path, pg_url: str) -> None:
    env = {**os.environ, "BLUE_GATEWAY_DATABASE_URL": pg_url, "BLUE_GATEWAY_SECRET_KEY": "k"}
    migrated = cli(tmp_path, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stderr
    made = cli(tmp_path, "tokens", "create", "--company", "acme", "--user", "ops", env=env)
    assert made.returncode == 0, made.stderr
