"""Each endpoint gets the concurrency it can take: a failing one is held to a trickle, a healthy one grows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.conftest import GatewayFactory, eventually, listen

EVENTS = 300
ANSWER_S = 0.03


class Endpoint:
    """Answers ``status`` after ``ANSWER_S``; records how many requests were in flight as each arrived."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.in_flight = 0
        self.seen_in_flight: list[int] = []
        self.ids: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.in_flight += 1
        self.seen_in_flight.append(self.in_flight)
        try:
            await asyncio.sleep(ANSWER_S)
        finally:
            self.in_flight -= 1
        self.ids.add(request.headers["webhook-id"])
        return web.Response(status=self.status, text="answer")


@pytest.fixture
async def endpoints() -> AsyncIterator[tuple[str, Endpoint, Endpoint]]:
    healthy, failing = Endpoint(200), Endpoint(503)
    app = web.Application()
    app.router.add_post("/healthy", healthy.handle)
    app.router.add_post("/failing", failing.handle)
    runner, port = await listen(app)
    try:
        yield f"http://127.0.0.1:{port}", healthy, failing
    finally:
        await runner.cleanup()


async def test_a_failing_endpoint_gets_fewer_in_flight_while_a_healthy_one_grows(
    gateway_factory: GatewayFactory, endpoints: tuple[str, Endpoint, Endpoint]
) -> None:
    base, healthy, failing = endpoints
    # One attempt per delivery (no retries), and a reservation long enough that the bursts stay in memory.
    gw = await gateway_factory(webhook_concurrency=64, lease_seconds=30.0, retry_schedule="0")
    auth = await gw.token()
    await gw.webhook(auth, url=f"{base}/healthy")
    await gw.webhook(auth, url=f"{base}/failing")
    events = [{"id": f"e{i}", "event": "TODO_CREATED", "currentValue": {"id": i}} for i in range(EVENTS)]
    for start in range(0, EVENTS, 100):
        resp = await gw.client.post("/v1/events/batch", json={"events": events[start : start + 100]}, headers=auth)
        assert resp.status_code == 202, resp.text

    await eventually(lambda: len(healthy.ids) == EVENTS and len(failing.ids) == EVENTS, timeout=60)

    initial = gw.runtime.engine.limits.config.initial
    # The healthy endpoint answered every request as fast as the first: its limit grew past the start.
    assert max(healthy.seen_in_flight) > initial, healthy.seen_in_flight
    # Every answer of the failing one was a 503: after the first round it was sent one request at a time.
    late = failing.seen_in_flight[2 * initial :]
    assert max(late) <= 2, late
    assert max(healthy.seen_in_flight) > 4 * max(late)
