"""The core pipeline end to end: ingest over HTTP, delivery to a real local receiver (issue 2)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time

import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook as StandardWebhook

from gateway.core.ssrf import is_forbidden_address
from gateway.db.models import Attempt, Delivery, Event, Webhook
from tests.conftest import Gateway, Receiver, eventually
from tests.scrape import sample

TODO = {
    "id": "todo-1",
    "title": "Write the launch post",
    "todoList": {"id": "list-1", "title": "To do", "projectId": "project-1"},
}


async def _count(gw: Gateway, model: type) -> int:
    async with gw.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def test_delivery_is_signed_end_to_end(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=f"{receiver.url}/hook", events=["TODO_CREATED"])
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    answer = await gateway.event(auth, event="TODO_CREATED", user={"id": "u1"}, currentValue=TODO)
    assert answer["deliveries"] == 1 and answer["duplicate"] is False

    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Signature"], expected)
    StandardWebhook(secret).verify(got.body, got.headers)  # raises on a bad signature
    assert got.headers["x-blue-event"] == "TODO_CREATED"
    assert got.headers["User-Agent"].startswith("blue-gateway/")
    body = got.json()
    assert body == {
        "event": "TODO_CREATED",
        "webhook": {
            "id": hook["id"],
            "uid": hook["uid"],
            "name": "",
            "url": f"{receiver.url}/hook",
            "secret": "",
            "status": "HEALTHY",
            "enabled": True,
            "metadata": {"events": ["TODO_CREATED"], "projectIds": []},
            "createdById": "user-1",
            "createdAt": hook["createdAt"],
            "updatedAt": hook["updatedAt"],
        },
        "previousValue": None,
        "currentValue": TODO,
        "company": {"id": "acme"},
        "project": {"id": "project-1"},
        "user": {"id": "u1"},
    }
    assert secret.encode() not in got.body and b"whsec_" not in got.body


async def test_retries_until_success_with_same_webhook_id(gateway: Gateway, receiver: Receiver) -> None:
    receiver.respond((500, {}, "boom"), (500, {}, "boom again"))
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)

    await eventually(lambda: len(receiver.requests) >= 3)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    async with gateway.db.connect() as conn:
        delivery_id = await conn.scalar(select(Delivery.id))
    detail = await eventually(lambda: _delivered(gateway, auth, delivery_id))
    assert [a["statusCode"] for a in detail["attempts"]] == [500, 500, 200]
    assert [a["n"] for a in detail["attempts"]] == [1, 2, 3]
    assert detail["attempts"][0]["responseBody"] == "boom"
    assert len(receiver.requests) == 3


async def _delivered(gateway: Gateway, auth: dict[str, str], delivery_id: str) -> dict | None:
    resp = await gateway.client.get(f"/v1/deliveries/{delivery_id}", headers=auth)
    assert resp.status_code == 200
    data = resp.json()
    return data if data["status"] == "delivered" else None


async def test_410_disables_webhook(gateway: Gateway, receiver: Receiver) -> None:
    receiver.respond((410, {}, "gone"))
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url)
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def disabled() -> dict | None:
        data = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
        return data if not data["enabled"] else None

    data = await eventually(disabled)
    assert data["disabledReason"] == "gone"
    again = await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    assert again["deliveries"] == 0
    async with gateway.db.connect() as conn:
        statuses = list((await conn.execute(select(Delivery.status))).scalars())
    assert statuses == ["discarded"]
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("connector", ["webhook", "zapier", "pabbly"])
async def test_429_retry_after_delays_next_attempt(gateway: Gateway, receiver: Receiver, connector: str) -> None:
    receiver.respond((429, {"Retry-After": "2"}, "slow down"))
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, connector=connector)
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: len(receiver.requests) >= 2, timeout=15)
    gap = receiver.requests[1].at - receiver.requests[0].at
    assert gap >= 2.0, f"second attempt came after {gap:.2f}s"


async def test_duplicate_event_id_creates_no_deliveries(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url)
    first = await gateway.client.post("/v1/events", json={"id": "ev-1", "event": "TODO_CREATED"}, headers=auth)
    second = await gateway.client.post("/v1/events", json={"id": "ev-1", "event": "TODO_CREATED"}, headers=auth)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "deliveries": 0, "duplicate": True}
    assert await _count(gateway, Event) == 1
    assert await _count(gateway, Delivery) == 1
    batch = await gateway.client.post(
        "/v1/events/batch",
        json={
            "events": [
                {"id": "ev-1", "event": "TODO_CREATED"},
                {"id": "ev-2", "event": "TODO_CREATED"},
                {"id": "ev-2", "event": "TODO_CREATED"},
            ]
        },
        headers=auth,
    )
    assert batch.status_code == 202
    assert [r["duplicate"] for r in batch.json()["results"]] == [True, False, True]
    assert await _count(gateway, Delivery) == 2


async def test_unknown_event_matches_only_all_events_webhooks(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    every = await gateway.webhook(auth, url=f"{receiver.url}/all")
    await gateway.webhook(auth, url=f"{receiver.url}/named", events=["TODO_CREATED"])
    answer = await gateway.event(auth, event="SOMETHING_NEW", currentValue={"x": 1})
    assert answer["deliveries"] == 1
    await eventually(lambda: receiver.requests)
    assert [r.path for r in receiver.requests] == ["/all"]
    assert receiver.requests[0].json()["webhook"]["id"] == every["id"]
    async with gateway.db.connect() as conn:
        assert await conn.scalar(select(Event.event)) == "SOMETHING_NEW"


async def test_webhook_of_another_company_never_matches(gateway: Gateway, receiver: Receiver) -> None:
    acme, globex = await gateway.token("acme"), await gateway.token("globex")
    await gateway.webhook(globex, url=f"{receiver.url}/globex")
    answer = await gateway.event(acme, event="TODO_CREATED", currentValue=TODO)
    assert answer["deliveries"] == 0
    assert await _count(gateway, Delivery) == 0


async def test_project_ids_limit_matching(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=f"{receiver.url}/p1", projectIds=["project-1"])
    await gateway.webhook(auth, url=f"{receiver.url}/p2", projectIds=["project-2"])
    assert (await gateway.event(auth, event="TODO_CREATED", currentValue=TODO))["deliveries"] == 1
    explicit = await gateway.event(auth, event="TODO_CREATED", projectId="project-2", currentValue=TODO)
    assert explicit["deliveries"] == 1
    await eventually(lambda: len(receiver.requests) == 2)
    assert sorted(r.path for r in receiver.requests) == ["/p1", "/p2"]


async def test_unsigned_webhook_sends_no_signature(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, signing=[])
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: receiver.requests)
    headers = {k.lower() for k in receiver.requests[0].headers}
    assert not headers & {"x-signature", "webhook-signature", "webhook-id"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed"),
        (b'{"currentValue": {}}', {"content-type": "application/json"}, 422, "event"),
        (b'{"event": ""}', {"content-type": "application/json"}, 422, "event"),
        (
            b'{"event": "TODO_CREATED", "occurredAt": "yesterday"}',
            {"content-type": "application/json"},
            422,
            "occurredAt",
        ),
        (b'{"event": "TODO_CREATED", "user": "bob"}', {"content-type": "application/json"}, 422, "user"),
        (b"[1, 2]", {"content-type": "application/json"}, 422, "object"),
    ],
)
async def test_bad_events_are_refused_and_nothing_stored(
    gateway: Gateway, body: bytes, headers: dict[str, str], status: int, detail: str
) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post("/v1/events", content=body, headers={**auth, **headers})
    assert resp.status_code == status, resp.text
    data = resp.json()
    assert data["status_code"] == status
    assert detail.lower() in (data["detail"] + str(data.get("extra", ""))).lower()
    assert await _count(gateway, Event) == 0


async def test_oversize_body_is_413(gateway_factory) -> None:
    gw = await gateway_factory(max_body_bytes=2048)
    auth = await gw.token()
    big = b'{"event": "TODO_CREATED", "currentValue": {"text": "' + b"x" * 4096 + b'"}}'
    resp = await gw.client.post("/v1/events", content=big, headers={**auth, "content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["status_code"] == 413
    assert await _count(gw, Event) == 0


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer"])
async def test_bad_token_is_401(gateway: Gateway, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    resp = await gateway.client.post("/v1/events", json={"event": "TODO_CREATED"}, headers=headers)
    assert resp.status_code == 401
    assert "token" in resp.json()["detail"]
    assert await _count(gateway, Event) == 0


async def test_ingest_scope_is_required(gateway: Gateway) -> None:
    auth = await gateway.token(scopes=("manage",))
    resp = await gateway.client.post("/v1/events", json={"event": "TODO_CREATED"}, headers=auth)
    assert resp.status_code == 403
    assert "ingest" in resp.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/",
        "http://[::1]/",
        "http://100.64.0.1/",
        "http://localhost:8080/",
        "http://[fd00::1]/",
        "ftp://example.com/",
        "http://0.0.0.0/",
        "http://metadata.google.internal/",
    ],
)
async def test_private_target_url_is_refused(gateway_factory, url: str) -> None:
    gw = await gateway_factory(allow_private_targets=False)
    auth = await gw.token()
    resp = await gw.client.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 422, resp.text
    assert resp.json()["extra"][0]["key"] == "url"
    assert (await gw.client.get("/v1/webhooks", headers=auth)).json()["data"] == []


async def test_name_resolving_to_a_private_address_is_refused_at_save_and_at_connect(
    gateway_factory, receiver: Receiver
) -> None:
    """A name that resolves inward is refused at save; one that starts resolving inward later (DNS rebinding)
    is refused when connecting."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip(f"this machine's own name {name!r} does not resolve")
    if not is_forbidden_address(address):
        pytest.skip(f"{name} resolves to a public address here")
    gw = await gateway_factory(allow_private_targets=False)
    auth = await gw.token()
    port = receiver.url.rsplit(":", 1)[1]
    refused = await gw.client.post("/v1/webhooks", json={"url": f"http://{name}:{port}/x"}, headers=auth)
    assert refused.status_code == 422
    assert address in refused.json()["detail"]

    hook = await gw.webhook(auth, url=f"http://not-yet-resolving.invalid:{port}/x")
    async with gw.db.begin() as conn:  # the name now points inward, as a rebinding DNS server would make it
        await conn.execute(update(Webhook).where(Webhook.id == hook["id"]).values(url=f"http://{name}:{port}/x"))
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def failed() -> dict | None:
        async with gw.db.connect() as conn:
            row = (await conn.execute(select(Delivery.status, Delivery.id))).first()
        return row if row and row.status == "failed" else None

    row = await eventually(failed)
    detail = (await gw.client.get(f"/v1/deliveries/{row.id}", headers=auth)).json()
    assert detail["attempts"][0]["error"].startswith("ssrf")
    assert receiver.requests == []


