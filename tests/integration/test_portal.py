"""The portal, server side: links and sessions, CSRF, tenancy on every page, errors as 4xx pages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
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
    for path in ("/portal/webhooks", "/portal/deliveries", "/portal/events", "/portal/sources"):
        resp = await gateway.client.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/portal/signin"), path
    nowhere = await gateway.client.get("/portal/nowhere/at/all")
    assert nowhere.status_code == 404 and "<title>" in nowhere.text and 'lang="en"' in nowhere.text
    api = await gateway.client.get("/v1/nowhere")
    assert api.status_code == 404 and api.json()["status_code"] == 404  # the API keeps its JSON errors
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

    for asked, landing in (
        ("/portal/deliveries?status=failed", "/portal/deliveries?status=failed"),
        ("https://elsewhere.example/", "/portal/webhooks"),
        ("//elsewhere.example/portal/", "/portal/webhooks"),
    ):
        opened = await gateway.client.get(_path(await link(gateway, auth)), params={"next": asked})
        assert opened.status_code == 303 and opened.headers["location"] == landing, asked

    raced = _path(await link(gateway, auth))
    answers = await asyncio.gather(*(gateway.client.get(raced) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [303, 410, 410, 410, 410]  # opened once, however close

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

    value = client.cookies["bgp_session"]
    body, mac = value.split(".")
    for forged in (body + "." + mac[:-2] + "AA", body[:-4] + "e30." + mac, ""):
        tampered = httpx.AsyncClient(base_url=str(gateway.client.base_url), cookies={"bgp_session": forged})
        try:
            resp = await tampered.get("/portal/webhooks")
        finally:
            await tampered.aclose()
        assert resp.status_code == 303 and resp.headers["location"].startswith("/portal/signin"), forged

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
    assert by_header.status_code == 303


SECRET = re.compile(r'value="(whsec_[^"]+)"')


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
    assert created.status_code == 303, created.text
    [hook] = (await gateway.client.get("/v1/webhooks", headers=auth)).json()["data"]
    assert created.headers["location"] == f"/portal/webhooks/{hook['id']}/secret"
    shown = await portal.page(created.headers["location"])
    secret = SECRET.search(shown).group(1)  # type: ignore[union-attr]
    again = await portal.page(created.headers["location"])
    assert "secret-value" not in again and secret not in again  # a reload shows it no more
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


async def _acme_objects(gateway: Gateway, receiver: Receiver, auth: dict[str, str]) -> dict[str, str]:
    hook = await gateway.webhook(
        auth, url=receiver.url, events=["TODO_CREATED"], projectIds=["p1"], name="acme-hook"
    )
    event = await gateway.event(auth, event="TODO_CREATED", projectId="p1", id="acme-ext-1")
    source = await gateway.client.post(
        "/v1/sources", json={"name": "acme-source", "secret": "s" * 16}, headers=auth
    )
    assert source.status_code == 201
    deliveries = await eventually(
        lambda: _json(gateway.client.get("/v1/deliveries", params={"eventId": event["id"]}, headers=auth))
    )
    return {
        "webhook_id": hook["id"],
        "delivery_id": deliveries["data"][0]["id"],
        "event_id": event["id"],
        "source_id": source.json()["id"],
    }


async def _json(request: Any) -> Any:
    resp = await request
    body = resp.json()
    return body if body.get("data") else None


def _portal_routes(gateway: Gateway) -> list[tuple[str, str]]:
    """Every (method, path) the portal serves, read from the app itself."""
    assert gateway.server is not None
    app = gateway.server.config.app
    found = []
    for route in app.routes:
        if not route.path.startswith("/portal/") or route.path.startswith("/portal/static"):
            continue
        for method in sorted(getattr(route, "methods", ())):
            if method in ("GET", "POST"):
                found.append((method, route.path))
    return found


OPEN = {"/portal/signin", "/portal/links/{token:str}", "/portal/signout", "/portal/webhooks/options"}
"""Routes that show no company object: sign-in, links, sign-out, the connector options form."""


async def test_another_companys_session_sees_none_of_its_objects_on_any_portal_route(
    gateway: Gateway, receiver: Receiver, opener: Opener
) -> None:
    acme = await gateway.token("acme")
    ids = await _acme_objects(gateway, receiver, acme)
    globex = await opener(gateway, await link(gateway, await gateway.token("globex")))
    p2_only = await opener(gateway, await link(gateway, acme, projects=["p2"]))

    for portal in (globex, p2_only):
        for method, path in _portal_routes(gateway):
            if path in OPEN or ("{" not in path and path != "/portal/deliveries/recover"):
                continue  # lists are checked below; forms without an id make objects of the session's own
            url = path
            for name, value in ids.items():
                url = url.replace("{" + name + ":str}", value)
            assert "{" not in url, f"the test does not know how to fill {path}"
            if method == "GET":
                resp = await portal.client.get(url)
            else:
                since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
                fields = {"webhook": ids["webhook_id"], "since": since, "secret": "x" * 12}
                resp = await portal.post(url, fields)
            # A project-scoped session is refused sources outright (403); everything else is not found.
            expected = {403} if "/sources" in url and portal is p2_only else {404}
            if url == "/portal/deliveries/recover":
                expected = {404}
            assert resp.status_code in expected, (portal is globex, method, url, resp.status_code, resp.text[:300])
            for value in ids.values():
                assert value not in resp.text or value in url, (method, url, value)

        for path in ("/portal/webhooks", "/portal/deliveries", "/portal/events", "/portal/deliveries/rows"):
            text = await portal.page(path)
            assert not any(value in text for value in ids.values()), path
        rows = await portal.client.get("/portal/deliveries/rows", params={"webhook": ids["webhook_id"]})
        assert rows.status_code == 200 and ids["delivery_id"] not in rows.text
    sources = await globex.page("/portal/sources")
    assert ids["source_id"] not in sources and "acme-source" not in sources

    owner = await opener(gateway, await link(gateway, acme))  # and the owner does see them
    assert ids["webhook_id"] in await owner.page("/portal/webhooks")
    assert ids["delivery_id"] in await owner.page(f"/portal/events/{ids['event_id']}")
    assert ids["delivery_id"] in await owner.page("/portal/events")  # each event's deliveries, in the list too
    assert "acme-source" in await owner.page("/portal/sources")
    assert (await gateway.client.get(f"/v1/webhooks/{ids['webhook_id']}", headers=acme)).json()["enabled"]


async def test_template_editor_previews_saves_and_renders_every_event_type(
    gateway: Gateway, receiver: Receiver, opener: Opener
) -> None:
    auth = await gateway.token("acme")
    hook = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"], headers={"X-Key": "hidden"})
    portal = await opener(gateway, await link(gateway, auth))
    editor = await portal.page(f"/portal/webhooks/{hook['id']}/template")
    assert 'hx-trigger="input delay:400ms, change, load"' in editor

    base = f"/portal/webhooks/{hook['id']}/template"
    body = '{"title": {{ currentValue.title | tojson }}, "kind": "{{ event }}"}'
    preview = await portal.post(base + "/preview", {"mode": "jinja", "body": body, "sample": "type:TODO_CREATED"})
    assert preview.status_code == 200
    assert "&#34;kind&#34;: &#34;TODO_CREATED&#34;" in preview.text and "x-key: ***" in preview.text.lower()
    assert "hidden" not in preview.text

    broken = await portal.post(
        base + "/preview", {"mode": "jinja", "body": "{\n  {{ nope( }\n}", "sample": "type:TODO_CREATED"}
    )
    assert 'data-testid="preview-error"' in broken.text and "(line 2, column" in broken.text

    only_some = '{"n": {{ currentValue.keys() | list | length }}}'
    every = await portal.post(base + "/preview-all", {"mode": "jinja", "body": only_some})
    assert 'data-ok="true"' in every.text and 'data-ok="false"' in every.text  # deletes have no currentValue
    assert 'data-event="TODO_DELETED" data-ok="false"' in every.text

    fields = await portal.post(
        base + "/preview",
        {"mode": "fields", "fields": "title = $.currentValue.title", "sample": "type:TODO_CREATED"},
    )
    assert "&#34;title&#34;" in fields.text

    refused = await portal.post(base, {"mode": "jinja", "body": "{{ nope( }}"})
    assert refused.status_code == 422 and "line 1" in refused.text
    saved = await portal.post(base, {"mode": "jinja", "body": body, "content_type": "application/json"})
    assert saved.status_code == 303
    stored = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()["template"]
    assert stored == {"body": body, "contentType": "application/json"}

    event = await gateway.event(auth, event="TODO_CREATED", currentValue={"title": "from the editor"})
    await eventually(lambda: receiver.requests)
    assert receiver.requests[0].json() == {"title": "from the editor", "kind": "TODO_CREATED"}
    with_real = await portal.post(
        base + "/preview", {"mode": "jinja", "body": body, "sample": f"event:{event['id']}"}
    )
    assert "from the editor" in with_real.text


async def test_sources_show_the_ingest_url_and_set_the_secret(gateway: Gateway, opener: Opener) -> None:
    auth = await gateway.token("acme")
    portal = await opener(gateway, await link(gateway, auth))
    await portal.page("/portal/sources/new")
    created = await portal.post("/portal/sources/new", {"name": "From Blue", "projects": "p1"})
    assert created.status_code == 303
    detail = await portal.page(created.headers["location"])
    source_id = created.headers["location"].split("/")[3].split("?")[0]
    assert f"{gateway.client.base_url}/v1/sources/{source_id}/events" in detail and "not set yet" in detail
    short = await portal.post(f"/portal/sources/{source_id}/secret", {"secret": "short"})
    assert short.status_code == 422 and "secret" in short.text
    await portal.post(f"/portal/sources/{source_id}/secret", {"secret": "blue-secret-123"})
    assert "Secret: set" in await portal.page(f"/portal/sources/{source_id}")
    empty_name = await portal.post("/portal/sources/new", {"name": " "})
    assert empty_name.status_code == 422 and "name" in empty_name.text
    project_session = await opener(gateway, await link(gateway, auth, projects=["p1"]))
    assert (await project_session.client.get("/portal/sources")).status_code == 403


async def test_cli_portal_link_prints_a_link_that_opens_the_portal(
    gateway_factory: GatewayFactory, tmp_path: Any, opener: Opener
) -> None:
    import subprocess

    from tests.integration.processes import BIN

    gateway = await gateway_factory(public_url="https://hooks.example.com")
    env = {
        "PATH": "/usr/bin:/bin",
        "BLUE_GATEWAY_DATABASE_URL": gateway.runtime.settings.database_url,
        "BLUE_GATEWAY_SECRET_KEY": "test-secret-key",
        "BLUE_GATEWAY_PUBLIC_URL": "https://hooks.example.com",
    }
    done = subprocess.run(
        [str(BIN), "portal-link", "--company", "acme", "--projects", "p1,p2", "--minutes", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("https://hooks.example.com/portal/links/bgp_")
    client = httpx.AsyncClient(base_url=str(gateway.client.base_url), timeout=30)
    try:
        resp = await client.get(_path(url))
        assert resp.status_code == 303
        assert "secure" in resp.headers["set-cookie"].lower()  # an https public address makes the cookie Secure
    finally:
        await client.aclose()
    bad = subprocess.run(
        [str(BIN), "portal-link", "--company", "acme", "--minutes", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "expiresInMinutes" in bad.stderr


async def test_a_nested_filter_survives_an_edit_in_the_portal(
    gateway: Gateway, receiver: Receiver, opener: Opener
) -> None:
    auth = await gateway.token("acme")
    nested = {
        "any": [
            {"path": "$.currentValue.title", "op": "eq", "value": "a"},
            {
                "all": [
                    {"path": "$.projectId", "op": "eq", "value": "p1"},
                    {"path": "$.event", "op": "ne", "value": "X"},
                ]
            },
        ]
    }
    hook = await gateway.webhook(auth, url=receiver.url, filter=nested)
    portal = await opener(gateway, await link(gateway, auth))
    edit = await portal.page(f"/portal/webhooks/{hook['id']}")
    assert 'data-testid="filter-condition"' not in edit and "&#34;all&#34;" in edit  # shown as JSON, not dropped
    import json

    saved = await portal.post(
        f"/portal/webhooks/{hook['id']}",
        [*_webhook_form(receiver.url, name="renamed", events=[]), ("filter_json", json.dumps(nested))],
    )
    assert saved.status_code == 303, saved.text
    stored = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    assert stored["filter"] == nested and stored["name"] == "renamed"
    bad = await portal.post(
        f"/portal/webhooks/{hook['id']}", [*_webhook_form(receiver.url), ("filter_json", "{nope")]
    )
    assert bad.status_code == 422 and "not JSON" in bad.text
    deep = "[" * 5000 + "]" * 5000
    for fields in (
        [*_webhook_form(receiver.url), ("filter_json", '{"all": ' + deep + "}")],
        _webhook_form(receiver.url, conditions=[("$.a", "in", deep)]),
    ):
        refused = await portal.post(f"/portal/webhooks/{hook['id']}", fields)
        assert refused.status_code == 422 and "limit" in refused.text

    rows = [await portal.client.get("/portal/webhooks/condition") for _ in range(2)]
    ids = [re.search(r'id="(fp[^"]+)"', r.text).group(1) for r in rows]  # type: ignore[union-attr]
    assert ids[0] != ids[1]  # two added rows never share an id (or a label's target)
