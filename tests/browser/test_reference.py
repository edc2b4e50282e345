"""The API reference in a real browser: it renders offline, and a token typed into it signs its calls."""

from __future__ import annotations

from tests.browser.conftest import LiveGateway, TabFactory, expect

# Serious violations in Swagger UI's own markup and styles, which /schema serves as the package ships them.
# Any other rule broken there still fails the test.
SWAGGER_UI = {
    "color-contrast": "the method badges and version stamps use Swagger UI's light colours",
    "nested-interactive": "each operation's summary is a button that holds the copy and lock buttons",
    "html-has-lang": "the page shell comes from the framework's Swagger plugin, without a lang",
    "select-name": "the servers drop-down has no label",
}


async def test_the_reference_renders_offline_and_calls_the_api_signed_in(
    tabs: TabFactory, live: LiveGateway
) -> None:
    auth = await live.token("ref-co")
    event = await live.post("/v1/events", auth, {"event": "TODO_CREATED", "id": "ref-1"}, expect=202)
    tab = await tabs()
    page = tab.page

    await tab.goto("/schema", audit=False)
    events_op = page.locator(".opblock-get:has(.opblock-summary-path[data-path='/v1/events'])")
    await expect(events_op).to_be_visible()
    await tab.audit(known=SWAGGER_UI)

    await page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".auth-container")
    await dialog.get_by_role("textbox").fill(auth["Authorization"].removeprefix("Bearer "))
    await dialog.get_by_role("button", name="Apply credentials").click()
    await dialog.get_by_role("button", name="Close").click()

    await events_op.locator(".opblock-summary").click()
    await events_op.get_by_role("button", name="Try it out").click()
    await events_op.get_by_role("button", name="Execute").click()
    answer = events_op.locator(".live-responses-table tbody .response-col_status").first
    await expect(answer).to_have_text("200")
    await expect(events_op.locator(".live-responses-table tbody .response-col_description").first).to_contain_text(
        event["id"]
    )
