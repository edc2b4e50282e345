"""Private targets are refused when saved and on the address actually dialled, for every outbound path.

Every test here runs with private targets NOT allowed, against a real receiver on 127.0.0.1 that must
receive nothing.
"""

# ruff: noqa: RUF001  # look-alike characters are what these tests are about

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from gateway.db.models import Delivery, Webhook
from gateway.delivery.guard import GuardedConnector, RefusedAddress
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually

TODO = {"id": "todo-1", "title": "Ship it", "todoList": {"id": "list-1", "title": "To do", "projectId": "p1"}}
PUBLIC = "93.184.215.14"  # what the test name resolves to when the webhook is saved; never dialled


class FakeDns:
    """Names this test maps to addresses, answered where the gateway asks the system resolver."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.names: dict[str, str] = {}

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        address = self.names.get(str(name).rstrip(".").lower())
        if address is None:
            return self.real(host, port, family, type, *args, **kw)
        if family not in (0, socket.AF_INET):
            raise socket.gaierror(socket.EAI_NONAME, "no IPv6 address for this test name")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDns]:
    resolver = FakeDns(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver.getaddrinfo)
    yield resolver


def _port(receiver: Receiver) -> str:
    return receiver.url.rsplit(":", 1)[1]


SAVE_REFUSED = [
    "http://127。0。0。1:{port}/",
    "http://127．0．0．1:{port}/",
    "http://127｡0｡0｡1:{port}/",
    "http://１２７.0.0.1:{port}/",
    "http://１２７。０。０。１:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://127。0。0。1。:{port}/",
    "http://ｌｏｃａｌｈｏｓｔ:{port}/",
    "http://localhost.:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://[2002:a00:1::]:{port}/",
    "http://[64:ff9b::127.0.0.1]:{port}/",
    "http://[64:ff9b::169.254.169.254]:{port}/",
    "http://[64:ff9b:1::7f00:1]:{port}/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/",
]


@pytest.mark.parametrize("url", SAVE_REFUSED)
async def test_every_spelling_of_an_inward_address_is_refused_at_save(
    gateway_factory: GatewayFactory, receiver: Receiver, url: str
) -> None:
    gw: Gateway = await gateway_factory(allow_private_targets=False)
    auth = await gw.token()
    target = url.format(port=_port(receiver))
    resp = await gw.client.post("/v1/webhooks", json={"url": target}, headers=auth)
    assert resp.status_code == 422, resp.text
    assert resp.json()["extra"][0]["key"] == "url"
    zap = await gw.client.post(
        "/v1/zapier/subscriptions", json={"target_url": target, "event": "TODO_CREATED"}, headers=auth
    )
    assert zap.status_code == 422, zap.text
    assert zap.json()["detail"] == resp.json()["detail"]
    assert (await gw.client.get("/v1/webhooks", headers=auth)).json()["data"] == []
    assert receiver.requests == []


async def test_a_name_resolving_to_loopback_is_refused_at_save_naming_the_address(
    gateway_factory: GatewayFactory, receiver: Receiver, dns: FakeDns
) -> None:
    dns.names["inward.example.test"] = "127.0.0.1"
    gw: Gateway = await gateway_factory(allow_private_targets=False)
    auth = await gw.token()
    resp = await gw.client.post(
        "/v1/webhooks", json={"url": f"http://inward.example.test:{_port(receiver)}/"}, headers=auth
    )
    assert resp.status_code == 422, resp.text
    assert "resolves to 127.0.0.1, a loopback address" in resp.json()["detail"]


async def _stored_hook(gw: Gateway, auth: dict[str, str], url: str) -> dict[str, Any]:
    """A webhook whose stored URL is ``url``: saved with a public target, then changed in the database,
    as if it had been saved while private targets were allowed."""
    hook = await gw.webhook(auth, url="https://hooks.example.com/placeholder")
    async with gw.db.begin() as conn:
        await conn.execute(update(Webhook).where(Webhook.id == hook["id"]).values(url=url))
    return hook


async def _assert_refused_delivery(gw: Gateway, auth: dict[str, str], delivery_id: str) -> None:
    async def failed() -> dict[str, Any] | None:
        resp = await gw.client.get(f"/v1/deliveries/{delivery_id}", headers=auth)
        body: dict[str, Any] = resp.json()
        return body if body["status"] == "failed" else None

    detail = await eventually(failed)
    assert len(detail["attempts"]) == 1, detail  # refused, not retried
    attempt = detail["attempts"][0]
    assert attempt["error"].startswith("ssrf: "), attempt
    assert attempt["statusCode"] is None and attempt["responseBody"] is None


async def _assert_refused_everywhere(gw: Gateway, auth: dict[str, str], hook_id: str, receiver: Receiver) -> None:
    """Delivery, ``/enable`` and ``/test`` are each refused, and the receiver hears nothing."""
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def delivery_id() -> str | None:
        async with gw.db.connect() as conn:
            return await conn.scalar(select(Delivery.id).where(Delivery.webhook_id == hook_id))

    await _assert_refused_delivery(gw, auth, await eventually(delivery_id))

    enabled = await gw.client.post(f"/v1/webhooks/{hook_id}/enable", headers=auth)
    assert enabled.status_code == 422, enabled.text
    extra = enabled.json()["extra"][0]
    assert extra["error"].startswith("ssrf: ") and extra["responseBody"] is None and extra["statusCode"] is None

    tested = await gw.client.post(f"/v1/webhooks/{hook_id}/test", json={"event": "TODO_CREATED"}, headers=auth)
    assert tested.status_code == 202, tested.text
    await _assert_refused_delivery(gw, auth, tested.json()["id"])
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127。0。0。1:{port}/hook",
        "http://127．0．0．1:{port}/hook",
        "http://１２７.0.0.1:{port}/hook",
        "http://127.0.0.1.:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://localhost:{port}/hook",
    ],
)
async def test_a_stored_inward_url_is_refused_for_delivery_enable_and_test(
    gateway_factory: GatewayFactory, receiver: Receiver, url: str
) -> None:
    gw: Gateway = await gateway_factory(allow_private_targets=False)
    auth = await gw.token()
    hook = await _stored_hook(gw, auth, url.format(port=_port(receiver)))
    await _assert_refused_everywhere(gw, auth, hook["id"], receiver)


@pytest.mark.parametrize("made_by", ["webhooks API", "Zapier subscription"])
async def test_a_name_that_starts_resolving_to_loopback_is_refused_at_connect(
    gateway_factory: GatewayFactory, receiver: Receiver, dns: FakeDns, made_by: str
) -> None:
    """DNS rebinding: public when saved, loopback when dialled."""
    dns.names["rebind.example.test"] = PUBLIC
    gw: Gateway = await gateway_factory(allow_private_targets=False)
    auth = await gw.token()
    url = f"http://rebind.example.test:{_port(receiver)}/hook"
    if made_by == "webhooks API":
        hook_id = (await gw.webhook(auth, url=url))["id"]
    else:
        made = await gw.client.post(
            "/v1/zapier/subscriptions", json={"target_url": url, "event": "TODO_CREATED"}, headers=auth
        )
        assert made.status_code == 201, made.text
        hook_id = made.json()["id"]
    dns.names["rebind.example.test"] = "127.0.0.1"
    await _assert_refused_everywhere(gw, auth, hook_id, receiver)


async def test_redirects_are_not_followed(gateway_factory: GatewayFactory, receiver: Receiver) -> None:
    """Private targets are allowed here only so that the local receiver can answer the redirect."""
    gw: Gateway = await gateway_factory(allow_private_targets=True)
    auth = await gw.token()
    receiver.respond((302, {"Location": f"{receiver.url}/inner"}, ""))
    hook = await gw.webhook(auth, url=f"{receiver.url}/hook")
    await gw.event(auth, event="TODO_CREATED", currentValue=TODO)

    async def attempted() -> dict[str, Any] | None:
        page = (await gw.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth)).json()["data"]
        if not page:
            return None
        detail: dict[str, Any] = (await gw.client.get(f"/v1/deliveries/{page[0]['id']}", headers=auth)).json()
        return detail if detail["attempts"] else None

    detail = await eventually(attempted)
    assert detail["attempts"][0]["statusCode"] == 302
    assert [r.path for r in receiver.requests][:1] == ["/hook"]
    assert "/inner" not in [r.path for r in receiver.requests]


async def _post_through(connector: aiohttp.TCPConnector, url: str) -> int:
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=b"{}", allow_redirects=False) as resp,
    ):
        return resp.status


@pytest.mark.parametrize("host", ["127.0.0.1", "127。0。0。1", "１２７.0.0.1", "rebind.example.test"])
async def test_the_connector_refuses_loopback_however_the_host_is_spelled(
    receiver: Receiver, dns: FakeDns, host: str
) -> None:
    """The connect-time guard on its own, without the URL check that runs before each send."""
    dns.names["rebind.example.test"] = "127.0.0.1"
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await _post_through(GuardedConnector(allow_private=False), f"http://{host}:{_port(receiver)}/")
    assert isinstance(caught.value.os_error, RefusedAddress)
    assert "127.0.0.1" in str(caught.value.os_error) and "a loopback address" in str(caught.value.os_error)
    assert receiver.requests == []
    # The same connector with private targets allowed does reach the receiver: the refusal above is the guard.
    assert await _post_through(GuardedConnector(allow_private=True), f"http://{host}:{_port(receiver)}/") == 200
    assert len(receiver.requests) == 1


class _UnfilteredConnector(GuardedConnector):
    """As if aiohttp stopped routing addresses through ``_resolve_host``: only the socket check is left."""

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> Any:
        return await aiohttp.TCPConnector._resolve_host(self, host, port, traces=traces)


async def test_the_socket_check_alone_refuses_the_address_dialled(receiver: Receiver) -> None:
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await _post_through(_UnfilteredConnector(allow_private=False), f"http://127。0。0。1:{_port(receiver)}/")
    assert isinstance(caught.value.os_error, RefusedAddress)
    assert str(caught.value.os_error) == "refused to connect to 127.0.0.1 is a loopback address"
    assert receiver.requests == []
