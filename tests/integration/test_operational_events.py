"""Operational webhooks: the gateway's own events about a company's webhooks, delivered and signed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as StandardWebhook

from gateway.db.models import Delivery, Event
from tests.conftest import Captured, Gateway, GatewayFactory, Receiver, eventually, running_receiver

OPS_SECRET = "whsec_" + "b3BzLXNlY3JldC1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ=="
EVENT = {"event": "TODO_CREATED", "projectId": "p1", "currentValue": {"id": "t1", "title": "Write docs"}}
BROKEN_AT_RENDER = {"body": '{"n": {{ currentValue.count }} }'}
"""Renders invalid JSON for an event without ``count``: a template error at delivery time."""
ALL_GATEWAY_EVENTS = [
    "gateway.webhook.unhealthy",
    "gateway.webhook.disabled",
    "gateway.webhook.recovered",
    "gateway.delivery.exhausted",
    "gateway.template.error",
]


@pytest.fixture
async def ops() -> AsyncIterator[Receiver]:
    """A second receiver, for the operational events (the ``receiver`` fixture plays the failing endpoint)."""
    async with running_receiver() as rec:
        yield rec


def of(receiver: Receiver, name: str) -> list[Captured]:
    """The requests the receiver got for one event name, each signature checked independently."""
    got = [r for r in receiver.requests if r.json()["event"] == name]
    for request in got:
        StandardWebhook(OPS_SECRET).verify(request.body, request.headers)  # raises on a bad signature
    return got


async def subscribe_ops(
    gateway: Gateway, auth: dict[str, str], url: str, events: list[str], **more: Any
) -> dict[str, Any]:
    return await gateway.webhook(
        auth, url=url, events=events, secret=OPS_SECRET, signing=["standard", "blue"], **more
    )


async def status_of(gateway: Gateway, auth: dict[str, str], webhook_id: str) -> dict[str, Any]:
    resp = await gateway.client.get(f"/v1/webhooks/{webhook_id}", headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_template_errors_turn_the_webhook_unhealthy_and_tell_the_subscriber_signed(
    gateway: Gateway, receiver: Receiver, ops: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.delivery")
    auth = await gateway.token()
    await subscribe_ops(gateway, auth, ops.url, ["gateway.webhook.unhealthy", "gateway.template.error"])
    broken = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"], template=BROKEN_AT_RENDER)
    for i in range(5):
        await gateway.event(auth, **EVENT, id=f"e{i}")

    (unhealthy,) = await eventually(lambda: of(ops, "gateway.webhook.unhealthy"))
    body = unhealthy.json()
    assert body["webhook"]["id"] != broken["id"]  # the subscriber's own webhook object, as on any delivery
    current = body["currentValue"]
    assert current["webhook"]["id"] == broken["id"] and current["webhook"]["host"] == "127.0.0.1"
    assert current["health"]["status"] == "UNHEALTHY" and current["health"]["consecutiveFailures"] == 5
    assert current["delivery"]["error"].startswith("template_error:")
    assert body["previousValue"] == {"health": {"status": "HEALTHY"}}
    assert unhealthy.headers["X-Signature"]  # the blue scheme too, as configured
    assert (await status_of(gateway, auth, broken["id"]))["status"] == "UNHEALTHY"

    errors = await eventually(lambda: len(of(ops, "gateway.template.error")) == 5)
    assert errors
    assert {r.json()["currentValue"]["delivery"]["status"] for r in of(ops, "gateway.template.error")} == {
        "failed"
    }
    assert receiver.requests == []
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.getMessage() == "delivery attempt"]
    assert {vars(r)["gateway_fields"]["webhook"] for r in warned} == {broken["id"]}
    assert {vars(r)["gateway_fields"]["reason"] for r in warned} == {"template_error"}


async def test_a_delivery_that_exhausts_its_retries_is_reported(
    gateway: Gateway, receiver: Receiver, ops: Receiver
) -> None:
    auth = await gateway.token()
    await subscribe_ops(gateway, auth, ops.url, ["gateway.delivery.exhausted"])
    failing = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    receiver.default = (500, {}, "down")
    await gateway.event(auth, **EVENT)

    (exhausted,) = await eventually(lambda: of(ops, "gateway.delivery.exhausted"))
    current = exhausted.json()["currentValue"]
    assert current["webhook"]["id"] == failing["id"]
    assert current["delivery"]["status"] == "failed" and current["delivery"]["attempt"] == 5  # the test schedule's
    assert current["delivery"]["event"] == "TODO_CREATED" and current["delivery"]["error"] == "http 500"
    assert len(receiver.requests) == 5


async def test_gone_disables_and_the_subscriber_hears_of_it(
    gateway: Gateway, receiver: Receiver, ops: Receiver
) -> None:
    auth = await gateway.token()
    await subscribe_ops(gateway, auth, ops.url, ["gateway.webhook.disabled"])
    gone = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    receiver.default = (410, {}, "gone")
    await gateway.event(auth, **EVENT)

    (disabled,) = await eventually(lambda: of(ops, "gateway.webhook.disabled"))
    current = disabled.json()["currentValue"]
    assert current["webhook"]["id"] == gone["id"]
    assert current["health"]["enabled"] is False and current["health"]["disabledReason"] == "gone"
    assert current["delivery"]["status"] == "discarded"
    assert (await status_of(gateway, auth, gone["id"]))["disabledReason"] == "gone"


async def test_a_webhook_failing_past_the_disable_period_is_disabled_and_reported(
    gateway_factory: GatewayFactory, receiver: Receiver, ops: Receiver
) -> None:
    gateway: Gateway = await gateway_factory(disable_after=0.3)
    auth = await gateway.token()
    await subscribe_ops(gateway, auth, ops.url, ["gateway.webhook.disabled"])
    failing = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    receiver.default = (500, {}, "down")
    await gateway.event(auth, **EVENT)

    (disabled,) = await eventually(lambda: of(ops, "gateway.webhook.disabled"))
    current = disabled.json()["currentValue"]
    assert current["webhook"]["id"] == failing["id"]
    assert current["health"]["disabledReason"] == "failing" and current["health"]["enabled"] is False
    assert current["delivery"]["status"] == "discarded"  # its retry went with the webhook
    assert (await status_of(gateway, auth, failing["id"]))["enabled"] is False


async def test_an_unhealthy_webhook_that_delivers_again_is_reported_recovered(
    gateway_factory: GatewayFactory, receiver: Receiver, ops: Receiver
) -> None:
    gateway: Gateway = await gateway_factory(retry_schedule="0,0.1s,0.1s,0.1s,0.1s,0.1s")
    auth = await gateway.token()
    await subscribe_ops(gateway, auth, ops.url, ["gateway.webhook.unhealthy", "gateway.webhook.recovered"])
    flaky = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    receiver.respond(*[(503, {}, "busy")] * 5)  # five failures, then the sixth attempt succeeds
    await gateway.event(auth, **EVENT)

    (recovered,) = await eventually(lambda: of(ops, "gateway.webhook.recovered"))
    current = recovered.json()["currentValue"]
    assert current["webhook"]["id"] == flaky["id"]
    assert current["health"] == {
        "status": "HEALTHY",
        "enabled": True,
        "disabledReason": None,
        "deleted": False,
        "consecutiveFailures": 0,
        "failingSince": None,
    }
    assert current["delivery"]["status"] == "delivered" and current["delivery"]["attempt"] == 6
    assert recovered.json()["previousValue"] == {"health": {"status": "UNHEALTHY"}}
    (unhealthy,) = await eventually(lambda: of(ops, "gateway.webhook.unhealthy"))
    assert unhealthy.json()["currentValue"]["delivery"]["attempt"] == 5


async def test_a_failing_subscriber_of_operational_events_does_not_feed_itself(
    gateway: Gateway, receiver: Receiver, ops: Receiver
) -> None:
    auth = await gateway.token()
    ops.default = (500, {}, "the ops endpoint is down too")
    subscriber = await subscribe_ops(gateway, auth, ops.url, ALL_GATEWAY_EVENTS)
    await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"], template=BROKEN_AT_RENDER)
    for i in range(5):
        await gateway.event(auth, **EVENT, id=f"e{i}")

    async def settled() -> bool:
        async with gateway.db.connect() as conn:
            rows = list(await conn.execute(select(Delivery.status).where(Delivery.webhook_id == subscriber["id"])))
        return len(rows) == 6 and all(status == "failed" for (status,) in rows)

    # Five template errors and one "unhealthy" about the broken webhook, each tried five times and failed:
    # the subscriber turned unhealthy and its deliveries were exhausted, and none of that made more events.
    await eventually(settled)
    assert (await status_of(gateway, auth, subscriber["id"]))["status"] == "UNHEALTHY"
    async with gateway.db.connect() as conn:
        rows = list(await conn.execute(select(Event.event, Event.payload).where(Event.event.like("gateway.%"))))
    assert sorted(name for name, _ in rows) == ["gateway.template.error"] * 5 + ["gateway.webhook.unhealthy"]
    assert all(subscriber["id"] not in payload for _, payload in rows)
    assert len(ops.requests) == 30


async def test_tenants_cannot_post_gateway_events(gateway: Gateway) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post(
        "/v1/events", json={"event": "gateway.webhook.unhealthy", "currentValue": {}}, headers=auth
    )
    assert resp.status_code == 422
    assert "reserved" in resp.text and "event" in resp.text


async def test_gateway_events_are_in_the_catalog_and_reach_only_webhooks_that_name_them(
    gateway: Gateway, receiver: Receiver, ops: Receiver
) -> None:
    auth = await gateway.token()
    catalog = (await gateway.client.get("/v1/event-types", headers=auth)).json()
    assert {t["name"] for t in catalog if t["group"] == "gateway"} == set(ALL_GATEWAY_EVENTS)
    await gateway.webhook(auth, url=f"{ops.url}/everything")  # empty events: every event of Blue's
    await subscribe_ops(gateway, auth, f"{ops.url}/named", ["gateway.delivery.exhausted"])
    await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    receiver.default = (500, {}, "down")
    await gateway.event(auth, **EVENT)

    await eventually(lambda: of(ops, "gateway.delivery.exhausted"))
    assert sorted((r.path, r.json()["event"]) for r in ops.requests) == [
        ("/everything", "TODO_CREATED"),
        ("/named", "gateway.delivery.exhausted"),
    ]


async def test_a_project_admins_subscriber_hears_only_of_webhooks_in_its_projects(
    gateway: Gateway, receiver: Receiver, ops: Receiver
) -> None:
    admin = await gateway.token()
    p1_admin = await gateway.token(role="project-admin", projects=("p1",))
    await subscribe_ops(gateway, p1_admin, ops.url, ["gateway.delivery.exhausted"], projectIds=["p1"])
    other = await gateway.webhook(admin, url=f"{receiver.url}/p2", events=["TODO_CREATED"], projectIds=["p2"])
    mine = await gateway.webhook(admin, url=f"{receiver.url}/p1", events=["TODO_CREATED"], projectIds=["p1"])
    receiver.default = (500, {}, "down")
    await gateway.event(admin, **{**EVENT, "projectId": "p2"}, id="in-p2")
    await gateway.event(admin, **EVENT, id="in-p1")

    async def both_exhausted() -> bool:
        async with gateway.db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(Delivery.status).where(Delivery.webhook_id.in_([other["id"], mine["id"]]))
                )
            )
        return len(rows) == 2 and all(status == "failed" for (status,) in rows)

    await eventually(both_exhausted)
    (heard,) = await eventually(lambda: of(ops, "gateway.delivery.exhausted"))
    assert heard.json()["currentValue"]["webhook"]["id"] == mine["id"]
    async with gateway.db.connect() as conn:
        stored = list(await conn.execute(select(Event.id).where(Event.event == "gateway.delivery.exhausted")))
    assert len(stored) == 1  # the event about the p2 webhook had no one to hear it, so it was not stored


async def test_on_postgresql_the_unhealthy_event_is_written_and_delivered_signed(
    pg_url: str, gateway_factory: GatewayFactory, receiver: Receiver, ops: Receiver
) -> None:
    gateway: Gateway = await gateway_factory(database_url=pg_url)
    auth = await gateway.token()
    await subscribe_ops(gateway, auth, ops.url, ["gateway.webhook.unhealthy"])
    failing = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    receiver.default = (503, {}, "down")
    await gateway.event(auth, **EVENT)

    (unhealthy,) = await eventually(lambda: of(ops, "gateway.webhook.unhealthy"))
    assert unhealthy.json()["currentValue"]["webhook"]["id"] == failing["id"]
    assert unhealthy.json()["currentValue"]["delivery"]["attempt"] == 5
