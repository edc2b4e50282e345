"""JSONPath for filters and templates: parsed once (cached) by :mod:`gateway.core.jsonpath_parser`, evaluated
lazily under hard bounds.

Why it is cheap on any input: the grammar has no arithmetic, functions or regular expressions and at most one
``..``, so a path over a JSON tree touches each value a bounded number of times. On top of that, evaluation
stops after :data:`MAX_VISITS` values visited (raising :class:`JsonPathLimitError`) and returns at most
:data:`MAX_MATCHES` matches (the first ones, in document order), whatever the document or the path.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from gateway.core.jsonpath_parser import parse_segments
from gateway.core.jsonpath_syntax import (
    AnyOf,
    Comparison,
    Exists,
    Index,
    JsonPathSyntaxError,
    Name,
    Segment,
    Selector,
    Slice,
    Test,
    Wildcard,
)

__all__ = [
    "MAX_JSONPATH_CHARS",
    "MAX_MATCHES",
    "MAX_VISITS",
    "Budget",
    "CompiledJsonPath",
    "JsonPathLimitError",
    "parse_jsonpath",
]

MAX_JSONPATH_CHARS: Final = 1_000
"""Longest JSONPath accepted."""
MAX_MATCHES: Final = 1_000
"""Most values one evaluation returns; later matches are dropped."""
MAX_VISITS: Final = 100_000
"""Most values one evaluation may visit (selector steps, descendants walked, filter candidates)."""

_MISSING: Final = object()
_ORDERED: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Only numbers and strings are ordered: for other values the comparisons reduce to (in)equality.
_BY_EQUALITY: Final[dict[str, Callable[[bool], bool]]] = {
    "==": bool,
    "!=": operator.not_,
    "<=": bool,
    ">=": bool,
    "<": lambda _equal: False,
    ">": lambda _equal: False,
}


class JsonPathLimitError(ValueError):
    """An evaluation visited more than :data:`MAX_VISITS` values."""


class Budget:
    """The values one evaluation may still visit; share one between the paths of a filter or a render."""

    __slots__ = ("left",)

    def __init__(self, visits: int = MAX_VISITS) -> None:
        self.left = visits

    def spend(self, units: int = 1) -> None:
        """Account ``units`` more visits; raises :class:`JsonPathLimitError` once the budget is gone."""
        self.left -= units
        if self.left < 0:
            raise JsonPathLimitError(f"JSONPath evaluation stopped after visiting {MAX_VISITS} values")


class CompiledJsonPath:
    """A parsed path; :meth:`find` it over any data (immutable, safe to share between threads)."""

    __slots__ = ("expr", "segments")

    def __init__(self, expr: str, segments: tuple[Segment, ...]) -> None:
        self.expr: Final = expr
        self.segments: Final = segments

    def find(self, data: Any, budget: Budget | None = None) -> list[Any]:
        """Every value the path matches in ``data``, in document order, at most :data:`MAX_MATCHES` of them.

        Raises :class:`JsonPathLimitError` once ``budget`` (default: a fresh :data:`MAX_VISITS`) is spent,
        never anything else. Values are produced lazily, so a path stops as soon as it has enough matches.
        """
        budget = Budget() if budget is None else budget
        values: Iterable[Any] = (data,)
        for segment in self.segments:
            values = _descend(segment, values, budget) if segment.descendant else _step(segment, values, budget)
        found: list[Any] = []
        for value in values:
            found.append(value)
            if len(found) >= MAX_MATCHES:
                break
        return found

    def __repr__(self) -> str:
        return f"CompiledJsonPath({self.expr!r})"


_SCALAR, _MAPPING, _SEQUENCE = 0, 1, 2
_KINDS: dict[type, int] = {dict: _MAPPING, list: _SEQUENCE, tuple: _SEQUENCE, str: _SCALAR, int: _SCALAR}


def _kind(value: Any) -> int:
    """Whether ``value`` is a mapping, a list/tuple or anything else (a fast lookup by type)."""
    cls = type(value)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = (
            _MAPPING if isinstance(value, Mapping) else _SEQUENCE if isinstance(value, list | tuple) else _SCALAR
        )
        if len(_KINDS) < 256:
            _KINDS[cls] = kind
    return kind


def _step(segment: Segment, values: Iterable[Any], budget: Budget) -> Iterator[Any]:
    selectors = segment.selectors
    for value in values:
        budget.left -= 1
        if budget.left < 0:
            budget.spend(0)
        for selector in selectors:
            yield from _select(selector, value, budget)


def _descend(segment: Segment, values: Iterable[Any], budget: Budget) -> Iterator[Any]:
    """Apply the selectors to each value and all its descendants, walked depth-first in document order."""
    selectors = segment.selectors
    name = selectors[0].name if len(selectors) == 1 and isinstance(selectors[0], Name) else None
    for value in values:
        stack = [value]
        while stack:
            current = stack.pop()
            budget.left -= 1
            if budget.left < 0:
                budget.spend(0)
            kind = _kind(current)
            if kind == _SCALAR:
                continue
            if name is not None:  # the common '..name', without a generator per value
                if kind == _MAPPING and name in current:
                    yield current[name]
            else:
                for selector in selectors:
                    yield from _select(selector, current, budget)
            stack.extend(reversed(list(current.values())) if kind == _MAPPING else reversed(current))


def _select(selector: Selector, value: Any, budget: Budget) -> Iterable[Any]:
    kind = _kind(value)
    if kind == _SCALAR:
        return ()
    if isinstance(selector, Name):
        return (value[selector.name],) if kind == _MAPPING and selector.name in value else ()
    if isinstance(selector, Index):
        index = selector.index
        return (value[index],) if kind == _SEQUENCE and -len(value) <= index < len(value) else ()
    if isinstance(selector, Wildcard):
        members: Iterable[Any] = value.values() if kind == _MAPPING else value
        return members
    if isinstance(selector, Slice):
        if kind == _MAPPING:
            return ()
        indexes = range(*slice(selector.start, selector.stop, selector.step).indices(len(value)))
        return (value[index] for index in indexes)
    return _filter(selector.test, value.values() if kind == _MAPPING else value, budget)


def _filter(test: Test, candidates: Iterable[Any], budget: Budget) -> Iterator[Any]:
    for candidate in candidates:
        budget.left -= 1
        if budget.left < 0:
            budget.spend(0)
        if _holds(test, candidate):
            yield candidate


def _holds(test: Test, value: Any) -> bool:
    if isinstance(test, Comparison):
        found = _query(test.query, value)
        if found is _MISSING:  # nothing equals a missing value, not even null
            return test.op == "!="
        return _compare(test.op, found, test.literal)
    if isinstance(test, Exists):
        return (_query(test.query, value) is _MISSING) is test.negated
    wanted = isinstance(test, AnyOf)  # AnyOf stops at the first true part, AllOf at the first false one
    for part in test.tests:
        if _holds(part, value) is wanted:
            return wanted
    return not wanted


def _query(steps: tuple[Name | Index, ...], value: Any) -> Any:
    for step in steps:
        if isinstance(step, Name):
            if not (_kind(value) == _MAPPING and step.name in value):
                return _MISSING
            value = value[step.name]
        else:
            if not (_kind(value) == _SEQUENCE and -len(value) <= step.index < len(value)):
                return _MISSING
            value = value[step.index]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    """Compare a found value with a literal (a string, number, bool or null), as RFC 9535 does."""
    if (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return _ORDERED[op](left, right)
    if isinstance(left, bool) or isinstance(right, bool) or right is None or left is None:
        return _BY_EQUALITY[op](left is right)
    return _BY_EQUALITY[op](False)  # a string never equals a number, a list or an object never a literal


def _jsonpath_parse(expr: str) -> CompiledJsonPath:
    """Parse ``expr`` (raises :class:`~gateway.core.jsonpath_syntax.JsonPathSyntaxError`)."""
    return CompiledJsonPath(expr, parse_segments(expr))


@functools.lru_cache(maxsize=4096)
def parse_jsonpath(expr: str) -> tuple[CompiledJsonPath | None, str | None]:
    """``(compiled, None)`` or ``(None, reason)``, where the reason names the refused construct; cached."""
    if len(expr) > MAX_JSONPATH_CHARS:
        return None, f"JSONPath longer than {MAX_JSONPATH_CHARS} characters"
    if not expr.strip():
        return None, "empty JSONPath"
    shown = expr if len(expr) <= 80 else expr[:77] + "..."
    try:
        return _jsonpath_parse(expr), None
    except JsonPathSyntaxError as exc:
        return None, f"invalid JSONPath {shown!r}: {exc}"
