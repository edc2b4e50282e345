"""Connectors and templates end to end: Zapier REST Hooks, Pabbly, previews, sandbox, plugins (issue 4)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from connectors.registry import load_connectors
from gateway.core.catalog import EVENT_TYPES
from gateway.db.models import Attempt
from tests.conftest import Gateway, Receiver, eventually

EVENT = {
    "id": "evt-ext-1",
    "event": "TODO_CREATED",
    "occurredAt": "2026-11-27T10:00:00Z",
    "user": {"id": "u1"},
    "currentValue": {
        "id": "t1",
        "title": 'Write "docs" ✓',
        "done": False,
        "todoList": {"id": "L", "title": "To do", "projectId": "p1", "project": {"id": "p1", "name": "Site"}},
        "users": [{"id": "u1", "fullName": "Ada", "email": "ada@example.com"}],
        "todoTags": [{"tag": {"title": "urgent"}}, {"tag": {"title": "web"}}],
    },
}


async def test_zapier_rest_hook_receives_flat_payload_then_410_removes_it(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    receiver.respond(
        (200, {"content-type": "application/json"}, '{"status": "success", "attempt": "a1"}'), (410, {}, "gone")
    )
    me = (await gateway.client.get("/v1/zapier/me", headers=auth)).json()
    assert me["company"]["id"] == "acme"
    sub = await gateway.client.post(
        "/v1/zapier/subscriptions",
        json={"target_url": f"{receiver.url}/hooks/catch/1/abc/", "event": "TODO_CREATED"},
        headers=auth,
    )
    assert sub.status_code == 201
    sub_id = sub.json()["id"]
    await gateway.event(auth, **EVENT)
    await eventually(lambda: receiver.requests)
    flat = receiver.requests[0].json()
    assert flat["record_title"] == 'Write "docs" ✓'
    assert flat["list_title"] == "To do"
    assert flat["tags"] == "urgent, web"
    assert flat["assignee_names"] == "Ada"
    assert flat["project_id"] == "p1"
    assert all(isinstance(v, str | int | float | bool | type(None)) for v in flat.values()), "flat means flat"
    assert "X-Signature" not in receiver.requests[0].headers
    sample = (await gateway.client.get("/v1/zapier/samples/TODO_CREATED", headers=auth)).json()
    assert 1 <= len(sample) <= 3
    assert set(sample[0]) == set(flat)

    await gateway.event(auth, **{**EVENT, "id": "evt-ext-2"})
    await eventually(lambda: len(receiver.requests) == 2)

    async def gone() -> bool:
        return (await gateway.client.get(f"/v1/webhooks/{sub_id}", headers=auth)).status_code == 404

    await eventually(gone)
    assert (await gateway.event(auth, **{**EVENT, "id": "evt-ext-3"}))["deliveries"] == 0
    assert (await gateway.client.delete(f"/v1/zapier/subscriptions/{sub_id}", headers=auth)).status_code == 404


async def test_zapier_unsubscribe_deletes_the_subscription(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    sub = (
        await gateway.client.post(
            "/v1/zapier/subscriptions", json={"hookUrl": receiver.url, "event": "TAG_CREATED"}, headers=auth
        )
    ).json()
    resp = await gateway.client.delete(f"/v1/zapier/subscriptions/{sub['id']}", headers=auth)
    assert resp.status_code == 200
    assert (await gateway.client.get(f"/v1/webhooks/{sub['id']}", headers=auth)).status_code == 404
    bad = await gateway.client.post(
        "/v1/zapier/subscriptions", json={"target_url": receiver.url, "event": "NOPE"}, headers=auth
    )
    assert bad.status_code == 422


async def test_pabbly_receives_the_flat_payload(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    url = f"{receiver.url}/workflow/sendwebhookdata/IjU3NjUwNTZmMDYz"
    await gateway.webhook(auth, url=url, connector="pabbly", events=["TODO_CREATED"])
    await gateway.event(auth, **EVENT)
    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    assert got.path == "/workflow/sendwebhookdata/IjU3NjUwNTZmMDYz"
    body = got.json()
    assert body["record_id"] == "t1"
    assert body["event"] == "TODO_CREATED"
    assert not {"x-signature", "webhook-signature"} & {k.lower() for k in got.headers}


async def test_samples_have_the_keys_of_live_deliveries_for_every_event(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url, connector="zapier")
    names = [t.name for t in EVENT_TYPES]
    batch = [{**t.sample, "id": f"live-{t.name}"} for t in EVENT_TYPES]
    resp = await gateway.client.post("/v1/events/batch", json={"events": batch}, headers=auth)
    assert resp.status_code == 202
    await eventually(lambda: len(receiver.requests) == len(names), timeout=20)
    live = {r.json()["event"]: r.json() for r in receiver.requests}
    for name in names:
        sample = (await gateway.client.get(f"/v1/zapier/samples/{name}", headers=auth)).json()[0]
        assert set(sample) == set(live[name]), name
        assert sample["event"] == name
    assert (await gateway.client.get("/v1/zapier/samples/NOPE", headers=auth)).status_code == 404


@pytest.mark.parametrize(
    ("connector", "template"),
    [
        ("webhook", None),
        ("webhook", {"name": "record"}),
        ("webhook", {"fields": {"title": "$.currentValue.title", "tags": "$.currentValue.todoTags[*].tag.title"}}),
        (
            "webhook",
            {
                "body": '{"text": {{ (currentValue.title ~ " in " ~ currentValue.todoList.title) | tojson }},'
                ' "at": {{ occurredAt | tojson }}}',
                "headers": {"X-Event": "{{ event }}"},
            },
        ),
        ("zapier", None),
        ("pabbly", None),
    ],
)
async def test_preview_equals_the_delivered_bytes(
    gateway: Gateway, receiver: Receiver, connector: str, template: dict[str, Any] | None
) -> None:
    auth = await gateway.token()
    fields: dict[str, Any] = {"url": receiver.url, "connector": connector}
    if template is not None:
        fields["template"] = template
    hook = await gateway.webhook(auth, **fields)
    await gateway.event(auth, **EVENT)
    await eventually(lambda: receiver.requests)
    preview = await gateway.client.post(
        "/v1/templates/preview", json={"webhookId": hook["id"], "event": EVENT}, headers=auth
    )
    assert preview.status_code == 200, preview.text
    data = preview.json()
    assert data["body"].encode() == receiver.requests[0].body
    assert data["method"] == "POST"
    if template and "headers" in template:
        assert receiver.requests[0].headers["X-Event"] == data["headers"]["X-Event"] == "TODO_CREATED"


async def test_record_template_gives_the_seed_shape(gateway: Gateway) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post(
        "/v1/templates/preview", json={"template": {"name": "record"}, "event": EVENT}, headers=auth
    )
    body = orjson.loads(resp.json()["body"])
    assert body == {
        "event": "RECORD_CREATED",
        "record": EVENT["currentValue"],
        "company": {"id": "acme"},
        "project": {"id": "p1"},
        "user": {"id": "u1"},
    }
    unknown = await gateway.client.post(
        "/v1/webhooks", json={"url": "https://example.com/", "template": {"name": "nope"}}, headers=auth
    )
    assert unknown.status_code == 422
    assert "nope" in unknown.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ cycler.__init__.__globals__ }}", "unsafe"),
        ("{% include '/etc/passwd' %}", "include"),
        ('{\n  "a": {{ event }\n}', "line 2"),
    ],
)
async def test_unsafe_or_broken_templates_are_refused_at_save(gateway: Gateway, body: str, needle: str) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post(
        "/v1/webhooks", json={"url": "https://example.com/", "template": {"body": body}}, headers=auth
    )
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["detail"].lower()
    assert (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{% for i in range(10**9) %}{% endfor %}", "range too big"),
        ("{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}", "time limit"),
        ("{{ 'x' * 10000000 }}", "exceed"),
        ("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}", "exceed"),
    ],
)
async def test_runaway_templates_are_cut_off(gateway: Gateway, body: str, needle: str) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post(
        "/v1/templates/preview",
        json={"template": {"body": body, "contentType": "text/plain"}, "event": EVENT},
        headers=auth,
    )
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["detail"].lower()


async def test_templates_cannot_read_the_environment(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUE_GATEWAY_TEST_CANARY", "canary-7f3a9")
    auth = await gateway.token()
    for body in [
        "{{ environ }}",
        "{{ config }}",
        "{{ self }}",
        "{{ range.__self__ }}",
        "{{ lipsum.__globals__.os.environ }}",
        "{{ request }}",
    ]:
        resp = await gateway.client.post(
            "/v1/templates/preview",
            json={"template": {"body": body, "contentType": "text/plain"}, "event": EVENT},
            headers=auth,
        )
        assert "canary-7f3a9" not in resp.text, body
        assert resp.status_code in (200, 422)


async def test_render_error_fails_the_delivery_at_once(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, template={"body": '{"n": {{ currentValue.count }} }'})
    await gateway.event(auth, **EVENT)

    async def failed() -> dict[str, Any] | None:
        page = (await gateway.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth)).json()["data"]
        return page[0] if page and page[0]["status"] == "failed" else None

    delivery = await eventually(failed)
    detail = (await gateway.client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    assert len(detail["attempts"]) == 1
    assert detail["attempts"][0]["error"].startswith("template_error:")
    assert receiver.requests == []
    async with gateway.db.connect() as conn:
        assert len(list(await conn.execute(select(Attempt.id)))) == 1


async def test_plugin_connector_is_listed_and_delivers(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    listed = {c["name"]: c for c in (await gateway.client.get("/v1/connectors", headers=auth)).json()}
    assert {"webhook", "zapier", "pabbly", "chat"} <= set(listed)
    assert "broken-example" not in listed
    assert listed["chat"]["signs"] is False
    assert listed["chat"]["optionsSchema"]["properties"]["prefix"]["type"] == "string"
    await gateway.webhook(auth, url=receiver.url, connector="chat", options={"prefix": "[Blue] "})
    await gateway.event(auth, **EVENT)
    await eventually(lambda: receiver.requests)
    assert receiver.requests[0].json() == {"text": '[Blue] todo created: Write "docs" ✓'}


def test_broken_plugin_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.connectors")
    registry = load_connectors()
    assert "chat" in registry.names()
    assert "broken-example" not in registry.names()
    messages = [r.getMessage() for r in caplog.records]
    assert any("broken-example" in m and "broken on purpose" in m for m in messages), messages
