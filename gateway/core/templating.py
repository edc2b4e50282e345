"""Payload templates (CONTRACT §4.2): compile a template spec once, render it safely per delivery.

Template specs
--------------
``{"body": "<Jinja2>", "contentType": "application/json", "headers": {"X-K": "{{ event }}"}}``
    A Jinja2 body (and optional Jinja2 header values) rendered in a sandbox.
``{"fields": {"title": "$.currentValue.title"}}``
    A flat JSON object built from JSONPath expressions over the event envelope: one match gives the value,
    several matches give a list, none gives ``null``. ``contentType`` (a JSON type) and ``headers`` are
    optional here too.
``{"name": "record"}``
    A named built-in template: ``loader(name)`` returns its Jinja2 source, compiled like ``body``.
``None`` / ``{}``
    The ``default`` spec when one is given, else the raw envelope as compact JSON. A spec holding only
    ``contentType`` and/or ``headers`` applies them on top of that default.

Everything (Jinja2 compilation, JSONPath parsing, validation of names and types) happens in
:func:`compile_template`, which raises :class:`TemplateError` naming the field (``template.body``,
``template.fields.title``, ``template.headers.X-K`` ...) and, for syntax errors, the line and column.
:meth:`CompiledTemplate.render` never parses and never lets anything but :class:`TemplateError` escape.

Template variables are the envelope's keys (``event``, ``currentValue``, ``previousValue``, ``user``,
``company``, ``project`` ...) plus ``webhook``. Missing keys are chainable: ``{{ a.b.c }}`` renders
nothing and ``{{ a.b|tojson }}`` renders ``null`` when ``a`` is missing; a ``{% for %}`` over ``null``
iterates nothing.

Helpers: ``tojson`` (filter; orjson, compact, keys kept in order, output not HTML-escaped),
``jsonpath(expr[, data])`` (list of matches, over the whole envelope by default), ``jsonpath_first(expr[,
data])`` (first match or ``None``), and the ``date(fmt="%Y-%m-%d")`` / ``datetime(fmt=None)`` filters,
which take RFC 3339 strings or epoch numbers (seconds; values >= 1e11 are taken as milliseconds) and
default to RFC 3339 output for ``datetime``. ``range``, ``dict`` and Jinja's built-in filters and tests
are available, minus ``pprint`` and ``urlize``; ``cycler``, ``joiner``, ``namespace`` and ``lipsum`` are
not. ``{% break %}`` / ``{% continue %}`` work.

The sandbox
-----------
* An immutable :class:`~jinja2.sandbox.SandboxedEnvironment` without a loader: ``{% include %}``,
  ``{% import %}`` and ``{% extends %}`` are refused at compile time, as are ``self`` and dunder
  attributes such as ``__class__``. At render time any ``_``-prefixed attribute of a non-mapping is
  refused (``SecurityError`` → ``TemplateError("unsafe ...")``), and only an allow-list of methods of
  ``str``/``list``/``dict``/... may be called (``str.to_bytes``, ``dict.fromkeys`` & co. are refused).
* **Time**: a deadline (``time_limit``, default 1 s) is checked on every loop iteration, call, filter,
  test, operator, attribute access and output chunk. Loops are rewritten at compile time so every
  ``{% for %}`` iterates through a deadline-checking wrapper.
* **Size**: the body may not exceed ``max_output_bytes`` (default 256 KiB), counted while rendering
  chunk by chunk. Every value the template builds (operators, ``~``, list/dict literals, call and filter
  results) and the sum of everything written into buffers (``{% set %}`` blocks, macros, filter blocks)
  must stay under ``max_value_bytes`` (default 4 MiB), estimated *before* allocating for the operations
  that can amplify (``*``, ``**``, ``+``, ``%``, ``~``, ``center``/``ljust``/``rjust``/``zfill``/
  ``replace``/``join``/``format``/``indent``/``wordwrap``/``batch``/``slice``/``sum``); sizes count
  shared references as often as they would print, so ``[x, x]`` doubling chains are caught. ``range()``
  is lazy: unbounded inside ``{% for %}`` (the deadline stops it) and at most 200 000 items when
  materialised elsewhere (``range(n)|list``).
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import itertools
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn, cast

import orjson
from jinja2 import Template, nodes, pass_context, pass_environment, pass_eval_context
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.filters import do_join, make_attrgetter
from jinja2.runtime import ChainableUndefined, Context, LoopContext, Undefined, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.visitor import NodeTransformer
from jsonpath_ng.ext.parser import parse as _jsonpath_parse
from markupsafe import Markup

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_TIME_LIMIT",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE_BYTES",
    "MAX_SOURCE_CHARS",
    "RESERVED_HEADERS",
    "CompiledTemplate",
    "RenderedBody",
    "TemplateError",
    "compile_template",
    "is_json_content_type",
]

DEFAULT_TIME_LIMIT: Final = 1.0
"""Seconds one render (body and headers together) may take."""
DEFAULT_MAX_OUTPUT_BYTES: Final = 256 * 1024
"""Largest rendered body, in bytes (UTF-8)."""
DEFAULT_MAX_VALUE_BYTES: Final = 4 * 1024 * 1024
"""Largest intermediate value / total buffered output a render may build (approximate bytes)."""
DEFAULT_CONTENT_TYPE: Final = "application/json"
"""Content type when a template names none."""
MAX_SOURCE_CHARS: Final = 256 * 1024
"""Longest Jinja2 source accepted for a body or a named template."""
MAX_HEADERS: Final = 50
"""Most headers one template may set."""
MAX_HEADER_VALUE_BYTES: Final = 8192
"""Longest header value template and longest rendered header value."""
MAX_FIELDS: Final = 200
"""Most entries in a ``fields`` template."""
RESERVED_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
        "x-blue-event",
        "x-hub-signature-256",
        "x-signature",
    }
)
"""Header names (lower case) a template may not set: framing, ``content-type`` (use ``contentType``),
the gateway's own ``user-agent`` / ``x-blue-event`` and the signature headers. ``proxy-*`` is refused too."""

