"""The API reference works offline and signed in: local assets, the bearer scheme, every error answer."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.conftest import Gateway

METHODS = ("get", "post", "put", "patch", "delete")
SIGNED_BY_BLUE = ("post", "/v1/sources/{source_id}/events")


class _Links(HTMLParser):
    """Every URL the page loads: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


async def test_the_schema_page_loads_everything_from_the_gateway(gateway: Gateway) -> None:
    page = await gateway.client.get("/schema")
    assert page.status_code == 200
    links = _Links()
    links.feed(page.text)
    assert len(links.urls) >= 3  # the script, the preset and the stylesheet at least
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await gateway.client.get(url)
        assert asset.status_code == 200 and asset.content, url
    head = page.text.split("<body", 1)[0]
    assert not re.search(r"https?://", head), "the page head names another origin"
    bundle = await gateway.client.get("/schema-assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text


async def test_openapi_declares_the_bearer_scheme_and_each_operations_errors(gateway: Gateway) -> None:
    doc = (await gateway.client.get("/schema/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    seen = 0
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            assert op.get("description"), f"{method} {path} has no description"
            if not path.startswith("/v1/"):
                continue
            seen += 1
            answers = set(op["responses"])
            assert "503" in answers, f"{method} {path}"
            if (method, path) == SIGNED_BY_BLUE:
                assert "security" not in op and {"401", "429"} <= answers
                continue
            assert op["security"] == [{"bearer": []}], f"{method} {path}"
            assert {"401", "403"} <= answers, f"{method} {path}"
            if "{" in path:
                assert "404" in answers, f"{method} {path}"
            if method in ("post", "patch", "put"):
                assert {"413", "422"} <= answers, f"{method} {path}"
            error = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert error["$ref"].endswith("/ErrorOut")
    assert seen > 25
    assert "409" in doc["paths"]["/v1/deliveries/{delivery_id}/retry"]["post"]["responses"]
    assert "429" in doc["paths"]["/v1/events"]["post"]["responses"]
    for new in ("/v1/events", "/v1/events/{event_id}", "/v1/deliveries", "/v1/webhooks/{webhook_id}/stats"):
        assert "get" in doc["paths"][new], new
    assert "get" in doc["paths"]["/v1/sources/{source_id}"]


async def test_a_token_typed_into_the_reference_is_what_the_api_takes(gateway: Gateway) -> None:
    auth = await gateway.token()
    # The reference sends the bearer scheme's header exactly like this.
    resp = await gateway.client.get("/v1/events", headers={"Authorization": auth["Authorization"]})
    assert resp.status_code == 200
    assert (await gateway.client.get("/v1/events", headers={"Authorization": "Bearer nope"})).status_code == 401
