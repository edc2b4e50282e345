"""The JSONPath grammar tenants may use, and its syntax tree.

The language is a subset of RFC 9535 chosen so that evaluation is linear in the document::

    path      = "$" segment*
    segment   = "." name | "." quoted | ".*" | "[" selectors "]"
              | ".." name | "..*" | ".." "[" selectors "]"          (at most one ".." per path)
    selectors = "*" | slice | "?" test | "?(" test ")" | key ("," key)*   (at most MAX_UNION keys)
    key       = quoted | integer
    slice     = [integer] ":" [integer] [":" [integer]]
    test      = and ("||" and)* ;  and = unary ("&&" unary)*
    unary     = "!" query | "(" test ")" | query [compare literal]
    query     = "@" ("." name | "[" key "]")*                        (a single value, no wildcards)
    compare   = "==" | "!=" | "<" | "<=" | ">" | ">="
    literal   = quoted | number | "true" | "false" | "null"

There is deliberately no arithmetic, no function (``len``, ``sub(/…/)``, ``sorted`` ...), no regular
expression (``=~``), no path union (``|``), no parent (``^``) and no sorting. This module holds the syntax
tree; :mod:`gateway.core.jsonpath_parser` builds it and names any refused construct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "COMPARISONS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_TERMS",
    "MAX_UNION",
    "AllOf",
    "AnyOf",
    "Comparison",
    "Exists",
    "Filter",
    "Index",
    "JsonPathSyntaxError",
    "Literal",
    "Name",
    "Segment",
    "Selector",
    "Slice",
    "Test",
    "Wildcard",
]

MAX_UNION: Final = 8
"""Most names or indexes in one bracket (``['a','b']``, ``[0,1]``)."""
MAX_FILTER_TERMS: Final = 8
"""Most relative queries in the filters of one path (``[?(@.a == 1 && @.b)]`` has two)."""
MAX_FILTER_DEPTH: Final = 4
"""Most nested parentheses inside a filter."""
COMPARISONS: Final = ("==", "!=", "<=", ">=", "<", ">")

Literal = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Name:
    """``.name`` or ``['name']``: a key of an object."""

    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """``[n]``: an element of a list (negative counts from the end)."""

    index: int


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*``: every member value of an object or element of a list."""


@dataclass(frozen=True, slots=True)
class Slice:
    """``[start:stop:step]``: list elements, as Python slices them."""

    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True, slots=True)
class Exists:
    """``@.q`` (or ``!@.q``): whether the relative query finds a value."""

    query: tuple[Name | Index, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Comparison:
    """``@.q <op> literal``."""

    query: tuple[Name | Index, ...]
    op: str
    literal: Literal


@dataclass(frozen=True, slots=True)
class AllOf:
    """``a && b``."""

    tests: tuple[Test, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """``a || b``."""

    tests: tuple[Test, ...]


Test = Exists | Comparison | AllOf | AnyOf


@dataclass(frozen=True, slots=True)
class Filter:
    """``[?(test)]``: the member values or elements for which ``test`` holds."""

    test: Test


Selector = Name | Index | Wildcard | Slice | Filter


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a path: its selectors, applied to the current values or (``..``) to all their descendants."""

    selectors: tuple[Selector, ...]
    descendant: bool = False


class JsonPathSyntaxError(ValueError):
    """A path outside the grammar; ``reason`` says what and ``position`` where (0-based)."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} (at character {position + 1})")
        self.reason = reason
        self.position = position
