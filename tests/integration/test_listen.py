"""``blue-gateway listen``: a temporary webhook relayed over a stream to a local receiver, and cleaned up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as StandardWebhook

from gateway.db.models import Event, ListenSession
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually, free_port
from tests.integration.processes import BIN
from tests.integration.services import BROKER_URLS, require, worker_process

EVENT = {"event": "TODO_CREATED", "projectId": "p1", "currentValue": {"id": "t1", "title": "Write docs"}}


@dataclass
class Listening:
    """A running ``blue-gateway listen`` process and what it printed when ready."""

    proc: asyncio.subprocess.Process
    session_id: str
    secret: str


def bearer(auth: dict[str, str]) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def listening() -> AsyncIterator[Any]:
    """Start ``listen`` processes against a gateway; any still running at the end are killed."""
    started: list[asyncio.subprocess.Process] = []

    async def start(gateway: Gateway, auth: dict[str, str], forward: str, *options: str) -> Listening:
        proc = await asyncio.create_subprocess_exec(
            str(BIN),
            "listen",
            "--gateway",
            str(gateway.client.base_url),
            "--forward",
            forward,
            *options,
            env={**os.environ, "BLUE_GATEWAY_TOKEN": bearer(auth)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        started.append(proc)
        assert proc.stdout is not None
        ready = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
        assert ready.startswith("Ready: session "), ready + (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        secret = (await proc.stdout.readline()).decode().removeprefix("Signing secret: ").strip()
        return Listening(proc, ready.split()[2], secret)

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def webhook_status(gateway: Gateway, auth: dict[str, str], webhook_id: str) -> int:
    return (await gateway.client.get(f"/v1/webhooks/{webhook_id}", headers=auth)).status_code


async def newest_delivery(gateway: Gateway, auth: dict[str, str], webhook_id: str, status: str) -> Any:
    """The webhook's newest delivery once it has ``status``, else None."""
    page = (await gateway.client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=auth)).json()["data"]
    return page[0] if page and page[0]["status"] == status else None


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_listen_relays_a_signed_delivery_within_a_second_and_cleans_up_on_exit(
    gateway: Gateway, receiver: Receiver, listening: Any, stop: signal.Signals
) -> None:
    auth = await gateway.token()
    cli: Listening = await listening(gateway, auth, f"{receiver.url}/hook", "--events", "TODO_CREATED")
    assert await webhook_status(gateway, auth, cli.session_id) == 200

    posted = time.time()
    await gateway.event(auth, **EVENT)
    (got,) = await eventually(lambda: receiver.requests)
    assert got.at - posted < 1.0
    assert got.path == "/hook" and got.json()["event"] == "TODO_CREATED"
    assert got.json()["currentValue"]["title"] == "Write docs"
    StandardWebhook(cli.secret).verify(got.body, got.headers)  # raises on a bad signature
    assert got.headers["X-Signature"] == hmac.new(cli.secret.encode(), got.body, hashlib.sha256).hexdigest()

    delivery = await eventually(lambda: newest_delivery(gateway, auth, cli.session_id, "delivered"))
    detail = (await gateway.client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    assert [(a["n"], a["statusCode"], a["error"]) for a in detail["attempts"]] == [(1, 200, None)]
    assert detail["attempts"][0]["responseBody"] == "ok"
    again = {"deliveryId": delivery["id"], "attempt": 1, "statusCode": 500}
    resp = await gateway.client.post(f"/v1/listen/{cli.session_id}/answers", json=again, headers=auth)
    assert resp.status_code == 409  # that attempt was answered already: the delivery stays delivered

    cli.proc.send_signal(stop)
    assert await asyncio.wait_for(cli.proc.wait(), timeout=30) == 0
    assert await webhook_status(gateway, auth, cli.session_id) == 404
    async with gateway.db.connect() as conn:
        assert (await conn.scalar(select(ListenSession.webhook_id))) is None


async def test_a_killed_listen_is_removed_once_its_lease_runs_out(
    gateway: Gateway, receiver: Receiver, listening: Any
) -> None:
    auth = await gateway.token()
    cli: Listening = await listening(gateway, auth, f"{receiver.url}/hook", "--lease", "2")
    cli.proc.kill()
    await cli.proc.wait()

    async def removed() -> bool:
        return await webhook_status(gateway, auth, cli.session_id) == 404

    await eventually(removed)
    async with gateway.db.connect() as conn:
        assert (await conn.scalar(select(ListenSession.webhook_id))) is None


async def test_local_receiver_errors_fail_deliveries_without_retries_and_without_operational_events(
    gateway: Gateway, receiver: Receiver, listening: Any
) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=f"{receiver.url}/ops", events=["gateway.webhook.unhealthy"])
    receiver.default = (500, {}, "boom")
    cli: Listening = await listening(gateway, auth, f"{receiver.url}/hook", "--events", "TODO_CREATED")
    for i in range(5):
        await gateway.event(auth, **EVENT, id=f"e{i}")

    async def all_failed() -> list[Any] | None:
        page = (await gateway.client.get(f"/v1/webhooks/{cli.session_id}/deliveries", headers=auth)).json()["data"]
        return page if len(page) == 5 and all(d["status"] == "failed" for d in page) else None

    deliveries = await eventually(all_failed)
    detail = (await gateway.client.get(f"/v1/deliveries/{deliveries[0]['id']}", headers=auth)).json()
    assert [(a["statusCode"], a["error"], a["responseBody"]) for a in detail["attempts"]] == [
        (500, "http 500", "boom")
    ]
    assert [r.path for r in receiver.requests] == ["/hook"] * 5
    # Five failures in a row make the session's webhook unhealthy, but a developer's receiver is nobody's alert.
    assert (await gateway.client.get(f"/v1/webhooks/{cli.session_id}", headers=auth)).json()[
        "status"
    ] == "UNHEALTHY"
    async with gateway.db.connect() as conn:
        assert (await conn.scalar(select(Event.id).where(Event.event.like("gateway.%")))) is None


