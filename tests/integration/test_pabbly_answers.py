"""How the ``pabbly`` connector reads what a Pabbly Connect webhook URL answers, against a local stand-in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.db.models import Delivery
from tests.conftest import Gateway, Receiver, eventually

PATH = "/workflow/sendwebhookdata/IjU3NjYwNTZkMDYz_pc"
ACCEPTED = (200, {"content-type": "application/json"}, '{"status":"success","message":"Webhook received"}')
TODO = {"title": "t", "todoList": {"id": "L", "projectId": "p1", "project": {"id": "p1", "name": "Site"}}}


async def delivery_detail(gateway: Gateway, auth: dict[str, str], status: str) -> dict[str, Any] | None:
    async with gateway.db.connect() as conn:
        delivery_id = await conn.scalar(select(Delivery.id))
    if delivery_id is None:
        return None
    detail: dict[str, Any] = (await gateway.client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()
    return detail if detail["status"] == status else None


async def test_an_unknown_url_answer_is_retried_and_kept_then_pabbly_accepts(
    gateway: Gateway, receiver: Receiver
) -> None:
    receiver.respond((404, {}, "Not Found"))
    receiver.default = ACCEPTED
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url + PATH, connector="pabbly", events=["TODO_CREATED"])

    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def delivered() -> dict[str, Any] | None:
        return await delivery_detail(gateway, auth, "delivered")

    detail = await eventually(delivered)
    assert [a["statusCode"] for a in detail["attempts"]] == [404, 200]
    assert detail["attempts"][0]["responseBody"] == "Not Found"
    after = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    assert after["enabled"] is True and after["status"] == "HEALTHY"
    assert [r.path for r in receiver.requests] == [PATH, PATH]


async def test_410_discards_and_disables_the_pabbly_webhook(gateway: Gateway, receiver: Receiver) -> None:
    receiver.respond((410, {}, "Gone"))
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url + PATH, connector="pabbly")

    await gateway.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def disabled() -> dict[str, Any] | None:
        got: dict[str, Any] = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
        return got if got["enabled"] is False else None

    webhook = await eventually(disabled)
    assert webhook["disabledReason"] == "gone"

    async def discarded() -> dict[str, Any] | None:
        return await delivery_detail(gateway, auth, "discarded")

    assert (await eventually(discarded))["attempts"][0]["statusCode"] == 410