_SPEC_KEYS: Final = ("body", "fields", "name", "contentType", "headers")
_MAX_RANGE_ITEMS: Final = 200_000
_MAX_INT_BITS: Final = 16_384
_MAX_COUNT_ARG: Final = 100_000
_MAX_JSONPATH_CHARS: Final = 2_000
_MAX_DATE_FORMAT_CHARS: Final = 256
_MAX_REASON_CHARS: Final = 1_000
_SIZE_CACHE_MAX: Final = 50_000
_SIZE_CACHE_MIN_UNITS: Final = 256
_TEMPLATE_FILENAME: Final = "<template>"

_HEADER_NAME_RE: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
_MEDIA_CHARS: Final = r"[A-Za-z0-9!#$&^_.+\-]+"
_CONTENT_TYPE_RE: Final = re.compile(
    rf'^{_MEDIA_CHARS}/{_MEDIA_CHARS}(?:[ \t]*;[ \t]*{_MEDIA_CHARS}=(?:{_MEDIA_CHARS}|"[^"\\\r\n]*"))*[ \t]*$'
)
_TEMPLATE_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,99}$")
_PERCENT_SPEC_RE: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([A-Za-z%])")
_NUMBER_RE: Final = re.compile(r"\d+")
_STRFTIME_WIDTH_RE: Final = re.compile(r"%[-_0^#]*\d")
_SYNTAX_TOKEN_ALIASES: Final = {
    "end of print statement": "}}",
    "end of statement block": "%}",
    "begin of print statement": "{{",
    "begin of statement block": "{%",
    "end of comment": "#}",
    "begin of comment": "{#",
}


# --------------------------------------------------------------------------------------------------------
# Public types


class TemplateError(ValueError):
    """An invalid template spec, or a template that failed to render.

    ``field`` names the part of the spec (``template``, ``template.body``, ``template.fields.title``,
    ``template.headers.X-K``, ``template.name``, ``template.contentType``); ``line`` / ``column`` (1-based)
    locate syntax errors and, when known, render errors. ``str()`` reads like
    ``"template.body line 3, column 5: unexpected '}'"``.
    """

    def __init__(
        self, reason: str, *, field: str = "template", line: int | None = None, column: int | None = None
    ) -> None:
        self.reason = reason
        self.field = field
        self.line = line
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.field
        if self.line is not None:
            where += f" line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self._format()

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-able object (``field``, ``reason``, ``line``, ``column``)."""
        return {"field": self.field, "reason": self.reason, "line": self.line, "column": self.column}


@dataclass(frozen=True)
class RenderedBody:
    """The result of :meth:`CompiledTemplate.render`: the exact body bytes, its content type and the
    template's rendered headers (``content-type`` is not among them)."""

    body: bytes
    content_type: str
    headers: dict[str, str]


