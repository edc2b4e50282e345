"""The one list of header names the gateway sets itself."""

from __future__ import annotations

import pytest

from gateway.core.headers import RESERVED_HEADERS, is_reserved_header


@pytest.mark.parametrize(
    "name", ["Host", "keep-alive", "TE", "X-Signature", "Webhook-Signature", "Proxy-Authorization"]
)
def test_names_the_gateway_sets_are_reserved_in_any_case(name: str) -> None:
    assert is_reserved_header(name)
    assert is_reserved_header(name.upper())


@pytest.mark.parametrize("name", ["Authorization", "X-Blue-Record", "X-Proxy-Id", "Tee"])
def test_other_names_are_free(name: str) -> None:
    assert not is_reserved_header(name)


def test_the_list_is_lower_case() -> None:
    assert all(name == name.lower() for name in RESERVED_HEADERS)