async def test_unknown_event_name_in_webhook_is_422(gateway: Gateway) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post(
        "/v1/webhooks", json={"url": "https://example.com/h", "events": ["TODO_CREATED", "NOPE"]}, headers=auth
    )
    assert resp.status_code == 422
    assert "NOPE" in resp.json()["detail"]


async def test_attempts_are_recorded_for_each_try(gateway: Gateway, receiver: Receiver) -> None:
    receiver.respond((503, {}, ""))
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url)
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def both_recorded() -> bool:  # the wait is for exactly what is asserted: both rows, not the first
        return await _count(gateway, Attempt) >= 2

    await eventually(both_recorded)
    async with gateway.db.connect() as conn:
        rows = (await conn.execute(select(Attempt.n, Attempt.status_code).order_by(Attempt.n))).all()
    assert [tuple(row) for row in rows] == [(1, 503), (2, 200)]


async def test_first_attempt_honours_the_first_schedule_entry(gateway_factory, receiver: Receiver) -> None:
    gw = await gateway_factory(retry_schedule="1s,0.2s")
    auth = await gw.token()
    await gw.webhook(auth, url=receiver.url)
    posted = time.time()
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: receiver.requests)
    assert receiver.requests[0].at - posted >= 0.8  # 1 s minus the 20 % jitter


