"""The HTTP sender: one aiohttp session per process, SSRF-guarded connections, no redirects, bounded reads."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from gateway.core.policy import Failure, FailureKind
from gateway.core.ssrf import TargetRefused, check_url
from gateway.delivery.guard import GuardedConnector, RefusedAddress

__all__ = ["SendResult", "Sender"]

RESPONSE_EXCERPT_BYTES = 4096
CHECKED_URLS = 10_000
"""Target URLs whose form check is remembered (it depends on the URL alone); past it the memory starts afresh."""


@dataclass(frozen=True)
class SendResult:
    """What one attempt produced: a response, or the failure that kept it from one."""

    status: int | None
    headers: Mapping[str, str]
    body: bytes
    duration_ms: float
    failure: Failure | None = None

    @property
    def error(self) -> str | None:
        """The failure as the delivery log shows it."""
        return str(self.failure) if self.failure is not None else None


class Sender:
    """Sends one request per call; owns the process's single :class:`aiohttp.ClientSession`."""

    def __init__(self, *, timeout: float, connections_per_host: int, allow_private: bool, user_agent: str) -> None:
        self._timeout = _timeout(timeout)
        self._limit_per_host = connections_per_host
        self._allow_private = allow_private
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._checked: dict[str, str | None] = {}

    def _refusal(self, url: str) -> str | None:
        """Why ``url`` may not be a target (its form or literal host), or None; remembered per URL.

        The addresses a name resolves to are checked again at every connect (``GuardedConnector``).
        """
        if url not in self._checked:
            if len(self._checked) >= CHECKED_URLS:
                self._checked.clear()
            try:
                check_url(url, allow_private=self._allow_private)
                self._checked[url] = None
            except TargetRefused as exc:
                self._checked[url] = str(exc)
        return self._checked[url]

    async def start(self) -> None:
        """Open the session (inside the running loop)."""
        if self._session is None:
            connector = GuardedConnector(
                allow_private=self._allow_private, limit=0, limit_per_host=self._limit_per_host, ttl_dns_cache=30
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, url: str, body: bytes, headers: Mapping[str, str], *, time_limit: float | None = None
    ) -> SendResult:
        """POST ``body`` to ``url`` within ``time_limit`` seconds (the session's when None); never raises for
        network trouble, it reports it."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        started = time.perf_counter()
        refusal = self._refusal(url)
        if refusal is not None:
            return _failed(0.0, FailureKind.SSRF, refusal)
        out_headers = {"User-Agent": self._user_agent, **headers}
        try:
            async with self._session.post(
                url,
                data=body,
                headers=out_headers,
                allow_redirects=False,
                timeout=self._timeout if time_limit is None else _timeout(time_limit),
            ) as resp:
                excerpt = await resp.content.read(RESPONSE_EXCERPT_BYTES)
                return SendResult(resp.status, dict(resp.headers), excerpt, _ms(started))
        except TimeoutError:
            return _failed(_ms(started), FailureKind.TIMEOUT)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddress):
                return _failed(_ms(started), FailureKind.SSRF, str(exc.os_error))
            return _failed(_ms(started), FailureKind.CONNECTION, str(exc.os_error))
        except aiohttp.ClientError as exc:
            return _failed(_ms(started), FailureKind.PROTOCOL, f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            return _failed(_ms(started), FailureKind.CONNECTION, str(exc))


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds, sock_connect=min(seconds, 10.0))


def _failed(duration_ms: float, kind: FailureKind, detail: str = "") -> SendResult:
    return SendResult(None, {}, b"", duration_ms, Failure(kind, detail))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
