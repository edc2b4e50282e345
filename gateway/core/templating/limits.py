"""The bounds of a render and their accounting: the deadline, the value budget and printed sizes.

One :class:`_RenderState` per render lives in a context variable while the template runs; the guards,
filters and sandbox hooks tick its deadline and charge its budget. Hitting a bound raises
:class:`_LimitExceeded`, which :meth:`CompiledTemplate.render` turns into a ``TemplateError``.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

DEFAULT_TIME_LIMIT: Final = 1.0
"""Seconds one render (body and headers together) may take."""
DEFAULT_MAX_OUTPUT_BYTES: Final = 256 * 1024
"""Largest rendered body, in bytes (UTF-8)."""
DEFAULT_MAX_VALUE_BYTES: Final = 4 * 1024 * 1024
"""Largest intermediate value / total buffered output a render may build (approximate bytes)."""
MAX_SOURCE_CHARS: Final = 256 * 1024
"""Longest Jinja2 source accepted for a body or a named template."""
MAX_HEADERS: Final = 50
"""Most headers one template may set."""
MAX_HEADER_VALUE_BYTES: Final = 8192
"""Longest header value template and longest rendered header value."""
MAX_FIELDS: Final = 200
"""Most entries in a ``fields`` template."""

_SIZE_CACHE_MAX: Final = 50_000
_SIZE_CACHE_MIN_UNITS: Final = 256


class _LimitExceeded(Exception):
    """A render bound was hit; ``reason`` is the user-facing message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_DICT_VIEWS: Final[tuple[type, ...]] = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS: Final = (list, tuple, dict, set, frozenset, *_DICT_VIEWS)


def _scalar_units(value: Any) -> int:
    """Approximate printed size of a non-container value."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, (bytes, bytearray)):
        return len(value) + 3
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 2 + value.bit_length() // 3
    return 24


def _children(obj: Any) -> tuple[Iterable[Any], int]:
    """The values a container prints (keys and values for mappings and dict views) and their number."""
    if isinstance(obj, dict):
        return itertools.chain(obj.keys(), obj.values()), 2 * len(obj)
    if isinstance(obj, _DICT_VIEWS):
        mapping: Mapping[Any, Any] = cast(Any, obj).mapping
        return itertools.chain(mapping.keys(), mapping.values()), 2 * len(mapping)
    return obj, len(obj)


class _RenderState:
    """Per-render bookkeeping: the deadline, the value/buffer budget and a size cache."""

    __slots__ = ("_sizes", "deadline", "max_value", "produced", "root")

    def __init__(self, deadline: float, max_value: int, root: Mapping[str, Any]) -> None:
        self.deadline = deadline
        self.max_value = max_value
        self.produced = 0
        self.root = root
        self._sizes: dict[int, tuple[Any, int]] = {}

    def tick(self) -> None:
        """Raise once the deadline has passed."""
        if time.monotonic() > self.deadline:
            raise _LimitExceeded("render time limit exceeded")

    def require(self, size: int) -> None:
        """Refuse a value of about ``size`` bytes if it is over the value budget."""
        if size > self.max_value:
            raise _LimitExceeded(
                f"output exceeds {self.max_value} bytes (a template value would be about {size} bytes)"
            )

    def check_value(self, value: Any) -> None:
        """Refuse ``value`` if printing it would exceed the value budget."""
        if type(value) is str:
            if len(value) > self.max_value:
                self.require(len(value))
            return
        self.require(self.size_of(value))

    def charge_output(self, size: int) -> None:
        """Account ``size`` more bytes written by an output statement (top level or buffered)."""
        self.produced += size
        if self.produced > self.max_value:
            raise _LimitExceeded(f"output exceeds {self.max_value} bytes (including buffered output)")

    def size_of(self, value: Any) -> int:
        """Approximate printed size of ``value``, counting shared references each time they print.

        Walks each distinct container once (memoised, iteratively), so the cost is linear in memory, not in
        the possibly exponential printed size. Once the size is known to exceed the value budget the walk
        stops and a lower bound (still over the budget) is returned: every reference prints at least 4
        bytes, so no more than ``max_value / 4`` references are ever visited.
        """
        if not isinstance(value, _CONTAINERS):
            return _scalar_units(value)
        cached = self._sizes.get(id(value))
        if cached is not None:
            return cached[1]
        limit = self.max_value
        sizes = self._sizes
        memo: dict[int, tuple[Any, int]] = {}
        on_path: set[int] = set()
        stack: list[tuple[Any, bool]] = [(value, False)]
        references = 0
        while stack:
            obj, expanded = stack.pop()
            oid = id(obj)
            children, count = _children(obj)
            if expanded:
                total = 2
                for child in children:
                    if type(child) is str:
                        total += len(child) + 4
                    elif isinstance(child, _CONTAINERS):
                        entry = memo.get(id(child)) or sizes.get(id(child))
                        total += 10 if entry is None else entry[1] + 2  # no entry: a cycle, prints "[...]"
                    else:
                        total += 2 + _scalar_units(child)
                if total > limit:
                    return total
                memo[oid] = (obj, total)
                on_path.discard(oid)
                continue
            if oid in memo or oid in sizes or oid in on_path:
                continue
            references += count
            if references * 4 > limit:
                return references * 4
            on_path.add(oid)
            stack.append((obj, True))
            for child in children:
                if isinstance(child, _CONTAINERS):
                    cid = id(child)
                    if cid not in memo and cid not in sizes and cid not in on_path:
                        stack.append((child, False))
        for oid, entry in memo.items():
            if len(sizes) >= _SIZE_CACHE_MAX:
                break
            if entry[1] >= _SIZE_CACHE_MIN_UNITS:
                sizes[oid] = entry
        return memo[id(value)][1]


_STATE: contextvars.ContextVar[_RenderState | None] = contextvars.ContextVar("blue_gateway_render", default=None)


def _require_state() -> _RenderState:
    state = _STATE.get()
    if state is None:
        raise RuntimeError("template helpers are only available while rendering")
    return state
