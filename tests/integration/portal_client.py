"""A browser-like client of the portal for the server-side tests: its own cookies, the page's CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Gateway

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


@dataclass
class Portal:
    """One browser session: an httpx client with its own cookie jar, on the gateway's address."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def page(self, path: str, expect: int = 200, **params: Any) -> str:
        resp = await self.client.get(path, params=params)
        assert resp.status_code == expect, (path, resp.status_code, resp.text[:2000])
        found = CSRF.search(resp.text)
        if found:
            self.csrf = found.group(1)
        return resp.text

    async def post(
        self, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None, *, csrf: bool = True
    ) -> httpx.Response:
        items = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            items.append(("_csrf", self.csrf))
        return await self.client.post(path, data=form(items))


def form(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields as httpx sends them: a name given several times keeps every value, in order."""
    out: dict[str, list[str]] = {}
    for name, value in items:
        out.setdefault(name, []).append(value)
    return out


async def link(gateway: Gateway, auth: dict[str, str], **body: Any) -> str:
    """A portal link made through the API."""
    resp = await gateway.client.post("/v1/portal/links", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["url"])


async def open_portal(gateway: Gateway, url: str) -> Portal:
    """A new browser that opens ``url`` (a portal link) and lands signed in on the webhooks page."""
    client = httpx.AsyncClient(base_url=str(gateway.client.base_url), timeout=30)
    resp = await client.get(url)
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/portal/webhooks"
    portal = Portal(client)
    await portal.page("/portal/webhooks")
    return portal
