"""The portal in a real browser: from a portal link to a webhook whose deliveries fail, are retried and land.

Each test signs in with a portal link made through the API, as a product embedding the portal would,
and uses a company of its own on the module's gateway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING

from tests.browser.conftest import LiveGateway, TabFactory, expect, sign_in_with_link
from tests.conftest import Captured, Receiver, eventually

if TYPE_CHECKING:
    from playwright.async_api import Page


def standard_signatures(secret: str, request: Captured) -> tuple[list[str], str]:
    """The request's Standard Webhooks signatures, and the one ``secret`` makes (computed with hmac here)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return request.headers["webhook-signature"].split(), expected


async def keep_document(page: Page) -> None:
    """Mark the current document; :func:`same_document` is true until the browser loads another."""
    await page.evaluate("() => { window.__portalTestMark = true }")


async def same_document(page: Page) -> bool:
    return bool(await page.evaluate("() => window.__portalTestMark === true"))


async def test_a_webhook_from_a_portal_link_to_a_retried_delivery(
    tabs: TabFactory, live: LiveGateway, live_receiver: Receiver
) -> None:
    auth = await live.token("journey-co")
    tab = await sign_in_with_link(tabs, live, auth)
    page = tab.page
    await expect(page.get_by_test_id("session-company")).to_contain_text("journey-co")

    # Create: events from the catalog, a filter, the standard signature.
    await page.get_by_test_id("webhook-new").click()
    await tab.audit()
    await page.get_by_label("Name", exact=True).fill("Shipped todos to the CRM")
    await page.get_by_label("Target URL", exact=True).fill(f"{live_receiver.url}/crm")
    # The connector's options are a form made from its options schema, swapped in when it changes.
    connector = page.get_by_label("Connector", exact=True)
    await connector.select_option("slack")
    await expect(page.get_by_test_id("option-blueUrl")).to_be_visible()
    await tab.audit()
    await connector.select_option("webhook")
    await expect(page.get_by_test_id("option-blueUrl")).to_have_count(0)
    await page.get_by_test_id("event-TODO_CREATED").check()
    await page.get_by_test_id("filter-add").click()
    condition = page.get_by_test_id("filter-condition").last
    await condition.get_by_label("Path", exact=True).fill("$.currentValue.title")
    await condition.get_by_label("Operator", exact=True).select_option("contains")
    await condition.get_by_label("Value", exact=True).fill("ship")
    await page.get_by_test_id("signing-standard").check()
    await tab.audit()
    await tab.shot("webhook-edit")
    await page.get_by_test_id("webhook-save").click()
    secret = await page.get_by_test_id("secret-value").input_value()
    assert secret.startswith("whsec_")
    await tab.audit()
    [saved] = (await live.get("/v1/webhooks", auth))["data"]
    hook_id = saved["id"]
    assert saved["events"] == ["TODO_CREATED"] and saved["secret"] is None
    assert saved["filter"] == {"all": [{"path": "$.currentValue.title", "op": "contains", "value": "ship"}]}

    # Its template: previewed as it is typed, an error shown at its line and column, every type tried.
    await page.get_by_test_id("secret-template").click()
    await tab.audit()
    await page.get_by_test_id("template-mode-jinja").check()
    await page.get_by_label("Render against").select_option("type:TODO_CREATED")
    body = page.get_by_label("Body template (Jinja)")
    await body.fill('{"title": {{ currentValue.title | tojson }},\n "kind": {{ event | tojson }')
    await expect(page.get_by_test_id("preview-error-position")).to_have_text(re.compile(r"\(line 2, column \d+\)"))
    await tab.audit()
    await body.fill('{"title": {{ currentValue.title.upper() | tojson }}, "kind": {{ event | tojson }}}')
    preview = page.get_by_test_id("preview-body")
    await expect(preview).to_contain_text('"kind": "TODO_CREATED"')
    await expect(page.get_by_test_id("preview-headers")).to_contain_text("webhook-signature: v1,")
    await page.get_by_test_id("template-render-all").click()
    rows = page.get_by_test_id("render-all-row")
    catalog = await live.get("/v1/event-types", auth)
    await expect(rows).to_have_count(len(catalog))
    # A delete has no current value: this template only breaks there, and the check says so.
    await expect(rows.and_(page.locator("[data-event=TODO_DELETED]"))).to_have_attribute("data-ok", "false")
    await expect(rows.and_(page.locator("[data-event=TODO_CREATED]"))).to_have_attribute("data-ok", "true")
    await tab.audit()
    await tab.shot("template")
    await body.fill('{"title": {{ currentValue.title | tojson }}, "kind": {{ event | tojson }}}')
    await expect(preview).to_contain_text('"kind": "TODO_CREATED"')
    await page.get_by_test_id("template-save").click()
    await expect(page.get_by_test_id("template-done")).to_be_visible()
    await tab.audit()
    template = (await live.get(f"/v1/webhooks/{hook_id}", auth))["template"]
    assert template["body"] == '{"title": {{ currentValue.title | tojson }}, "kind": {{ event | tojson }}}'

    # The log is open when the events arrive: the filtered-out one makes no delivery, the other appears.
    await tab.goto(f"/portal/deliveries?webhook={hook_id}")
    await keep_document(page)
    skipped = await live.todo_created(auth, "no")
    assert skipped["deliveries"] == 0
    sent = await live.todo_created(auth, "ship it")
    assert sent["deliveries"] == 1
    row = page.get_by_test_id("delivery-row").filter(has_text=sent["id"])
    await expect(row).to_have_attribute("data-status", "delivered")
    assert await same_document(page), "the log reloaded the page to show the delivery"
    await expect(page.get_by_test_id("delivery-row")).to_have_count(1)
    await tab.audit()
    await tab.shot("deliveries")

    [received] = [r for r in live_receiver.requests if r.path == "/crm"]
    assert received.json() == {"title": "ship it", "kind": "TODO_CREATED"}
    signatures, expected = standard_signatures(secret, received)
    assert signatures == [expected]

    # Open it: the attempt, as the receiver answered it.
    await row.get_by_test_id("delivery-link").click()
    await tab.audit()
    attempt = page.get_by_test_id("attempt")
    await expect(attempt).to_have_count(1)
    await expect(attempt.get_by_test_id("attempt-status")).to_have_text("200")
    await expect(page.get_by_test_id("delivery-status")).to_have_text("delivered")
    await tab.shot("delivery")

    # The receiver fails: the delivery runs out of attempts; a retry from the page delivers it.
    live_receiver.default = (500, {}, "receiver is down")
    try:
        failing = await live.todo_created(auth, "ship again")
        await tab.goto(f"/portal/deliveries?webhook={hook_id}")
        failed_row = page.get_by_test_id("delivery-row").filter(has_text=failing["id"])
        await expect(failed_row).to_have_attribute("data-status", "failed")
        await failed_row.get_by_test_id("delivery-link").click()
        await tab.audit()
        await expect(page.get_by_test_id("attempt-status")).to_have_text(["500", "500"])
        await expect(page.get_by_test_id("attempt-body").first).to_have_text("receiver is down")
    finally:
        live_receiver.default = (200, {}, "ok")
    await page.get_by_test_id("delivery-retry").click()
    await expect(page.get_by_test_id("delivery-done")).to_be_visible()
    await tab.audit()
    await tab.goto(f"/portal/deliveries?webhook={hook_id}")
    await expect(failed_row).to_have_attribute("data-status", "delivered")
    await failed_row.get_by_test_id("delivery-link").click()
    await tab.audit()
    await expect(page.get_by_test_id("attempt-status")).to_have_text(["500", "500", "200"])

    await tab.goto("/portal/webhooks")
    await expect(page.get_by_test_id("webhook-row")).to_have_count(1)
    # Four attempts in the last day (200, 500, 500, 200): half of them succeeded.
    rate = page.get_by_test_id("webhook-rate")
    await expect(rate.get_by_role("img")).to_have_accessible_name("Last 24 hours: 4 attempts, 2 succeeded")
    await expect(rate).to_contain_text("50%")
    await tab.shot("webhooks")

    # Rotate: the new secret is shown once; a reload shows it no more, and it is the one that signs.
    await tab.goto(f"/portal/webhooks/{hook_id}")
    await page.get_by_test_id("webhook-rotate").click()
    rotated = await page.get_by_test_id("secret-value").input_value()
    assert rotated.startswith("whsec_") and rotated != secret
    await tab.audit()
    await page.reload()
    await tab.audit()
    await expect(page.get_by_test_id("secret-value")).to_have_count(0)
    assert rotated not in await page.content()
    signed = await live.todo_created(auth, "ship 3")
    assert signed["deliveries"] == 1
    last = await eventually(lambda: [r for r in live_receiver.requests if b"ship 3" in r.body])
    signatures, expected = standard_signatures(rotated, last[0])
    assert signatures[0] == expected  # the old secret's signature may follow during the grace day


