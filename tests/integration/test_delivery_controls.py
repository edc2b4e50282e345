"""A webhook's own delivery controls over HTTP: timeout, retry schedule, maximum rate (issue 10)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from gateway.db.models import RateLimit, Webhook
from tests.conftest import FakeClock, Gateway, Receiver, eventually, listen


async def _webhook_count(gw: Gateway) -> int:
    async with gw.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Webhook)) or 0)


async def _deliveries(gw: Gateway, auth: dict[str, str], webhook_id: str) -> list[dict[str, Any]]:
    resp = await gw.client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


async def _attempts_once_failed(gw: Gateway, auth: dict[str, str], webhook_id: str) -> list[dict[str, Any]]:
    """The attempts of the webhook's one delivery, once that delivery has finally failed."""

    async def failed() -> list[dict[str, Any]]:
        rows = await _deliveries(gw, auth, webhook_id)
        return rows if rows and rows[0]["status"] == "failed" else []

    row = (await eventually(failed))[0]
    resp = await gw.client.get(f"/v1/deliveries/{row['id']}", headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["attempts"]  # type: ignore[no-any-return]


async def test_controls_are_stored_shown_and_reset(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(
        auth,
        url=receiver.url,
        timeout=2.5,
        retrySchedule=[1, 60, 600],
        maxRate=5,
        ordering="fifo",
        orderingKey="record",
    )
    expected = {"timeout": 2.5, "retrySchedule": [1.0, 60.0, 600.0], "maxRate": 5.0, "ordering": "fifo"}
    read = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    for answer in (hook, read):
        assert {k: answer[k] for k in expected} == expected
        assert answer["orderingKey"] == "record"

    resp = await gateway.client.patch(
        f"/v1/webhooks/{hook['id']}",
        json={"timeout": None, "retrySchedule": None, "maxRate": None, "ordering": None, "orderingKey": "webhook"},
        headers=auth,
    )
    assert resp.status_code == 200, resp.text
    reset = resp.json()
    assert [reset[k] for k in expected] == [None, None, None, None]
    assert reset["orderingKey"] == "webhook"
    plain = await gateway.webhook(auth, url=receiver.url)
    assert [plain[k] for k in (*expected, "orderingKey")] == [None, None, None, None, "webhook"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timeout": 61}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"retrySchedule": [1] * 26}, "retrySchedule"),
        ({"retrySchedule": [5, 86401]}, "retrySchedule[1]"),
        ({"retrySchedule": [-1]}, "retrySchedule"),
        ({"maxRate": 101}, "maxRate"),
        ({"maxRate": 0}, "maxRate"),
        ({"ordering": "lifo"}, "ordering"),
        ({"orderingKey": "project"}, "orderingKey"),
    ],
)
async def test_controls_outside_the_bounds_are_refused(
    gateway: Gateway, receiver: Receiver, body: dict[str, Any], field: str
) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post("/v1/webhooks", json={"url": receiver.url, **body}, headers=auth)
    assert resp.status_code in (400, 422), resp.text
    assert field in resp.text
    assert await _webhook_count(gateway) == 0

    hook = await gateway.webhook(auth, url=receiver.url, timeout=3)
    resp = await gateway.client.patch(f"/v1/webhooks/{hook['id']}", json=body, headers=auth)
    assert resp.status_code in (400, 422), resp.text
    assert field in resp.text
    kept = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    assert kept == hook | {"secret": None}


async def test_bounds_follow_the_server_settings(gateway_factory: Any, receiver: Receiver) -> None:
    gw = await gateway_factory(max_webhook_timeout=5.0, max_retries=2, max_webhook_rate=3)
    auth = await gw.token()
    for body, field in (({"timeout": 6}, "timeout"), ({"retrySchedule": [1, 1, 1]}, "retrySchedule")):
        resp = await gw.client.post("/v1/webhooks", json={"url": receiver.url, **body}, headers=auth)
        assert resp.status_code == 422 and field in resp.text, resp.text
    resp = await gw.client.post("/v1/webhooks", json={"url": receiver.url, "maxRate": 4}, headers=auth)
    assert resp.status_code == 422 and "at most 3 requests per second" in resp.text
    await gw.webhook(auth, url=receiver.url, timeout=5, retrySchedule=[1, 1], maxRate=3)


async def test_openapi_documents_the_controls(gateway: Gateway) -> None:
    schemas = (await gateway.client.get("/schema/openapi.json")).json()["components"]["schemas"]
    for name in ("WebhookCreate", "WebhookOut"):
        props = schemas[name]["properties"]
        assert {"timeout", "retrySchedule", "maxRate", "ordering", "orderingKey"} <= set(props), name
    assert "BLUE_GATEWAY_MAX_WEBHOOK_RATE" in str(schemas["WebhookCreate"]["properties"]["maxRate"])


@pytest.fixture
async def slow_receiver() -> AsyncIterator[tuple[str, list[float]]]:
    """Answers 200 after 3 seconds; records when each request came."""
    arrivals: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        arrivals.append(asyncio.get_running_loop().time())
        await asyncio.sleep(3)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner, port = await listen(app, shutdown_timeout=0.1)
    yield f"http://127.0.0.1:{port}", arrivals
    await runner.cleanup()


async def test_a_webhook_timeout_cuts_the_attempt_short(
    gateway: Gateway, slow_receiver: tuple[str, list[float]]
) -> None:
    url, arrivals = slow_receiver
    auth = await gateway.token()  # the server's attempt timeout is 5 s here
    hook = await gateway.webhook(auth, url=url, timeout=0.5, retrySchedule=[])
    await gateway.event(auth, event="TODO_CREATED", currentValue={"id": "t1"})
    attempts = await _attempts_once_failed(gateway, auth, hook["id"])
    assert len(attempts) == 1 and len(arrivals) == 1
    assert attempts[0]["error"] == "timeout"
    assert 400 <= attempts[0]["durationMs"] < 2500


@pytest.mark.parametrize("schedule", [[], [0.1, 0.1]])
async def test_a_webhook_retry_schedule_sets_its_attempts(
    gateway: Gateway, receiver: Receiver, schedule: list[float]
) -> None:
    receiver.default = (500, {}, "down")
    auth = await gateway.token()  # the server's schedule here allows 5 attempts
    hook = await gateway.webhook(auth, url=receiver.url, retrySchedule=schedule)
    await gateway.event(auth, event="TODO_CREATED", currentValue={"id": "t1"})
    attempts = await _attempts_once_failed(gateway, auth, hook["id"])
    assert len(attempts) == len(receiver.requests) == len(schedule) + 1
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert all(gap >= 0.08 for gap in gaps), gaps  # 0.1 s ± 20 % jitter


def _span_rate(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0])


