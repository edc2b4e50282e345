"""Deliveries carry the body Blue's own webhooks send, so a receiver written against Blue's documentation
works unchanged when pointed at the gateway.

``tests/fixtures/blue_delivery.json`` is Blue's documented example body. Values are stripped to their kinds
and the nesting is compared with live deliveries. ``previousValue`` and ``currentValue`` hold whatever
changed (a record, a checklist, a tag ...), so only "object or null" is compared for them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook as StandardWebhook

from gateway.core.catalog import EVENT_TYPES, derive_project_id
from tests.conftest import Captured, Gateway, Receiver, eventually

BLUE_BODY: dict[str, Any] = orjson.loads(
    (Path(__file__).parent.parent / "fixtures" / "blue_delivery.json").read_bytes()
)
BLUE_KEYS = list(BLUE_BODY)
CONTEXT_KEYS = ["company", "project", "user"]
MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PROJECT = derive_project_id(EVENT_TYPES[0].sample)
SECRET = "a-secret-the-receiver-knows"


def kinds(value: Any) -> Any:
    """The value with every leaf replaced by its kind; objects keep their key order (as item lists)."""
    if isinstance(value, dict):
        return [(key, kinds(item)) for key, item in value.items()]
    if isinstance(value, list):
        return sorted({orjson.dumps(kinds(item)).decode() for item in value})
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "timestamp" if MILLIS_Z.match(value) else "string"
    return "null"


def blue_part(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Blue's keys of a delivery, stripped; the changed values reduced to object or null."""
    return [
        (key, ("object" if body[key] is not None else "null") if key.endswith("Value") else kinds(body[key]))
        for key in BLUE_KEYS
    ]


def blue_view(api_webhook: dict[str, Any]) -> dict[str, Any]:
    """The management API's answer, cut to Blue's webhook keys, with the secret a delivery carries."""
    return {key: ("" if key == "secret" else api_webhook[key]) for key in BLUE_BODY["webhook"]}


def by_event(requests: list[Captured]) -> dict[str, dict[str, Any]]:
    return {r.json()["event"]: r.json() for r in requests}


async def test_every_event_family_is_delivered_in_blues_shape(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    names = [event_type.name for event_type in EVENT_TYPES]
    hook = await gateway.webhook(
        auth, url=receiver.url, events=names, projectIds=[PROJECT], name="Testing webhook"
    )
    batch = await gateway.client.post(
        "/v1/events/batch", json={"events": [event_type.sample for event_type in EVENT_TYPES]}, headers=auth
    )
    assert batch.status_code == 202, batch.text
    await eventually(lambda: len(receiver.requests) >= len(names), timeout=30)

    delivered = by_event(receiver.requests)
    assert sorted(delivered) == sorted(names)
    families = Counter(event_type.group for event_type in EVENT_TYPES)
    assert set(families) == {"record", "checklist", "list", "custom field", "tag", "comment"}
    api_view = blue_view((await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json())
    expected = blue_part(BLUE_BODY)
    for event_type in EVENT_TYPES:
        body = delivered[event_type.name]
        # Blue's keys first, in Blue's order; the context ids we add come after them.
        assert list(body) == BLUE_KEYS + CONTEXT_KEYS, event_type.name
        got = blue_part(body)
        assert got[:2] == expected[:2], event_type.name  # event, and the whole webhook object with its order
        for (key, kind), sample_key in zip(got[2:], ("previousValue", "currentValue"), strict=True):
            assert key == sample_key
            assert kind == ("object" if event_type.sample[sample_key] is not None else "null")
        assert body["webhook"] == api_view
        assert body["company"] == {"id": "acme"} and body["project"] == {"id": PROJECT}
        assert body["user"] == {"id": event_type.sample["user"]["id"]}


async def test_delivered_webhook_secret_is_empty_and_signatures_still_verify(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, secret=SECRET, events=["TODO_CREATED"])
    assert hook["secret"] == SECRET
    await gateway.event(auth, **EVENT_TYPES[0].sample)

    got = (await eventually(lambda: receiver.requests))[0]
    assert got.json()["webhook"]["secret"] == ""
    assert SECRET.encode() not in got.body
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Signature"], expected)
    StandardWebhook(SECRET.encode()).verify(got.body, got.headers)  # raises on a bad signature
    assert (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()["secret"] is None


async def test_delivered_status_is_the_webhooks_status_when_rendered(gateway: Gateway, receiver: Receiver) -> None:
    # The test schedule gives 5 attempts: all fail, and 5 consecutive failures make the webhook UNHEALTHY.
    receiver.respond(*[(500, {}, "down")] * 5)
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    await gateway.event(auth, **EVENT_TYPES[0].sample)
    await eventually(lambda: _status(gateway, auth, hook["id"], "UNHEALTHY"), timeout=20)
    assert [r.json()["webhook"]["status"] for r in receiver.requests] == ["HEALTHY"] * 5

    await gateway.event(auth, **EVENT_TYPES[0].sample, id="second")
    await eventually(lambda: len(receiver.requests) >= 6)
    assert receiver.requests[5].json()["webhook"]["status"] == "UNHEALTHY"
    await eventually(lambda: _status(gateway, auth, hook["id"], "HEALTHY"))


async def _status(gateway: Gateway, auth: dict[str, str], webhook_id: str, status: str) -> bool:
    answer = await gateway.client.get(f"/v1/webhooks/{webhook_id}", headers=auth)
    return bool(answer.json()["status"] == status)


async def test_a_template_reproduces_blues_body_exactly(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    source = (
        "{{ {'event': event, 'webhook': webhook, 'previousValue': previousValue, 'currentValue': currentValue}"
        " | tojson }}"
    )
    hook = await gateway.webhook(
        auth, url=receiver.url, events=["TODO_CREATED"], projectIds=[PROJECT], template={"body": source}
    )
    await gateway.webhook(auth, url=f"{receiver.url}/record", events=["TODO_CREATED"], template={"name": "record"})
    await gateway.event(auth, **EVENT_TYPES[0].sample)
    await eventually(lambda: len(receiver.requests) >= 2)

    templated = next(r for r in receiver.requests if r.path == "/")
    body = templated.json()
    assert list(body) == BLUE_KEYS
    assert blue_part(body) == blue_part(BLUE_BODY)
    assert body["webhook"] == blue_view(
        (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    )
    assert templated.body == orjson.dumps(body)  # compact, keys in Blue's order, nothing else
    record = next(r for r in receiver.requests if r.path == "/record").json()
    assert list(record) == ["event", "record", "company", "project", "user"]  # the seed's simple shape
