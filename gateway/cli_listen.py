"""``blue-gateway listen``: relay a temporary webhook's deliveries from a gateway to a local receiver.

Like the Stripe and Hookdeck CLIs: it opens a listen session over the API (a temporary webhook), holds the
session's event stream, POSTs each delivery to ``--forward`` with the gateway's signed headers and exact body,
and reports the answer back, so the gateway's delivery log shows it. It renews the session's lease while it
runs and closes the session on SIGINT or SIGTERM; if it dies, the gateway removes the session once the lease
runs out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp
import orjson
import typer

__all__ = ["listen"]

RECONNECT_SECONDS = 1.0
FORWARD_TIMEOUT = 30.0
_HOP_BY_HOP = frozenset({"content-length", "host", "connection", "transfer-encoding"})


class SessionGone(Exception):
    """The gateway no longer knows the session (its lease ran out, or it was closed elsewhere)."""


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` of a server-sent event stream; comment lines (keep-alives) are skipped."""
    name, data = "message", list[str]()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", list[str]()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


class Relay:
    """One session: stream, forward, answer, renew; closed on the way out."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, token: str, forward: str, lease: int) -> None:
        self.http = http
        self.gateway = gateway.rstrip("/")
        self.auth = {"Authorization": f"Bearer {token}"}
        self.forward = forward
        self.lease = lease
        self.session_id = ""
        self._forwards: set[asyncio.Task[None]] = set()

    async def open(self, events: list[str], projects: list[str]) -> dict[str, Any]:
        body = {"events": events, "projectIds": projects, "forward": self.forward, "leaseSeconds": self.lease}
        async with self.http.post(f"{self.gateway}/v1/listen", json=body, headers=self.auth) as resp:
            answer = await resp.json(content_type=None)
            if resp.status != 201:
                raise typer.BadParameter(f"the gateway answered {resp.status}: {answer.get('detail', answer)}")
        self.session_id = answer["id"]
        return dict(answer)

    async def renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                url = f"{self.gateway}/v1/listen/{self.session_id}/lease"
                async with self.http.post(url, json={"leaseSeconds": self.lease}, headers=self.auth) as resp:
                    if resp.status == 404:
                        raise SessionGone
            except aiohttp.ClientError as exc:  # the gateway is briefly away: the lease has slack for a retry
                typer.echo(f"could not renew the session: {exc}", err=True)

    async def stream_forever(self) -> None:
        url = f"{self.gateway}/v1/listen/{self.session_id}/stream"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        while True:
            try:
                async with self.http.get(url, headers=self.auth, timeout=timeout) as resp:
                    if resp.status == 404:
                        raise SessionGone
                    async for name, data in _events(resp):
                        if name == "delivery":
                            task = asyncio.create_task(self._forward(orjson.loads(data)))
                            self._forwards.add(task)
                            task.add_done_callback(self._forwards.discard)
            except aiohttp.ClientError as exc:
                typer.echo(f"stream interrupted ({exc}); reconnecting", err=True)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _forward(self, delivery: dict[str, Any]) -> None:
        headers = {k: v for k, v in delivery["headers"].items() if k.lower() not in _HOP_BY_HOP}
        body = base64.b64decode(delivery["body"])
        answer: dict[str, Any] = {"deliveryId": delivery["deliveryId"], "attempt": delivery["attempt"]}
        started = time.perf_counter()
        try:
            timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT)
            async with self.http.post(self.forward, data=body, headers=headers, timeout=timeout) as resp:
                text = (await resp.content.read(4096)).decode("utf-8", "replace")
                answer.update(statusCode=resp.status, responseBody=text)
                outcome = str(resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer["error"] = (str(exc) or type(exc).__name__)[:500]
            outcome = f"error: {answer['error']}"
        answer["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
        typer.echo(f"{delivery['event']}\t{delivery['deliveryId']}\t-> {outcome} ({answer['durationMs']:.0f} ms)")
        url = f"{self.gateway}/v1/listen/{self.session_id}/answers"
        with contextlib.suppress(aiohttp.ClientError):
            async with self.http.post(url, json=answer, headers=self.auth) as resp:
                await resp.read()

    async def close(self) -> None:
        for task in list(self._forwards):
            task.cancel()
        if self.session_id:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                url = f"{self.gateway}/v1/listen/{self.session_id}"
                async with self.http.delete(
                    url, headers=self.auth, timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    await resp.read()


async def _run(gateway: str, token: str, forward: str, events: list[str], projects: list[str], lease: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession() as http:
        relay = Relay(http, gateway, token, forward, lease)
        opened = await relay.open(events, projects)
        typer.echo(
            f"Ready: session {opened['id']} relays {', '.join(opened['events']) or 'every event'} to {forward}"
        )
        typer.echo(f"Signing secret: {opened['secret']}")
        tasks = [asyncio.create_task(relay.renew_forever()), asyncio.create_task(relay.stream_forever())]
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*tasks, stopped):
                task.cancel()
            await relay.close()
        for task in done:
            failure = None if task is stopped else task.exception()
            if isinstance(failure, SessionGone):
                typer.echo(
                    "the gateway ended this session (closed elsewhere, or its lease ran out); start listen again",
                    err=True,
                )
                return 1
            if failure is not None:
                typer.echo(f"error: {type(failure).__name__}: {failure}", err=True)
                return 1
    typer.echo("Session closed.")
    return 0


def listen(
    forward: Annotated[str, typer.Option(help="the local receiver's URL, e.g. http://localhost:3000/hook")],
    gateway: Annotated[
        str, typer.Option(envvar="BLUE_GATEWAY_URL", help="the gateway's base URL")
    ] = "http://127.0.0.1:8080",
    token: Annotated[str, typer.Option(envvar="BLUE_GATEWAY_TOKEN", help="an API token with scope manage")] = "",
    events: Annotated[str | None, typer.Option(help="comma-separated event names (default: every event)")] = None,
    projects: Annotated[str | None, typer.Option(help="comma-separated project ids (default: all)")] = None,
    lease: Annotated[int, typer.Option(help="seconds the gateway keeps the session if this CLI dies")] = 30,
) -> None:
    """Relay a temporary webhook's deliveries to a local receiver until stopped (Ctrl-C)."""
    from gateway.cli import _split

    if not token:
        typer.echo("error: --token (or BLUE_GATEWAY_TOKEN) is required", err=True)
        raise typer.Exit(2)
    try:
        code = asyncio.run(_run(gateway, token, forward, _split(events), _split(projects), lease))
    except typer.BadParameter as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except aiohttp.ClientError as exc:
        typer.echo(f"error: cannot reach the gateway at {gateway}: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