async def test_max_rate_spaces_the_requests(gateway_factory: Any, receiver: Receiver) -> None:
    gateway = await gateway_factory(lease_seconds=30.0)  # the usual lease: waits for a slot fit in the claim
    auth = await gateway.token()
    await gateway.webhook(auth, url=f"{receiver.url}/slow-lane", maxRate=10)
    fast = await gateway.webhook(auth, url=f"{receiver.url}/fast-lane", events=["TODO_CREATED"])
    resp = await gateway.client.post(
        "/v1/events/batch",
        json={"events": [{"event": "TODO_CREATED", "currentValue": {"id": f"t{i}"}} for i in range(31)]},
        headers=auth,
    )
    assert resp.status_code == 202, resp.text
    await eventually(lambda: len([r for r in receiver.requests if r.path == "/slow-lane"]) == 31)
    limited = [r.at for r in receiver.requests if r.path == "/slow-lane"]
    # Never faster than the rate; not much slower either (one process shares its loop with this test here:
    # the 10 % bound on both sides is held scaled out, in test_scaled_controls.py).
    assert 8.0 <= _span_rate(limited) <= 11.0
    # The other webhook was not held back: all of its deliveries were in before the limited one's tenth.
    unlimited = [r.at for r in receiver.requests if r.path == "/fast-lane"]
    assert len(unlimited) == 31 and fast["maxRate"] is None
    assert max(unlimited) < sorted(limited)[10]


