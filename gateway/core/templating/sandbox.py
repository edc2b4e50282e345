"""The one sandboxed Jinja2 environment: method allow-lists, attribute rules and bounded formatters.

An immutable :class:`~jinja2.sandbox.SandboxedEnvironment` without a loader. ``_``-prefixed attributes
of non-mappings are refused at render time, only an allow-list of methods of ``str``/``list``/``dict``/...
may be called, and every call, operator and attribute access ticks the render deadline.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.runtime import ChainableUndefined, Context, LoopContext, Undefined
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    safe_range,
)
from jinja2.tests import TESTS as DEFAULT_TESTS
from markupsafe import Markup

from gateway.core.templating.filters import (
    REMOVED_FILTERS,
    date_filter,
    datetime_filter,
    guard_filter,
    guard_test,
    join_filter,
    jsonpath_first_global,
    jsonpath_global,
    sum_filter,
    tojson_filter,
)
from gateway.core.templating.guards import (
    LoopIterable,
    concat_guard,
    finalize,
    loop_guard,
    value_guard,
)
from gateway.core.templating.limits import (
    DICT_VIEWS,
    FILTER_PRECHECKS,
    MAX_INT_BITS,
    RENDER_STATE,
    LimitExceeded,
    RenderState,
    check_format_spec,
    check_mul,
    check_percent_format,
    check_pow,
    require_state,
)

__all__ = ["ENV", "is_dunder"]

# Methods of builtin data types a template may call. Everything else on these types (to_bytes, fromkeys,
# translate, expandtabs, ...) is refused, including the methods that can amplify a string (center, ljust,
# rjust, zfill, replace, join): the center, replace and join filters do the same under a size check.
_STR_METHODS: Final = frozenset(
    {
        "capitalize", "casefold", "count", "decode", "encode", "endswith", "find", "hex", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
        "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
        "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
        "striptags", "swapcase", "title", "unescape", "upper",
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
    (DICT_VIEWS, frozenset({"isdisjoint"})),
)

_METHOD_TYPES: Final = (types.BuiltinMethodType, types.MethodType, types.MethodWrapperType)


def _check_callable(obj: Any) -> None:
    """Refuse calls outside the allow-list (functions, macros and loop helpers are Jinja's or the gateway's)."""
    if isinstance(obj, (types.FunctionType, LoopContext, Undefined)) or obj is dict:
        return
    if type(obj).__module__ == "jinja2.runtime":  # Macro, BlockReference, ...
        return
    if not isinstance(obj, _METHOD_TYPES):
        raise SecurityError(f"calling a {type(obj).__name__!r} object is not allowed in templates")
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "?")
    if isinstance(owner, LoopContext) or type(owner).__module__ == "jinja2.runtime":
        return
    for kinds, allowed in _METHOD_ALLOW:
        if isinstance(owner, kinds) and name in allowed:
            return
    raise SecurityError(f"calling {type(owner).__name__}.{name}() is not allowed in templates")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` for templates: sandboxed field lookup, bounded widths and total size."""

    def __init__(self, env: Environment, state: RenderState, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._state = state
        self._used = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(self._state, format_spec)
        out = super().format_field(value, format_spec)
        self._used += len(out)
        self._state.require(self._used)
        return out


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    """:class:`_BoundedFormatter` for ``Markup.format``."""


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class _GatewayEnvironment(ImmutableSandboxedEnvironment):
    """The one sandboxed environment every template is compiled against."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    blue_gw_loop: Callable[[Any], LoopIterable]
    blue_gw_value: Callable[[Any], Any]
    blue_gw_concat: Callable[..., str]

    def __init__(self) -> None:
        super().__init__(  # bodies are JSON/text for machines, not HTML: no autoescape
            autoescape=False,
            undefined=ChainableUndefined,
            finalize=finalize,
            optimized=False,  # no constant folding: nothing is evaluated at compile time
            extensions=["jinja2.ext.loopcontrols"],
            cache_size=0,
            auto_reload=False,
        )
        self.blue_gw_loop = loop_guard
        self.blue_gw_value = value_guard
        self.blue_gw_concat = concat_guard
        self.globals.clear()
        self.globals.update(
            {
                "range": safe_range,
                "dict": dict,
                "jsonpath": jsonpath_global,
                "jsonpath_first": jsonpath_first_global,
            }
        )
        filters: dict[str, Callable[..., Any]] = {}
        for name, func in DEFAULT_FILTERS.items():
            if name not in REMOVED_FILTERS:
                filters[name] = func
        filters.update(
            {
                "tojson": tojson_filter,
                "join": join_filter,
                "sum": sum_filter,
                "date": date_filter,
                "datetime": datetime_filter,
            }
        )
        self.filters.clear()
        for name, func in filters.items():
            self.filters[name] = guard_filter(func, FILTER_PRECHECKS.get(name))
        self.tests.clear()
        for name, func in DEFAULT_TESTS.items():
            self.tests[name] = guard_test(cast(Callable[..., Any], func))

    # -- attribute access ------------------------------------------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Sandboxed ``obj.attribute``; ``_``-prefixed names only as keys of plain mappings."""
        state = RENDER_STATE.get()
        if state is not None:
            state.tick()
        if attribute.startswith("_"):
            return self._underscore_lookup(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Sandboxed ``obj[argument]``; ``_``-prefixed string keys only on plain mappings."""
        state = RENDER_STATE.get()
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
        if is_dunder(name) or (not isinstance(obj, Undefined) and hasattr(obj, name)):
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
            state = require_state()
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
        if obj is loop_guard:
            return LoopIterable(args[0])
        if obj is value_guard:
            return value_guard(args[0])
        if obj is concat_guard:
            return concat_guard(context.eval_ctx, *args)
        state = require_state()
        state.tick()
        if not self.is_safe_callable(obj):
            raise SecurityError(f"a {type(obj).__name__!r} object is not safely callable")
        _check_callable(obj)
        if isinstance(obj, LoopContext) and args:
            args = (LoopIterable(args[0]), *args[1:])
        result = context.call(obj, *args, **kwargs)
        state.check_value(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Every arithmetic operator: deadline, pre-checked sizes / magnitudes, checked result."""
        state = require_state()
        state.tick()
        if operator == "*":
            check_mul(state, left, right)
        elif operator == "**":
            check_pow(left, right)
        elif operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
                state.require(state.size_of(left) + state.size_of(right))
        elif operator == "%" and isinstance(left, str):
            check_percent_format(state, left, right)
        result = self.binop_table[operator](left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"integer too large (more than {MAX_INT_BITS} bits)")
        state.check_value(result)
        return result


ENV: Final = _GatewayEnvironment()
