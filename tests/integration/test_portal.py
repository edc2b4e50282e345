"""The portal, server side: links and sessions, CSRF, tenancy on every page, errors as 4xx pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import FakeClock, Gateway, GatewayFactory, Receiver, eventually
from tests.integration.portal_client import Portal, form, link, open_portal

Opener = Callable[[Gateway, str], Any]


@pytest.fixture
async def browsers() -> AsyncIterator[list[Portal]]:
    opened: list[Portal] = []
    yield opened
    for portal in opened:
        await portal.client.aclose()


@pytest.fixture
def opener(browsers: list[Portal]) -> Opener:
    async def open_(gateway: Gateway, url: str) -> Portal:
        portal = await open_portal(gateway, url)
        browsers.append(portal)
        return portal

    return open_


def _path(url: str) -> str:
    return str(httpx.URL(url).path)


async def test_root_redirects_to_the_portal_and_pages_need_a_session(gateway: Gateway) -> None:
    root = await gateway.client.get("/")
    assert root.status_code == 302 and root.headers["location"] == "/portal"
    home = await gateway.client.get("/portal")
    assert home.status_code == 303 and home.headers["location"] == "/portal/webhooks"
    for path in ("/portal/webhooks", "/portal/deliveries"):
        resp = await gateway.client.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/portal/signin"), path
    signin = await gateway.client.get("/portal/signin")
    assert signin.status_code == 200 and 'lang="en"' in signin.text and "<main" in signin.text
    assert "default-src 'self'" in signin.headers["content-security-policy"]


async def test_htmx_is_served_pinned_with_its_licence_and_a_long_cache(gateway: Gateway) -> None:
    js = await gateway.client.get("/portal/static/htmx.min.js")
    assert js.status_code == 200 and js.text.startswith("var htmx=")
    assert "max-age=31536000" in js.headers["cache-control"]
    licence = await gateway.client.get("/portal/static/htmx.LICENSE.txt")
    assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text
    assert (await gateway.client.get("/portal/static/portal.css")).status_code == 200


async def test_a_link_opens_one_session_with_safe_cookie_flags_and_only_once(
    gateway: Gateway, opener: Opener
) -> None:
    auth = await gateway.token("acme")
    url = await link(gateway, auth)
    assert url.startswith(str(gateway.client.base_url)) and "/portal/links/" in url

    client = httpx.AsyncClient(base_url=str(gateway.client.base_url), timeout=30)
    try:
        first = await client.get(_path(url))
        assert first.status_code == 303
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("bgp_session=")
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert "httponly" in flags and "samesite=lax" in flags and "path=/portal" in flags
        assert "secure" not in flags  # plain http here; https (or an https public URL) adds it
        again = await client.get(_path(url))
        assert again.status_code == 410 and "already used" in again.text
    finally:
        await client.aclose()

    unknown = await gateway.client.get("/portal/links/bgp_nothing")
    assert unknown.status_code == 404 and "not known" in unknown.text


async def test_an_expired_link_is_refused(gateway_factory: GatewayFactory) -> None:
    clock = FakeClock()
    gateway = await gateway_factory(clock=clock)
    auth = await gateway.token("acme")
    url = await link(gateway, auth, expiresInMinutes=1)
    clock.advance(61)
    resp = await gateway.client.get(_path(url))
    assert resp.status_code == 410 and "expired" in resp.text
    assert "bgp_session" not in resp.headers.get("set-cookie", "")


async def test_link_api_cannot_widen_the_callers_rights(gateway: Gateway) -> None:
    admin = await gateway.token("acme")
    project_admin = await gateway.token("acme", role="project-admin", projects=("p1",))

    async def refused(auth: dict[str, str], body: dict[str, Any], status: int, needle: str) -> None:
        resp = await gateway.client.post("/v1/portal/links", json=body, headers=auth)
        assert resp.status_code == status, resp.text
        assert needle in resp.text

    await refused(admin, {"company": "globex"}, 403, "own company")
    await refused(project_admin, {}, 403, "projects")
    await refused(project_admin, {"projects": ["p1", "p2"]}, 403, "projects")
    await refused(admin, {"expiresInMinutes": 0}, 422, "expiresInMinutes")
    await refused(admin, {"expiresInMinutes": 61}, 422, "expiresInMinutes")
    await refused(admin, {"bogus": 1}, 422, "bogus")
    ingest_only = await gateway.token("acme", scopes=("ingest",))
    await refused(ingest_only, {}, 403, "manage")
    ok = await gateway.client.post("/v1/portal/links", json={"projects": ["p1"]}, headers=project_admin)
    assert ok.status_code == 201 and ok.json()["expiresAt"].endswith("Z")


async def test_token_sign_in_follows_the_tokens_own_rules(gateway: Gateway, browsers: list[Portal]) -> None:
    client = httpx.AsyncClient(base_url=str(gateway.client.base_url), timeout=30)
    portal = Portal(client)
    browsers.append(portal)
    await portal.page("/portal/signin")

    no_csrf = await portal.post("/portal/signin", {"token": "x"}, csrf=False)
    assert no_csrf.status_code == 403
    wrong = await portal.post("/portal/signin", {"token": "bgw_wrong"})
    assert wrong.status_code == 401 and "invalid or revoked token" in wrong.text
    ingest = (await gateway.token("acme", scopes=("ingest",)))["Authorization"].split()[1]
    refused = await portal.post("/portal/signin", {"token": ingest})
    assert refused.status_code == 403 and "manage" in refused.text

    token = (await gateway.token("acme"))["Authorization"].split()[1]
    signed = await portal.post("/portal/signin", {"token": token})
    assert signed.status_code == 303 and signed.headers["location"] == "/portal/webhooks"
    assert (
        token not in signed.headers["set-cookie"]
    )  # the cookie keeps neither the token nor anything to sign in with
    page = await portal.page("/portal/webhooks")
    assert "acme" in page

    out = await portal.post("/portal/signout")
    assert out.status_code == 303
    after = await client.get("/portal/webhooks")
    assert after.status_code == 303 and after.headers["location"].startswith("/portal/signin")


def _webhook_form(url: str, **extra: Any) -> list[tuple[str, str]]:
    items = [("name", extra.pop("name", "To the receiver")), ("url", url), ("connector", "webhook")]
    for event in extra.pop("events", ["TODO_CREATED"]):
        items.append(("events", event))
    for scheme in extra.pop("signing", ["blue", "standard"]):
        items.append(("signing", scheme))
    items.append(("projects", extra.pop("projects", "")))
    items.append(("filter_mode", extra.pop("filter_mode", "all")))
    for path, op, value in extra.pop("conditions", []):
        items += [("filter_path", path), ("filter_op", op), ("filter_value", value)]
    for name, value in extra.pop("headers", {}).items():
        items += [("header_name", name), ("header_value", value)]
    items += [(k, str(v)) for k, v in extra.items()]
    return items


async def test_a_form_posted_without_the_csrf_token_is_refused_and_changes_nothing(
    gateway: Gateway, receiver: Receiver, opener: Opener
) -> None:
    auth = await gateway.token("acme")
    portal = await opener(gateway, await link(gateway, auth))
    await portal.page("/portal/webhooks/new")
    missing = await portal.post("/portal/webhooks/new", _webhook_form(receiver.url), csrf=False)
    assert missing.status_code == 403 and "CSRF" in missing.text
    forged = await portal.client.post(
        "/portal/webhooks/new", data=form([*_webhook_form(receiver.url), ("_csrf", "forged")])
    )
    assert forged.status_code == 403
    listed = await gateway.client.get("/v1/webhooks", headers=auth)
    assert listed.json()["data"] == []
    by_header = await portal.client.post(
        "/portal/webhooks/new", data=form(_webhook_form(receiver.url)), headers={"X-CSRF-Token": portal.csrf}
    )
    assert by_header.status_code == 201


SECRET = re.compile(r'data-testid="secret-value"\s+value="(whsec_[^"]+)"|value="(whsec_[^"]+)"')


async def test_create_a_webhook_see_its_delivery_retry_it(
    gateway: Gateway, receiver: Receiver, opener: Opener
) -> None:
    auth = await gateway.token("acme")
    portal = await opener(gateway, await link(gateway, auth))
    await portal.page("/portal/webhooks/new")
    created = await portal.post(
        "/portal/webhooks/new",
        _webhook_form(
            receiver.url,
            conditions=[("$.currentValue.title", "contains", "urgent")],
            headers={"X-Api-Key": "hidden-value"},
        ),
    )
    assert created.status_code == 201, created.text
    found = SECRET.search(created.text)
    assert found, created.text
    secret = found.group(1) or found.group(2)
    [hook] = (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"]
    assert hook["filter"] == {"all": [{"path": "$.currentValue.title", "op": "contains", "value": "urgent"}]}
    assert hook["events"] == ["TODO_CREATED"] and hook["headers"] == {"X-Api-Key": "***"}
    edit = await portal.page(f"/portal/webhooks/{hook['id']}")
    assert secret not in edit and "hidden-value" not in edit  # shown once, on creation only

    receiver.respond((500, {}, "receiver down"))
    receiver.default = (500, {}, "still down")
    event = await gateway.event(auth, event="TODO_CREATED", currentValue={"title": "an urgent one"})
    rows = await eventually(lambda: _rows_with(portal, event["id"], "failed"), timeout=60)
    delivery_id = re.search(r'data-delivery-id="([^"]+)"', rows).group(1)  # type: ignore[union-attr]
    detail = await portal.page(f"/portal/deliveries/{delivery_id}")
    assert "receiver down" in detail and 'data-testid="attempt"' in detail
    assert "X-Api-Key: ***" in detail and "hidden-value" not in detail

    receiver.default = (200, {}, "ok")
    retried = await portal.post(f"/portal/deliveries/{delivery_id}/retry")
    assert retried.status_code == 303
    await eventually(lambda: _rows_with(portal, event["id"], "delivered"), timeout=60)
    assert receiver.requests[-1].json()["currentValue"] == {"title": "an urgent one"}


async def _rows_with(portal: Portal, event_id: str, status: str) -> str | None:
    resp = await portal.client.get("/portal/deliveries/rows", params={"event_id": event_id})
    assert resp.status_code == 200
    return resp.text if f'data-status="{status}"' in resp.text else None


async def test_form_mistakes_are_4xx_pages_naming_the_problem(
    gateway: Gateway, receiver: Receiver, opener: Opener
) -> None:
    auth = await gateway.token("acme")
    portal = await opener(gateway, await link(gateway, auth))
    await portal.page("/portal/webhooks/new")
    cases = [
        (_webhook_form("ftp://example.com/x"), "url"),
        (_webhook_form(receiver.url, events=["NOT_AN_EVENT"]), "NOT_AN_EVENT"),
        (_webhook_form(receiver.url, conditions=[("$..[", "eq", "x")]), "filter"),
        (_webhook_form(receiver.url, conditions=[("$.a", "regex", "(")]), "filter"),
        (_webhook_form(receiver.url, signing=["rot13"]), "signing"),
        (_webhook_form(receiver.url, headers={"Bad Name": "v"}), "headers"),
        (_webhook_form(receiver.url, name="n" * 201), "name"),
        (_webhook_form(receiver.url, filter_mode="some"), "filter"),
        ([*_webhook_form(receiver.url)[:2], ("connector", "nope")], "connector"),
    ]
    for fields, needle in cases:
        resp = await portal.post("/portal/webhooks/new", fields)
        assert resp.status_code == 422, (needle, resp.status_code, resp.text[:500])
        assert needle in resp.text, needle
    assert (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"] == []
    for params, needle in (({"status": "lost"}, "status"), ({"since": "yesterday"}, "since")):
        resp = await portal.client.get("/portal/deliveries", params=params)
        assert resp.status_code == 422 and needle in resp.text
    recover = await portal.post("/portal/deliveries/recover", {"webhook": "wh_nope", "since": "2020-01-01T00:00"})
    assert recover.status_code in (404, 422)
