"""Tenant templates render in separate processes under a hard time limit: /healthz stays fast meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select

from gateway.db.models import Delivery
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually, gone

# About 120 000 loop steps: a few tenths of a second of pure Jinja, legal under a generous limit.
SLOW_BODY = '{% for a in range(400) %}{% for b in range(300) %}{{ "" }}{% endfor %}{% endfor %}{"ok": true}'
# wordwrap(1) over a long word is quadratic inside one filter call, where no time check can run: only
# killing the process stops it (in process it would hold the event loop for about half a minute).
RUNAWAY_BODY = '{{ ("x" * 600000)|wordwrap(1)|length }}'
# Below the shortest render time limit used here (1 s): a render on the event loop would hold /healthz at
# least that long, while a busy 2-core machine alone can delay an answer by a few tenths of a second.
HEALTHZ_BOUND = 0.9


@dataclass
class Healthz:
    """Latencies of /healthz, polled back to back while a test runs."""

    latencies: list[float] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies)


@contextlib.asynccontextmanager
async def watching_healthz(client: httpx.AsyncClient) -> AsyncIterator[Healthz]:
    """Poll /healthz every 20 ms until the block ends; each answer's lateness is recorded."""
    seen = Healthz()

    async def poll() -> None:
        while True:
            # Measured from when the request was due, so a stall during the pause counts too.
            due = time.monotonic() + 0.02
            await asyncio.sleep(0.02)
            resp = await client.get("/healthz")
            seen.latencies.append(time.monotonic() - due)
            assert resp.status_code == 200

    task = asyncio.create_task(poll())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(seen.latencies) >= 3, "the block ended before /healthz was polled at all"


async def _failed_delivery(gw: Gateway, auth: dict[str, str]) -> dict | None:
    async with gw.db.connect() as conn:
        delivery_id = await conn.scalar(select(Delivery.id))
    if delivery_id is None:
        return None
    data = (await gw.client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()
    return data if data["status"] == "failed" else None


async def test_slow_templates_leave_healthz_fast(gateway_factory: GatewayFactory, receiver: Receiver) -> None:
    gw = await gateway_factory(template_time_limit=30.0)
    auth = await gw.token()
    await gw.webhook(auth, url=receiver.url, template={"body": SLOW_BODY})
    events = [{"id": f"slow-{i}", "event": "TODO_CREATED", "currentValue": {"id": i}} for i in range(20)]

    async with watching_healthz(gw.client) as healthz:
        resp = await gw.client.post("/v1/events/batch", json={"events": events}, headers=auth)
        assert resp.status_code == 202, resp.text
        await eventually(lambda: len(receiver.requests) == 20, timeout=120, interval=0.1)

    assert all(r.json() == {"ok": True} for r in receiver.requests)
    assert healthz.worst < HEALTHZ_BOUND, f"/healthz took {healthz.worst:.2f}s while templates rendered"


async def test_a_runaway_render_is_killed_and_fails_as_a_template_error(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gw = await gateway_factory(template_time_limit=1.0)
    auth = await gw.token()
    await gw.webhook(auth, url=receiver.url, template={"body": RUNAWAY_BODY, "contentType": "text/plain"})

    async with watching_healthz(gw.client) as healthz:
        await gw.event(auth, event="TODO_CREATED", currentValue={"id": "t1"})
        # Generous for a busy machine; in process this render alone takes about half a minute.
        detail = await eventually(lambda: _failed_delivery(gw, auth), timeout=15, interval=0.1)

    [attempt] = detail["attempts"]
    assert attempt["statusCode"] is None
    assert attempt["error"].startswith("template_error: ")
    assert "render time limit exceeded (1 s)" in attempt["error"]
    assert gw.runtime.renderer.killed == 1
    assert receiver.requests == []
    assert healthz.worst < HEALTHZ_BOUND, f"/healthz took {healthz.worst:.2f}s during the runaway render"
    # A fresh render process took the killed one's place and renders the next template.
    ok = await gw.client.post(
        "/v1/templates/preview", json={"template": {"body": '{"n": {{ 6 * 7 }}}'}}, headers=auth
    )
    assert ok.status_code == 200 and ok.json()["body"] == '{"n": 42}'


async def test_an_endless_loop_stops_at_the_time_limit(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gw = await gateway_factory(template_time_limit=1.0)
    auth = await gw.token()
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    await gw.webhook(auth, url=receiver.url, template={"body": endless})

    async with watching_healthz(gw.client) as healthz:
        for i in range(3):
            await gw.event(auth, event="TODO_CREATED", id=f"e{i}", currentValue={"id": i})

        async def all_failed() -> bool:
            async with gw.db.connect() as conn:
                failed = (await conn.scalars(select(Delivery.id).where(Delivery.status == "failed"))).all()
            return len(failed) == 3

        await eventually(all_failed, timeout=20, interval=0.1)

    assert healthz.worst < HEALTHZ_BOUND, f"/healthz took {healthz.worst:.2f}s during endless renders"
    assert receiver.requests == []


async def test_preview_of_a_runaway_template_answers_422_quickly(gateway: Gateway) -> None:
    auth = await gateway.token()
    async with watching_healthz(gateway.client) as healthz:
        started = time.monotonic()
        resp = await gateway.client.post(
            "/v1/templates/preview",
            json={"template": {"body": RUNAWAY_BODY, "contentType": "text/plain"}},
            headers=auth,
        )
        took = time.monotonic() - started

    assert resp.status_code == 422, resp.text
    assert "render time limit exceeded (1 s)" in resp.json()["detail"]
    assert took < 10, f"the preview took {took:.1f}s"
    assert healthz.worst < HEALTHZ_BOUND, f"/healthz took {healthz.worst:.2f}s during the preview"


async def test_render_processes_start_on_first_use_and_stop_with_the_app(gateway: Gateway) -> None:
    auth = await gateway.token()
    builtin = await gateway.client.post(
        "/v1/templates/preview", json={"template": {"name": "record"}}, headers=auth
    )
    assert builtin.status_code == 200
    assert gateway.runtime.renderer.pids == [], "a built-in template needs no render process"

    resp = await gateway.client.post(
        "/v1/templates/preview", json={"template": {"body": '{"e": {{ event|tojson }}}'}}, headers=auth
    )
    assert resp.status_code == 200 and resp.json()["body"] == '{"e": "TODO_CREATED"}'
    pids = gateway.runtime.renderer.pids
    assert len(pids) == gateway.runtime.settings.render_processes
    assert not any(gone(pid) for pid in pids)

    started = time.monotonic()
    await gateway.stop()
    assert time.monotonic() - started < 10
    await eventually(lambda: all(gone(pid) for pid in pids), timeout=5)
