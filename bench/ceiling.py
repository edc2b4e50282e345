"""Scenario (a), the ceiling: a plain aiohttp client loop against the receiver, and a bare Litestar endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import orjson

from bench.figures import Figures
from bench.load import hammer, sample_payload
from bench.procs import Processes

__all__ = ["run_ceiling"]


def _signed() -> tuple[bytes, dict[str, str]]:
    """A ~2 KiB event body with the headers of a signed webhook delivery (computed once, sent every time)."""
    body = orjson.dumps(sample_payload())
    msg_id, stamp = "msg_ceiling", str(int(time.time()))
    key = b"bench-ceiling-secret-0123456789ab"
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    return body, headers


async def run_ceiling(
    procs: Processes,
    receiver: str,
    figures: Figures,
    *,
    seconds: float,
    concurrency: int,
    log: Callable[[str], None],
) -> None:
    """(a): req/s of the client loop → receiver, and of the client loop → a bare Litestar JSON endpoint."""
    body, headers = _signed()
    log(f"(a) ceiling: aiohttp loop → receiver, {concurrency} clients, {seconds:g}s ({len(body):,} B bodies)")
    figures.values["a.ceiling_rps"] = await hammer(
        receiver + "/ceiling/0", body, headers, seconds=seconds, concurrency=concurrency
    )
    bare = procs.start_bare()
    try:
        log(f"(a) bare Litestar JSON endpoint on uvicorn, {concurrency} clients, {seconds:g}s")
        event = orjson.dumps({**sample_payload(), "id": "bare"})
        figures.values["a.bare_litestar_rps"] = await hammer(
            bare + "/v1/events",
            event,
            {"Content-Type": "application/json"},
            seconds=seconds,
            concurrency=concurrency,
        )
    finally:
        procs.stop("bare")
