"""Webhook management, sources, the delivery log, health and retention (issue 3)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp import web
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.core.catalog import SUBSCRIBABLE
from gateway.db.models import Attempt, Delivery, Event, Source, Webhook
from tests.conftest import FakeClock, Gateway, GatewayFactory, Receiver, eventually, listen

TODO = {
    "id": "t1",
    "title": "Fix the roof",
    "todoList": {"id": "L", "projectId": "p1"},
    "todoTags": [{"tag": {"title": "later"}}, {"tag": {"title": "urgent"}}],
}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


async def _deliveries(gw: Gateway, auth: dict[str, str], hook_id: str, **params: Any) -> list[dict[str, Any]]:
    resp = await gw.client.get(f"/v1/webhooks/{hook_id}/deliveries", params=params, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


# --- tenancy ------------------------------------------------------------------------------------------


async def test_other_company_gets_404_on_every_route(gateway: Gateway, receiver: Receiver) -> None:
    a, b = await gateway.token("company-a"), await gateway.token("company-b")
    hook = await gateway.webhook(a, url=receiver.url)
    await gateway.event(a, event="TODO_CREATED", currentValue=TODO)
    delivery = (await eventually(lambda: _deliveries(gateway, a, hook["id"])))[0]
    source = (
        await gateway.client.post("/v1/sources", json={"name": "blue", "secret": "s3cret-s3cret"}, headers=a)
    ).json()
    wid, did = hook["id"], delivery["id"]
    routes = [
        ("GET", f"/v1/webhooks/{wid}", None),
        ("PATCH", f"/v1/webhooks/{wid}", {"name": "stolen"}),
        ("POST", f"/v1/webhooks/{wid}/rotate-secret", {}),
        ("POST", f"/v1/webhooks/{wid}/disable", None),
        ("POST", f"/v1/webhooks/{wid}/enable", None),
        ("POST", f"/v1/webhooks/{wid}/test", {"event": "TODO_CREATED"}),
        ("GET", f"/v1/webhooks/{wid}/deliveries", None),
        ("POST", f"/v1/webhooks/{wid}/recover", {"since": rfc3339(time.time() - 60)}),
        ("GET", f"/v1/deliveries/{did}", None),
        ("POST", f"/v1/deliveries/{did}/retry", None),
        ("DELETE", f"/v1/sources/{source['id']}", None),
        ("DELETE", f"/v1/webhooks/{wid}", None),
    ]
    for method, path, body in routes:
        resp = await gateway.client.request(method, path, json=body, headers=b)
        assert resp.status_code == 404, f"{method} {path}: {resp.status_code} {resp.text}"
        assert "company-a" not in resp.text and receiver.url not in resp.text
    listed = (await gateway.client.get("/v1/webhooks", headers=b)).json()["data"]
    assert listed == []
    assert (await gateway.client.get("/v1/sources", headers=b)).json()["data"] == []
    still = await gateway.client.get(f"/v1/webhooks/{wid}", headers=a)
    assert still.status_code == 200
    assert still.json()["name"] == ""


async def test_project_admin_is_limited_to_its_projects(gateway: Gateway) -> None:
    admin = await gateway.token()
    pa = await gateway.token(role="project-admin", projects=("p1", "p2"))
    url = "https://example.com/hook"
    everything = await gateway.client.post("/v1/webhooks", json={"url": url}, headers=pa)
    assert everything.status_code == 422
    assert everything.json()["extra"][0]["key"] == "projectIds"
    outside = await gateway.client.post("/v1/webhooks", json={"url": url, "projectIds": ["p1", "p9"]}, headers=pa)
    assert outside.status_code == 422
    own = await gateway.webhook(pa, url=url, projectIds=["p1"])
    foreign = await gateway.webhook(admin, url=url, projectIds=["p9"])
    company_wide = await gateway.webhook(admin, url=url)
    assert (await gateway.client.get(f"/v1/webhooks/{foreign['id']}", headers=pa)).status_code == 404
    assert (await gateway.client.get(f"/v1/webhooks/{company_wide['id']}", headers=pa)).status_code == 404
    moved = await gateway.client.patch(f"/v1/webhooks/{own['id']}", json={"projectIds": ["p9"]}, headers=pa)
    assert moved.status_code == 422
    listed = [w["id"] for w in (await gateway.client.get("/v1/webhooks", headers=pa)).json()["data"]]
    assert listed == [own["id"]]
    assert (
        await gateway.client.post("/v1/sources", json={"name": "x", "secret": "12345678"}, headers=pa)
    ).status_code == 403


async def test_ingest_only_token_cannot_manage(gateway: Gateway) -> None:
    ingest = await gateway.token(scopes=("ingest",))
    assert (await gateway.client.get("/v1/webhooks", headers=ingest)).status_code == 403
    created = await gateway.client.post("/v1/webhooks", json={"url": "https://example.com/"}, headers=ingest)
    assert created.status_code == 403
    assert (
        await gateway.client.post("/v1/events", json={"event": "TODO_CREATED"}, headers=ingest)
    ).status_code == 202


# --- secrets ------------------------------------------------------------------------------------------


async def test_secrets_never_leak(gateway: Gateway, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, headers={"Authorization": "Bearer very-private-value"})
    secret = hook["secret"]
    assert hook["headers"] == {"Authorization": "***"}
    read = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    listed = (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"][0]
    patched = (await gateway.client.patch(f"/v1/webhooks/{hook['id']}", json={"name": "n"}, headers=auth)).json()
    for obj in (read, listed, patched):
        assert obj["secret"] is None
        assert obj["headers"] == {"Authorization": "***"}
        assert secret not in orjson.dumps(obj).decode()
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    assert got.headers["Authorization"] == "Bearer very-private-value"
    assert secret.encode() not in got.body
    assert b"very-private-value" not in got.body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged
    assert "very-private-value" not in logged
    async with gateway.db.connect() as conn:
        row = (await conn.execute(select(Webhook.secret_ct, Webhook.headers_ct))).one()
    assert secret.encode() not in row.secret_ct
    assert b"very-private-value" not in row.headers_ct
    assert len(row.secret_ct) > len(secret)


async def test_rotation_signs_with_both_secrets_during_grace(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url)
    old = hook["secret"]
    rotated = (
        await gateway.client.post(
            f"/v1/webhooks/{hook['id']}/rotate-secret", json={"graceSeconds": 2}, headers=auth
        )
    ).json()
    new = rotated["secret"]
    assert new != old
    assert new.startswith("whsec_")
    assert (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()["secret"] is None
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: len(receiver.requests) == 1)
    during = receiver.requests[0]
    StandardWebhook(old).verify(during.body, during.headers)
    StandardWebhook(new).verify(during.body, during.headers)
    assert len(during.headers["webhook-signature"].split()) == 2
    expected = hmac.new(new.encode(), during.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(during.headers["X-Signature"], expected)

    await asyncio.sleep(2.1)  # the grace window is measured in real seconds, like the receivers' clocks
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: len(receiver.requests) == 2)
    after = receiver.requests[1]
    StandardWebhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(old).verify(after.body, after.headers)


# --- sources ------------------------------------------------------------------------------------------


def _blue_sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_source_accepts_blue_signed_bodies(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    created = await gateway.client.post(
        "/v1/sources", json={"name": "Blue", "secret": "blue-secret-1"}, headers=auth
    )
    assert created.status_code == 201
    path = created.json()["ingestPath"]
    body = orjson.dumps(
        {"event": "TODO_CREATED", "webhook": {"id": "bw1"}, "previousValue": None, "currentValue": TODO}
    )
    ok = await gateway.client.post(path, content=body, headers={"X-Signature": _blue_sign("blue-secret-1", body)})
    assert ok.status_code == 202, ok.text
    assert ok.json()["deliveries"] == 1
    again = await gateway.client.post(
        path, content=body, headers={"X-Signature": _blue_sign("blue-secret-1", body)}
    )
    assert again.status_code == 200
    assert again.json() == {"id": ok.json()["id"], "deliveries": 0, "duplicate": True}

    tampered = body.replace(b"Fix the roof", b"Fix the door")
    bad = await gateway.client.post(
        path, content=tampered, headers={"X-Signature": _blue_sign("blue-secret-1", body)}
    )
    assert bad.status_code == 401
    assert (await gateway.client.post(path, content=body)).status_code == 401
    wrong_key = await gateway.client.post(path, content=body, headers={"X-Signature": _blue_sign("other", body)})
    assert wrong_key.status_code == 401

    health = orjson.dumps({"event": "WEBHOOK_HEALTH_CHECK", "webhook": {"id": "bw1"}})
    hc = await gateway.client.post(
        path, content=health, headers={"X-Signature": _blue_sign("blue-secret-1", health)}
    )
    assert hc.status_code == 200
    async with gateway.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Event)) == 1
        assert await conn.scalar(select(func.count()).select_from(Delivery)) == 1
        stored = await conn.scalar(select(Source.secret_ct))
    assert b"blue-secret-1" not in stored
    await eventually(lambda: receiver.requests)
    assert receiver.requests[0].json()["currentValue"]["title"] == "Fix the roof"
    assert (await gateway.client.post("/v1/sources/src_nope/events", content=body)).status_code == 404


# --- filters ------------------------------------------------------------------------------------------

CONTRACT_FILTER = {
    "all": [
        {"path": "$.currentValue.todoList.id", "op": "eq", "value": "L"},
        {"path": "$.currentValue.todoTags[*].tag.title", "op": "eq", "value": "urgent"},
    ]
}


async def test_filters_are_compiled_on_save_and_applied_to_events(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    for bad, reason in [
        ({"all": [{"path": "$.[[", "op": "eq", "value": 1}]}, "path"),
        ({"all": [{"path": "$.a", "op": "like", "value": 1}]}, "op"),
        ({"all": [{"path": "$.a", "op": "regex", "value": "(unclosed"}]}, "regex"),
    ]:
        resp = await gateway.client.post("/v1/webhooks", json={"url": receiver.url, "filter": bad}, headers=auth)
        assert resp.status_code == 422, resp.text
        assert resp.json()["extra"][0]["key"] == "filter"
        assert reason in resp.json()["detail"]
    await gateway.webhook(auth, url=receiver.url, filter=CONTRACT_FILTER)
    hit = await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    other_list = await gateway.event(auth, event="TODO_CREATED", currentValue={**TODO, "todoList": {"id": "M"}})
    not_urgent = await gateway.event(auth, event="TODO_CREATED", currentValue={**TODO, "todoTags": []})
    assert [hit["deliveries"], other_list["deliveries"], not_urgent["deliveries"]] == [1, 0, 0]


# --- the delivery log -----------------------------------------------------------------------------------


async def test_recover_resends_exactly_the_failed_deliveries_in_its_window(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gw = await gateway_factory(retry_schedule="0")
    auth = await gw.token()
    hook = await gw.webhook(auth, url=receiver.url)
    receiver.default = (500, {}, "down")
    ids: dict[str, str] = {}
    ids["old"] = (await gw.event(auth, id="old", event="TODO_CREATED", currentValue={"id": "old"}))["id"]
    await eventually(lambda: _deliveries(gw, auth, hook["id"], status="failed"))
    await asyncio.sleep(0.05)
    since = time.time()
    await asyncio.sleep(0.05)
    for name in ("a", "b"):
        ids[name] = (await gw.event(auth, id=name, event="TODO_CREATED", currentValue={"id": name}))["id"]
    await eventually(lambda: len(receiver.requests) == 3)
    receiver.default = (200, {}, "ok")
    ids["ok"] = (await gw.event(auth, id="ok", event="TODO_CREATED", currentValue={"id": "ok"}))["id"]
    await eventually(lambda: _deliveries(gw, auth, hook["id"], status="delivered"))

    async def three_failed() -> bool:  # "ok" being delivered says nothing about when a and b were recorded
        return len(await _deliveries(gw, auth, hook["id"], status="failed")) == 3

    await eventually(three_failed)
    before = len(receiver.requests)

    resp = await gw.client.post(f"/v1/webhooks/{hook['id']}/recover", json={"since": rfc3339(since)}, headers=auth)
    assert resp.status_code == 202
    assert resp.json() == {"requeued": 2}

    async def recovered() -> bool:  # both requeued deliveries finished: no further request can follow
        delivered = await _deliveries(gw, auth, hook["id"], status="delivered")
        return sorted(d["eventId"] for d in delivered) == sorted(ids[name] for name in ("a", "b", "ok"))

    await eventually(recovered)
    resent = sorted(r.json()["currentValue"]["id"] for r in receiver.requests[before:])
    assert resent == ["a", "b"]
    assert [d["eventId"] for d in await _deliveries(gw, auth, hook["id"], status="failed")] == [ids["old"]]
    too_old = await gw.client.post(
        f"/v1/webhooks/{hook['id']}/recover", json={"since": rfc3339(time.time() - 15 * 86400)}, headers=auth
    )
    assert too_old.status_code == 422


async def test_delivery_log_pages_and_filters(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url)
    for i in range(5):
        await gateway.event(auth, event="TODO_CREATED", currentValue={"id": f"t{i}"})
    await eventually(lambda: len(receiver.requests) == 5)
    first = (
        await gateway.client.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"limit": 2}, headers=auth)
    ).json()
    assert len(first["data"]) == 2
    second = (
        await gateway.client.get(
            f"/v1/webhooks/{hook['id']}/deliveries",
            params={"limit": 10, "cursor": first["nextCursor"]},
            headers=auth,
        )
    ).json()
    ids = [d["id"] for d in first["data"] + second["data"]]
    assert len(ids) == len(set(ids)) == 5
    assert ids == sorted(ids, reverse=True)
    assert second["nextCursor"] is None

    async def all_delivered() -> list[dict[str, Any]] | None:
        delivered = await _deliveries(gateway, auth, hook["id"], status="delivered", limit=250)
        return delivered if len(delivered) == 5 else None

    delivered = await eventually(all_delivered)
    assert {d["status"] for d in delivered} == {"delivered"}
    assert sorted(d["id"] for d in delivered) == sorted(ids)
    bad = await gateway.client.get(
        f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "lost"}, headers=auth
    )
    assert bad.status_code == 422


async def test_enable_sends_a_live_health_check(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, enabled=False)
    receiver.respond((500, {}, "nope"))
    refused = await gateway.client.post(f"/v1/webhooks/{hook['id']}/enable", headers=auth)
    assert refused.status_code == 422
    assert refused.json()["extra"][0]["statusCode"] == 500
    assert "500" in refused.json()["detail"]
    assert (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()["enabled"] is False
    ok = await gateway.client.post(f"/v1/webhooks/{hook['id']}/enable", headers=auth)
    assert ok.status_code == 200
    assert ok.json()["enabled"] is True
    assert ok.json()["status"] == "HEALTHY"
    assert [r.headers["x-blue-event"] for r in receiver.requests] == ["WEBHOOK_HEALTH_CHECK"] * 2
    StandardWebhook(hook["secret"]).verify(receiver.requests[1].body, receiver.requests[1].headers)
    disabled = await gateway.client.post(f"/v1/webhooks/{hook['id']}/disable", headers=auth)
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabledReason"] == "manual"
    assert (await gateway.event(auth, event="TODO_CREATED"))["deliveries"] == 0


async def test_a_retry_due_after_its_webhook_was_disabled_mid_attempt_is_discarded(
    gateway_factory: GatewayFactory,
) -> None:
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        arrived.set()
        await answer.wait()
        return web.Response(status=500, text="down")

    app = web.Application()
    app.router.add_post("/hook", held)
    runner, port = await listen(app)
    try:
        gw = await gateway_factory(retry_schedule="0,1h")
        auth = await gw.token()
        hook = await gw.webhook(auth, url=f"http://127.0.0.1:{port}/hook")
        await gw.event(auth, event="TODO_CREATED", currentValue=TODO)
        await eventually(arrived.is_set)
        disabled = await gw.client.post(f"/v1/webhooks/{hook['id']}/disable", headers=auth)
        assert disabled.json()["enabled"] is False
        answer.set()  # the attempt under way fails after the disable: no retry may wait for an hour
        (delivery,) = await eventually(lambda: _deliveries(gw, auth, hook["id"], status="discarded"))
        detail = (await gw.client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
        assert [a["statusCode"] for a in detail["attempts"]] == [500]
        assert detail["nextAttemptAt"] is None
    finally:
        answer.set()
        await runner.cleanup()


async def test_test_endpoint_sends_a_catalog_sample(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    resp = await gateway.client.post(
        f"/v1/webhooks/{hook['id']}/test", json={"event": "COMMENT_CREATED"}, headers=auth
    )
    assert resp.status_code == 202
    assert resp.json()["status"] == "delivered"
    assert receiver.requests[0].json()["event"] == "COMMENT_CREATED"
    bad = await gateway.client.post(f"/v1/webhooks/{hook['id']}/test", json={"event": "NOPE"}, headers=auth)
    assert bad.status_code == 422


async def test_manual_retry_sends_again_with_same_webhook_id(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url)
    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)
    delivered = await eventually(lambda: _deliveries(gateway, auth, hook["id"], status="delivered"))
    resp = await gateway.client.post(f"/v1/deliveries/{delivered[0]['id']}/retry", headers=auth)
    assert resp.status_code == 202
    await eventually(lambda: len(receiver.requests) == 2)
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]


# --- health with a controlled clock -------------------------------------------------------------------


async def test_health_transitions_and_auto_disable(gateway_factory: GatewayFactory, receiver: Receiver) -> None:
    clock = FakeClock()
    gw = await gateway_factory(clock=clock, retry_schedule="0,1m,1m,1m,1m,1m,1m,1m,1m,1m", disable_after=3600.0)
    auth = await gw.token()
    hook = await gw.webhook(auth, url=receiver.url)
    receiver.default = (500, {}, "down")

    async def status() -> dict[str, Any]:
        return (await gw.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()  # type: ignore[no-any-return]

    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)
    for attempt in range(1, 6):
        await eventually(lambda n=attempt: len(receiver.requests) >= n)
        await eventually(lambda: _no_delivering(gw))
        expected = "UNHEALTHY" if attempt >= 5 else "HEALTHY"
        assert (await status())["status"] == expected, f"after {attempt} failures"
        clock.advance(75)  # past the next retry (1 min ± 20 %): due now, nothing is slept through
    await eventually(lambda: len(receiver.requests) >= 6)
    await eventually(lambda: _no_delivering(gw))  # the sixth failure is recorded before the clock jumps
    assert (await status())["enabled"] is True

    clock.advance(3600)  # an hour with no success while attempts keep failing
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)
    data = await eventually(lambda: _disabled(gw, auth, hook["id"]))
    assert data["disabledReason"] == "failing"

    async def none_left() -> bool:  # the first delivery may still be under way when the second disables the hook
        async with gw.db.connect() as conn:
            open_ = Delivery.status.in_(("pending", "delivering"))
            return await conn.scalar(select(func.count()).select_from(Delivery).where(open_)) == 0

    await eventually(none_left)

    receiver.default = (200, {}, "ok")
    enabled = await gw.client.post(f"/v1/webhooks/{hook['id']}/enable", headers=auth)
    assert enabled.json()["status"] == "HEALTHY"


async def _no_delivering(gw: Gateway) -> bool:
    async with gw.db.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "delivering"))
    return n == 0


async def _disabled(gw: Gateway, auth: dict[str, str], hook_id: str) -> dict[str, Any] | None:
    data = (await gw.client.get(f"/v1/webhooks/{hook_id}", headers=auth)).json()
    return data if not data["enabled"] else None  # type: ignore[no-any-return]


async def test_success_makes_webhook_healthy_again(gateway_factory: GatewayFactory, receiver: Receiver) -> None:
    gw = await gateway_factory(retry_schedule="0,0,0,0,0,0,0")
    auth = await gw.token()
    hook = await gw.webhook(auth, url=receiver.url)
    receiver.respond(*[(500, {}, "")] * 5)
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: len(receiver.requests) == 6)
    await eventually(lambda: _deliveries(gw, auth, hook["id"], status="delivered"))
    data = (await gw.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    assert data["status"] == "HEALTHY"


async def test_retention_prunes_old_finished_deliveries(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    clock = FakeClock()
    gw = await gateway_factory(clock=clock, retention=86400.0)
    auth = await gw.token()
    hook = await gw.webhook(auth, url=receiver.url)
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)
    await eventually(lambda: _deliveries(gw, auth, hook["id"], status="delivered"))
    assert await gw.runtime.prune() == 0
    clock.advance(2 * 86400)
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)  # fresh: must survive
    await eventually(lambda: len(receiver.requests) == 2)
    await eventually(lambda: _no_delivering(gw))
    assert await gw.runtime.prune() == 2  # the old delivery and its event
    async with gw.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Delivery)) == 1
        assert await conn.scalar(select(func.count()).select_from(Event)) == 1
        assert await conn.scalar(select(func.count()).select_from(Attempt)) == 1


# --- catalog and schema ---------------------------------------------------------------------------------


async def test_event_catalog_lists_every_event_with_a_sample(gateway: Gateway) -> None:
    auth = await gateway.token()
    catalog = (await gateway.client.get("/v1/event-types", headers=auth)).json()
    assert {e["name"] for e in catalog} == SUBSCRIBABLE
    for entry in catalog:
        assert entry["sample"]["event"] == entry["name"]
        assert entry["group"]
        assert entry["description"]


async def test_openapi_describes_every_route(gateway: Gateway) -> None:
    schema = (await gateway.client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path in [
        "/v1/events",
        "/v1/events/batch",
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}",
        "/v1/webhooks/{webhook_id}/rotate-secret",
        "/v1/webhooks/{webhook_id}/recover",
        "/v1/deliveries/{delivery_id}",
        "/v1/sources",
        "/v1/sources/{source_id}/events",
        "/v1/event-types",
        "/healthz",
        "/readyz",
    ]:
        assert path in paths, path
    create = paths["/v1/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" in create or "properties" in create
    assert (await gateway.client.get("/schema")).status_code == 200


@pytest.mark.parametrize("name", ["Keep-Alive", "Proxy-Authorization", "X-Signature", "Host"])
async def test_a_header_the_gateway_sets_is_refused_in_webhook_headers_and_template_headers_alike(
    gateway: Gateway, name: str
) -> None:
    auth = await gateway.token()
    url = "https://example.com/hook"
    fixed = await gateway.client.post("/v1/webhooks", json={"url": url, "headers": {name: "x"}}, headers=auth)
    assert fixed.status_code == 422, fixed.text
    assert fixed.json()["extra"][0]["key"] == "headers" and name in fixed.json()["detail"]
    templated = await gateway.client.post(
        "/v1/webhooks", json={"url": url, "template": {"headers": {name: "x"}}}, headers=auth
    )
    assert templated.status_code == 422, templated.text
    assert templated.json()["extra"][0]["key"] == f"template.headers.{name}"
    assert (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"] == []


async def test_webhook_field_limits_answer_422_naming_the_field_and_patch_cannot_set_the_secret(
    gateway: Gateway,
) -> None:
    auth = await gateway.token()
    url = "https://example.com/hook"
    for body, key in [
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"url": url, "name": "n" * 201}, "name"),
        ({"url": url, "projectIds": ["p" * 129]}, "projectIds[0]"),
        ({"url": url, "secret": "short"}, "secret"),
        ({"url": url, "headers": {"bad name": "x"}}, "headers"),
        ({"url": url, "headers": {"X-A": "one\ntwo"}}, "headers[...]"),  # msgspec names a map value so
        ({"url": url, "headers": {f"X-{i}": "v" for i in range(33)}}, "headers"),
    ]:
        resp = await gateway.client.post("/v1/webhooks", json=body, headers=auth)
        assert resp.status_code == 422, (key, resp.text)
        assert resp.json()["extra"][0]["key"] == key, resp.text
    assert (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"] == []
    hook = await gateway.webhook(auth, url=url, name="kept")
    patched = await gateway.client.patch(f"/v1/webhooks/{hook['id']}", json={"secret": "s" * 20}, headers=auth)
    assert patched.status_code == 422, patched.text
    too_long = await gateway.client.patch(f"/v1/webhooks/{hook['id']}", json={"name": "n" * 201}, headers=auth)
    assert (too_long.status_code, too_long.json()["extra"][0]["key"]) == (422, "name")
    renamed = await gateway.client.patch(f"/v1/webhooks/{hook['id']}", json={"name": "new"}, headers=auth)
    assert (renamed.status_code, renamed.json()["name"], renamed.json()["url"]) == (200, "new", url)
