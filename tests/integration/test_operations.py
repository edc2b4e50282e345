"""Operating the gateway: worker probes, shared brokers, quiet idle workers, `--version` and `config`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pytest

from gateway import __version__
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually, free_port
from tests.integration.conftest import fresh_pg_database
from tests.integration.processes import BIN
from tests.integration.services import BROKER_URLS, require, worker_process
from tests.scrape import sample

REDIS_READ_TIMEOUT = 5.0  # redis-py's default socket timeout, which an idle BRPOP used to run into


async def test_worker_serves_probes_and_metrics_and_stays_quiet_when_idle(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, tmp_path: Path
) -> None:
    require("redis")
    broker_url, port = BROKER_URLS["redis"], free_port()
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": broker_url,
        "BLUE_GATEWAY_BROKER_PREFIX": "bgtest_probes",
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_WORKER_PORT": str(port),
        "BLUE_GATEWAY_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "worker.log"
    started = time.monotonic()
    with worker_process(env, log_path) as worker:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as probes:

            async def answers() -> bool:
                try:
                    return (await probes.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return worker.poll() is not None

            await eventually(answers)
            assert worker.poll() is None, log_path.read_text()
            ready = await probes.get("/readyz")
            assert (ready.status_code, ready.json()) == (
                200,
                {"status": "ready", "database": True, "broker": True},
            )

            api = await gateway_factory(
                database_url=pg_url, broker_url=broker_url, broker_prefix="bgtest_probes", worker_mode=False
            )
            auth = await api.token()
            await api.webhook(auth, url=f"{receiver.url}/probes")
            for i in range(5):
                await api.event(auth, event="TODO_CREATED", currentValue={"id": f"t{i}"})
            await eventually(lambda: len({r.headers["webhook-id"] for r in receiver.requests}) == 5)

            async def scraped() -> str | None:
                text = (await probes.get("/metrics")).text
                held = sample(text, "blue_gateway_rows_held", table="deliveries")
                return text if sample(text, "blue_gateway_delivery_attempts_total") >= 5 and held == 5 else None

            text = await eventually(scraped)
            delivered = sample(
                text, "blue_gateway_delivery_outcomes_total", connector="webhook", outcome="delivered"
            )
            assert delivered >= 5
            assert sample(text, "blue_gateway_rows_held", table="events") == 5

            # Idle past redis-py's read timeout, twice: an idle worker used to log a traceback each time.
            await asyncio.sleep(max(0.0, started + 2.5 * REDIS_READ_TIMEOUT - time.monotonic()))
            assert worker.poll() is None
    lines = [orjson.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all(entry["level"] in ("INFO", "WARNING") for entry in lines), lines
    assert not [e for e in lines if e["logger"].startswith("taskiq")], lines
    assert "worker started" in [e["message"] for e in lines]


async def test_worker_port_zero_serves_nothing(tmp_path: Path) -> None:
    require("redis")
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
        "BLUE_GATEWAY_BROKER_URL": BROKER_URLS["redis"],
        "BLUE_GATEWAY_BROKER_PREFIX": "bgtest_noport",
        "BLUE_GATEWAY_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "worker.log"
    with worker_process({**env, "BLUE_GATEWAY_WORKER_PORT": "0"}, log_path):
        await eventually(lambda: "worker started" in log_path.read_text())
    started = next(orjson.loads(x) for x in log_path.read_text().splitlines() if "worker started" in x)
    assert started["probes"] == "off"


@pytest.mark.parametrize("broker", ["redis", "rabbitmq", "nats"])
async def test_two_gateways_with_different_prefixes_share_a_broker(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, broker: str
) -> None:
    """Each gateway consumes only its own messages: none waits for a lease to run out after a stray pick-up."""
    require(broker)
    async with fresh_pg_database() as other_pg:
        common = {"broker_url": BROKER_URLS[broker], "lease_seconds": 300.0, "worker_mode": True}
        gateways = [
            await gateway_factory(database_url=pg_url, broker_prefix=f"bgtest_{broker}_a", **common),
            await gateway_factory(database_url=other_pg, broker_prefix=f"bgtest_{broker}_b", **common),
        ]
        try:
            await _each_delivers_its_own(gateways, receiver)
        finally:
            for gw in gateways:  # before the second database is dropped
                await gw.stop()


async def _each_delivers_its_own(gateways: list[Gateway], receiver: Receiver) -> None:
    for name, gw in zip("ab", gateways, strict=True):
        auth = await gw.token()
        await gw.webhook(auth, url=f"{receiver.url}/{name}")
        for i in range(10):
            await gw.event(auth, event="TODO_CREATED", currentValue={"id": f"{name}{i}"})

    def delivered(name: str) -> set[str]:
        return {r.json()["currentValue"]["id"] for r in receiver.requests if r.path == f"/{name}"}

    # A message taken by the other gateway would leave its delivery reserved for 300 s.
    await eventually(lambda: len(delivered("a")) == 10 and len(delivered("b")) == 10, timeout=60)
    assert delivered("a") == {f"a{i}" for i in range(10)}
    assert delivered("b") == {f"b{i}" for i in range(10)}


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    out = _cli(tmp_path, "--version")
    assert (out.returncode, out.stdout) == (0, f"blue-gateway {__version__}\n")


async def test_config_masks_secrets_and_counts_held_rows(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, tmp_path: Path
) -> None:
    gw = await gateway_factory(database_url=pg_url)
    auth = await gw.token()
    await gw.webhook(auth, url=f"{receiver.url}/c")
    for i in range(3):
        await gw.event(auth, event="TODO_CREATED", currentValue={"id": f"t{i}"})
    await eventually(lambda: len(receiver.requests) == 3)
    database_url = pg_url.replace("postgres@", "postgres:db-password@")
    out = await asyncio.to_thread(
        _cli,
        tmp_path,
        "config",
        BLUE_GATEWAY_DATABASE_URL=database_url,
        BLUE_GATEWAY_SECRET_KEY="top-secret-key",
        BLUE_GATEWAY_BROKER_URL="redis://:broker-password@127.0.0.1:6379/0",
        BLUE_GATEWAY_RETENTION="7d",
    )
    assert out.returncode == 0, out.stderr
    assert "top-secret-key" not in out.stdout and "password" not in out.stdout
    lines = out.stdout.splitlines()
    assert "BLUE_GATEWAY_SECRET_KEY=****" in lines
    assert "BLUE_GATEWAY_BROKER_URL=redis://:****@127.0.0.1:6379/0" in lines
    assert f"BLUE_GATEWAY_DATABASE_URL={pg_url.replace('postgres@', 'postgres:****@')}" in lines
    assert "BLUE_GATEWAY_RETENTION=604800" in lines
    assert any(line.startswith("retention:") and "kept 7d" in line for line in lines)
    assert [x for x in lines if x.startswith("held:")] == [
        "held: events=3",
        "held: deliveries=3",
        "held: attempts=3",
    ]


def test_config_before_the_embedded_database_exists_creates_nothing(tmp_path: Path) -> None:
    out = _cli(tmp_path, "config", BLUE_GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/none.db")
    assert out.returncode == 0, out.stderr
    assert "held: no database yet" in out.stdout
    assert not (tmp_path / "none.db").exists()


def test_worker_whose_probe_port_is_taken_stops_at_once(tmp_path: Path) -> None:
    require("redis")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _cli(
            tmp_path,
            "worker",
            "--port",
            str(port),
            BLUE_GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/gw.db",
            BLUE_GATEWAY_BROKER_URL=BROKER_URLS["redis"],
        )
    assert out.returncode == 1
    assert f"cannot serve /healthz, /readyz and /metrics on 127.0.0.1:{port}" in out.stderr
    assert "--port" in out.stderr