async def test_a_source_made_in_the_portal_receives_blue_and_the_events_show_their_deliveries(
    tabs: TabFactory, live: LiveGateway, live_receiver: Receiver
) -> None:
    auth = await live.token("source-co")
    await live.post("/v1/webhooks", auth, {"name": "all todos", "url": f"{live_receiver.url}/source-co"})
    tab = await sign_in_with_link(tabs, live, auth)
    page = tab.page

    await page.get_by_test_id("nav-sources").click()
    await tab.audit()
    await page.get_by_test_id("source-new").click()
    await tab.audit()
    await page.get_by_label("Name", exact=True).fill("Blue workspace")
    await page.get_by_test_id("source-secret").fill("blue-webhook-secret")
    await page.get_by_test_id("source-save").click()
    await expect(page.get_by_test_id("source-received-empty")).to_be_visible()
    await tab.audit()
    ingest_url = await page.get_by_test_id("source-ingest-url").input_value()
    assert ingest_url.startswith(live.url + "/v1/sources/") and ingest_url.endswith("/events")

    # Blue delivers to the URL the page showed, signed with the secret typed into it.
    delivery = {
        "event": "TODO_CREATED",
        "webhook": {"id": "blue-hook"},
        "previousValue": None,
        "currentValue": {"id": "todo-1", "title": "from Blue"},
    }
    body = json.dumps(delivery).encode()
    signature = hmac.new(b"blue-webhook-secret", body, hashlib.sha256).hexdigest()
    answer = await live.client.post(ingest_url, content=body, headers={"X-Signature": signature})
    assert answer.status_code in (200, 202), answer.text
    event_id = answer.json()["id"]

    async def delivered() -> bool:
        found = await live.get("/v1/deliveries", auth, eventId=event_id, status="delivered")
        return bool(found["data"])

    await eventually(delivered)  # the event page shows the delivery as it is when the page opens

    await page.reload()
    row = page.get_by_test_id("source-event-row")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(event_id)
    await tab.audit()
    await tab.shot("sources")

    await page.get_by_test_id("nav-events").click()
    await expect(page.get_by_test_id("event-row")).to_have_count(1)
    await tab.audit()
    await tab.shot("events")
    await page.get_by_test_id("event-link").click()
    await expect(page.get_by_test_id("event-envelope")).to_contain_text("from Blue")
    produced = page.get_by_test_id("delivery-row")
    await expect(produced).to_have_count(1)
    await expect(produced).to_have_attribute("data-status", "delivered")
    await tab.audit()
