"""What templates call: the filters (``tojson``, ``date``/``datetime``, size-checked ``join``/``sum``), the
``jsonpath`` / ``jsonpath_first`` globals, and the wrappers that put every filter and test under the
deadline and the value budget. All the JSONPath lookups of one render share one visit budget
(:data:`~gateway.core.jsonpath.MAX_VISITS`)."""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import re
import types
from collections.abc import Callable
from typing import Any, Final, cast

import orjson
from jinja2 import nodes, pass_environment, pass_eval_context
from jinja2.environment import Environment
from jinja2.filters import do_join, make_attrgetter
from jinja2.runtime import Undefined
from markupsafe import Markup

from gateway.core.jsonpath import Budget, CompiledJsonPath, parse_jsonpath
from gateway.core.templating.limits import DICT_VIEWS, RENDER_STATE, require_state

__all__ = [
    "REMOVED_FILTERS",
    "date_filter",
    "datetime_filter",
    "find_values",
    "guard_filter",
    "guard_test",
    "join_filter",
    "json_default",
    "jsonpath_first_global",
    "jsonpath_global",
    "sum_filter",
    "tojson_filter",
]

_MAX_DATE_FORMAT_CHARS: Final = 256
_STRFTIME_WIDTH_RE: Final = re.compile(r"%[-_0^#]*\d")
REMOVED_FILTERS: Final = frozenset({"pprint", "urlize"})


def json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        return None
    if isinstance(value, type({}.items())):
        return [list(pair) for pair in cast(Any, value)]
    if isinstance(value, (set, frozenset, range, types.GeneratorType, *DICT_VIEWS)):
        return list(cast(Any, value))
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def tojson_filter(value: Any, indent: Any = None) -> Markup:
    """``tojson`` filter: compact JSON via orjson (``indent`` truthy → 2-space indent); not HTML-escaped."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    # Marked safe on purpose: JSON is not HTML, and an {% autoescape %} block must not mangle it.
    return Markup(orjson.dumps(value, default=json_default, option=option).decode("utf-8"))  # noqa: S704


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


def date_filter(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """``date`` filter: format an RFC 3339 string / epoch number (``""`` for null or missing)."""
    moment = _to_datetime(value)
    return "" if moment is None else _strftime(moment, fmt)


def datetime_filter(value: Any, fmt: str | None = None) -> str:
    """``datetime`` filter: RFC 3339 (``Z`` for UTC) by default, else ``strftime(fmt)``."""
    moment = _to_datetime(value)
    if moment is None:
        return ""
    if fmt is not None:
        return _strftime(moment, fmt)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def guard_filter(func: Callable[..., Any], pre: Callable[..., None] | None = None) -> Callable[..., Any]:
    """Wrap a filter: deadline check, optional argument pre-check, size check of the result."""
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        state = require_state()
        state.tick()
        if pre is not None:
            pre(state, *args[skip:], **kwargs)
        result = func(*args, **kwargs)
        state.check_value(result)
        return result

    return guarded


def guard_test(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        require_state().tick()
        return func(*args, **kwargs)

    return guarded


@pass_eval_context
def join_filter(eval_ctx: nodes.EvalContext, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    """``join`` filter with the result size checked before joining."""
    state = require_state()
    items = list(value)
    size = len(str(d)) * max(len(items) - 1, 0) + sum(state.size_of(item) for item in items)
    state.require(size)
    joined: str = do_join(eval_ctx, items, d, attribute)
    return joined


@pass_environment
def sum_filter(environment: Environment, iterable: Any, attribute: str | int | None = None, start: Any = 0) -> Any:
    """``sum`` filter; list/tuple sums are linear and size-checked (the builtin is quadratic)."""
    state = require_state()
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


_ROOT: Final = object()


# Keyed by the render's identity and deadline rather than holding the state, so no event outlives its render.
_BUDGET: contextvars.ContextVar[tuple[int, float, Budget] | None] = contextvars.ContextVar(
    "blue_gateway_jsonpath_budget", default=None
)


def _compiled_jsonpath(expr: Any) -> CompiledJsonPath:
    if not isinstance(expr, str):
        raise TypeError(f"JSONPath must be a string, not {type(expr).__name__}")
    compiled, error = parse_jsonpath(expr)
    if compiled is None:
        raise ValueError(error)
    return compiled


def _render_budget() -> Budget | None:
    """The visit budget of the current render (created on first use), or None outside a render."""
    state = RENDER_STATE.get()
    if state is None:
        return None
    current = _BUDGET.get()
    if current is None or current[0] != id(state) or current[1] != state.deadline:
        current = (id(state), state.deadline, Budget())
        _BUDGET.set(current)
    return current[2]


def find_values(compiled: CompiledJsonPath, data: Any) -> list[Any]:
    return compiled.find(data, _render_budget())


def jsonpath_global(expr: str, data: Any = _ROOT) -> list[Any]:
    """``jsonpath(expr[, data])``: every match of ``expr`` over ``data`` (default: the whole envelope)."""
    state = require_state()
    target = state.root if data is _ROOT else (None if isinstance(data, Undefined) else data)
    return find_values(_compiled_jsonpath(expr), target)


def jsonpath_first_global(expr: str, data: Any = _ROOT) -> Any:
    """``jsonpath_first(expr[, data])``: the first match of ``expr``, or ``None``."""
    values = jsonpath_global(expr, data)
    return values[0] if values else None
