"""The bounds of a render and their accounting: the deadline, the value budget and printed sizes.

One :class:`RenderState` per render lives in a context variable while the template runs; the guards,
filters and sandbox hooks tick its deadline and charge its budget. Hitting a bound raises
:class:`LimitExceeded`, which :meth:`CompiledTemplate.render` turns into a ``TemplateError``.

Operations that can amplify (``*``, ``**``, ``%``, the padding/replace string methods and the ``center``/
``indent``/``wordwrap``/``replace``/``format``/``batch``/``slice`` filters) are pre-checked here: their
result size (or integer magnitude) is estimated from the arguments and refused over budget *before*
allocating.
"""

from __future__ import annotations

import contextvars
import itertools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, cast

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_TIME_LIMIT",
    "DICT_VIEWS",
    "FILTER_PRECHECKS",
    "MAX_FIELDS",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE_BYTES",
    "MAX_INT_BITS",
    "MAX_SOURCE_CHARS",
    "RENDER_STATE",
    "LimitExceeded",
    "RenderState",
    "check_format_spec",
    "check_mul",
    "check_percent_format",
    "check_pow",
    "require_state",
]

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
MAX_INT_BITS: Final = 16_384
"""Largest integer a template may build."""

_SIZE_CACHE_MAX: Final = 50_000
_SIZE_CACHE_MIN_UNITS: Final = 256


class LimitExceeded(Exception):
    """A render bound was hit; ``reason`` is the user-facing message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


DICT_VIEWS: Final[tuple[type, ...]] = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS: Final = (list, tuple, dict, set, frozenset, *DICT_VIEWS)


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
    if isinstance(obj, DICT_VIEWS):
        mapping: Mapping[Any, Any] = cast(Any, obj).mapping
        return itertools.chain(mapping.keys(), mapping.values()), 2 * len(mapping)
    return obj, len(obj)


class RenderState:
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
            raise LimitExceeded("render time limit exceeded")

    def require(self, size: int) -> None:
        """Refuse a value of about ``size`` bytes if it is over the value budget."""
        if size > self.max_value:
            raise LimitExceeded(
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
            raise LimitExceeded(f"output exceeds {self.max_value} bytes (including buffered output)")

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


RENDER_STATE: contextvars.ContextVar[RenderState | None] = contextvars.ContextVar(
    "blue_gateway_render", default=None
)


def require_state() -> RenderState:
    state = RENDER_STATE.get()
    if state is None:
        raise RuntimeError("template helpers are only available while rendering")
    return state


_MAX_COUNT_ARG: Final = 100_000
_PERCENT_SPEC_RE: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([A-Za-z%])")
_NUMBER_RE: Final = re.compile(r"\d+")


def _check_width(state: RenderState, width: Any) -> None:
    if isinstance(width, int) and width > state.max_value:
        state.require(width)


def check_percent_format(state: RenderState, fmt: str, args: Any) -> None:
    """Bound ``fmt % args`` before running it: no ``*`` widths, widths/precisions and repeats bounded."""
    specs = 0
    widths = 0
    for match in _PERCENT_SPEC_RE.finditer(fmt):
        if match.group(3) == "%":
            continue
        for number in (match.group(1), match.group(2)):
            if number == "*":
                raise LimitExceeded("'*' field widths are not supported in templates")
            if number:
                if len(number) > 9:
                    state.require(10**9)
                widths += int(number)
        specs += 1
    if isinstance(args, tuple):
        biggest = max((state.size_of(arg) for arg in args), default=0)
    elif isinstance(args, Mapping):
        biggest = max((state.size_of(arg) for arg in args.values()), default=0)
    else:
        biggest = state.size_of(args)
    state.require(len(fmt) + specs * biggest + widths)


def check_format_spec(state: RenderState, spec: str) -> None:
    for match in _NUMBER_RE.finditer(spec):
        digits = match.group()
        if len(digits) > 9:
            state.require(10**9)
        if int(digits) > state.max_value:
            state.require(int(digits))


def _replace_size(text: str | bytes | bytearray, old: Any, new: Any, count: Any) -> int | None:
    if not (isinstance(old, type(text)) and isinstance(new, type(text))):
        return None
    hits = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def check_mul(state: RenderState, left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and isinstance(seq, (str, bytes, list, tuple)):
            if times > 0:
                unit = len(seq) if isinstance(seq, (str, bytes)) else state.size_of(seq)
                state.require(unit * times)
            return
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"integer too large (more than {MAX_INT_BITS} bits)")


def check_pow(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and abs(left) > 1
        and (right > MAX_INT_BITS or left.bit_length() * right > MAX_INT_BITS)
    ):
        raise LimitExceeded(f"integer too large (more than {MAX_INT_BITS} bits)")


def _pre_center(state: RenderState, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    _check_width(state, width)


def _pre_indent(state: RenderState, s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(s)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    state.require(len(text) + (text.count("\n") + 1) * max(pad, 0))


def _pre_wordwrap(state: RenderState, s: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    text = str(s)
    state.require(len(text) + (len(text) + 1) * len(str(wrapstring or "\n")))


def _pre_replace(state: RenderState, s: Any, old: Any, new: Any, count: Any = None) -> None:
    text = s if isinstance(s, str) else str(s)
    size = _replace_size(text, str(old), str(new), count)
    if size is not None:
        state.require(size)


def _pre_format(state: RenderState, value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent_format(state, str(value), kwargs or args)


def _pre_count_arg(state: RenderState, value: Any, count: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(count, int) and count > _MAX_COUNT_ARG:
        raise LimitExceeded(f"batch/slice count too large (at most {_MAX_COUNT_ARG})")


FILTER_PRECHECKS: Final[dict[str, Callable[..., None]]] = {
    "batch": _pre_count_arg,
    "center": _pre_center,
    "format": _pre_format,
    "indent": _pre_indent,
    "replace": _pre_replace,
    "slice": _pre_count_arg,
    "wordwrap": _pre_wordwrap,
}
