"""Ordered delivery (``ordering: "fifo"``): the next delivery of a sequence waits until the one before it ended."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from tests.conftest import Gateway, eventually, listen


@dataclass
class FlakyReceiver:
    """Answers 500 to a share of requests at random (seeded), else 200; records (record, seq, ok) in order."""

    failure_rate: float
    url: str = ""
    seen: list[tuple[str, int, bool]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(20261203))

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        ok = self.rng.random() >= self.failure_rate
        self.seen.append((body["currentValue"]["id"], body["currentValue"]["seq"], ok))
        return web.Response(status=200 if ok else 500, text="ok" if ok else "try again")

    def delivered(self) -> set[tuple[str, int]]:
        return {(key, seq) for key, seq, ok in self.seen if ok}


async def _flaky(failure_rate: float) -> AsyncIterator[FlakyReceiver]:
    receiver = FlakyReceiver(failure_rate)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner, port = await listen(app)
    receiver.url = f"http://127.0.0.1:{port}/ordered"
    yield receiver
    await runner.cleanup()


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyReceiver]:
    async for receiver in _flaky(0.3):
        yield receiver


def assert_in_order(
    seen: list[tuple[str, int, bool]], keys: list[str], per_key: int, *, exactly_once: bool = True
) -> None:
    """Per key, every request of event n+1 came after event n's successful one, and every event succeeded.

    ``exactly_once``: also no event was sent again after it succeeded (a killed worker may do that).
    """
    by_key: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for key, seq, ok in seen:
        by_key[key].append((seq, ok))
    assert sorted(by_key) == sorted(keys)
    for key, requests in by_key.items():
        seqs = [seq for seq, _ in requests]
        assert seqs == sorted(seqs), f"{key}: out of order: {seqs}"
        assert {seq for seq, ok in requests if ok} == set(range(per_key)), f"{key}: not all delivered"
        for seq in range(per_key):
            tries = [ok for s, ok in requests if s == seq]
            assert tries[-1], f"{key}: event {seq} was sent after it was delivered, but failed"
            if exactly_once:
                assert not any(tries[:-1]), f"{key}: event {seq} was sent again after it was delivered"


async def post_in_order(gw: Gateway, auth: dict[str, str], keys: list[str], per_key: int) -> None:
    """``per_key`` events per record, interleaved across records, in batches that keep their order."""
    events = [
        {"event": "TODO_NAME_CHANGED", "currentValue": {"id": key, "seq": seq}}
        for seq in range(per_key)
        for key in keys
    ]
    for start in range(0, len(events), 100):
        resp = await gw.client.post("/v1/events/batch", json={"events": events[start : start + 100]}, headers=auth)
        assert resp.status_code == 202, resp.text


@pytest.mark.slow  # 500 deliveries one after another per record, a third of them retried
async def test_500_events_arrive_in_order_per_record_none_lost(gateway: Gateway, flaky: FlakyReceiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(
        auth, url=flaky.url, ordering="fifo", orderingKey="record", retrySchedule=[0.05] * 25, signing=[]
    )
    keys = [f"todo-{i}" for i in range(10)]
    await post_in_order(gateway, auth, keys, 50)
    await eventually(lambda: len(flaky.delivered()) == 500, timeout=240)
    assert_in_order(flaky.seen, keys, 50)
    assert len(flaky.seen) > 550  # the receiver did fail some attempts, which were retried in place


async def test_one_sequence_per_webhook_waits_across_records(gateway: Gateway, flaky: FlakyReceiver) -> None:
    auth = await gateway.token()
    await gateway.webhook(auth, url=flaky.url, ordering="fifo", retrySchedule=[0.05] * 25, signing=[])
    keys = ["todo-a", "todo-b", "todo-c"]
    await post_in_order(gateway, auth, keys, 10)
    await eventually(lambda: len(flaky.delivered()) == 30, timeout=120)
    # One sequence across records: the n-th event posted is the n-th delivered, whatever its record.
    posted = {(key, seq): seq * len(keys) + i for seq in range(10) for i, key in enumerate(keys)}
    assert_in_order([("webhook", posted[(key, seq)], ok) for key, seq, ok in flaky.seen], ["webhook"], 30)


async def test_a_failed_delivery_ends_its_turn(gateway: Gateway) -> None:
    async for receiver in _flaky(1.0):  # every attempt fails: each delivery fails after its one retry
        auth = await gateway.token()
        await gateway.webhook(auth, url=receiver.url, ordering="fifo", retrySchedule=[0.05], signing=[])
        await post_in_order(gateway, auth, ["todo-x"], 5)
        await eventually(lambda: len(receiver.seen) == 10)
        assert [seq for _, seq, _ in receiver.seen] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]

        async def all_failed() -> bool:
            resp = await gateway.client.get("/v1/deliveries?status=failed", headers=auth)
            return len(resp.json()["data"]) == 5

        await eventually(all_failed)
