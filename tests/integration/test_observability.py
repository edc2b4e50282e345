"""What an operator sees: JSON log lines per attempt and ingest, warnings, and metrics that follow the load."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web
from redis.asyncio import Redis

from gateway.delivery.broker import BrokerNames
from tests.conftest import GatewayFactory, Receiver, eventually, free_port, listen
from tests.integration.processes import cli_token, gateway_env, start_serve, wait_healthy
from tests.integration.services import BROKER_URLS, require, terminate, worker_process
from tests.scrape import sample

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"
FIXED_KEYS = {"ts", "level", "logger", "message"}


def _documented_attempt_keys() -> set[str]:
    """The keys in the table of the ``delivery attempt`` line in docs/operations.md."""
    text = OPERATIONS.read_text()
    table = text[text.index("| Key | Value |") :].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


@asynccontextmanager
async def _serve(tmp_path: Path, **settings: str) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    """A real ``blue-gateway serve`` with JSON logs at INFO; its client (with a token) and its stderr file.

    The process is stopped with SIGTERM at the end, so its log is complete when the block is left.
    """
    env = gateway_env(tmp_path, BLUE_GATEWAY_LOG_FORMAT="json", BLUE_GATEWAY_LOG_LEVEL="INFO", **settings)
    log = tmp_path / "serve.log"
    port = free_port()
    server = start_serve(tmp_path, port, env, log=log)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        token = cli_token(tmp_path, env)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            yield client, log
    finally:
        terminate(server)


def _lines(log: Path) -> list[dict[str, Any]]:
    """Every whole line of the log as JSON: a line that is not JSON fails the test here."""
    text = log.read_text()
    return [orjson.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def _attempts(log: Path) -> list[dict[str, Any]]:
    return [e for e in _lines(log) if e["message"] == "delivery attempt"]


async def test_one_delivery_logs_one_json_attempt_line_with_the_documented_keys(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with _serve(tmp_path) as (client, log):
        hook = (await client.post("/v1/webhooks", json={"url": f"{receiver.url}/hook/s3cret-path"})).json()
        accepted = await client.post("/v1/events", json={"id": "o-1", "event": "TODO_CREATED"})
        assert accepted.status_code == 202, accepted.text
        await eventually(lambda: len(receiver.requests) == 1)
        await eventually(lambda: _attempts(log))
        delivery = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["data"][0]
    entries = _lines(log)  # the process has stopped: nothing more comes
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "alembic.runtime.migration", "gateway.delivery", "gateway.ingest"} <= loggers, loggers

    (attempt,) = _attempts(log)
    keys = _documented_attempt_keys()
    assert len(keys) >= 10, keys
    assert set(attempt) == FIXED_KEYS | keys
    assert attempt["level"] == "INFO"
    assert attempt["logger"] == "gateway.delivery"
    assert {k: attempt[k] for k in keys - {"ms"}} == {
        "delivery": delivery["id"],
        "webhook": hook["id"],
        "company": "acme",
        "event": accepted.json()["id"],
        "event_type": "TODO_CREATED",
        "connector": "webhook",
        "attempt": 1,
        "status": 200,
        "outcome": "delivered",
        "reason": None,
        "next": "delivered",
        "error": None,
    }
    assert attempt["ms"] > 0

    (ingest,) = [e for e in entries if e["message"] == "ingest"]
    assert {k: ingest[k] for k in ("company", "events", "accepted", "duplicates", "deliveries")} == {
        "company": "acme",
        "events": 1,
        "accepted": 1,
        "duplicates": 0,
        "deliveries": 1,
    }
    assert "s3cret-path" not in log.read_text()


async def test_template_errors_and_unhealthy_webhooks_are_warnings_and_counted(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.default = (500, {}, "down")
    async with _serve(tmp_path) as (client, log):
        failing = (await client.post("/v1/webhooks", json={"url": f"{receiver.url}/down/s3cret-path"})).json()
        broken = (
            await client.post(
                "/v1/webhooks",
                json={"url": f"{receiver.url}/never", "template": {"body": '{"n": {{ currentValue.count }} }'}},
            )
        ).json()
        await client.post("/v1/events", json={"id": "o-2", "event": "TODO_CREATED"})

        def settled() -> bool:  # the test schedule gives 6 attempts; the 5th failure turns the webhook unhealthy
            attempts = _attempts(log)
            return len([a for a in attempts if a["webhook"] == failing["id"]]) == 6 and any(
                a["webhook"] == broken["id"] for a in attempts
            )

        await eventually(settled)
        scraped = await eventually(
            lambda: _health_changed(client, "unhealthy"),
        )
    entries = _lines(log)
    (template,) = [e for e in entries if e["message"] == "delivery attempt" and e["webhook"] == broken["id"]]
    assert (template["level"], template["outcome"], template["reason"], template["next"]) == (
        "WARNING",
        "fail",
        "template_error",
        "failed",
    )
    assert template["error"].startswith("template_error:")
    assert (template["status"], template["ms"]) == (None, 0.0)

    retried = [e for e in entries if e["message"] == "delivery attempt" and e["webhook"] == failing["id"]]
    assert [(e["attempt"], e["status"], e["level"]) for e in retried] == [(n, 500, "INFO") for n in range(1, 7)]
    assert [e["next"] for e in retried] == ["pending"] * 5 + ["failed"]
    (unhealthy,) = [e for e in entries if e["message"] == "webhook turned unhealthy"]
    assert (unhealthy["level"], unhealthy["webhook"], unhealthy["failures"]) == ("WARNING", failing["id"], 5)
    assert "s3cret-path" not in log.read_text()

    assert sample(scraped, "blue_gateway_webhook_health_changes_total", change="unhealthy") == 1
    failures = "blue_gateway_delivery_failures_total"
    assert sample(scraped, failures, connector="webhook", reason="template_error") == 1
    assert sample(scraped, failures, connector="webhook", reason="http_status") == 6
    assert sample(scraped, "blue_gateway_attempt_duration_seconds_count", connector="webhook") == 6


async def _health_changed(client: httpx.AsyncClient, change: str) -> str | None:
    text = (await client.get("/metrics")).text
    return text if sample(text, "blue_gateway_webhook_health_changes_total", change=change) else None


async def test_backlog_gauges_follow_leased_then_deferred_deliveries(gateway_factory: GatewayFactory) -> None:
    release = asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/hold", hold)
    runner, port = await listen(app)
    try:
        gw = await gateway_factory(retry_schedule="0,1h", attempt_timeout=60.0)
        auth = await gw.token()
        await gw.webhook(auth, url=f"http://127.0.0.1:{port}/hold")
        for i in range(3):
            await gw.event(auth, id=f"b{i}", event="TODO_CREATED")

        async def backlog(**expected: float) -> str | None:
            text = (await gw.client.get("/metrics")).text
            states = {s: sample(text, "blue_gateway_deliveries_backlog", state=s) for s in expected}
            return text if states == expected else None

        await eventually(lambda: backlog(leased=3, pending=0, deferred=0))
        release.set()
        text = await eventually(lambda: backlog(leased=0, pending=0, deferred=3))
        assert sample(text, "blue_gateway_backlog_oldest_due_seconds") == 0
    finally:
        release.set()
        await runner.cleanup()


async def test_scaled_out_workers_count_exactly_their_attempts(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, tmp_path: Path
) -> None:
    """Two workers on PostgreSQL + Redis: their histograms together grow by exactly the deliveries made."""
    require("redis")
    prefix = f"bgtest_obs_{os.getpid()}"
    async with _removed_after(BrokerNames(prefix).redis_list):
        await _count_exactly_their_attempts(prefix, pg_url, gateway_factory, receiver, tmp_path)


@asynccontextmanager
async def _removed_after(redis_key: str) -> AsyncIterator[None]:
    """Delete ``redis_key`` at the end: the API's scheduler may have enqueued a delivery twice."""
    try:
        yield
    finally:
        client = Redis.from_url(BROKER_URLS["redis"])
        try:
            await client.delete(redis_key)
        finally:
            await client.aclose()


