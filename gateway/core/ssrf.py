"""The SSRF guard: which target URLs, host names and addresses an outbound request may reach.

Hosts are normalised once, the way the HTTP client will dial them (IDNA/UTS-46, trailing dots, the
numeric IPv4 forms), and addresses are classified from one table, including the IPv6 forms that
carry an IPv4 address inside them. The same classifier runs when a URL is saved and on every address
the sender actually connects to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

__all__ = [
    "Refusal",
    "TargetRefused",
    "check_address",
    "check_resolved",
    "check_url",
    "classify_address",
    "is_forbidden_address",
    "normalise_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Checked in order, so the narrow entries (metadata) win over the ranges that contain them.
_RANGES: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "metadata"),
    ("fd00:ec2::254/128", "metadata"),
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-nat64"),
    ("100::/64", "reserved"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
_NETWORKS = tuple((ipaddress.ip_network(net), kind) for net, kind in _RANGES)

_KIND_TEXT = {
    "metadata": "a cloud metadata address",
    "unspecified": "an unspecified address",
    "private": "a private (RFC 1918) address",
    "cgnat": "a carrier-grade NAT (100.64.0.0/10) address",
    "loopback": "a loopback address",
    "link-local": "a link-local address",
    "documentation": "a documentation address",
    "multicast": "a multicast address",
    "reserved": "a reserved address",
    "unique-local": "a unique local (fc00::/7) address",
    "local-nat64": "in the local-use NAT64 prefix 64:ff9b:1::/48",
    "not-global": "not a globally routable address",
}

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BLOCKED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
_LOCAL_SUFFIXES = (".localhost", ".internal", ".local")
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+")
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")


class TargetRefused(ValueError):
    """The URL or the address it resolves to is not a public http(s) target."""


@dataclass(frozen=True)
class Refusal:
    """Why an address may not be reached; ``via`` names the IPv6 form that carried ``embedded``."""

    address: str
    kind: str
    via: str | None = None
    embedded: str | None = None

    @property
    def reason(self) -> str:
        """What the address is, in words: ``a loopback address``."""
        text = _KIND_TEXT[self.kind]
        if self.via:
            return f"an IPv6 address embedding {self.embedded} ({self.via}), which is {text}"
        return text

    def __str__(self) -> str:
        return f"{self.address} is {self.reason}"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address hands traffic to, if it is one of the translating forms."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip))
    return None


def _classify_ip(ip: IPAddress) -> str | None:
    for network, kind in _NETWORKS:
        if ip.version == network.version and ip in network:
            return kind
    return None if ip.is_global else "not-global"


def classify_address(address: str | IPAddress) -> Refusal | None:
    """``None`` for a public address; otherwise the :class:`Refusal` saying what the address is."""
    if isinstance(address, str):
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return Refusal(address, "not-global")
    else:
        ip = address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            via, inner = embedded
            kind = _classify_ip(inner)
            if kind is not None:
                return Refusal(str(ip), kind, via, str(inner))
            if via != "Teredo":  # a public IPv4 behind a translator is as reachable as the IPv4 itself
                return None
    kind = _classify_ip(ip)
    return None if kind is None else Refusal(str(ip), kind)


def is_forbidden_address(address: str) -> bool:
    """True for every address :func:`classify_address` refuses (and for anything that is not an address)."""
    return classify_address(address) is not None


def check_address(address: str, *, allow_private: bool) -> None:
    """Raise :class:`TargetRefused` when an address may not be connected to."""
    if allow_private:
        return
    refusal = classify_address(address)
    if refusal is not None:
        raise TargetRefused(f"target address {refusal}")


def _ipv4_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)  # ValueError for 8 and 9, as for any malformed part
    return int(part, 10)


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse a host ending in a number as the URL standard does: ``127.1``, ``0x7f.1``, ``2130706433``."""
    parts = host.split(".")
    if not _NUMBER.fullmatch(parts[-1]):
        return None
    try:
        if len(parts) > 4:
            raise ValueError
        numbers = [_ipv4_number(part) for part in parts]
        *head, last = numbers
        if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
            raise ValueError
    except ValueError:
        raise TargetRefused(f"host {host} ends in a number but is not a valid IPv4 address") from None
    return ipaddress.IPv4Address(sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last)


def normalise_host(host: str) -> str:
    """The host as the HTTP client dials it: IDNA/UTS-46 mapped, lower case, no trailing dot, canonical IP."""
    if ":" in host:  # only an IPv6 literal has colons in the host part
        try:
            return str(ipaddress.IPv6Address(host.split("%", 1)[0]))
        except ValueError:
            raise TargetRefused(f"host {host} is not a valid IPv6 address") from None
    if host.isascii():
        name = host.lower()
    else:
        try:
            name = idna.encode(host, uts46=True).decode("ascii")
        except UnicodeError as exc:
            raise TargetRefused(f"host {host} is not a valid internationalised domain name: {exc}") from None
    name = name.rstrip(".")
    if not name or not _HOST_CHARS.fullmatch(name) or ".." in name:
        raise TargetRefused(f"host {host} is not a valid host name")
    ip = _numeric_ipv4(name)
    if ip is not None and str(ip) != name:
        refusal = classify_address(ip)
        meaning = f", {refusal.reason}" if refusal else "; write IPv4 addresses as four decimal numbers"
        raise TargetRefused(f"host {host} means {ip}{meaning}")
    return name


def check_url(url: str, *, allow_private: bool) -> str:
    """Validate a target URL's form and literal host; return the normalised host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed; use custom headers")
    if port == 0:
        raise TargetRefused("port 0 is not a valid target port")
    host = normalise_host(parts.hostname)
    if allow_private:
        return host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host in _BLOCKED_NAMES or host.endswith(_LOCAL_SUFFIXES):
            raise TargetRefused(f"host {host} is a local name") from None
        return host
    refusal = classify_address(ip)
    if refusal is not None:
        spelled = parts.hostname if parts.hostname != host else None
        raise TargetRefused(
            f"host {spelled} means {refusal.address}, {refusal.reason}" if spelled else f"target address {refusal}"
        )
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
        refusal = classify_address(str(info[4][0]))
        if refusal is not None:
            raise TargetRefused(f"{host} resolves to {refusal.address}, {refusal.reason}")
