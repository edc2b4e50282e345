"""The SSRF guard's classifier and host normalisation, table by table."""

# ruff: noqa: RUF001  # look-alike characters are what these tests are about

from __future__ import annotations

import pytest
from yarl import URL

from gateway.core.ssrf import TargetRefused, check_url, classify_address, normalise_host

# (address, kind or None for public, the IPv6 form that carried an IPv4 address, that IPv4 address)
ADDRESSES: list[tuple[str, str | None, str | None, str | None]] = [
    ("8.8.8.8", None, None, None),
    ("1.1.1.1", None, None, None),
    ("2606:4700:4700::1111", None, None, None),
    ("127.0.0.1", "loopback", None, None),
    ("127.255.255.254", "loopback", None, None),
    ("::1", "loopback", None, None),
    ("10.1.2.3", "private", None, None),
    ("172.16.0.1", "private", None, None),
    ("172.31.255.255", "private", None, None),
    ("192.168.0.10", "private", None, None),
    ("169.254.169.254", "metadata", None, None),
    ("fd00:ec2::254", "metadata", None, None),
    ("169.254.1.1", "link-local", None, None),
    ("fe80::1", "link-local", None, None),
    ("fe80::1%eth0", "link-local", None, None),
    ("100.64.0.1", "cgnat", None, None),
    ("fc00::1", "unique-local", None, None),
    ("fd12:3456::1", "unique-local", None, None),
    ("224.0.0.1", "multicast", None, None),
    ("ff02::1", "multicast", None, None),
    ("0.0.0.0", "unspecified", None, None),
    ("::", "unspecified", None, None),
    ("255.255.255.255", "reserved", None, None),
    ("198.18.0.1", "reserved", None, None),
    ("192.0.2.1", "documentation", None, None),
    ("2001:db8::1", "documentation", None, None),
    # IPv6 forms that hand traffic to an IPv4 address: the IPv4 address decides.
    ("::ffff:127.0.0.1", "loopback", "IPv4-mapped", "127.0.0.1"),
    ("::ffff:10.0.0.1", "private", "IPv4-mapped", "10.0.0.1"),
    ("::ffff:8.8.8.8", None, None, None),
    ("::127.0.0.1", "loopback", "IPv4-compatible", "127.0.0.1"),
    ("::169.254.169.254", "metadata", "IPv4-compatible", "169.254.169.254"),
    ("2002:7f00:1::", "loopback", "6to4", "127.0.0.1"),
    ("2002:c0a8:1::1", "private", "6to4", "192.168.0.1"),
    ("2002:a9fe:a9fe::", "metadata", "6to4", "169.254.169.254"),
    ("2002:808:808::1", None, None, None),
    ("64:ff9b::127.0.0.1", "loopback", "NAT64", "127.0.0.1"),
    ("64:ff9b::10.0.0.1", "private", "NAT64", "10.0.0.1"),
    ("64:ff9b::8.8.8.8", None, None, None),
    ("64:ff9b:1::7f00:1", "local-nat64", None, None),
    ("64:ff9b:1:ffff::808:808", "local-nat64", None, None),
    # Teredo: 2001:0:<server>:<flags>:<port ^ ffff>:<client ^ ffffffff>; here the client is 127.0.0.1.
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback", "Teredo", "127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", "Teredo", "10.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "not-global", None, None),  # public client: still not global
    ("not-an-ip", "not-global", None, None),
]


@pytest.mark.parametrize(("address", "kind", "via", "embedded"), ADDRESSES)
def test_classify_address(address: str, kind: str | None, via: str | None, embedded: str | None) -> None:
    refusal = classify_address(address)
    if kind is None:
        assert refusal is None
        return
    assert refusal is not None
    assert (refusal.kind, refusal.via, refusal.embedded) == (kind, via, embedded)


def test_refusal_names_the_embedded_address_and_its_form() -> None:
    assert str(classify_address("2002:7f00:1::")) == (
        "2002:7f00:1:: is an IPv6 address embedding 127.0.0.1 (6to4), which is a loopback address"
    )
    assert str(classify_address("10.0.0.5")) == "10.0.0.5 is a private (RFC 1918) address"


