"""JSONPath for templates: a parse cache shared by compilation and rendering, and the ``jsonpath`` /
``jsonpath_first`` globals (over the whole envelope by default). All the paths of one render share one
visit budget (:data:`~gateway.core.jsonpath.MAX_VISITS`)."""

from __future__ import annotations

import contextvars
from typing import Any, Final

from jinja2.runtime import Undefined

from gateway.core.jsonpath import Budget, CompiledJsonPath, parse_jsonpath
from gateway.core.templating.limits import _STATE, _require_state

_ROOT: Final = object()


_parse_jsonpath = parse_jsonpath


# Keyed by the render's identity and deadline rather than holding the state, so no event outlives its render.
_BUDGET: contextvars.ContextVar[tuple[int, float, Budget] | None] = contextvars.ContextVar(
    "blue_gateway_jsonpath_budget", default=None
)


def _compiled_jsonpath(expr: Any) -> CompiledJsonPath:
    if not isinstance(expr, str):
        raise TypeError(f"JSONPath must be a string, not {type(expr).__name__}")
    compiled, error = _parse_jsonpath(expr)
    if compiled is None:
        raise ValueError(error)
    return compiled


def _render_budget() -> Budget | None:
    """The visit budget of the current render (created on first use), or None outside a render."""
    state = _STATE.get()
    if state is None:
        return None
    current = _BUDGET.get()
    if current is None or current[0] != id(state) or current[1] != state.deadline:
        current = (id(state), state.deadline, Budget())
        _BUDGET.set(current)
    return current[2]


def _find_values(compiled: CompiledJsonPath, data: Any) -> list[Any]:
    return compiled.find(data, _render_budget())


def _jsonpath(expr: str, data: Any = _ROOT) -> list[Any]:
    """``jsonpath(expr[, data])``: every match of ``expr`` over ``data`` (default: the whole envelope)."""
    state = _require_state()
    target = state.root if data is _ROOT else (None if isinstance(data, Undefined) else data)
    return _find_values(_compiled_jsonpath(expr), target)


def _jsonpath_first(expr: str, data: Any = _ROOT) -> Any:
    """``jsonpath_first(expr[, data])``: the first match of ``expr``, or ``None``."""
    values = _jsonpath(expr, data)
    return values[0] if values else None
