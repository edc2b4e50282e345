"""JSONPath for templates: a parse cache shared by compilation and rendering, and the ``jsonpath`` /
``jsonpath_first`` globals (over the whole envelope by default)."""

from __future__ import annotations

from typing import Any, Final

from jinja2.runtime import Undefined

from gateway.core.jsonpath import parse_jsonpath
from gateway.core.templating.limits import _require_state

_ROOT: Final = object()


_parse_jsonpath = parse_jsonpath


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
