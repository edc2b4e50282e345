"""Who gets into the portal and what they see: links are single-use and expire, companies stay apart, forms need
their CSRF token, a pasted token signs in and sign-out ends the session."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from sqlalchemy import text

from tests.browser.conftest import LiveGateway, Tab, TabFactory, expect, sign_in_with_link
from tests.conftest import Receiver, eventually

# Every page a signed-in company can open from the navigation.
LIST_PAGES = (
    "/portal/webhooks",
    "/portal/webhooks/new",
    "/portal/deliveries",
    "/portal/events",
    "/portal/sources",
    "/portal/sources/new",
)


async def test_a_second_companys_link_sees_none_of_the_first_companys_objects(
    tabs: TabFactory, live: LiveGateway, live_receiver: Receiver
) -> None:
    first = await live.token("iso-first")
    hook = await live.post(
        "/v1/webhooks",
        first,
        {"name": "first-co-hook", "url": f"{live_receiver.url}/first-co-target", "events": ["TODO_CREATED"]},
    )
    event = await live.todo_created(first, "first-co-todo")

    async def delivered() -> list[dict[str, str]]:
        found = (await live.get("/v1/deliveries", first, eventId=event["id"], status="delivered"))["data"]
        return list(found)

    [delivery] = await eventually(delivered)
    source = await live.post("/v1/sources", first, {"name": "first-co-source", "secret": "blue-secret"})
    theirs = [hook["id"], "first-co-hook", "first-co-target", event["id"], delivery["id"], source["id"]]
    theirs += ["first-co-source", "first-co-todo"]

    second = await live.token("iso-second")
    await live.post("/v1/webhooks", second, {"name": "second-co-hook", "url": f"{live_receiver.url}/second-co"})
    await live.todo_created(second, "second-co-todo")
    tab = await sign_in_with_link(tabs, live, second, record=True)
    for path in LIST_PAGES:
        await tab.goto(path)
    await tab.goto("/portal/webhooks")
    await expect(tab.page.get_by_test_id("webhook-row")).to_have_count(1)

    token = await tab.csrf()
    # The first company's objects, opened by their addresses, are unknown here.
    for path in (
        f"/portal/webhooks/{hook['id']}",
        f"/portal/webhooks/{hook['id']}/secret",
        f"/portal/webhooks/{hook['id']}/template",
        f"/portal/deliveries/{delivery['id']}",
        f"/portal/events/{event['id']}",
        f"/portal/sources/{source['id']}",
    ):
        tab.refuse(path, 404)
        answer = await tab.goto(path)
        assert answer is not None and answer.status == 404, path
    # So are the fragments the pages load, and every action, even with the session's CSRF token.
    form = {"_csrf": token, "url": "http://127.0.0.1:9/x", "event": "TODO_CREATED", "secret": "taken-over-secret"}
    form |= {"mode": "jinja", "body": "{{ webhook | tojson }}", "sample": "type:TODO_CREATED"}
    rows = await tab.fetch(f"/portal/deliveries/rows?webhook={hook['id']}&event_id={event['id']}")
    assert rows[0] == 200 and "deliveries-empty" in rows[1]
    for action in (
        f"/portal/webhooks/{hook['id']}",
        f"/portal/webhooks/{hook['id']}/disable",
        f"/portal/webhooks/{hook['id']}/rotate-secret",
        f"/portal/webhooks/{hook['id']}/test",
        f"/portal/webhooks/{hook['id']}/delete",
        f"/portal/webhooks/{hook['id']}/template",
        f"/portal/webhooks/{hook['id']}/template/preview",
        f"/portal/webhooks/{hook['id']}/template/preview-all",
        f"/portal/deliveries/{delivery['id']}/retry",
        f"/portal/sources/{source['id']}/secret",
    ):
        tab.refuse(action, 404)
        status, _ = await tab.fetch(action, form=form)
        assert status == 404, action
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 3600))
    recover = await tab.fetch(
        "/portal/deliveries/recover", form={"_csrf": token, "webhook": hook["id"], "since": an_hour_ago}
    )
    tab.refuse("/portal/deliveries/recover", recover[0])
    assert recover[0] == 404

    # Nothing the browser was sent names them, and nothing of theirs changed.
    answers = await tab.received()
    assert len(answers) > 15
    for url, _, body in answers:
        leaked = [name for name in theirs if name in body]
        assert leaked == [], f"{url} shows {leaked}"
    after = await live.get(f"/v1/webhooks/{hook['id']}", first)
    assert after["enabled"] and after["updatedAt"] == hook["updatedAt"] and after["template"] == hook["template"]
    blue = json.dumps({"event": "TODO_CREATED", "webhook": {"id": "b"}, "previousValue": None, "currentValue": {}})
    signature = hmac.new(b"blue-secret", blue.encode(), hashlib.sha256).hexdigest()
    ingest = await live.client.post(source["ingestPath"], content=blue, headers={"X-Signature": signature})
    assert ingest.status_code == 202, ingest.text  # the source still checks the first company's own secret
    assert (await live.get(f"/v1/deliveries/{delivery['id']}", first))["status"] == "delivered"


async def test_a_portal_link_opens_once_and_not_after_it_expires(tabs: TabFactory, live: LiveGateway) -> None:
    auth = await live.token("links-co")
    link = (await live.post("/v1/portal/links", auth, {}))["url"]
    first = await tabs()
    await first.goto(link)
    await expect(first.page.get_by_test_id("session-company")).to_contain_text("links-co")

    again = await tabs()
    await refused(again, link, 410, "already used")

    stale = (await live.post("/v1/portal/links", auth, {"expiresInMinutes": 1}))["url"]
    await expire_links(live, "links-co")
    late = await tabs()
    await refused(late, stale, 410, "expired")

    unknown = await tabs()
    await refused(unknown, link.rsplit("/", 1)[0] + "/bgp_not-a-link", 404, "not known")


async def refused(tab: Tab, link: str, status: int, reason: str) -> None:
    """Opening ``link`` answers ``status`` with a page giving the reason, and opens no session."""
    path = link.removeprefix(tab.base)
    tab.refuse(path, status)
    answer = await tab.goto(link)
    assert answer is not None and answer.status == status
    await expect(tab.page.get_by_test_id("error-detail")).to_contain_text(reason)
    await expect(tab.page.get_by_test_id("signout")).to_have_count(0)
    assert not [c for c in await tab.context.cookies() if c["name"] == "bgp_session"]
    await tab.goto("/portal/webhooks")
    await expect(tab.page.get_by_test_id("signin-form")).to_be_visible()


async def expire_links(live: LiveGateway, company: str) -> None:
    """Move the company's unused links' expiry into the past, as the passing of their minutes would."""
    async with live.db.begin() as conn:
        changed = await conn.execute(
            text("UPDATE portal_links SET expires_at = :past WHERE company_id = :company AND used_at IS NULL"),
            {"past": time.time() - 1, "company": company},
        )
    assert changed.rowcount == 1


async def test_a_form_posted_without_its_csrf_token_is_refused(tabs: TabFactory, live: LiveGateway) -> None:
    auth = await live.token("csrf-co")
    tab = await sign_in_with_link(tabs, live, auth)
    await tab.goto("/portal/webhooks/new")
    form = {"name": "forged", "url": "http://127.0.0.1:9/forged", "connector": "webhook"}

    tab.refuse("/portal/webhooks/new", 403)
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        status, body = await tab.fetch("/portal/webhooks/new", form=form, headers=headers)
        assert status == 403 and "CSRF" in body
    assert (await live.get("/v1/webhooks", auth))["data"] == []

    # The same form with the page's token is taken: the token was all that was missing.
    status, _ = await tab.fetch("/portal/webhooks/new", form={**form, "_csrf": await tab.csrf()})
    assert status == 0  # redirected to the page that shows the new webhook's secret
    [made] = (await live.get("/v1/webhooks", auth))["data"]
    assert made["name"] == "forged"

    # htmx's requests carry the token in a header: the template preview without it is refused too.
    preview = f"/portal/webhooks/{made['id']}/template/preview"
    template = {"mode": "jinja", "body": "{{ event | tojson }}", "sample": "type:TODO_CREATED"}
    tab.refuse(preview, 403)
    assert (await tab.fetch(preview, form=template, headers={"HX-Request": "true"}))[0] == 403
    token = {"X-CSRF-Token": await tab.csrf(), "HX-Request": "true"}
    status, body = await tab.fetch(preview, form=template, headers=token)
    assert status == 200 and "&#34;TODO_CREATED&#34;</pre>" in body  # the rendered body, HTML-escaped


async def test_a_pasted_token_signs_in_and_sign_out_ends_the_session(tabs: TabFactory, live: LiveGateway) -> None:
    auth = await live.token("token-co")
    tab = await tabs()
    await tab.goto("/")
    await expect(tab.page.get_by_test_id("signin-form")).to_be_visible()
    await tab.audit()
    await tab.shot("signin")

    tab.refuse("/portal/signin", 401)
    await tab.page.get_by_label("API token").fill("bg_not-a-token")
    await tab.page.get_by_test_id("signin-submit").click()
    await expect(tab.page.get_by_test_id("signin-error")).to_be_visible()
    await tab.audit()

    # By keyboard alone: Tab reaches the token field, Enter sends the form.
    field = tab.page.get_by_label("API token")
    for _ in range(10):
        if await field.evaluate("element => element === document.activeElement"):
            break
        await tab.page.keyboard.press("Tab")
    await expect(field).to_be_focused()
    await tab.page.keyboard.type(auth["Authorization"].removeprefix("Bearer "))
    await tab.page.keyboard.press("Enter")
    await expect(tab.page.get_by_test_id("session-company")).to_contain_text("token-co")
    await tab.audit()

    await tab.page.get_by_test_id("signout").click()
    await expect(tab.page.get_by_test_id("signin-form")).to_be_visible()
    await tab.audit()
    await tab.goto("/portal/deliveries")
    await expect(tab.page.get_by_test_id("signin-form")).to_be_visible()


async def test_a_link_for_some_projects_sees_only_their_webhooks(
    tabs: TabFactory, live: LiveGateway, live_receiver: Receiver
) -> None:
    auth = await live.token("projects-co")
    for project in ("p-open", "p-closed"):
        await live.post(
            "/v1/webhooks",
            auth,
            {"name": f"hook-{project}", "url": f"{live_receiver.url}/{project}", "projectIds": [project]},
        )
    tab = await sign_in_with_link(tabs, live, auth, projects=["p-open"])
    await expect(tab.page.get_by_test_id("session-company")).to_contain_text("p-open")
    await expect(tab.page.get_by_test_id("webhook-row")).to_have_count(1)
    await expect(tab.page.get_by_test_id("webhooks-table")).to_contain_text("hook-p-open")
    assert "hook-p-closed" not in await tab.page.content()
    # Sources belong to the whole company: a session limited to projects may not open them.
    tab.refuse("/portal/sources", 403)
    answer = await tab.goto("/portal/sources")
    assert answer is not None and answer.status == 403