async def _count_exactly_their_attempts(
    prefix: str, pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, tmp_path: Path
) -> None:
    api = await gateway_factory(
        database_url=pg_url, broker_url=BROKER_URLS["redis"], broker_prefix=prefix, worker_mode=False
    )
    auth = await api.token()
    await api.webhook(auth, url=f"{receiver.url}/scaled")

    async def post(first: int, count: int) -> None:
        for i in range(first, first + count):
            await api.event(auth, id=f"s{i}", event="TODO_CREATED")

    # No worker yet: the first round waits in the database, due, and the backlog shows it.
    await post(0, 4)

    async def waiting() -> bool:
        text = (await api.client.get("/metrics")).text
        pending = sample(text, "blue_gateway_deliveries_backlog", state="pending")
        return pending == 4 and sample(text, "blue_gateway_backlog_oldest_due_seconds") > 0

    await eventually(waiting)

    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": BROKER_URLS["redis"],
        "BLUE_GATEWAY_BROKER_PREFIX": prefix,
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_LOG_FORMAT": "json",
    }
    logs = [tmp_path / f"worker{n}.log" for n in range(len(ports))]
    with ExitStack() as stack:
        for port, log in zip(ports, logs, strict=True):
            stack.enter_context(worker_process({**env, "BLUE_GATEWAY_WORKER_PORT": str(port)}, log))
        async with httpx.AsyncClient(timeout=10) as probes:

            async def scrape_all() -> list[str]:
                return [(await probes.get(f"http://127.0.0.1:{p}/metrics")).text for p in ports]

            async def totals(expected: int) -> list[str] | None:
                try:
                    texts = await scrape_all()
                except httpx.TransportError:
                    return None
                counts = [
                    sum(sample(t, name, connector="webhook") for t in texts)
                    for name in (
                        "blue_gateway_attempt_duration_seconds_count",
                        "blue_gateway_delivery_latency_seconds_count",
                    )
                ]
                delivered = sum(
                    sample(t, "blue_gateway_delivery_outcomes_total", connector="webhook", outcome="delivered")
                    for t in texts
                )
                return texts if counts == [expected, expected] and delivered == expected else None

            first = await eventually(lambda: totals(4), timeout=60)
            assert len({r.headers["webhook-id"] for r in receiver.requests}) == 4
            await post(4, 9)
            second = await eventually(lambda: totals(13), timeout=60)
            assert len({r.headers["webhook-id"] for r in receiver.requests}) == 13

    for texts in (first, second):
        for text in texts:  # each worker's histogram is whole: its +Inf bucket holds every observation
            count = sample(text, "blue_gateway_attempt_duration_seconds_count", connector="webhook")
            inf = sample(text, "blue_gateway_attempt_duration_seconds_bucket", connector="webhook", le="+Inf")
            assert inf == count
    for text, log in zip(second, logs, strict=True):  # each worker counts the attempts it logged, no others
        count = sample(text, "blue_gateway_attempt_duration_seconds_count", connector="webhook")
        assert count == len(_attempts(log))
    seconds = [
        sum(sample(t, "blue_gateway_attempt_duration_seconds_sum", connector="webhook") for t in texts)
        for texts in (first, second)
    ]
    assert 0 < seconds[0] < seconds[1]
    api_text = (await api.client.get("/metrics")).text  # the API process made no attempt
    assert sample(api_text, "blue_gateway_attempt_duration_seconds_count", connector="webhook") == 0
    assert sample(api_text, "blue_gateway_events_total", result="accepted") == 13
