"""Tenancy and tokens: previews never sign with a live secret, project-admins ingest only their own
projects, tokens expire and record their last use."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError

from gateway.db.models import Event, Token
from gateway.services.tokens import hash_token
from tests.conftest import FakeClock, Gateway, GatewayFactory, Receiver, eventually

# The documented preview key, written out here rather than imported from the code under test.
PREVIEW_SECRET = "whsec_Ymx1ZS1nYXRld2F5LXByZXZpZXctc2lnbmluZy1rZXk="
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _event(project: str | None, ext_id: str) -> dict[str, Any]:
    current: dict[str, Any] = {"id": ext_id, "title": "Ship it"}
    if project is not None:
        current["todoList"] = {"id": "L1", "projectId": project}
    return {"id": ext_id, "event": "TODO_CREATED", "currentValue": current}


def _hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_preview_signs_with_the_public_preview_key_never_the_live_secret(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, signing=["blue", "standard", "github"])
    live = hook["secret"]
    forged = {"event": "TODO_CREATED", "currentValue": {"id": "t1", "title": "pay invoice 42 to mallory"}}
    resp = await gateway.client.post(
        "/v1/templates/preview", json={"webhookId": hook["id"], "event": forged}, headers=auth
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()
    body = data["body"].encode()
    headers = data["headers"]
    assert data["previewSecret"] == PREVIEW_SECRET
    assert {"X-Signature", "webhook-signature", "X-Hub-Signature-256"} <= set(headers)

    assert headers["X-Signature"] != _hex(live, body)
    assert headers["X-Signature"] == _hex(PREVIEW_SECRET, body)
    assert headers["X-Hub-Signature-256"] == "sha256=" + _hex(PREVIEW_SECRET, body)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(live).verify(body, headers)
    StandardWebhook(PREVIEW_SECRET).verify(body, headers)

    # A real delivery still signs with the live secret.
    await gateway.event(auth, **_event("p1", "real-1"))
    delivered = (await eventually(lambda: receiver.requests))[0]
    assert delivered.headers["X-Signature"] == _hex(live, delivered.body)
    StandardWebhook(live).verify(delivered.body, delivered.headers)

    assert PREVIEW_SECRET in (DOCS / "templates.md").read_text()


async def test_preview_without_a_webhook_shows_no_signatures(gateway: Gateway) -> None:
    auth = await gateway.token()
    resp = await gateway.client.post("/v1/templates/preview", json={"eventType": "TODO_CREATED"}, headers=auth)
    assert resp.status_code == 200, resp.text
    assert resp.json()["previewSecret"] is None
    assert not {"X-Signature", "webhook-signature"} & set(resp.json()["headers"])


async def _stored(gateway: Gateway, *ext_ids: str) -> int:
    async with gateway.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).where(Event.external_id.in_(ext_ids))) or 0)


async def test_project_admin_ingests_only_its_projects(gateway: Gateway, receiver: Receiver) -> None:
    admin = await gateway.token()
    p1_admin = await gateway.token(role="project-admin", projects=("p1",), user="pa")
    await gateway.webhook(admin, url=f"{receiver.url}/p1", projectIds=["p1"])
    p2_hook = await gateway.webhook(admin, url=f"{receiver.url}/p2", projectIds=["p2"])
    await gateway.webhook(admin, url=f"{receiver.url}/all")

    other = await gateway.client.post("/v1/events", json=_event("p2", "x-p2"), headers=p1_admin)
    assert other.status_code == 403, other.text
    assert "'p2'" in other.json()["detail"]
    assert other.json()["extra"] == [{"key": "projectId", "projectId": "p2"}]

    none = await gateway.client.post("/v1/events", json=_event(None, "x-none"), headers=p1_admin)
    assert none.status_code == 403, none.text
    assert "no project" in none.json()["detail"]

    explicit = await gateway.client.post(
        "/v1/events", json={**_event("p1", "x-explicit"), "projectId": "p2"}, headers=p1_admin
    )
    assert explicit.status_code == 403, explicit.text

    batch = await gateway.client.post(
        "/v1/events/batch",
        json={"events": [_event("p1", "b-ok"), _event("p2", "b-p2"), _event(None, "b-none")]},
        headers=p1_admin,
    )
    assert batch.status_code == 403, batch.text
    assert batch.json()["extra"] == [
        {"key": "events[1].projectId", "projectId": "p2"},
        {"key": "events[2].projectId", "projectId": None},
    ]
    assert await _stored(gateway, "x-p2", "x-none", "x-explicit", "b-ok", "b-p2", "b-none") == 0

    own = await gateway.client.post("/v1/events", json=_event("p1", "own-1"), headers=p1_admin)
    assert own.status_code == 202, own.text
    assert own.json()["deliveries"] == 2  # the p1 webhook and the company-wide one
    ok_batch = await gateway.client.post(
        "/v1/events/batch", json={"events": [_event("p1", "own-2")]}, headers=p1_admin
    )
    assert ok_batch.status_code == 202, ok_batch.text

    # The p2 endpoint gets the company-admin's p2 event and nothing from the refused requests.
    sent = await gateway.event(admin, **_event("p2", "admin-p2"))
    listed = await gateway.client.get(f"/v1/webhooks/{p2_hook['id']}/deliveries", headers=admin)
    assert [d["eventId"] for d in listed.json()["data"]] == [sent["id"]]
    await eventually(lambda: any(r.path == "/p2" for r in receiver.requests))
    await eventually(lambda: sum(r.path == "/p1" for r in receiver.requests) == 2)
    assert [r.json()["currentValue"]["id"] for r in receiver.requests if r.path == "/p2"] == ["admin-p2"]


async def test_company_admin_ingests_any_project(gateway: Gateway) -> None:
    admin = await gateway.token()
    for project in ("p1", "p9", None):
        resp = await gateway.client.post("/v1/events", json=_event(project, f"ca-{project}"), headers=admin)
        assert resp.status_code == 202, resp.text


async def _last_used(gateway: Gateway, auth: dict[str, str]) -> float | None:
    digest = hash_token(auth["Authorization"].removeprefix("Bearer "))
    async with gateway.db.connect() as conn:
        return await conn.scalar(select(Token.last_used_at).where(Token.token_hash == digest))  # type: ignore[no-any-return]


async def test_expired_token_answers_401_saying_so(gateway_factory: GatewayFactory) -> None:
    clock = FakeClock()
    gateway: Gateway = await gateway_factory(clock=clock)
    auth = await gateway.token(expires_at=clock.now + 60)
    assert (await gateway.client.get("/v1/webhooks", headers=auth)).status_code == 200
    clock.advance(61)
    refused = await gateway.client.get("/v1/webhooks", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["status_code"] == 401
    assert "expired at" in refused.json()["detail"]
    forever = await gateway.token()
    assert (await gateway.client.get("/v1/webhooks", headers=forever)).status_code == 200


async def test_last_use_is_written_at_most_once_a_minute(gateway_factory: GatewayFactory) -> None:
    clock = FakeClock()
    gateway: Gateway = await gateway_factory(clock=clock)
    t0 = clock.now
    busy, witness = await gateway.token(user="busy"), await gateway.token(user="witness")
    assert await _last_used(gateway, busy) is None
    assert (await gateway.client.get("/v1/webhooks", headers=busy)).status_code == 200
    await eventually(lambda: _wait_equal(gateway, busy, t0))

    clock.advance(30)
    for _ in range(20):
        assert (await gateway.client.get("/v1/webhooks", headers=busy)).status_code == 200
    # Writes go through one queue in order: once the witness's later use is stored, any write the
    # busy token's requests had caused would be stored too.
    assert (await gateway.client.get("/v1/webhooks", headers=witness)).status_code == 200
    await eventually(lambda: _wait_equal(gateway, witness, t0 + 30))
    assert await _last_used(gateway, busy) == t0

    clock.advance(31)
    assert (await gateway.client.get("/v1/webhooks", headers=busy)).status_code == 200
    await eventually(lambda: _wait_equal(gateway, busy, t0 + 61))


async def _wait_equal(gateway: Gateway, auth: dict[str, str], at: float) -> bool:
    return await _last_used(gateway, auth) == at
