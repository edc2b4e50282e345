"""Tokens through the API: a company-admin creates project-admin tokens (shown once), lists, reads and
revokes them; another company's token is not found; every creation and revocation is audited."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from gateway.db.models import AuditEvent, Token
from tests.conftest import FakeClock, Gateway, GatewayFactory, eventually

pytestmark = pytest.mark.integration


async def _create(gateway: Gateway, auth: dict[str, str], **body: object) -> dict[str, object]:
    resp = await gateway.client.post(
        "/v1/tokens", json={"userId": "pm-1", "projectIds": ["p1"], **body}, headers=auth
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_created_token_is_shown_once_stored_hashed_and_works_for_its_projects(gateway: Gateway) -> None:
    admin = await gateway.token("acme", user="boss")
    made = await _create(gateway, admin, scopes=["manage"])
    token = str(made["token"])
    assert made["role"] == "project-admin" and made["projectIds"] == ["p1"] and made["state"] == "active"
    async with gateway.db.connect() as conn:
        stored = (await conn.execute(select(Token).where(Token.id == made["id"]))).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()  # only the hash is kept
    assert stored.created_by is not None and stored.created_by.startswith("tok_")

    listed = (await gateway.client.get("/v1/tokens", headers=admin)).json()["data"]
    read = (await gateway.client.get(f"/v1/tokens/{made['id']}", headers=admin)).json()
    assert token not in str(listed) and token not in str(read) and "token" not in read
    assert made["id"] in [t["id"] for t in listed]

    mine = {"Authorization": f"Bearer {token}"}
    own = await gateway.client.post(
        "/v1/webhooks", json={"url": "https://example.com/h", "projectIds": ["p1"]}, headers=mine
    )
    other = await gateway.client.post(
        "/v1/webhooks", json={"url": "https://example.com/h", "projectIds": ["p2"]}, headers=mine
    )
    assert own.status_code == 201, own.text
    assert other.status_code == 422 and "projectIds" in other.text, other.text  # outside its projects


async def test_only_a_company_admin_manages_tokens_and_only_its_own_company(gateway: Gateway) -> None:
    acme = await gateway.token("acme")
    globex = await gateway.token("globex")
    project_admin = await gateway.token("acme", role="project-admin", projects=("p1",))
    made = await _create(gateway, acme)

    for method, path in [("POST", "/v1/tokens"), ("GET", "/v1/tokens"), ("GET", f"/v1/tokens/{made['id']}"),
                         ("DELETE", f"/v1/tokens/{made['id']}"), ("GET", "/v1/audit")]:  # fmt: skip
        body = {"userId": "x", "projectIds": ["p1"]} if method == "POST" else None
        resp = await gateway.client.request(method, path, json=body, headers=project_admin)
        assert resp.status_code == 403, (method, path, resp.text)

    assert (await gateway.client.get(f"/v1/tokens/{made['id']}", headers=globex)).status_code == 404
    assert (await gateway.client.delete(f"/v1/tokens/{made['id']}", headers=globex)).status_code == 404
    assert made["id"] not in str((await gateway.client.get("/v1/tokens", headers=globex)).json())
    globex_trail = (await gateway.client.get("/v1/audit", headers=globex)).json()["data"]
    assert [a["action"] for a in globex_trail] == ["token.created"]  # its own token only, none of acme's
    assert made["id"] not in str(globex_trail)
    still = (await gateway.client.get(f"/v1/tokens/{made['id']}", headers=acme)).json()
    assert still["state"] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "u", "projectIds": []}, "projectIds"),
        ({"userId": "u", "projectIds": ["p1"], "role": "company-admin"}, "role"),
        ({"userId": "u", "projectIds": ["p1"], "scopes": ["root"]}, "scopes"),
        ({"userId": "", "projectIds": ["p1"]}, "userId"),
        ({"userId": "u", "projectIds": ["p1"], "expiresInSeconds": 0}, "expiresInSeconds"),
    ],
)
async def test_bad_token_requests_name_the_field_and_store_nothing(
    gateway: Gateway, body: dict[str, object], field: str
) -> None:
    admin = await gateway.token("acme")
    resp = await gateway.client.post("/v1/tokens", json=body, headers=admin)
    assert resp.status_code in (400, 422), resp.text
    assert field in resp.text
    assert len((await gateway.client.get("/v1/tokens", headers=admin)).json()["data"]) == 1


async def test_revoke_takes_effect_and_is_audited_with_who_and_when(gateway: Gateway) -> None:
    admin = await gateway.token("acme", user="boss")
    made = await _create(gateway, admin)
    mine = {"Authorization": f"Bearer {made['token']}"}
    assert (await gateway.client.get("/v1/webhooks", headers=mine)).status_code == 200

    assert (await gateway.client.delete(f"/v1/tokens/{made['id']}", headers=admin)).status_code == 204

    async def refused() -> bool:
        return (await gateway.client.get("/v1/webhooks", headers=mine)).status_code == 401

    await eventually(refused, timeout=15, interval=0.1)
    assert (await gateway.client.delete(f"/v1/tokens/{made['id']}", headers=admin)).status_code == 409

    read = (await gateway.client.get(f"/v1/tokens/{made['id']}", headers=admin)).json()
    assert read["state"] == "revoked" and read["revokedAt"]
    actions = [(a["action"], a["actorUserId"]) for a in read["audit"]]
    assert actions == [("token.revoked", "boss"), ("token.created", "boss")]
    assert all(a["actorTokenId"] == read["createdBy"] and a["at"] for a in read["audit"])
    trail = (await gateway.client.get("/v1/audit", headers=admin)).json()["data"]
    assert [a["targetId"] for a in trail[:2]] == [made["id"], made["id"]]
    async with gateway.db.connect() as conn:
        rows = (await conn.execute(select(AuditEvent.action).where(AuditEvent.target_id == made["id"]))).all()
    assert sorted(r.action for r in rows) == ["token.created", "token.revoked"]


async def test_a_token_created_with_a_lifetime_expires(gateway_factory: GatewayFactory) -> None:
    clock = FakeClock()
    gateway: Gateway = await gateway_factory(clock=clock)
    admin = await gateway.token("acme")
    made = await _create(gateway, admin, expiresInSeconds=60)
    mine = {"Authorization": f"Bearer {made['token']}"}
    assert (await gateway.client.get("/v1/webhooks", headers=mine)).status_code == 200
    clock.advance(61)
    resp = await gateway.client.get("/v1/webhooks", headers=mine)
    assert resp.status_code == 401 and "expired" in resp.text
    listed = {t["id"]: t for t in (await gateway.client.get("/v1/tokens", headers=admin)).json()["data"]}
    assert listed[made["id"]]["state"] == "expired"