async def test_numeric_event_ids_are_accepted_alike(gateway: Gateway) -> None:
    auth = await gateway.token()
    one = await gateway.client.post("/v1/events", json={"id": 42, "event": "TODO_CREATED"}, headers=auth)
    assert one.status_code == 202
    again = await gateway.client.post(
        "/v1/events/batch", json={"events": [{"id": 42, "event": "TODO_CREATED"}]}, headers=auth
    )
    assert again.json()["results"][0]["duplicate"] is True


async def test_a_wrong_secret_key_is_reported_and_retried_not_lost(gateway_factory, receiver: Receiver) -> None:
    first = await gateway_factory(secret_key="key-one")
    auth = await first.token()
    await first.webhook(auth, url=receiver.url)
    source = (
        await first.client.post("/v1/sources", json={"name": "b", "secret": "12345678"}, headers=auth)
    ).json()
    await first.stop()
    second = await gateway_factory(secret_key="key-two")
    await second.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def attempt_error() -> str | None:
        async with second.db.connect() as conn:
            row = (await conn.execute(select(Attempt.error))).first()
        return row.error if row else None

    error = await eventually(attempt_error)
    assert error.startswith("secret_unreadable")
    async with second.db.connect() as conn:
        assert await conn.scalar(select(Delivery.status)) in ("pending", "delivering")
    body = b'{"event": "TODO_CREATED", "currentValue": {}}'
    resp = await second.client.post(source["ingestPath"], content=body, headers={"X-Signature": "00"})
    assert resp.status_code == 503
    assert "BLUE_GATEWAY_SECRET_KEY" in resp.json()["detail"]
    assert receiver.requests == []


