"""The database goes away and comes back: 503s meanwhile, never a 500, and nothing accepted is lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.conftest import GatewayFactory, Receiver, eventually
from tests.integration.tcpproxy import TcpProxy


async def test_database_outage_answers_503_and_recovers(
    pg_url: str,
    proxy_to: Callable[[str], Awaitable[TcpProxy]],
    gateway_factory: GatewayFactory,
    receiver: Receiver,
) -> None:
    pg_proxy = await proxy_to("postgresql")
    proxied = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}")
    gw = await gateway_factory(database_url=proxied)
    auth = await gw.token()
    await gw.webhook(auth, url=receiver.url)
    assert (await gw.event(auth, id="before", event="TODO_CREATED"))["deliveries"] == 1
    await eventually(lambda: receiver.requests)

    await pg_proxy.cut()
    for _ in range(3):
        resp = await gw.client.post("/v1/events", json={"id": "during", "event": "TODO_CREATED"}, headers=auth)
        assert resp.status_code == 503, resp.text
        assert resp.json()["status_code"] == 503
    listing = await gw.client.get("/v1/webhooks", headers=auth)
    assert listing.status_code == 503
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] is False
    assert (await gw.client.get("/healthz")).status_code == 200

    pg_proxy.restore()

    async def accepted() -> bool:
        resp = await gw.client.post("/v1/events", json={"id": "after", "event": "TODO_CREATED"}, headers=auth)
        return resp.status_code == 202

    await eventually(accepted, timeout=20, interval=0.2)
    await eventually(lambda: len(receiver.requests) == 2, timeout=20)
    assert (await gw.client.get("/readyz")).status_code == 200
