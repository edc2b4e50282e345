"""What a connector holds in place of an isolated template while its (synchronous) ``render`` runs.

The connector contract is synchronous and pure, so the render process cannot be awaited from inside it.
The stand-in answers ``render(context)`` from renders already made for an equal context; otherwise it
notes the context and raises :class:`RenderLater`, and :meth:`RenderPool.call` renders what was asked
for and calls the connector again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

from gateway.core.templating.errors import TemplateError
from gateway.core.templating.rendering import CompiledTemplate, RenderedBody

__all__ = ["RenderLater", "StandIn", "call_with_stand_in"]

T = TypeVar("T")
_MAX_PASSES: Final = 4


class RenderLater(Exception):
    """Raised by :meth:`StandIn.render` for a context that has not been rendered yet."""


class StandIn:
    """Quacks like the :class:`CompiledTemplate` it stands for; renders come from :meth:`answer`."""

    def __init__(self, template: CompiledTemplate) -> None:
        self.kind = template.kind
        self.content_type = template.content_type
        self.header_names = template.header_names
        self.wanted: list[Mapping[str, Any]] = []
        self._answers: list[tuple[Mapping[str, Any], RenderedBody | TemplateError]] = []

    def answer(self, context: Mapping[str, Any], result: RenderedBody | TemplateError) -> None:
        """Record the render (or its error) made for ``context``."""
        self._answers.append((context, result))

    def render(self, context: Mapping[str, Any]) -> RenderedBody:
        """The render made for an equal context, else note ``context`` and raise :class:`RenderLater`."""
        for seen, result in self._answers:
            if seen == context:
                if isinstance(result, TemplateError):
                    raise result
                return result
        self.wanted.append(dict(context))
        raise RenderLater


async def call_with_stand_in(
    template: CompiledTemplate,
    use: Callable[[StandIn], T],
    render: Callable[[Mapping[str, Any]], Awaitable[RenderedBody]],
) -> T:
    """``use(stand_in)``, rendering what it asks for with ``render`` and calling it again, until it asks
    for nothing new (at most a few passes; a connector's ``render`` is pure, so calling it twice is safe)."""
    stand_in = StandIn(template)
    for _ in range(_MAX_PASSES):
        try:
            result = use(stand_in)
        except RenderLater:
            pass
        else:
            if not stand_in.wanted:
                return result
        wanted, stand_in.wanted = stand_in.wanted, []
        for context in wanted:
            try:
                stand_in.answer(context, await render(context))
            except TemplateError as exc:
                stand_in.answer(context, exc)
    raise TemplateError("the connector asked for a different render on every pass")
