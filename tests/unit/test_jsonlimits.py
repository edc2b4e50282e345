"""The input limits: nesting depth, 64-bit integers and NUL, each named by its field path."""

from __future__ import annotations

import time

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.catalog import sample_event
from gateway.core.jsonlimits import (
    MAX_DEPTH,
    MAX_INT,
    MIN_INT,
    JsonLimitExceeded,
    MalformedJson,
    decode_bounded,
    may_break_limits,
)


def _refused(body: bytes) -> JsonLimitExceeded:
    with pytest.raises(JsonLimitExceeded) as caught:
        decode_bounded(body)
    return caught.value


def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_refused_at_its_path() -> None:
    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert decode_bounded(deepest) == orjson.loads(deepest)
    refused = _refused(b'{"currentValue":{"a":{"b":[0,1,2,' + b"[" * 62 + b"]" * 62 + b"]}}}")
    assert refused.path == "currentValue.a.b[3]" + "[0]" * 60
    assert "nested more than 64" in refused.message


@pytest.mark.parametrize("depth", [300, 1000, 100_000])
def test_nesting_too_deep_for_the_decoder_is_still_named(depth: int) -> None:
    body = b'{"event":"X","currentValue":{"list":[1,' + b"[" * depth + b"]" * depth + b"]}}"
    refused = _refused(body)
    assert refused.path == "currentValue.list[1]" + "[0]" * (MAX_DEPTH - 3)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[{" * 100
    body = orjson.dumps({"a": text, "b": [[["x"]]], "c": "]}" * 100})
    assert not may_break_limits(body, orjson.loads(body))
    assert decode_bounded(body)["a"] == text


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        (MAX_INT, True),
        (MIN_INT, True),
        (MAX_INT + 1, False),
        (MIN_INT - 1, False),
        (2**64 - 1, False),
        (10**40, False),
    ],
)
def test_integers_must_fit_signed_64_bits(number: int, ok: bool) -> None:
    body = b'{"currentValue":{"n":[0,' + str(number).encode() + b"]}}"
    if ok:
        assert decode_bounded(body)["currentValue"]["n"][1] == number
    else:
        refused = _refused(body)
        assert (refused.path, "signed 64-bit" in refused.message) == ("currentValue.n[1]", True)


def test_long_digit_runs_inside_strings_are_fine() -> None:
    assert decode_bounded(b'{"id":"12345678901234567890123"}') == {"id": "12345678901234567890123"}


def test_nul_is_refused_in_strings_and_keys_with_odd_keys_quoted_in_the_path() -> None:
    assert _refused(b'{"user":{"name":"a\\u0000b"}}').path == "user.name"
    refused = _refused(b'{"odd key":{"k\\u0000":1}}')
    assert refused.path == '["odd key"]["k\\u0000"]'
    assert "NUL" in refused.message
    assert decode_bounded(b'{"a":"\\\\u0000"}') == {"a": "\\u0000"}  # an escaped backslash, not a NUL


def _nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    ("body", "flagged"),
    [
        (_nested(MAX_DEPTH), False),  # an empty container at the limit
        (_nested(MAX_DEPTH - 1, b"[1]"), True),  # members at the limit: a false alarm the walk settles
        (_nested(MAX_DEPTH - 1, b'{"a":1}'), True),
        (_nested(MAX_DEPTH - 1, b"[1,[]]"), True),  # one level too deep
        (_nested(MAX_DEPTH + 1), True),
        (_nested(300), True),  # deeper than orjson encodes
        (b"[" + str(2**53 - 1).encode() + b"," + str(-(2**53 - 1)).encode() + b"]", False),
        (b"[" + str(2**53).encode() + b"]", True),  # beyond 53 bits: a false alarm the walk settles
        (b"[" + str(MAX_INT + 1).encode() + b"]", True),
        (b"[" + str(MIN_INT - 1).encode() + b"]", True),
        (b"[" + str(2**64).encode() + b"]", True),
        (b'{"a":"x\\u0000y"}', True),
        (b'{"x\\u0000":1}', True),
        (b'{"a":"\\\\u0000"}', True),  # an escaped backslash before u0000: a false alarm
        (b'{"a":"\\u0001","b":[1.5,true,null,"[[[[[[[["]}', False),
    ],
)
def test_the_screen_flags_every_body_near_a_limit_and_passes_ordinary_ones(body: bytes, flagged: bool) -> None:
    value = msgspec.json.decode(body)
    assert may_break_limits(body, value) is flagged
    if flagged and not _breaks(value):
        assert decode_bounded(body) == value
    elif flagged:
        with pytest.raises(JsonLimitExceeded):
            decode_bounded(body)


def test_huge_keys_are_shortened_in_the_path() -> None:
    key = "k" * 10_000
    refused = _refused(b'{"' + key.encode() + b'":[18446744073709551616]}')
    assert len(refused.path) < 60 and refused.path.endswith('..."][0]')


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":1e999}',
        b'{"a":"\\ud800"}',
        b'{"a":"x\x00"}',
        b"\xff\xfe",
    ],
)
def test_what_json_cannot_carry_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedJson):
        decode_bounded(body)


def test_a_blue_batch_passes_the_cheap_screen_quickly() -> None:
    body = orjson.dumps({"events": [sample_event("TODO_CREATED")] * 450})
    assert len(body) > 1_000_000
    started = time.perf_counter()
    value = msgspec.json.decode(body)
    decoding = time.perf_counter() - started
    started = time.perf_counter()
    assert not may_break_limits(body, value)
    screen = time.perf_counter() - started
    assert screen < max(10 * decoding, 0.2), (screen, decoding)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=40,
)


def _breaks(value: object, depth: int = 1) -> bool:
    if isinstance(value, dict):
        return depth > MAX_DEPTH or any("\x00" in k or _breaks(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return depth > MAX_DEPTH or any(_breaks(v, depth + 1) for v in value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not MIN_INT <= value <= MAX_INT
    return isinstance(value, str) and "\x00" in value


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=80))
def test_the_screen_never_lets_a_violation_through(value: object, wrap: int) -> None:
    for _ in range(wrap):
        value = [value]
    body = msgspec.json.encode(value)
    if _breaks(value):
        assert may_break_limits(body, msgspec.json.decode(body))
        with pytest.raises(JsonLimitExceeded):
            decode_bounded(body)
    else:
        assert decode_bounded(body) == msgspec.json.decode(body)