async def test_a_session_closed_elsewhere_ends_the_cli_with_an_error(
    gateway: Gateway, receiver: Receiver, listening: Any
) -> None:
    auth = await gateway.token()
    cli: Listening = await listening(gateway, auth, f"{receiver.url}/hook")
    assert (await gateway.client.delete(f"/v1/listen/{cli.session_id}", headers=auth)).status_code == 204

    assert await asyncio.wait_for(cli.proc.wait(), timeout=30) == 1
    assert cli.proc.stderr is not None
    assert "the gateway ended this session" in (await cli.proc.stderr.read()).decode()


async def test_an_unreachable_local_receiver_fails_the_delivery_with_a_connection_error(
    gateway: Gateway, listening: Any
) -> None:
    auth = await gateway.token()
    cli: Listening = await listening(gateway, auth, f"http://127.0.0.1:{free_port()}/hook")
    await gateway.event(auth, **EVENT)

    delivery = await eventually(lambda: newest_delivery(gateway, auth, cli.session_id, "failed"))
    detail = (await gateway.client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    (attempt,) = detail["attempts"]
    assert attempt["statusCode"] is None and attempt["error"].startswith("connection error: ")


async def test_listen_sessions_are_checked_and_kept_to_their_company(gateway: Gateway) -> None:
    auth, stranger = await gateway.token(), await gateway.token("other-co")
    for body, field in [
        ({"leaseSeconds": 1}, "leaseSeconds"),
        ({"events": ["NOT_AN_EVENT"]}, "events"),
    ]:
        resp = await gateway.client.post("/v1/listen", json=body, headers=auth)
        assert resp.status_code == 422 and field in resp.text, resp.text
    p1 = await gateway.token(role="project-admin", projects=("p1",))
    assert (await gateway.client.post("/v1/listen", json={}, headers=p1)).status_code == 422
    opened = await gateway.client.post("/v1/listen", json={"projectIds": ["p1"]}, headers=p1)
    assert opened.status_code == 201 and opened.json()["secret"].startswith("whsec_")
    session = opened.json()["id"]
    answer = {"deliveryId": "dlv_unknown", "attempt": 1, "statusCode": 200}
    for method, path, body in [
        ("GET", f"/v1/listen/{session}/stream", None),
        ("POST", f"/v1/listen/{session}/lease", {}),
        ("POST", f"/v1/listen/{session}/answers", answer),
        ("DELETE", f"/v1/listen/{session}", None),
    ]:
        resp = await gateway.client.request(method, path, json=body, headers=stranger)
        assert resp.status_code == 404, (method, path, resp.text)
    resp = await gateway.client.post(f"/v1/listen/{session}/answers", json=answer, headers=auth)
    assert resp.status_code == 404 and "delivery" in resp.text
    resp = await gateway.client.post(f"/v1/listen/{session}/lease", json={"leaseSeconds": 60}, headers=p1)
    assert resp.status_code == 200 and resp.json()["expiresAt"].endswith("Z")
    # A webhook that is not a listen session is not one to the listen API.
    hook = await gateway.webhook(auth, url="https://example.com/hook")
    assert (await gateway.client.delete(f"/v1/listen/{hook['id']}", headers=auth)).status_code == 404
    assert (await gateway.client.delete(f"/v1/listen/{session}", headers=p1)).status_code == 204
    assert (await gateway.client.post(f"/v1/listen/{session}/lease", json={}, headers=p1)).status_code == 404


@pytest.mark.slow  # real worker process, PostgreSQL and Redis
async def test_scaled_out_the_api_process_holding_the_stream_relays_what_the_worker_parks(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, listening: Any, tmp_path: Path
) -> None:
    require("redis")
    env = {
        **os.environ,
        "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "true",
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_LOG_LEVEL": "WARNING",
        "BLUE_GATEWAY_DATABASE_URL": pg_url,
        "BLUE_GATEWAY_BROKER_URL": BROKER_URLS["redis"],
    }
    with worker_process(env, tmp_path / "worker.log") as worker:
        api: Gateway = await gateway_factory(
            database_url=pg_url, broker_url=BROKER_URLS["redis"], worker_mode=False
        )
        auth = await api.token()
        cli: Listening = await listening(api, auth, f"{receiver.url}/hook", "--events", "TODO_CREATED")
        for i in range(10):
            await api.event(auth, **EVENT, id=f"e{i}")

        await eventually(lambda: len(receiver.requests) == 10)
        for got in receiver.requests:
            StandardWebhook(cli.secret).verify(got.body, got.headers)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()

        async def all_delivered() -> bool:
            page = (await api.client.get(f"/v1/webhooks/{cli.session_id}/deliveries", headers=auth)).json()["data"]
            return len(page) == 10 and all(d["status"] == "delivered" for d in page)

        await eventually(all_delivered)
        cli.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(cli.proc.wait(), timeout=30) == 0
        assert await webhook_status(api, auth, cli.session_id) == 404
