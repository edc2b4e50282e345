"""SSRF guard (contract §4): which target URLs and resolved addresses a delivery may reach."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["TargetRefused", "check_address", "check_resolved", "check_url", "is_forbidden_address"]

_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this" network
        "100.64.0.0/10",  # CGNAT
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "64:ff9b::/96",  # NAT64 can reach private IPv4
    )
)
_BLOCKED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})


class TargetRefused(ValueError):
    """The URL or the address it resolves to is not a public http(s) target."""


def is_forbidden_address(address: str) -> bool:
    """True for loopback, RFC 1918, link-local, CGNAT, ULA, multicast, unspecified and reserved addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    ):
        return True
    return any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version)


def check_address(address: str, *, allow_private: bool) -> None:
    """Raise :class:`TargetRefused` when a resolved address may not be connected to."""
    if not allow_private and is_forbidden_address(address):
        raise TargetRefused(f"target address {address} is private, loopback or reserved")


def check_url(url: str, *, allow_private: bool) -> str:
    """Validate a target URL's form; return its host. Literal IPs and local names are checked here."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs are allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed; use custom headers")
    if port == 0:
        raise TargetRefused("port 0 is not a valid target port")
    if allow_private:
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host in _BLOCKED_NAMES or host.endswith((".localhost", ".internal", ".local")):
            raise TargetRefused(f"host {host} is a local name") from None
        return host
    check_address(host, allow_private=False)
    return host


async def check_resolved(url: str, *, allow_private: bool, wait: float = 2.0) -> None:
    """Refuse a URL whose host name resolves to a refused address now (checked again at connect time).

    A name that does not resolve yet is accepted: the connect-time check still guards it.
    """
    host = check_url(url, allow_private=allow_private)
    if allow_private:
        return
    try:
        ipaddress.ip_address(host)
        return  # a literal address was checked by check_url
    except ValueError:
        pass
    try:
        async with asyncio.timeout(wait):
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return
    for info in infos:
        address = str(info[4][0])
        if is_forbidden_address(address):
            raise TargetRefused(f"{host} resolves to {address}, a private, loopback or reserved address")
