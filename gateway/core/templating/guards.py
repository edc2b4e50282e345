"""What every compiled template is rewritten to call: loop, literal, ``~`` and output guards.

:class:`GuardTransformer` runs on the parsed template at compile time, so every ``{% for %}`` iterates
through a deadline-checking wrapper, every list/tuple/dict literal and ``~`` is size-checked and every
output chunk is finalized (and charged) at render time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, cast

from jinja2 import nodes, pass_context
from jinja2.environment import Environment
from jinja2.runtime import Context, Undefined, markup_join, str_join
from jinja2.visitor import NodeTransformer

from gateway.core.templating.limits import require_state

__all__ = ["GuardTransformer", "LoopIterable", "concat_guard", "finalize", "loop_guard", "value_guard"]


class LoopIterable:
    """What every ``{% for %}`` iterates: the source, with a deadline check per item (``None`` is empty)."""

    __slots__ = ("_source",)

    def __init__(self, source: Any) -> None:
        self._source = () if source is None else source

    def __len__(self) -> int:
        return len(self._source)

    def __iter__(self) -> Iterator[Any]:
        state = require_state()
        source = self._source
        iterator = iter(source)
        tick = state.tick
        for item in iterator:
            tick()
            yield item


def loop_guard(source: Any) -> LoopIterable:
    """Compile-time marker: wraps every ``{% for %}`` iterable (dispatched in ``call``)."""
    return LoopIterable(source)


def value_guard(value: Any) -> Any:
    """Compile-time marker: wraps every list / tuple / dict literal."""
    require_state().check_value(value)
    return value


def concat_guard(eval_ctx: nodes.EvalContext, *parts: Any) -> str:
    """Compile-time marker: replaces the ``~`` operator with a size-checked join."""
    state = require_state()
    state.tick()
    total = 0
    for part in parts:
        total += len(part) if isinstance(part, str) else state.size_of(part)
    state.require(total)
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def _finalize_impl(context: Context, value: Any) -> Any:
    state = require_state()
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
finalize: Final = pass_context(_finalize_impl)


class GuardTransformer(NodeTransformer):
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
