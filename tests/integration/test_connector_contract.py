"""How the engine and API treat connectors and templates at their edges (plugins that misbehave included)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import orjson
import pytest

from connectors.base import Connector, Outcome, ResponseInfo
from connectors.registry import ENTRY_POINT_GROUP, ConnectorRegistry, load_connectors
from connectors.webhook import WebhookConnector
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually

EVENT = {
    "id": "e1",
    "event": "TODO_CREATED",
    "occurredAt": "2026-11-27T10:00:00Z",
    "currentValue": {"id": "t1", "title": "Hello", "todoList": {"projectId": "p1"}},
}


class ClassifyRaises(Connector):
    """A plugin with a bug in classify."""

    name = "classify-raises"
    description = "test double"

    def classify(self, response: ResponseInfo) -> Outcome:
        raise KeyError("status")


class RenderRaises(Connector):
    """A plugin with a bug in render."""

    name = "render-raises"
    description = "test double"

    def context(self, event: Any, webhook: Any) -> dict[str, Any]:
        return {}["missing"]  # type: ignore[no-any-return]


class Impostor(Connector):
    """A plugin that tries to take a built-in's name."""

    name = "webhook"
    description = "not the real one"


async def test_plugin_bugs_fail_the_delivery_with_the_reason(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    registry = ConnectorRegistry([WebhookConnector(), ClassifyRaises(), RenderRaises()])
    gw = await gateway_factory(connectors=registry)
    auth = await gw.token()
    for connector in ("classify-raises", "render-raises"):
        hook = await gw.webhook(auth, url=receiver.url, connector=connector)

        async def failed(hook_id: str = hook["id"]) -> dict[str, Any] | None:
            page = (await gw.client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=auth)).json()["data"]
            return page[0] if page and page[0]["status"] == "failed" else None

        await gw.event(auth, **{**EVENT, "id": connector})
        delivery = await eventually(failed)
        detail = (await gw.client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
        assert detail["attempts"][0]["error"].startswith("connector_error:"), detail
        await gw.client.post(f"/v1/webhooks/{hook['id']}/disable", headers=auth)
    assert len(receiver.requests) == 1  # classify-raises did send; render-raises never did


def test_a_plugin_cannot_replace_a_built_in(caplog: pytest.LogCaptureFixture) -> None:
    eps = [
        EntryPoint(name="webhook", value=f"{__name__}:Impostor", group=ENTRY_POINT_GROUP),
        EntryPoint(name="webhook", value="connectors.webhook:WebhookConnector", group=ENTRY_POINT_GROUP),
    ]
    registry = load_connectors(eps)
    assert isinstance(registry.get("webhook"), WebhookConnector)
    assert any("name is taken" in r.getMessage() for r in caplog.records)
    assert load_connectors(eps[:1]).get("webhook").__class__ is Impostor  # alone, it loads


async def test_options_follow_the_connector_schema(gateway: Gateway) -> None:
    auth = await gateway.token()
    bad = await gateway.client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/", "connector": "chat", "options": {"prefix": 5}},
        headers=auth,
    )
    assert bad.status_code == 422
    assert bad.json()["extra"][0]["key"] == "options.prefix"
    extra = await gateway.client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/", "connector": "chat", "options": {"colour": "red"}},
        headers=auth,
    )
    assert extra.status_code == 422
    ok = await gateway.webhook(auth, url="https://example.com/", connector="chat", options={"prefix": "> "})
    patched = await gateway.client.patch(f"/v1/webhooks/{ok['id']}", json={"options": {"prefix": 1}}, headers=auth)
    assert patched.status_code == 422


async def test_headers_only_template_keeps_the_connector_body(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, template={"headers": {"X-Title": "{{ currentValue.title }}"}})
    await gateway.event(auth, **EVENT)
    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    assert got.headers["X-Title"] == "Hello"
    assert set(orjson.loads(got.body)) == {
        "event",
        "webhook",
        "previousValue",
        "currentValue",
        "company",
        "project",
        "user",
    }


async def test_template_errors_name_field_line_and_column_once(gateway: Gateway) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/", "template": {"body": "{\n\n  {{ event }\n}"}},
        headers=auth,
    )
    assert resp.status_code == 422
    data = resp.json()
    assert data["detail"].count("template.body") == 1
    assert data["extra"][0]["key"] == "template.body"
    assert data["extra"][0]["line"] == 3
    assert data["extra"][0]["column"] is not None


async def test_preview_masks_custom_header_values(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, headers={"Authorization": "Bearer s3cr3t-value"})
    preview = await gateway.client.post(
        "/v1/templates/preview", json={"webhookId": hook["id"], "event": EVENT}, headers=auth
    )
    assert preview.status_code == 200
    assert preview.json()["headers"]["Authorization"] == "***"
    assert "s3cr3t-value" not in preview.text


async def test_only_rest_hook_subscriptions_are_unsubscribed(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    plain = await gateway.webhook(auth, url=receiver.url, connector="zapier")
    assert (
        await gateway.client.delete(f"/v1/zapier/subscriptions/{plain['id']}", headers=auth)
    ).status_code == 404
    sub = (
        await gateway.client.post(
            "/v1/zapier/subscriptions", json={"target_url": receiver.url, "event": "TODO_CREATED"}, headers=auth
        )
    ).json()
    renamed = await gateway.client.patch(f"/v1/webhooks/{sub['id']}", json={"options": {}}, headers=auth)
    assert renamed.status_code == 200
    assert (await gateway.client.delete(f"/v1/zapier/subscriptions/{sub['id']}", headers=auth)).status_code == 200
    ingest_only = await gateway.token(scopes=("ingest",))
    assert (await gateway.client.get("/v1/zapier/samples/TODO_CREATED", headers=ingest_only)).status_code == 403


async def test_source_secret_can_be_set_after_blue_webhook_exists(gateway: Gateway, receiver: Receiver) -> None:
    import hashlib
    import hmac

    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url)
    source = (await gateway.client.post("/v1/sources", json={"name": "Blue"}, headers=auth)).json()
    assert source["hasSecret"] is False
    body = orjson.dumps({"event": "TODO_CREATED", "currentValue": {"id": "t1"}})
    sig = hmac.new(b"blue-secret-9", body, hashlib.sha256).hexdigest()
    early = await gateway.client.post(source["ingestPath"], content=body, headers={"X-Signature": sig})
    assert early.status_code == 401
    assert "no secret yet" in early.json()["detail"]
    patched = await gateway.client.patch(
        f"/v1/sources/{source['id']}", json={"secret": "blue-secret-9"}, headers=auth
    )
    assert patched.json()["hasSecret"] is True
    ok = await gateway.client.post(source["ingestPath"], content=body, headers={"X-Signature": sig})
    assert ok.status_code == 202
