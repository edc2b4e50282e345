"""The portal on a phone: every page fits a narrow screen and stays accessible there."""

from __future__ import annotations

from tests.browser.conftest import LiveGateway, TabFactory, sign_in_with_link
from tests.conftest import Receiver

PHONE = {"width": 375, "height": 740}
PAGES = ("/portal/webhooks", "/portal/webhooks/new", "/portal/deliveries", "/portal/events", "/portal/sources")


async def test_the_pages_fit_a_phone(tabs: TabFactory, live: LiveGateway, live_receiver: Receiver) -> None:
    auth = await live.token("phone-co")
    await live.post(
        "/v1/webhooks",
        auth,
        {"name": "a webhook with a rather long name", "url": f"{live_receiver.url}/phone/a/long/path/to/the/hook"},
    )
    tab = await sign_in_with_link(tabs, live, auth)
    await tab.page.set_viewport_size(PHONE)
    for path in PAGES:
        await tab.goto(path, audit=False)
        await tab.audit()  # at this size, even where the desktop size was checked already
        width = await tab.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
