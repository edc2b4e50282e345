"""Slack, Discord, Teams, Make and n8n end to end: the real app delivers to local stand-ins of each service.

Each stand-in is a real aiohttp server that checks a body the way its service documents and answers the way
the service does: success, its own error for a body it would refuse, or a scripted error answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway.core.catalog import EVENT_TYPES
from tests.conftest import Gateway, eventually, listen
from tests.service_rules import PROBLEMS

Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, body: Any, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, orjson.dumps(body)


def _text(status: int, body: str, **headers: str) -> Answer:
    return status, {"Content-Type": "text/plain", **headers}, body.encode()


SUCCESS: dict[str, Answer] = {
    "slack": _text(200, "ok"),
    "discord": (204, {}, b""),
    "teams": (202, {}, b""),
    "make": _text(200, "Accepted"),
    "n8n": _json(200, {"message": "Workflow was started"}),
}
REFUSED: dict[str, Callable[[list[str]], Answer]] = {
    "slack": lambda problems: _text(400, "invalid_payload"),
    "discord": lambda problems: _json(400, {"code": 50035, "message": "Invalid Form Body", "errors": problems}),
    "teams": lambda problems: _json(400, {"error": {"code": "InvalidRequestContent", "message": str(problems)}}),
    "make": lambda problems: _text(400, "Validation failed"),
    "n8n": lambda problems: _json(500, {"code": 0, "message": "Workflow could not be started!"}),
}
PATHS = {
    "slack": "/services/T000/B000/XXXX",
    "discord": "/api/webhooks/123/tok",
    "teams": "/workflows/abc/triggers/manual/paths/invoke",
    "make": "/hook/abc123",
    "n8n": "/webhook/blue-events",
}


@dataclass
class StandIn:
    """One service's stand-in: what it received, what it found wrong, and answers to give first."""

    service: str
    url: str = ""
    received: list[tuple[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    refused: list[tuple[str, list[str]]] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        event = request.headers.get("x-blue-event", "")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        self.received.append((event, body))
        self.raw.append(raw)
        if self.script:
            status, headers, text = self.script.pop(0)
            return web.Response(status=status, headers=headers, body=text)
        check = PROBLEMS[self.service]
        problems = check(body, len(raw)) if self.service == "teams" else check(body)
        if request.content_type != "application/json":
            problems.append(f"content type {request.content_type}")
        if problems:
            self.refused.append((event, problems))
            status, headers, text = REFUSED[self.service](problems)
        else:
            status, headers, text = SUCCESS[self.service]
        return web.Response(status=status, headers=headers, body=text)


@pytest.fixture
async def stand_in() -> AsyncIterator[Callable[[str], Awaitable[StandIn]]]:
    runners: list[web.AppRunner] = []

    async def start(service: str) -> StandIn:
        server = StandIn(service)
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", server.handle)
        runner, port = await listen(app)
        server.url = f"http://127.0.0.1:{port}{PATHS[service]}"
        runners.append(runner)
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


SERVICES = ["slack", "discord", "teams", "make", "n8n"]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_catalog_event_arrives_as_a_message_the_service_accepts(
    gateway: Gateway, stand_in: Callable[[str], Awaitable[StandIn]], service: str
) -> None:
    server = await stand_in(service)
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=server.url, connector=service)
    batch = [{**t.sample, "id": f"{service}-{t.name}"} for t in EVENT_TYPES]
    answer = await gateway.client.post("/v1/events/batch", json={"events": batch}, headers=auth)
    assert answer.status_code == 202

    async def all_delivered() -> bool:
        page = await gateway.client.get(
            f"/v1/webhooks/{hook['id']}/deliveries?status=delivered&limit=250", headers=auth
        )
        return len(page.json()["data"]) == len(EVENT_TYPES)

    await eventually(all_delivered, timeout=60)
    assert server.refused == []
    assert sorted(event for event, _ in server.received) == sorted(t.name for t in EVENT_TYPES)
    for event, body in server.received:
        assert "Website Relaunch" in orjson.dumps(body).decode(), (event, "the project is named")
        assert "Ada Lovelace" in orjson.dumps(body).decode(), (event, "who did it is named")


async def test_the_enable_health_check_is_a_valid_message_too(
    gateway: Gateway, stand_in: Callable[[str], Awaitable[StandIn]]
) -> None:
    auth = await gateway.token()
    for service in SERVICES:
        server = await stand_in(service)
        hook = await gateway.webhook(auth, url=server.url, connector=service, enabled=False)
        answer = await gateway.client.post(f"/v1/webhooks/{hook['id']}/enable", headers=auth)
        assert answer.status_code == 200, (service, answer.text)
        assert server.refused == [] and [e for e, _ in server.received] == ["WEBHOOK_HEALTH_CHECK"], service


@dataclass(frozen=True)
class Case:
    """A documented error answer and what the delivery and webhook must show after it."""

    service: str
    answer: Answer
    outcome: str  # "gone", "fail", "retry" (then delivered) or "wait" (pending, not before wait_at_least)
    says: str
    wait_at_least: float = 0.0


CASES = [
    Case("slack", _text(404, "no_service"), "gone", "slack 404 no_service"),
    Case("slack", _text(410, "channel_is_archived"), "gone", "slack 410 channel_is_archived"),
    Case("slack", _text(400, "invalid_payload"), "fail", "slack 400 invalid_payload"),
    Case("slack", _text(429, "rate_limited", **{"Retry-After": "120"}), "wait", "slack 429", 120),
    Case("discord", _json(404, {"code": 10015, "message": "Unknown Webhook"}), "gone", "10015: Unknown Webhook"),
    Case(
        "discord",
        _json(429, {"message": "You are being rate limited.", "retry_after": 42.5, "global": False}),
        "wait",
        "You are being rate limited.",
        42.5,
    ),
    Case("discord", _json(400, {"code": 50006, "message": "Cannot send an empty message"}), "fail", "50006"),
    Case(
        "teams",
        _json(400, {"error": {"code": "WorkflowTriggerIsNotEnabled", "message": "The workflow is 'Disabled'."}}),
        "gone",
        "WorkflowTriggerIsNotEnabled",
    ),
    Case("teams", _json(429, {"error": {"code": "TooManyRequests"}}, **{"Retry-After": "90"}), "wait", "429", 90),
    Case("make", _text(410, "There is no scenario listening for this webhook."), "gone", "no scenario listening"),
    Case("make", _text(400, "Queue is full."), "retry", "make 400 Queue is full."),
    Case("make", _text(429, "Too many requests", **{"Retry-After": "60"}), "wait", "Too many requests", 60),
    Case(
        "n8n",
        _json(
            404,
            {
                "code": 404,
                "message": 'The requested webhook "POST blue-events" is not registered.',
                "hint": "The workflow must be active for a production URL to run successfully.",
            },
        ),
        "gone",
        'The requested webhook "POST blue-events" is not registered.',
    ),
    Case("n8n", _text(403, "Authorization data is wrong!"), "fail", "n8n 403 Authorization data is wrong!"),
]


def _at(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.service}-{c.answer[0]}-{c.outcome}" for c in CASES])
async def test_documented_error_answers_map_to_the_right_outcome(
    gateway: Gateway, stand_in: Callable[[str], Awaitable[StandIn]], case: Case
) -> None:
    server = await stand_in(case.service)
    server.script.append(case.answer)
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=server.url, connector=case.service)
    await gateway.event(auth, **{**EVENT_TYPES[0].sample, "id": "e1"})
    settled = {"gone": "discarded", "fail": "failed", "retry": "delivered", "wait": "pending"}[case.outcome]

    async def delivery() -> dict[str, Any] | None:
        page = (await gateway.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth)).json()["data"]
        if not page:
            return None
        found = (await gateway.client.get(f"/v1/deliveries/{page[0]['id']}", headers=auth)).json()
        return found if found["status"] == settled and found["attempts"] else None

    found = await eventually(delivery, timeout=20)
    assert case.says in (found["attempts"][0]["error"] or ""), found["attempts"][0]
    webhook = (await gateway.client.get(f"/v1/webhooks/{hook['id']}", headers=auth)).json()
    if case.outcome == "gone":
        assert (webhook["enabled"], webhook["disabledReason"]) == (False, "gone")
    else:
        assert webhook["enabled"] is True
    if case.outcome == "fail":
        assert len(found["attempts"]) == 1 and len(server.received) == 1
    if case.outcome == "retry":
        assert len(found["attempts"]) == 2 and found["attempts"][1]["statusCode"] == 200
    if case.outcome == "wait":
        waited = _at(found["nextAttemptAt"]) - _at(found["attempts"][0]["at"])
        assert waited >= case.wait_at_least - 1.0, f"next attempt {waited:.1f}s after the answer"
        assert len(server.received) == 1


@pytest.mark.parametrize("service", SERVICES)
async def test_preview_shows_the_exact_body_sent_and_options_shape_it(
    gateway: Gateway, stand_in: Callable[[str], Awaitable[StandIn]], service: str
) -> None:
    server = await stand_in(service)
    auth = await gateway.token()
    options = {
        "blueUrl": "https://blue.example.com",
        **({"style": "text"} if service in ("slack", "discord") else {}),
    }
    hook = await gateway.webhook(auth, url=server.url, connector=service, options=options)
    sample = {**EVENT_TYPES[0].sample, "id": "e1"}
    await gateway.event(auth, **sample)
    await eventually(lambda: server.received)
    preview = await gateway.client.post(
        "/v1/templates/preview", json={"webhookId": hook["id"], "event": sample}, headers=auth
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["body"].encode() == server.raw[0]
    assert "https://blue.example.com/company/acme-corp/project/website-relaunch" in preview.json()["body"]
    bad = await gateway.client.post(
        "/v1/webhooks", json={"url": server.url, "connector": service, "options": {"colour": "red"}}, headers=auth
    )
    assert bad.status_code == 422 and "colour" in bad.json()["detail"]
