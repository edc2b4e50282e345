"""Input limits at the edge: hostile bodies answer 422 naming the field on every JSON route, store nothing,
share no transaction with other companies' requests, and leave the process responsive."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.models import Event, Webhook
from gateway.services.events import prepare_event
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually

DEEP = 100_000
HOSTILE: dict[str, tuple[bytes, str]] = {
    "deep": (b'{"a":{"b":[0,1,2,' + b"[" * DEEP + b"]" * DEEP + b"]}}", "nested more than 64"),
    "huge integer": (b'{"a":{"b":[0,1,2,123456789012345678901234567890]}}', "signed 64-bit"),
    "just over int64": (b'{"a":{"b":[0,1,2,9223372036854775808]}}', "signed 64-bit"),
    "NUL": (b'{"a":{"b":[0,1,2,"x\\u0000y"]}}', "NUL"),
}
"""Each hostile value breaks a limit at ``a.b[3]`` (or, when too deep, inside it)."""


@dataclass
class Route:
    """One JSON route: where a hostile value goes in its body, and the path the error must name."""

    name: str
    method: str
    path: str
    wrap: Callable[[bytes], bytes]
    prefix: str
    signed: bool = False


ROUTES = [
    Route(
        "events",
        "POST",
        "/v1/events",
        lambda v: b'{"event":"TODO_CREATED","currentValue":' + v + b"}",
        "currentValue",
    ),
    Route(
        "batch",
        "POST",
        "/v1/events/batch",
        lambda v: b'{"events":[{"event":"TODO_CREATED"},{"event":"TODO_CREATED","currentValue":' + v + b"}]}",
        "events[1].currentValue",
    ),
    Route(
        "source",
        "POST",
        "{ingestPath}",
        lambda v: b'{"event":"TODO_CREATED","webhook":{"id":"w"},"currentValue":' + v + b"}",
        "currentValue",
        signed=True,
    ),
    Route(
        "preview",
        "POST",
        "/v1/templates/preview",
        lambda v: b'{"event":{"event":"TODO_CREATED","currentValue":' + v + b"}}",
        "event.currentValue",
    ),
    Route(
        "webhook create",
        "POST",
        "/v1/webhooks",
        lambda v: b'{"url":"https://example.com/hook","options":{"x":' + v + b"}}",
        "options.x",
    ),
    Route(
        "webhook patch",
        "PATCH",
        "/v1/webhooks/{webhookId}",
        lambda v: b'{"filter":{"all":[{"path":"$.a","op":"eq","value":' + v + b"}]}}",
        "filter.all[0].value",
    ),
]
SOURCE_SECRET = "source-secret-1"


async def _count(gw: Gateway, model: Any) -> int:
    async with gw.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def _send(gw: Gateway, auth: dict[str, str], route: Route, body: bytes, ids: dict[str, str]) -> Any:
    headers = {"content-type": "application/json"}
    if route.signed:
        headers["X-Signature"] = hmac.new(SOURCE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    else:
        headers.update(auth)
    return await gw.client.request(route.method, route.path.format(**ids), content=body, headers=headers)


async def _setup(gw: Gateway, receiver: Receiver) -> tuple[dict[str, str], dict[str, str]]:
    auth = await gw.token("tenant-a")
    hook = await gw.webhook(auth, url=receiver.url + "/a", filter={"all": [{"path": "$.event", "op": "exists"}]})
    source = await gw.client.post("/v1/sources", json={"name": "blue", "secret": SOURCE_SECRET}, headers=auth)
    assert source.status_code == 201, source.text
    return auth, {"webhookId": hook["id"], "ingestPath": source.json()["ingestPath"]}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_hostile_bodies_answer_422_naming_the_field_and_store_nothing(
    gateway_on: Gateway, receiver: Receiver, route: Route
) -> None:
    gw = gateway_on
    auth, ids = await _setup(gw, receiver)
    for name, (value, reason) in HOSTILE.items():
        resp = await _send(gw, auth, route, route.wrap(value), ids)
        assert resp.status_code == 422, (name, resp.status_code, resp.text[:300])
        error = resp.json()
        field = error["extra"][0]["key"]
        assert field.startswith(f"{route.prefix}.a.b[3]"), (name, field[:120])
        assert reason in error["detail"], (name, error["detail"][:200])
        if name == "deep":  # the first container too deep: the body is level 1, each path segment one more
            assert 2 + field.count(".") + field.count("[") == 65, field
    assert await _count(gw, Event) == 0
    assert await _count(gw, Webhook) == 1
    stored = (await gw.client.get(f"/v1/webhooks/{ids['webhookId']}", headers=auth)).json()
    assert stored["filter"] == {"all": [{"path": "$.event", "op": "exists"}]}
    assert receiver.requests == []


async def test_values_a_column_would_refuse_are_422_not_503(gateway_on: Gateway) -> None:
    gw = gateway_on
    auth = await gw.token("tenant-a")
    long_project = {"event": "TODO_CREATED", "currentValue": {"todoList": {"projectId": "p" * 129}}}
    resp = await gw.client.post("/v1/events", json=long_project, headers=auth)
    assert resp.status_code == 422, resp.text
    assert resp.json()["extra"][0]["key"] == "projectId"
    resp = await gw.client.post("/v1/events", content=b'{"event":"TODO_CREATED","id":"a\\u0000"}', headers=auth)
    assert (resp.status_code, resp.json()["extra"][0]["key"]) == (422, "id")
    resp = await gw.client.post(
        "/v1/webhooks", content=b'{"url":"https://example.com/","name":"\\u0000"}', headers=auth
    )
    assert (resp.status_code, resp.json()["extra"][0]["key"]) == (422, "name")
    ok = await gw.client.post(
        "/v1/events", json={**long_project, "currentValue": {"projectId": "p" * 128}}, headers=auth
    )
    assert ok.status_code == 202, ok.text


async def _healthz_ms(gw: Gateway) -> float:
    started = time.perf_counter()
    resp = await gw.client.get("/healthz")
    assert resp.status_code == 200
    return (time.perf_counter() - started) * 1000


async def test_hostile_bodies_never_slow_healthz_or_fail_another_companys_events(
    gateway: Gateway, receiver: Receiver
) -> None:
    hostile = await gateway.token("hostile")
    honest = await gateway.token("honest")
    await gateway.webhook(honest, url=receiver.url + "/honest")
    # Bodies near the 1 MiB limit, built to cost the most: the decoder's own recursion limit, and a
    # violation found only after a long walk over many small values.
    flat = b",".join([b"1"] * 300_000)
    bodies = [
        b'{"event":"TODO_CREATED","currentValue":' + b"[" * 500_000 + b"]" * 500_000 + b"}",
        b'{"event":"TODO_CREATED","currentValue":[' + flat + b",123456789012345678901234567890]}",
        b'{"event":"TODO_CREATED","currentValue":[' + flat + b',"\\u0000"]}',
        b'{"event":"TODO_CREATED","currentValue":['
        + b",".join([b"[" * 60 + b"]" * 60] * 4000)
        + b","
        + b"[" * 63
        + b"]" * 63
        + b"]}",
    ]
    stop = asyncio.Event()
    answers: list[int] = []

    async def attack() -> None:
        while not stop.is_set():
            for body in bodies:
                resp = await gateway.client.post(
                    "/v1/events", content=body, headers={**hostile, "content-type": "application/json"}
                )
                answers.append(resp.status_code)

    attackers = [asyncio.create_task(attack()) for _ in range(3)]
    try:
        await eventually(lambda: len(answers) >= 2, timeout=60)
        latencies = [await _healthz_ms(gateway) for _ in range(10)]
        honest_answers = await asyncio.gather(
            *(
                gateway.client.post("/v1/events", json={"id": f"h{i}", "event": "TODO_CREATED"}, headers=honest)
                for i in range(20)
            )
        )
        await eventually(lambda: len(answers) >= 8, timeout=120)
    finally:
        stop.set()
        await asyncio.gather(*attackers)
    assert set(answers) == {422}, answers
    assert [r.status_code for r in honest_answers] == [202] * 20
    assert max(latencies) < 500, latencies
    await eventually(lambda: len(receiver.requests) >= 20, timeout=30)
    assert {r.json()["event"] for r in receiver.requests} == {"TODO_CREATED"}
    assert await _count(gateway, Event) == 20


async def test_an_unserialisable_event_in_a_shared_commit_fails_only_its_own_request(
    gateway: Gateway, receiver: Receiver
) -> None:
    companies = ["b", "c", "d"]
    auths = {c: await gateway.token(c) for c in companies}
    for c in companies:
        await gateway.webhook(auths[c], url=f"{receiver.url}/{c}")
    await gateway.runtime.refresh_index(force=True)
    runtime = gateway.runtime
    # Something that slipped past the edge: a value the row serialiser cannot write.
    bad = prepare_event(
        {"event": "TODO_CREATED", "currentValue": {"n": 2**70}}, "a", runtime.index, runtime.clock()
    )
    good = prepare_event({"event": "TODO_CREATED", "id": "d-1"}, "d", runtime.index, runtime.clock())

    # Hold the writer so that every request below queues up and is committed in one group.
    release = asyncio.Event()
    held = asyncio.Event()

    async def hold(conn: AsyncConnection) -> None:
        held.set()
        await release.wait()

    holder = asyncio.create_task(runtime.committer.submit(hold))
    await held.wait()
    posts = [
        asyncio.create_task(
            gateway.client.post("/v1/events", json={"id": f"{c}-1", "event": "TODO_CREATED"}, headers=auths[c])
        )
        for c in ("b", "c")
    ]
    await eventually(lambda: runtime.committer._queue.qsize() >= 2, timeout=30)
    # Two events coalesced into one statement, as concurrent requests' events are.
    direct = asyncio.gather(
        runtime.ingestor.ingest([bad]), runtime.ingestor.ingest([good]), return_exceptions=True
    )
    await eventually(lambda: runtime.committer._queue.qsize() >= 3, timeout=30)
    batches_before = runtime.committer.batches
    release.set()
    await holder
    bad_result, good_result = await direct
    answers = [await p for p in posts]

    assert isinstance(bad_result, TypeError)
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    assert good_result[0].deliveries == 1
    await eventually(lambda: {r.path for r in receiver.requests} >= {"/b", "/c", "/d"}, timeout=30)
    assert runtime.committer.batches > batches_before
    assert await _count(gateway, Event) == 3


async def test_a_company_over_its_ingest_quota_gets_429_while_another_is_accepted(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gw = await gateway_factory(ingest_rate=1, ingest_burst=5)
    flood, calm = await gw.token("flood"), await gw.token("calm")
    await gw.webhook(calm, url=receiver.url + "/calm")
    sent = await asyncio.gather(
        *(gw.client.post("/v1/events", json={"event": "TODO_CREATED"}, headers=flood) for _ in range(5))
    )
    assert [r.status_code for r in sent] == [202] * 5
    over = await gw.client.post("/v1/events", json={"event": "TODO_CREATED"}, headers=flood)
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    assert over.json()["status_code"] == 429 and "quota" in over.json()["detail"]
    batch = await gw.client.post(
        "/v1/events/batch", json={"events": [{"event": "TAG_CREATED"}] * 3}, headers=flood
    )
    assert batch.status_code == 429
    too_big = await gw.client.post(
        "/v1/events/batch", json={"events": [{"event": "TAG_CREATED"}] * 6}, headers=flood
    )
    assert (too_big.status_code, too_big.json()["extra"][0]["key"]) == (422, "events")

    calm_batch = await gw.client.post(
        "/v1/events/batch",
        json={"events": [{"event": "TODO_CREATED", "id": f"c{i}"} for i in range(5)]},
        headers=calm,
    )
    assert calm_batch.status_code == 202, calm_batch.text
    await eventually(lambda: len(receiver.requests) == 5, timeout=30)
    async with gw.db.connect() as conn:
        per_company = dict(
            (await conn.execute(select(Event.company_id, func.count()).group_by(Event.company_id))).all()
        )
    assert per_company == {"flood": 5, "calm": 5}  # the refused requests stored nothing

    # The allowance refills at the rate: the flood gets through again after Retry-After.
    async def flood_accepted() -> bool:
        resp = await gw.client.post("/v1/events", json={"event": "TODO_CREATED"}, headers=flood)
        return resp.status_code == 202

    await eventually(flood_accepted, timeout=10, interval=0.25)


async def test_a_source_over_quota_gets_429_and_health_checks_still_pass(
    gateway_factory: GatewayFactory,
) -> None:
    gw = await gateway_factory(ingest_rate=1, ingest_burst=1)
    auth = await gw.token("acme")
    source = (
        await gw.client.post("/v1/sources", json={"name": "b", "secret": SOURCE_SECRET}, headers=auth)
    ).json()

    async def deliver(body: dict[str, Any]) -> int:
        raw = orjson.dumps(body)
        signature = hmac.new(SOURCE_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        resp = await gw.client.post(source["ingestPath"], content=raw, headers={"X-Signature": signature})
        return resp.status_code

    assert await deliver({"event": "TODO_CREATED", "currentValue": {"id": "1"}}) == 202
    assert await deliver({"event": "TODO_CREATED", "currentValue": {"id": "2"}}) == 429
    assert await deliver({"event": "WEBHOOK_HEALTH_CHECK"}) == 200
