"""Bounded JSON: the shape limits every request body meets before any handler or transaction sees it.

A body may nest at most :data:`MAX_DEPTH` arrays/objects (the body itself counts as one), its integers
must fit a signed 64-bit integer, and no string or key may hold U+0000 (PostgreSQL text cannot).
Checking is split in two so an ordinary body costs only C-speed passes: :func:`decode` and
:func:`may_break_limits` are cheap; :func:`find_violation` walks in Python to name the field, and runs
only for a body the cheap screen flagged. The screen re-encodes the decoded value with orjson, indented
and with strict integers: nesting shows as indentation, and an integer wider than 53 bits fails the
encoding (a false alarm below 2^63, settled by the walk).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MIN_INT",
    "JsonLimitExceeded",
    "MalformedJson",
    "NestedTooDeep",
    "decode",
    "decode_bounded",
    "find_violation",
    "may_break_limits",
]

MAX_DEPTH = 64
"""Arrays/objects nested deeper than this are refused (Blue's own events nest about six levels)."""
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)

_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_SCREEN_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_STRICT_INTEGER
_TOO_DEEP_INDENT = b"\n" + b" " * (2 * MAX_DEPTH)
"""Indented two spaces a level, the members of a container at depth 64 start their lines with this."""
_PATH_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]{0,39}$")
_TOO_DEEP = "\x00nested-too-deep\x00"
"""Stands in for the first too-deep container when the decoder itself gave up; it cannot clash with
real data, which may not contain U+0000."""


class MalformedJson(ValueError):
    """The body is not JSON (or holds something JSON cannot carry, such as a lone surrogate or 1e999)."""


class JsonLimitExceeded(ValueError):
    """The body is JSON but breaks a limit; ``path`` names the field, e.g. ``currentValue.a.b[3]``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class NestedTooDeep(Exception):
    """The decoder ran out of recursion: the body nests hundreds of levels; :func:`find_violation` names where."""


def decode(body: bytes) -> Any:
    """Decode JSON without judging limits; raises :class:`MalformedJson` or :class:`NestedTooDeep`."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedJson(str(exc)) from None
    except RecursionError:
        raise NestedTooDeep() from None


def may_break_limits(body: bytes, value: Any) -> bool:
    """A cheap screen of a decoded body: False means it certainly meets every limit.

    NUL is looked for in the raw bytes (JSON can only carry it escaped). Re-encoding ``value`` indented
    puts each container's members two spaces deeper than the container, so a line indented
    ``2 * MAX_DEPTH`` spaces exists whenever a container nests deeper than the limit (and, harmlessly,
    when one at exactly the limit has members). Strict integers refuse anything beyond 53 bits, which
    covers every integer outside 64 bits; orjson also gives up past 255 levels.
    """
    if b"\\u0000" in body:
        return True
    try:
        return _TOO_DEEP_INDENT in orjson.dumps(value, option=_SCREEN_OPTIONS)
    except orjson.JSONEncodeError:
        return True


def find_violation(body: bytes, value: Any = None, *, decoded: bool = True) -> JsonLimitExceeded | None:
    """The first limit the body breaks, with its field path; ``decoded=False`` when :func:`decode` gave up."""
    if not decoded:
        value = _decode_up_to_the_limit(body)
    return _walk(value)


def decode_bounded(body: bytes) -> Any:
    """Decode a body and enforce the limits in one call (the request path splits these steps)."""
    try:
        value = decode(body)
    except NestedTooDeep:
        violation = find_violation(body, decoded=False)
    else:
        violation = find_violation(body, value) if may_break_limits(body, value) else None
        if violation is None:
            return value
    raise violation or MalformedJson("the body nests too deep to decode")


def _decode_up_to_the_limit(body: bytes) -> Any:
    """The body cut at its first container deeper than the limit, that container replaced by a marker."""
    depth = 0
    closers: list[bytes] = []
    for match in _STRING_OR_BRACKET.finditer(body):
        token = match[0]
        if token in (b"[", b"{"):
            if depth == MAX_DEPTH:
                cut = body[: match.start()] + b'"\\u0000nested-too-deep\\u0000"' + b"".join(reversed(closers))
                return decode(cut)
            depth += 1
            closers.append(b"]" if token == b"[" else b"}")
        elif token in (b"]", b"}") and closers:
            depth -= 1
            closers.pop()
    raise MalformedJson("the body nests too deep to decode")


def _walk(value: Any) -> JsonLimitExceeded | None:
    """Depth-first in document order, without recursion; the first value breaking a limit, if any."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                return JsonLimitExceeded(path or "body", f"nested more than {MAX_DEPTH} arrays/objects deep")
            children = []
            for key, child in node.items():
                child_path = _join(path, key)
                if "\x00" in key:
                    return JsonLimitExceeded(child_path, "keys must not contain the NUL character (U+0000)")
                children.append((child, child_path, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                return JsonLimitExceeded(path or "body", f"nested more than {MAX_DEPTH} arrays/objects deep")
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in reversed(list(enumerate(node))))
        elif type(node) is int:
            if not MIN_INT <= node <= MAX_INT:
                return JsonLimitExceeded(
                    path or "body", "integers must fit in a signed 64-bit integer (-2^63 to 2^63-1)"
                )
        elif type(node) is str and "\x00" in node:
            if node == _TOO_DEEP:
                return JsonLimitExceeded(path, f"nested more than {MAX_DEPTH} arrays/objects deep")
            return JsonLimitExceeded(path or "body", "strings must not contain the NUL character (U+0000)")
    return None


def _join(path: str, key: str) -> str:
    """``a.b`` for plain keys, ``a["odd key"]`` otherwise; very long keys are shortened in the path."""
    if _PATH_KEY.match(key):
        return f"{path}.{key}" if path else key
    shown = key if len(key) <= 40 else key[:37] + "..."
    return f"{path}[{msgspec.json.encode(shown).decode()}]"