def is_json_content_type(content_type: str) -> bool:
    """Whether ``content_type`` is ``application/json`` or a ``+json`` type (parameters ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# --------------------------------------------------------------------------------------------------------
# Render state and size accounting


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

    __slots__ = ("_sizes", "deadline", "max_value", "produced", "range_items", "root")

    def __init__(self, deadline: float, max_value: int, root: Mapping[str, Any]) -> None:
        self.deadline = deadline
        self.max_value = max_value
        self.produced = 0
        self.range_items = 0
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

    def charge_range(self, items: int) -> None:
        """Account ``items`` materialised ``range`` items."""
        self.range_items += items
        if self.range_items > _MAX_RANGE_ITEMS:
            raise _LimitExceeded(
                f"range too large: at most {_MAX_RANGE_ITEMS} range items may be used outside a for loop"
            )

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


# --------------------------------------------------------------------------------------------------------
# Lazy, bounded range and the loop guard


class _SafeRange:
    """``range()`` for templates: lazy, with deadline checks and a budget when materialised."""

    __slots__ = ("_range",)

    def __init__(self, rng: range) -> None:
        self._range = rng

    def __len__(self) -> int:
        return len(self._range)

    def __bool__(self) -> bool:
        return bool(self._range)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, int):
            return item in self._range
        if isinstance(item, float) and item.is_integer():
            return int(item) in self._range
        return False

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return _SafeRange(self._range[index])
        return self._range[index]

    def __iter__(self) -> Iterator[int]:
        return _budgeted(iter(self._range))

    def __reversed__(self) -> Iterator[int]:
        return _budgeted(reversed(self._range))

    def __repr__(self) -> str:
        return repr(self._range)


def _budgeted(iterator: Iterator[int]) -> Iterator[int]:
    state = _require_state()
    for count, item in enumerate(iterator, 1):
        if not count & 1023:
            state.tick()
            state.charge_range(1024)
        yield item


def _safe_range(*args: int) -> _SafeRange:
    """The ``range`` global."""
    return _SafeRange(range(*args))


class _LoopIterable:
    """What every ``{% for %}`` iterates: the source, with a deadline check per item (``None`` is empty)."""

    __slots__ = ("_source",)

    def __init__(self, source: Any) -> None:
        self._source = () if source is None else source

    def __len__(self) -> int:
        return len(self._source)

    def __iter__(self) -> Iterator[Any]:
        state = _require_state()
        source = self._source
        iterator = iter(source._range) if isinstance(source, _SafeRange) else iter(source)
        tick = state.tick
        for item in iterator:
            tick()
            yield item


def _loop_guard(source: Any) -> _LoopIterable:
    """Compile-time marker: wraps every ``{% for %}`` iterable (dispatched in ``call``)."""
    return _LoopIterable(source)


def _value_guard(value: Any) -> Any:
    """Compile-time marker: wraps every list / tuple / dict literal."""
    _require_state().check_value(value)
    return value


def _concat_guard(eval_ctx: nodes.EvalContext, *parts: Any) -> str:
    """Compile-time marker: replaces the ``~`` operator with a size-checked join."""
    state = _require_state()
    state.tick()
    total = 0
    for part in parts:
        total += len(part) if isinstance(part, str) else state.size_of(part)
    state.require(total)
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


# --------------------------------------------------------------------------------------------------------
# Pre-checks for operations that can amplify


def _check_width(state: _RenderState, width: Any) -> None:
    if isinstance(width, int) and width > state.max_value:
        state.require(width)


def _check_percent_format(state: _RenderState, fmt: str, args: Any) -> None:
    """Bound ``fmt % args`` before running it: no ``*`` widths, widths/precisions and repeats bounded."""
    specs = 0
    widths = 0
    for match in _PERCENT_SPEC_RE.finditer(fmt):
        if match.group(3) == "%":
            continue
        for number in (match.group(1), match.group(2)):
            if number == "*":
                raise _LimitExceeded("'*' field widths are not supported in templates")
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


def _check_format_spec(state: _RenderState, spec: str) -> None:
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


def _check_mul(state: _RenderState, left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and isinstance(seq, (str, bytes, list, tuple)):
            if times > 0:
                unit = len(seq) if isinstance(seq, (str, bytes)) else state.size_of(seq)
                state.require(unit * times)
            return
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
        raise _LimitExceeded(f"integer too large (more than {_MAX_INT_BITS} bits)")


def _check_pow(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and abs(left) > 1
        and (right > _MAX_INT_BITS or left.bit_length() * right > _MAX_INT_BITS)
    ):
        raise _LimitExceeded(f"integer too large (more than {_MAX_INT_BITS} bits)")


# Methods of builtin data types a template may call. Everything else on these types (to_bytes, fromkeys,
# translate, expandtabs, ...) is refused; the starred comments mark argument-checked methods.
_STR_METHODS: Final = frozenset(
    {
        "capitalize", "casefold", "count", "decode", "encode", "endswith", "find", "hex", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
        "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
        "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
        "striptags", "swapcase", "title", "unescape", "upper",
        "center", "join", "ljust", "replace", "rjust", "zfill",  # checked
    }
)  # fmt: skip
_SEQ_METHODS: Final = frozenset({"count", "index", "copy"})
_DICT_METHODS: Final = frozenset({"copy", "get", "items", "keys", "values"})
_SET_METHODS: Final = frozenset(
    {"copy", "difference", "intersection", "isdisjoint", "issubset", "issuperset", "symmetric_difference", "union"}
)
_NUMBER_METHODS: Final = frozenset(
    {"as_integer_ratio", "bit_count", "bit_length", "conjugate", "hex", "is_integer"}
)
_METHOD_ALLOW: Final[tuple[tuple[tuple[type, ...], frozenset[str]], ...]] = (
    ((str, bytes, bytearray), _STR_METHODS),
    ((list, tuple), _SEQ_METHODS),
    ((dict,), _DICT_METHODS),
    ((set, frozenset), _SET_METHODS),
    ((int, float), _NUMBER_METHODS),
    (_DICT_VIEWS, frozenset({"isdisjoint"})),
)
_METHOD_TYPES: Final = (types.BuiltinMethodType, types.MethodType, types.MethodWrapperType)


def _check_call(state: _RenderState, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse calls outside the allow-list and pre-check amplifying string methods; may rewrite ``args``."""
    if isinstance(obj, (types.FunctionType, LoopContext, Undefined)) or obj is dict:
        return args
    if type(obj).__module__ == "jinja2.runtime":  # Macro, BlockReference, ...
        return args
    if not isinstance(obj, _METHOD_TYPES):
        raise SecurityError(f"calling a {type(obj).__name__!r} object is not allowed in templates")
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "?")
    if isinstance(owner, (LoopContext, _SafeRange)) or type(owner).__module__ == "jinja2.runtime":
        return args
    for kinds, allowed in _METHOD_ALLOW:
        if isinstance(owner, kinds):
            if name not in allowed:
                raise SecurityError(f"calling {type(owner).__name__}.{name}() is not allowed in templates")
            break
    else:
        raise SecurityError(f"calling {type(owner).__name__}.{name}() is not allowed in templates")
    if isinstance(owner, (str, bytes, bytearray)):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            _check_width(state, args[0])
        elif name == "replace" and len(args) >= 2:
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            size = _replace_size(owner, args[0], args[1], count)
            if size is not None:
                state.require(size)
        elif name == "join" and len(args) == 1:
            items = list(args[0])
            size = len(owner) * max(len(items) - 1, 0)
            for item in items:
                if isinstance(item, (str, bytes, bytearray)):
                    size += len(item)
            state.require(size)
            return (items,)
    return args


# --------------------------------------------------------------------------------------------------------
# Helpers: tojson, jsonpath, dates


