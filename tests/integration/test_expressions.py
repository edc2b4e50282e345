"""Tenant expressions over HTTP: hostile regexes and JSONPaths neither stall the gateway nor get saved."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update

from gateway.db.models import Webhook
from gateway.db.webhooks import bump_webhooks_version
from tests.conftest import Gateway, Receiver, eventually

HOSTILE_PATHS = [
    ("$.currentValue.title.`sub(/(a+)+$/, x)`", "functions"),
    ("$.currentValue.position * 5000 * 1000", "arithmetic ('*') is not allowed"),
    ("$..*..*..*", "at most one '..'"),
    ("$.currentValue.todoTags[?(@.tag.title =~ '(a+)+$')]", "regular expressions (=~) are not allowed"),
]


class HealthProbe:
    """Polls ``/healthz`` from its own thread (so a blocked event loop shows up) and records each latency."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    status = client.get("/healthz").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                self.latencies.append(time.perf_counter() - start)
                if status != 200:
                    self.failures.append(f"status {status}")
                self._stop.wait(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


async def test_a_catastrophic_regex_filter_neither_stalls_ingest_nor_healthz(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    title = {"path": "$.currentValue.title", "op": "regex", "value": "(a+)+$"}
    await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"], filter={"all": [title]})
    with HealthProbe(str(gateway.client.base_url)) as probe:
        await eventually(lambda: len(probe.latencies) >= 3)  # the probe is up before the hostile events
        start = time.perf_counter()
        # A backtracking engine needs about 2^28 steps for each of these titles (tens of seconds).
        results = await asyncio.gather(
            *(gateway.event(auth, event="TODO_CREATED", currentValue={"title": "a" * 28 + "!"}) for _ in range(5))
        )
        hit = await gateway.event(auth, event="TODO_CREATED", currentValue={"title": "a" * 28})
        elapsed = time.perf_counter() - start
        seen = len(probe.latencies)
        await eventually(lambda: len(probe.latencies) >= seen + 3)  # and still answers afterwards
    assert [result["deliveries"] for result in results] == [0] * 5
    assert hit["deliveries"] == 1
    assert elapsed < 10, elapsed  # six events; about 0.1 s when idle
    assert not probe.failures, probe.failures
    assert max(probe.latencies) < 0.5, sorted(probe.latencies)[-5:]
    await eventually(lambda: len(receiver.requests) == 1)


@pytest.mark.parametrize(("path", "reason"), HOSTILE_PATHS, ids=[case[0] for case in HOSTILE_PATHS])
async def test_hostile_jsonpaths_are_refused_in_filters_templates_and_previews(
    gateway: Gateway, receiver: Receiver, path: str, reason: str
) -> None:
    auth = await gateway.token()
    client = gateway.client
    filter_spec = {"all": [{"path": path, "op": "exists"}]}
    attempts: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/v1/webhooks", {"url": receiver.url, "filter": filter_spec}, "filter"),
        ("POST", "/v1/webhooks", {"url": receiver.url, "template": {"fields": {"x": path}}}, "template.fields.x"),
        (
            "POST",
            "/v1/webhooks",
            {
                "url": receiver.url,
                "template": {"body": "{{ jsonpath_first('" + path.replace("'", "\\'") + "') }}"},
            },
            "template.body",
        ),
        ("POST", "/v1/templates/preview", {"template": {"fields": {"x": path}}}, "template.fields.x"),
    ]
    existing = await gateway.webhook(auth, url=receiver.url)
    attempts += [
        ("PATCH", f"/v1/webhooks/{existing['id']}", {"filter": filter_spec}, "filter"),
        ("PATCH", f"/v1/webhooks/{existing['id']}", {"template": {"fields": {"x": path}}}, "template.fields.x"),
    ]
    for method, url, body, key in attempts:
        resp = await client.request(method, url, json=body, headers=auth)
        assert resp.status_code == 422, (method, url, resp.text)
        error = resp.json()
        assert error["extra"][0]["key"] == key, error
        assert reason in error["detail"], error
    listed = (await client.get("/v1/webhooks", headers=auth)).json()["data"]
    assert [(hook["id"], hook["filter"], hook["template"]) for hook in listed] == [(existing["id"], None, None)]


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [(r"(a)\1", r"backreference \1"), (r"a(?=b)", "lookahead (?=...)"), (r"(?<=a)b", "lookbehind (?<=...)")],
)
async def test_regexes_that_need_backtracking_are_refused_naming_the_construct(
    gateway: Gateway, receiver: Receiver, pattern: str, construct: str
) -> None:
    auth = await gateway.token()
    spec = {"any": [{"path": "$.currentValue.title", "op": "regex", "value": pattern}]}
    resp = await gateway.client.post("/v1/webhooks", json={"url": receiver.url, "filter": spec}, headers=auth)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"] == (
        f"filter: any[0].value: unsupported regex construct: {construct} "
        "(patterns run on RE2, a linear-time engine without backtracking)"
    )


async def test_fields_matches_are_capped_and_a_wide_walk_stays_fast(gateway: Gateway) -> None:
    auth = await gateway.token()
    items = [{"id": i, "tags": [{"t": "x"}]} for i in range(20_000)]
    template = {"fields": {"ids": "$.currentValue.items[*].id", "ts": "$..t", "none": "$..nothing"}}
    start = time.perf_counter()
    resp = await gateway.client.post(
        "/v1/templates/preview",
        json={"template": template, "event": {"event": "TODO_CREATED", "currentValue": {"items": items}}},
        headers=auth,
    )
    elapsed = time.perf_counter() - start
    assert resp.status_code == 422, resp.text  # '$..nothing' walks all ~100,000 values of the event
    assert "JSONPath evaluation stopped after visiting 100000 values" in resp.json()["detail"]
    resp = await gateway.client.post(
        "/v1/templates/preview",
        json={
            "template": {"fields": {"ids": "$.currentValue.items[*].id", "ts": "$..t"}},
            "event": {"event": "TODO_CREATED", "currentValue": {"items": items}},
        },
        headers=auth,
    )
    assert resp.status_code == 200, resp.text
    body = orjson.loads(resp.json()["body"])
    assert body["ids"] == list(range(1000))
    assert body["ts"] == ["x"] * 1000
    assert elapsed < 10, elapsed  # well under a second when idle


async def test_a_stored_filter_that_no_longer_compiles_matches_nothing_and_spares_the_others(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    legacy = await gateway.webhook(auth, url=receiver.url, filter={"all": [{"path": "$.event", "op": "exists"}]})
    await gateway.webhook(auth, url=receiver.url)
    # As an older version could have stored it: a second '..' (absent, so it would have matched).
    stored = {"all": [{"path": "$..currentValue..nothing", "op": "exists", "value": False}]}
    async with gateway.db.begin() as conn:
        await conn.execute(update(Webhook).where(Webhook.id == legacy["id"]).values(filter=stored))
        await bump_webhooks_version(conn)
    await gateway.runtime.refresh_index(force=True)
    result = await gateway.event(auth, event="TODO_CREATED", currentValue={"title": "x"})
    assert result["deliveries"] == 1  # the other webhook only
    await eventually(lambda: len(receiver.requests) == 1)
