"""The connect-time SSRF guard: an aiohttp connector that checks every address it is about to dial."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import ResolveResult

from gateway.core.ssrf import classify_address

if TYPE_CHECKING:
    from aiohttp.tracing import Trace

__all__ = ["GuardedConnector", "RefusedAddress"]


class RefusedAddress(OSError):
    """Raised instead of connecting to an address the SSRF guard refuses."""


class GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector that dials only public addresses, whether the URL named an IP or a host name.

    Checked at two points. After name resolution, refused addresses are dropped (a name with one
    public address among private ones uses the public one). Then, as each socket is opened, the exact
    address it will connect to is checked again, through aiohttp's public ``socket_factory`` hook, so
    no spelling of a host and no change inside aiohttp can route a connection around the guard.
    """

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        self._allow_private = allow_private
        super().__init__(socket_factory=self._open_socket, **kwargs)

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        # aiohttp answers IP literals here without asking the resolver (an internationalised spelling
        # such as 127。0。0。1 arrives already turned into one), so the check sits after it, not in a resolver.
        results = await super()._resolve_host(host, port, traces=traces)
        if self._allow_private or not results:
            return results
        refusals = [classify_address(result["host"]) for result in results]
        allowed = [result for result, refusal in zip(results, refusals, strict=True) if refusal is None]
        first = refusals[0]
        if not allowed and first is not None:
            if first.address == results[0]["hostname"]:
                raise RefusedAddress(f"refused to connect to {first}")
            raise RefusedAddress(
                f"{host} resolves only to refused addresses, such as {first.address}, {first.reason}"
            )
        return allowed

    def _open_socket(self, addr_info: AddrInfoType) -> socket.socket:
        """Open the socket for one address, unless that address is refused."""
        family, type_, proto, _, sockaddr = addr_info
        if not self._allow_private:
            refusal = classify_address(str(sockaddr[0]))
            if refusal is not None:
                raise RefusedAddress(f"refused to connect to {refusal}")
        return socket.socket(family=family, type=type_, proto=proto)