_ROOT: Final = object()


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        return None
    if isinstance(value, type({}.items())):
        return [list(pair) for pair in cast(Any, value)]
    if isinstance(value, (set, frozenset, _SafeRange, types.GeneratorType, *_DICT_VIEWS)):
        return list(cast(Any, value))
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _tojson(value: Any, indent: Any = None) -> Markup:
    """``tojson`` filter: compact JSON via orjson (``indent`` truthy → 2-space indent); not HTML-escaped."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    # Marked safe on purpose: JSON is not HTML, and an {% autoescape %} block must not mangle it.
    return Markup(orjson.dumps(value, default=_json_default, option=option).decode("utf-8"))  # noqa: S704


@functools.lru_cache(maxsize=1024)
def _parse_jsonpath(expr: str) -> tuple[Any, str | None]:
    """Parse a JSONPath once (cached, failures too): ``(compiled, None)`` or ``(None, reason)``."""
    if len(expr) > _MAX_JSONPATH_CHARS:
        return None, f"JSONPath longer than {_MAX_JSONPATH_CHARS} characters"
    if not expr.strip():
        return None, "empty JSONPath"
    try:
        return _jsonpath_parse(expr), None
    except Exception as exc:
        return None, f"invalid JSONPath {expr!r}: {exc}"


def _compiled_jsonpath(expr: Any) -> Any:
    if not isinstance(expr, str):
        raise TypeError(f"JSONPath must be a string, not {type(expr).__name__}")
    compiled, error = _parse_jsonpath(expr)
    if error is not None:
        raise ValueError(error)
    return compiled


def _find_values(compiled: Any, data: Any) -> list[Any]:
    return [match.value for match in compiled.find(data)]


def _jsonpath(expr: str, data: Any = _ROOT) -> list[Any]:
    """``jsonpath(expr[, data])``: every match of ``expr`` over ``data`` (default: the whole envelope)."""
    state = _require_state()
    target = state.root if data is _ROOT else (None if isinstance(data, Undefined) else data)
    return _find_values(_compiled_jsonpath(expr), target)


def _jsonpath_first(expr: str, data: Any = _ROOT) -> Any:
    """``jsonpath_first(expr[, data])``: the first match of ``expr``, or ``None``."""
    values = _jsonpath(expr, data)
    return values[0] if values else None


def _to_datetime(value: Any) -> _dt.datetime | None:
    if value is None or isinstance(value, Undefined) or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64:
            raise ValueError("date value too long")
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an RFC 3339 date: {value!r}") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)
    raise TypeError(f"cannot format a {type(value).__name__} as a date")


def _strftime(moment: _dt.datetime, fmt: Any) -> str:
    if not isinstance(fmt, str):
        raise TypeError("date format must be a string")
    if len(fmt) > _MAX_DATE_FORMAT_CHARS:
        raise ValueError(f"date format longer than {_MAX_DATE_FORMAT_CHARS} characters")
    if _STRFTIME_WIDTH_RE.search(fmt):
        raise ValueError("field widths are not supported in date formats")
    return moment.strftime(fmt)


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """``date`` filter: format an RFC 3339 string / epoch number (``""`` for null or missing)."""
    moment = _to_datetime(value)
    return "" if moment is None else _strftime(moment, fmt)


def _datetime(value: Any, fmt: str | None = None) -> str:
    """``datetime`` filter: RFC 3339 (``Z`` for UTC) by default, else ``strftime(fmt)``."""
    moment = _to_datetime(value)
    if moment is None:
        return ""
    if fmt is not None:
        return _strftime(moment, fmt)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --------------------------------------------------------------------------------------------------------
# Guarded filters and tests


def _guard_filter(func: Callable[..., Any], pre: Callable[..., None] | None = None) -> Callable[..., Any]:
    """Wrap a filter: deadline check, optional argument pre-check, size check of the result."""
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        state = _require_state()
        state.tick()
        if pre is not None:
            pre(state, *args[skip:], **kwargs)
        result = func(*args, **kwargs)
        state.check_value(result)
        return result

    return guarded


def _guard_test(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _require_state().tick()
        return func(*args, **kwargs)

    return guarded


def _pre_center(state: _RenderState, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    _check_width(state, width)


def _pre_indent(state: _RenderState, s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(s)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    state.require(len(text) + (text.count("\n") + 1) * max(pad, 0))


def _pre_wordwrap(state: _RenderState, s: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    text = str(s)
    state.require(len(text) + (len(text) + 1) * len(str(wrapstring or "\n")))


def _pre_replace(state: _RenderState, s: Any, old: Any, new: Any, count: Any = None) -> None:
    text = s if isinstance(s, str) else str(s)
    size = _replace_size(text, str(old), str(new), count)
    if size is not None:
        state.require(size)


def _pre_format(state: _RenderState, value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent_format(state, str(value), kwargs or args)


def _pre_count_arg(state: _RenderState, value: Any, count: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(count, int) and count > _MAX_COUNT_ARG:
        raise _LimitExceeded(f"batch/slice count too large (at most {_MAX_COUNT_ARG})")


@pass_eval_context
def _join(eval_ctx: nodes.EvalContext, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    """``join`` filter with the result size checked before joining."""
    state = _require_state()
    items = list(value)
    size = len(str(d)) * max(len(items) - 1, 0) + sum(state.size_of(item) for item in items)
    state.require(size)
    joined: str = do_join(eval_ctx, items, d, attribute)
    return joined


@pass_environment
def _sum(environment: Environment, iterable: Any, attribute: str | int | None = None, start: Any = 0) -> Any:
    """``sum`` filter; list/tuple sums are linear and size-checked (the builtin is quadratic)."""
    state = _require_state()
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    items = list(iterable)
    if isinstance(start, (list, tuple)):
        size = len(start) + sum(len(item) if isinstance(item, (list, tuple)) else 1 for item in items)
        state.require(size)
        result = list(start)
        for item in items:
            if type(item) is not type(start):
                raise TypeError(f"can only concatenate {type(start).__name__} (not {type(item).__name__})")
            result.extend(item)
        return tuple(result) if isinstance(start, tuple) else result
    return sum(items, start)


_REMOVED_FILTERS: Final = frozenset({"pprint", "urlize"})
_FILTER_PRECHECKS: Final[dict[str, Callable[..., None]]] = {
    "batch": _pre_count_arg,
    "center": _pre_center,
    "format": _pre_format,
    "indent": _pre_indent,
    "replace": _pre_replace,
    "slice": _pre_count_arg,
    "wordwrap": _pre_wordwrap,
}


# --------------------------------------------------------------------------------------------------------
# The environment


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` for templates: sandboxed field lookup, bounded widths and total size."""

    def __init__(self, env: Environment, state: _RenderState, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._state = state
        self._used = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_format_spec(self._state, format_spec)
        out = super().format_field(value, format_spec)
        self._used += len(out)
        self._state.require(self._used)
        return out


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    """:class:`_BoundedFormatter` for ``Markup.format``."""


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class _GatewayEnvironment(ImmutableSandboxedEnvironment):
    """The one sandboxed environment every template is compiled against."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    blue_gw_loop: Callable[[Any], _LoopIterable]
    blue_gw_value: Callable[[Any], Any]
    blue_gw_concat: Callable[..., str]

    def __init__(self) -> None:
        super().__init__(  # bodies are JSON/text for machines, not HTML: no autoescape
            autoescape=False,
            undefined=ChainableUndefined,
            finalize=_finalize,
            optimized=False,  # no constant folding: nothing is evaluated at compile time
            extensions=["jinja2.ext.loopcontrols"],
            cache_size=0,
            auto_reload=False,
        )
        self.blue_gw_loop = _loop_guard
        self.blue_gw_value = _value_guard
        self.blue_gw_concat = _concat_guard
        self.globals.clear()
        self.globals.update(
            {"range": _safe_range, "dict": dict, "jsonpath": _jsonpath, "jsonpath_first": _jsonpath_first}
        )
        filters: dict[str, Callable[..., Any]] = {}
        for name, func in DEFAULT_FILTERS.items():
            if name not in _REMOVED_FILTERS:
                filters[name] = func
        filters.update({"tojson": _tojson, "join": _join, "sum": _sum, "date": _date, "datetime": _datetime})
        self.filters.clear()
        for name, func in filters.items():
            self.filters[name] = _guard_filter(func, _FILTER_PRECHECKS.get(name))
        self.tests.clear()
        for name, func in DEFAULT_TESTS.items():
            self.tests[name] = _guard_test(cast(Callable[..., Any], func))

    # -- attribute access ------------------------------------------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Sandboxed ``obj.attribute``; ``_``-prefixed names only as keys of plain mappings."""
        state = _STATE.get()
        if state is not None:
            state.tick()
        if attribute.startswith("_"):
            return self._underscore_lookup(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Sandboxed ``obj[argument]``; ``_``-prefixed string keys only on plain mappings."""
        state = _STATE.get()
        if state is not None:
            state.tick()
        if isinstance(argument, str) and argument.startswith("_"):
            return self._underscore_lookup(obj, argument)
        return super().getitem(obj, argument)

    def _underscore_lookup(self, obj: Any, name: str) -> Any:
        if isinstance(obj, Mapping) and not isinstance(obj, Undefined):
            try:
                return obj[name]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=name)
        if _is_dunder(name) or (not isinstance(obj, Undefined) and hasattr(obj, name)):
            raise SecurityError(f"unsafe attribute access: {name!r} of a {type(obj).__name__!r} object")
        return self.undefined(obj=obj, name=name)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Refuse (instead of returning an undefined) access to an unsafe attribute."""
        raise SecurityError(f"unsafe attribute access: {attribute!r} of a {type(obj).__name__!r} object")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` / ``format_map`` with sandboxed lookups and bounded output."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self: Any = value.__self__
        if not isinstance(f_self, str):
            return None
        str_type: type[str] = type(f_self)
        is_format_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            state = _require_state()
            formatter: _BoundedFormatter
            if isinstance(f_self, Markup):
                formatter = _BoundedEscapeFormatter(env, state, escape=f_self.escape)
            else:
                formatter = _BoundedFormatter(env, state)
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                return str_type(formatter.vformat(f_self, (), args[0]))
            return str_type(formatter.vformat(f_self, args, kwargs))

        return wrapper

    # -- calls and operators ---------------------------------------------------------------------------

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Sandboxed call: internal guards, allow-list, argument pre-checks, result size check."""
        if obj is _loop_guard:
            return _LoopIterable(args[0])
        if obj is _value_guard:
            return _value_guard(args[0])
        if obj is _concat_guard:
            return _concat_guard(context.eval_ctx, *args)
        state = _require_state()
        state.tick()
        if not self.is_safe_callable(obj):
            raise SecurityError(f"a {type(obj).__name__!r} object is not safely callable")
        user_kwargs = {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}
        args = _check_call(state, obj, args, user_kwargs)
        if isinstance(obj, LoopContext) and args:
            args = (_LoopIterable(args[0]), *args[1:])
        result = context.call(obj, *args, **kwargs)
        state.check_value(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Every arithmetic operator: deadline, pre-checked sizes / magnitudes, checked result."""
        state = _require_state()
        state.tick()
        if operator == "*":
            _check_mul(state, left, right)
        elif operator == "**":
            _check_pow(left, right)
        elif operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
                state.require(state.size_of(left) + state.size_of(right))
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(state, left, right)
        result = self.binop_table[operator](left, right)
        if isinstance(result, int) and result.bit_length() > _MAX_INT_BITS:
            raise _LimitExceeded(f"integer too large (more than {_MAX_INT_BITS} bits)")
        state.check_value(result)
        return result


def _finalize_impl(context: Context, value: Any) -> Any:
    state = _require_state()
    state.tick()
    if isinstance(value, str):
        size = len(value)
    elif isinstance(value, Undefined):
        size = 0
    else:
        size = state.size_of(value)
    state.charge_output(size)
    return value


# pass_context, so that no output is ever constant-folded (and finalized) at compile time.
_finalize: Final = pass_context(_finalize_impl)


class _GuardTransformer(NodeTransformer):
    """Rewrites a parsed template so its loops, literals, ``~`` and text go through the guards."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    def _call(self, name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name, lineno=lineno), args, [], None, None, lineno=lineno)
        call.set_environment(self._environment)
        return call

    def visit_Output(self, node: nodes.Output, *args: Any, **kwargs: Any) -> nodes.Node:
        self.generic_visit(node)
        new_nodes: list[nodes.Expr] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                const = nodes.Const(child.data, lineno=child.lineno)
                wrapped = nodes.MarkSafeIfAutoescape(const, lineno=child.lineno)
                wrapped.set_environment(self._environment)
                new_nodes.append(wrapped)
            else:
                new_nodes.append(child)
        node.nodes = new_nodes
        return node

    def visit_For(self, node: nodes.For, *args: Any, **kwargs: Any) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("blue_gw_loop", [cast(nodes.Expr, node.iter)], node.lineno)
        return node

    def visit_List(self, node: nodes.List, *args: Any, **kwargs: Any) -> nodes.Node:
        self.generic_visit(node)
        return self._call("blue_gw_value", [node], node.lineno)

    def visit_Dict(self, node: nodes.Dict, *args: Any, **kwargs: Any) -> nodes.Node:
        self.generic_visit(node)
        return self._call("blue_gw_value", [node], node.lineno)

    def visit_Tuple(self, node: nodes.Tuple, *args: Any, **kwargs: Any) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":
            return node
        return self._call("blue_gw_value", [node], node.lineno)

    def visit_Concat(self, node: nodes.Concat, *args: Any, **kwargs: Any) -> nodes.Node:
        self.generic_visit(node)
        parts = cast(list[nodes.Expr], list(node.nodes))
        return self._call("blue_gw_concat", parts, node.lineno)


_ENV: Final = _GatewayEnvironment()


# --------------------------------------------------------------------------------------------------------
# Compilation


def _normalise_newlines(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _token_column(source: str, line: int | None, token: str | None) -> int | None:
    """1-based column of ``token`` on ``line`` of ``source`` (first ``{{``/``{%`` or 1 if not found)."""
    if line is None:
        return None
    lines = _normalise_newlines(source).split("\n")
    if not 1 <= line <= len(lines):
        return 1
    text = lines[line - 1]
    if token:
        index = text.find(token)
        if index >= 0:
            return index + 1
    starts = [i for i in (text.find("{{"), text.find("{%")) if i >= 0]
    return min(starts) + 1 if starts else 1


def _syntax_column(source: str, line: int | None, message: str) -> int | None:
    """Best-effort column for a Jinja syntax error (Jinja only reports the line)."""
    if line is None:
        return None
    normalised = _normalise_newlines(source)
    lines = normalised.split("\n")
    if not 1 <= line <= len(lines):
        return 1
    at = re.search(r" at (\d+)$", message)
    if at:
        start = sum(len(text) + 1 for text in lines[: line - 1])
        column = int(at.group(1)) - start + 1
        if 1 <= column <= len(lines[line - 1]) + 1:
            return column
    if "end of template" in message.lower():
        return len(lines[line - 1]) + 1
    found = re.search(r"got '([^']*)'", message) or re.search(r"'([^']*)'", message)
    token = _SYNTAX_TOKEN_ALIASES.get(found.group(1), found.group(1)) if found else None
    return _token_column(source, line, token)


def _readable_syntax_message(message: str) -> str:
    """Jinja's message with token names shown as written (``'}}'``) and no absolute offset."""
    message = re.sub(r" at \d+$", "", message)
    for name, text in _SYNTAX_TOKEN_ALIASES.items():
        message = message.replace(f"'{name}'", f"'{text}'")
    return message


def _check_ast(ast: nodes.Template, source: str, field: str) -> None:
    """Refuse what the sandbox never allows, at save time, with a line and column."""

    def fail(reason: str, node: nodes.Node, token: str | None) -> NoReturn:
        raise TemplateError(
            reason, field=field, line=node.lineno, column=_token_column(source, node.lineno, token)
        )

    loaders = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
    for loader_node in ast.find_all(loaders):
        keyword = type(loader_node).__name__.lower().replace("fromimport", "from")
        fail(f"unsafe: {{% {keyword} %}} is not supported (templates cannot load files or other templates)",
             loader_node, keyword)  # fmt: skip
    for name_node in ast.find_all(nodes.Name):
        if name_node.name == "self":
            fail("unsafe: 'self' is not available in templates", name_node, "self")
    for attr_node in ast.find_all(nodes.Getattr):
        if _is_dunder(attr_node.attr):
            fail(f"unsafe attribute access: {attr_node.attr!r}", attr_node, attr_node.attr)
    for item_node in ast.find_all(nodes.Getitem):
        arg = item_node.arg
        if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and _is_dunder(arg.value):
            fail(f"unsafe attribute access: {arg.value!r}", item_node, arg.value)
    for filter_node in ast.find_all(nodes.Filter):
        if filter_node.name == "attr" and filter_node.args:
            first = filter_node.args[0]
            if isinstance(first, nodes.Const) and isinstance(first.value, str) and _is_dunder(first.value):
                fail(f"unsafe attribute access: {first.value!r}", filter_node, first.value)
    # Pre-parse literal JSONPath arguments so rendering only hits the cache.
    for call_node in ast.find_all(nodes.Call):
        callee = call_node.node
        if not (isinstance(callee, nodes.Name) and callee.name in ("jsonpath", "jsonpath_first")):
            continue
        expr_node: nodes.Expr | None = call_node.args[0] if call_node.args else None
        for keyword_arg in call_node.kwargs:
            if keyword_arg.key == "expr":
                expr_node = keyword_arg.value
        if isinstance(expr_node, nodes.Const) and isinstance(expr_node.value, str):
            _, error = _parse_jsonpath(expr_node.value)
            if error is not None:
                fail(error, call_node, callee.name)


def _compile_jinja(source: Any, field: str) -> Template:
    """Parse, check, guard and compile one Jinja2 source."""
    if not isinstance(source, str):
        raise TemplateError("must be a string", field=field)
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateError(f"template longer than {MAX_SOURCE_CHARS} characters", field=field)
    try:
        ast = _ENV.parse(source)
        _check_ast(ast, source, field)
        _GuardTransformer(_ENV).visit(ast)
        return _ENV.from_string(ast)
    except TemplateError:
        raise
    except TemplateSyntaxError as exc:
        message = exc.message or str(exc)
        column = _syntax_column(source, exc.lineno, message)
        raise TemplateError(
            _readable_syntax_message(message), field=field, line=exc.lineno, column=column
        ) from None
    except RecursionError:
        raise TemplateError("template is nested too deeply", field=field) from None
    except Exception as exc:  # anything else Jinja may raise while compiling
        raise TemplateError(_truncate(f"{type(exc).__name__}: {exc}"), field=field) from None


def _validate_content_type(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255 or not _CONTENT_TYPE_RE.match(value):
        raise TemplateError("must be a media type such as 'application/json'", field="template.contentType")
    return value


def _compile_headers(raw: Any) -> list[tuple[str, Template]]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise TemplateError("must be an object of header names to template strings", field="template.headers")
    if len(raw) > MAX_HEADERS:
        raise TemplateError(f"at most {MAX_HEADERS} headers", field="template.headers")
    compiled: list[tuple[str, Template]] = []
    seen: set[str] = set()
    for name, value in raw.items():
        field = f"template.headers.{name}"
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise TemplateError("invalid header name", field=field)
        lower = name.lower()
        if lower == "content-type":
            raise TemplateError("set the content type with 'contentType'", field=field)
        if lower in RESERVED_HEADERS or lower.startswith("proxy-"):
            raise TemplateError(f"header {name!r} is set by the gateway and cannot be templated", field=field)
        if lower in seen:
            raise TemplateError("duplicate header name (names are case-insensitive)", field=field)
        seen.add(lower)
        if not isinstance(value, str):
            raise TemplateError("must be a string", field=field)
        if len(value) > MAX_HEADER_VALUE_BYTES:
            raise TemplateError(f"longer than {MAX_HEADER_VALUE_BYTES} characters", field=field)
        if any(ch in value for ch in "\r\n\0"):
            raise TemplateError("header value must not contain CR, LF or NUL", field=field)
        compiled.append((name, _compile_jinja(value, field)))
    return compiled


def _compile_fields(raw: Any) -> list[tuple[str, Any]]:
    if not isinstance(raw, Mapping) or not raw:
        raise TemplateError("must be a non-empty object of names to JSONPath expressions", field="template.fields")
    if len(raw) > MAX_FIELDS:
        raise TemplateError(f"at most {MAX_FIELDS} fields", field="template.fields")
    compiled: list[tuple[str, Any]] = []
    for key, expr in raw.items():
        field = f"template.fields.{key}"
        if not isinstance(key, str) or not key or len(key) > 200:
            raise TemplateError("field names must be non-empty strings of at most 200 characters", field=field)
        if not isinstance(expr, str):
            raise TemplateError("must be a JSONPath string", field=field)
        path, error = _parse_jsonpath(expr)
        if error is not None:
            raise TemplateError(error, field=field)
        compiled.append((key, path))
    return compiled


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


class CompiledTemplate:
    """A validated, pre-compiled template; :meth:`render` it once per delivery (thread-safe)."""

    __slots__ = (
        "_fields",
        "_headers",
        "_template",
        "content_type",
        "kind",
        "max_output_bytes",
        "max_value_bytes",
        "time_limit",
    )

    def __init__(
        self,
        *,
        kind: str,
        content_type: str,
        template: Template | None = None,
        fields: list[tuple[str, Any]] | None = None,
        headers: list[tuple[str, Template]] | None = None,
        time_limit: float = DEFAULT_TIME_LIMIT,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self.kind = kind
        """``"jinja"`` (body or named template), ``"fields"`` or ``"raw"`` (the envelope as JSON)."""
        self.content_type = content_type
        self._template = template
        self._fields = fields or []
        self._headers = headers or []
        self.time_limit = time_limit
        self.max_output_bytes = max_output_bytes
        self.max_value_bytes = max_value_bytes

    @property
    def header_names(self) -> list[str]:
        """Names of the headers this template sets."""
        return [name for name, _ in self._headers]

    def _with_overrides(self, content_type: str | None, headers: list[tuple[str, Template]]) -> CompiledTemplate:
        merged = {name.lower(): (name, tmpl) for name, tmpl in self._headers}
        merged.update({name.lower(): (name, tmpl) for name, tmpl in headers})
        return CompiledTemplate(
            kind=self.kind,
            content_type=content_type or self.content_type,
            template=self._template,
            fields=self._fields,
            headers=list(merged.values()),
            time_limit=self.time_limit,
            max_output_bytes=self.max_output_bytes,
            max_value_bytes=self.max_value_bytes,
        )

    def render(
        self, context: Mapping[str, Any], *, time_limit: float | None = None, max_output_bytes: int | None = None
    ) -> RenderedBody:
        """Render the body and headers for one event.

        ``context`` is the event envelope's keys plus ``webhook``. Raises only :class:`TemplateError`
        (render errors, exceeded bounds, invalid JSON for a JSON content type).
        """
        limit = self.time_limit if time_limit is None else time_limit
        max_bytes = self.max_output_bytes if max_output_bytes is None else max_output_bytes
        field = {"jinja": "template.body", "fields": "template.fields"}.get(self.kind, "template")
        try:
            variables = dict(context)
            state = _RenderState(time.monotonic() + limit, max(self.max_value_bytes, max_bytes), variables)
            token = _STATE.set(state)
        except Exception as exc:
            raise TemplateError(_truncate(f"invalid render context: {exc}"), field=field) from None
        try:
            body = self._render_body(variables, state, max_bytes)
            headers: dict[str, str] = {}
            for name, header_template in self._headers:
                field = f"template.headers.{name}"
                raw = _render_jinja(header_template, variables, state, MAX_HEADER_VALUE_BYTES)
                value = raw.decode("utf-8").strip()
                if any(ch in value for ch in "\r\n\0"):
                    raise TemplateError("rendered header value contains CR, LF or NUL", field=field)
                headers[name] = value
        except TemplateError:
            raise
        except _LimitExceeded as exc:
            raise TemplateError(exc.reason, field=field, line=_template_line(exc)) from None
        except Exception as exc:
            raise TemplateError(_render_reason(exc), field=field, line=_template_line(exc)) from None
        finally:
            _STATE.reset(token)
        if self.kind == "jinja" and is_json_content_type(self.content_type):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise TemplateError(
                    _truncate(f"rendered body is not valid JSON: {exc}"), field="template.body"
                ) from None
        return RenderedBody(body=body, content_type=self.content_type, headers=headers)

    def _render_body(self, variables: dict[str, Any], state: _RenderState, max_bytes: int) -> bytes:
        if self._template is not None:
            return _render_jinja(self._template, variables, state, max_bytes)
        data: Any
        if self.kind == "fields":
            data = {}
            for key, path in self._fields:
                state.tick()
                values = _find_values(path, variables)
                data[key] = None if not values else values[0] if len(values) == 1 else values
        else:
            data = variables
        body = orjson.dumps(data, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
        if self.kind == "fields" and len(body) > max_bytes:
            raise _LimitExceeded(f"output exceeds {max_bytes} bytes")
        return body


def _render_jinja(template: Template, variables: dict[str, Any], state: _RenderState, max_bytes: int) -> bytes:
    """Render chunk by chunk, checking the deadline and the byte count as output is produced."""
    chunks: list[bytes] = []
    total = 0
    generator = template.generate(variables)
    try:
        for chunk in generator:
            state.tick()
            data = chunk.encode("utf-8")
            total += len(data)
            if total > max_bytes:
                raise _LimitExceeded(f"output exceeds {max_bytes} bytes")
            chunks.append(data)
    finally:
        close = getattr(generator, "close", None)
        if close is not None:
            close()
    return b"".join(chunks)


def _template_line(exc: BaseException) -> int | None:
    """The innermost template line in ``exc``'s traceback (Jinja rewrites frames to template lines)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_reason(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        reason = f"unsafe template operation: {exc}"
    elif isinstance(exc, UndefinedError):
        reason = f"undefined value: {exc}"
    elif isinstance(exc, RecursionError):
        reason = "recursion limit exceeded (macros or data nested too deeply)"
    elif isinstance(exc, MemoryError):
        reason = "out of memory while rendering"
    elif isinstance(exc, JinjaTemplateError):
        reason = str(exc) or type(exc).__name__
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return _truncate(reason)


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive")


def compile_template(
    spec: Mapping[str, Any] | None,
    *,
    default: Mapping[str, Any] | None = None,
    loader: Callable[[str], str] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> CompiledTemplate:
    """Validate and compile a template spec (see the module docstring for the forms).

    ``default`` is used when ``spec`` is ``None`` or ``{}`` (else the raw envelope is sent as JSON);
    ``loader(name)`` returns the Jinja2 source of a named built-in template. The limits become the
    defaults of :meth:`CompiledTemplate.render`. Raises :class:`TemplateError`.
    """
    _positive(time_limit, "time_limit")
    _positive(max_output_bytes, "max_output_bytes")
    _positive(max_value_bytes, "max_value_bytes")
    limits: dict[str, Any] = {
        "time_limit": time_limit,
        "max_output_bytes": max_output_bytes,
        "max_value_bytes": max_value_bytes,
    }

    def build(current: Mapping[str, Any] | None, fallback: Mapping[str, Any] | None) -> CompiledTemplate:
        if current is None or (isinstance(current, Mapping) and not current):
            if fallback:
                return build(fallback, None)
            return CompiledTemplate(kind="raw", content_type=DEFAULT_CONTENT_TYPE, **limits)
        if not isinstance(current, Mapping):
            raise TemplateError("must be an object")
        for key in current:
            if key not in _SPEC_KEYS:
                raise TemplateError(
                    "unknown key; allowed: body, fields, name, contentType, headers", field=f"template.{key}"
                )
        kinds = [key for key in ("body", "fields", "name") if key in current]
        if len(kinds) > 1:
            raise TemplateError("use only one of 'body', 'fields' or 'name'")
        content_type = _validate_content_type(current.get("contentType"))
        headers = _compile_headers(current.get("headers"))
        if not kinds:
            return build(None, fallback)._with_overrides(content_type, headers)
        kind = kinds[0]
        if kind == "fields":
            if content_type is not None and not is_json_content_type(content_type):
                raise TemplateError(
                    "fields templates render JSON: use a JSON media type", field="template.contentType"
                )
            fields = _compile_fields(current["fields"])
            return CompiledTemplate(
                kind="fields",
                content_type=content_type or DEFAULT_CONTENT_TYPE,
                fields=fields,
                headers=headers,
                **limits,
            )
        if kind == "body":
            template = _compile_jinja(current["body"], "template.body")
        else:
            template = _compile_jinja(_load_named(current["name"], loader), "template.name")
        return CompiledTemplate(
            kind="jinja",
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            template=template,
            headers=headers,
            **limits,
        )

    return build(spec, default)


def _load_named(name: Any, loader: Callable[[str], str] | None) -> str:
    if not isinstance(name, str) or not _TEMPLATE_NAME_RE.match(name) or ".." in name:
        raise TemplateError("must be a template name such as 'record'", field="template.name")
    if loader is None:
        raise TemplateError(f"unknown template {name!r} (no built-in templates available)", field="template.name")
    try:
        source = loader(name)
    except (LookupError, OSError, ValueError):
        raise TemplateError(f"unknown template {name!r}", field="template.name") from None
    if not isinstance(source, str):
        raise TemplateError(f"unknown template {name!r}", field="template.name")
    return source