async def test_zapier_webhooks_get_zapiers_per_hook_rate(gateway_factory: Any, receiver: Receiver) -> None:
    gateway = await gateway_factory(lease_seconds=30.0)
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=f"{receiver.url}/hooks/catch/1/abc/", connector="zapier")
    assert hook["maxRate"] is None  # the connector's default applies
    resp = await gateway.client.post(
        "/v1/events/batch",
        json={"events": [{"event": "TODO_CREATED", "currentValue": {"id": f"t{i}"}} for i in range(46)]},
        headers=auth,
    )
    assert resp.status_code == 202, resp.text
    await eventually(lambda: len(receiver.requests) == 46)
    assert 22.0 <= _span_rate([r.at for r in receiver.requests]) <= 33.0


async def test_a_delivery_that_would_outwait_its_claim_is_handed_back(
    gateway: Gateway, receiver: Receiver
) -> None:
    # Here a claim lasts 7 s (5 s attempt timeout + 2 s lease): with 5 s kept for the request, a delivery may
    # wait about a second for its slot. At 2 per second, most of a burst of 8 must be handed back.
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, maxRate=2)
    events = [{"event": "TODO_CREATED", "currentValue": {"id": f"t{i}"}} for i in range(8)]
    resp = await gateway.client.post("/v1/events/batch", json={"events": events}, headers=auth)
    assert resp.status_code == 202, resp.text
    await eventually(lambda: len(receiver.requests) == 8)
    times = [r.at for r in receiver.requests]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.45
    assert gateway.runtime.engine.controls.handed_back > 0
    metrics = (await gateway.client.get("/metrics")).text
    assert (
        f"blue_gateway_deliveries_rate_handed_back_total {gateway.runtime.engine.controls.handed_back}" in metrics
    )

    # Handing back is not an attempt: every delivery was delivered at its first.
    async def all_delivered() -> list[dict[str, Any]]:
        rows = await _deliveries(gateway, auth, hook["id"])
        return rows if len(rows) == 8 and all(r["status"] == "delivered" for r in rows) else []

    for row in await eventually(all_delivered):
        detail = (await gateway.client.get(f"/v1/deliveries/{row['id']}", headers=auth)).json()
        assert [a["n"] for a in detail["attempts"]] == [1]


async def test_retention_removes_a_rate_limiters_state_a_day_after_its_last_slot(
    gateway_factory: Any, receiver: Receiver
) -> None:
    clock = FakeClock()
    gw = await gateway_factory(clock=clock)
    auth = await gw.token()
    await gw.webhook(auth, url=receiver.url, maxRate=5)
    await gw.event(auth, event="TODO_CREATED", currentValue={"id": "t1"})
    await eventually(lambda: receiver.requests)

    async def limiter_rows() -> int:
        async with gw.db.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(RateLimit)) or 0)

    assert await limiter_rows() == 1
    await gw.runtime.prune()
    assert await limiter_rows() == 1  # still fresh
    clock.advance(2 * 86400)
    await gw.runtime.prune()
    assert await limiter_rows() == 0


async def test_a_rate_limited_backlog_waits_in_the_database_not_in_memory(
    gateway: Gateway, receiver: Receiver
) -> None:
    # 200 deliveries at 20 per second take 10 s, five times the 2 s reservation used here: the backlog is
    # deferred in the database rather than queued in memory, where expiring reservations would enqueue it again.
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, maxRate=20, signing=[])
    for start in range(0, 200, 100):
        events = [{"event": "TODO_CREATED", "currentValue": {"id": f"t{i}"}} for i in range(start, start + 100)]
        resp = await gateway.client.post("/v1/events/batch", json={"events": events}, headers=auth)
        assert resp.status_code == 202, resp.text
    await eventually(lambda: len({r.json()["currentValue"]["id"] for r in receiver.requests}) == 200, timeout=120)
    assert gateway.runtime.engine.deferred > 0
    assert _span_rate([r.at for r in receiver.requests]) <= 22.0