# (host as written in the URL, the host the client dials)
SPELLINGS = [
    ("Example.COM", "example.com"),
    ("example.com.", "example.com"),
    ("exämple.com", "xn--exmple-cua.com"),
    ("ｅｘａｍｐｌｅ.com", "example.com"),
    ("example。com", "example.com"),
    ("127。0。0。1", "127.0.0.1"),
    ("127．0．0．1", "127.0.0.1"),
    ("127｡0｡0｡1", "127.0.0.1"),
    ("１２７.0.0.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("127。0。0。1。", "127.0.0.1"),
    ("ＬＯＣＡＬＨＯＳＴ", "localhost"),
    ("::FFFF:127.0.0.1", "::ffff:7f00:1"),
    ("x_y.example.com", "x_y.example.com"),
]


@pytest.mark.parametrize(("host", "dialled"), SPELLINGS)
def test_normalise_host(host: str, dialled: str) -> None:
    assert normalise_host(host) == dialled


@pytest.mark.parametrize(("host", "dialled"), [(h, d) for h, d in SPELLINGS if ":" not in h])
def test_normalised_host_is_what_the_http_client_dials(host: str, dialled: str) -> None:
    """The guard and aiohttp's URL parser agree on every spelling, so the guard checks the host dialled."""
    assert URL(f"http://{host}/").raw_host.rstrip(".") == dialled  # type: ignore[union-attr]


NUMERIC_FORMS = [
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("167772161", "10.0.0.1"),
    ("134744072", "8.8.8.8"),  # public, but spelled in a way the client will not dial
]


@pytest.mark.parametrize(("host", "meaning"), NUMERIC_FORMS)
def test_numeric_ipv4_forms_are_refused_naming_the_address(host: str, meaning: str) -> None:
    with pytest.raises(TargetRefused, match=f"means {meaning}"):
        normalise_host(host)


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "09.0.0.1", "0x100.0.0.1", "1.2.3.4294967296"])
def test_hosts_ending_in_a_number_must_be_valid_ipv4(host: str) -> None:
    with pytest.raises(TargetRefused, match="not a valid IPv4 address"):
        normalise_host(host)


@pytest.mark.parametrize("host", ["a..b", "exa mple.com", "127%2e0%2e0%2e1", "exämple..com", "::g"])
def test_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(TargetRefused):
        normalise_host(host)


REFUSED_URLS = [
    ("http://127。0。0。1:9000/", "means 127.0.0.1, a loopback address"),
    ("http://127．0．0．1/", "means 127.0.0.1, a loopback address"),
    ("http://１２７.0.0.1/", "means 127.0.0.1, a loopback address"),
    ("http://１０.0.0.1/", "means 10.0.0.1, a private"),
    ("http://127.0.0.1./", "means 127.0.0.1, a loopback address"),
    ("http://localhost./", "local name"),
    ("http://ＬＯＣＡＬＨＯＳＴ/", "local name"),
    ("http://metadata.google.internal./", "local name"),
    ("http://2130706433/", "means 127.0.0.1"),
    ("http://0x7f.1/", "means 127.0.0.1"),
    ("http://0177.0.0.1/", "means 127.0.0.1"),
    ("http://127.1/", "means 127.0.0.1"),
    ("http://[::ffff:127.0.0.1]/", "127.0.0.1 (IPv4-mapped)"),
    ("http://[::127.0.0.1]/", "127.0.0.1 (IPv4-compatible)"),
    ("http://[2002:7f00:1::]/", "127.0.0.1 (6to4)"),
    ("http://[64:ff9b::7f00:1]/", "127.0.0.1 (NAT64)"),
    ("http://[64:ff9b:1::a00:1]/", "local-use NAT64"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "127.0.0.1 (Teredo)"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_check_url_refuses_every_spelling_of_an_inward_address(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_url(url, allow_private=False)


def test_check_url_returns_the_normalised_host_and_allows_private_targets_when_told() -> None:
    assert check_url("https://Hooks.Zapier.com./hooks/catch/1/", allow_private=False) == "hooks.zapier.com"
    assert check_url("http://127。0。0。1:9000/", allow_private=True) == "127.0.0.1"
    assert check_url("http://[::ffff:127.0.0.1]/", allow_private=True) == "::ffff:7f00:1"