async def test_metrics_count_events_and_outcomes(gateway: Gateway, receiver: Receiver) -> None:
    receiver.respond((500, {}, ""))
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url)
    await gateway.event(auth, id="m1", event="TODO_CREATED")
    await gateway.event(auth, id="m1", event="TODO_CREATED")
    await eventually(lambda: len(receiver.requests) == 2)

    async def scraped() -> str | None:
        text = (await gateway.client.get("/metrics")).text
        delivered = sample(text, "blue_gateway_delivery_outcomes_total", connector="webhook", outcome="delivered")
        return text if delivered == 1 else None

    text = await eventually(scraped)
    assert sample(text, "blue_gateway_events_total", result="accepted") == 1
    assert sample(text, "blue_gateway_events_total", result="duplicate") == 1
    assert sample(text, "blue_gateway_delivery_outcomes_total", connector="webhook", outcome="retry") == 1
    assert sample(text, "blue_gateway_delivery_failures_total", connector="webhook", reason="http_status") == 1
    assert sample(text, "blue_gateway_delivery_attempts_total") == 2
    assert sample(text, "blue_gateway_attempt_duration_seconds_count", connector="webhook") == 2
    assert sample(text, "blue_gateway_delivery_latency_seconds_count", connector="webhook") == 1
    assert sample(text, "blue_gateway_delivery_outcomes_total", connector="zapier", outcome="delivered") == 0


async def test_webhook_made_in_one_process_matches_in_another(gateway_factory, receiver: Receiver) -> None:
    one = await gateway_factory()
    two = await gateway_factory()  # same database, its own process state and matching index
    auth = await one.token()
    await one.webhook(auth, url=receiver.url)

    async def matched() -> bool:
        answer = await two.event(auth, event="TODO_CREATED", currentValue=TODO)
        return answer["deliveries"] == 1

    started = time.monotonic()
    await eventually(matched, timeout=30, interval=0.05)
    took = time.monotonic() - started
    assert took < 2, f"another process matched the new webhook only after {took:.1f}s"
