"""TemplateError, the one exception templating raises, and how render failures become one."""

from __future__ import annotations

from typing import Any, Final

from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaTemplateError

_MAX_REASON_CHARS: Final = 1_000
_TEMPLATE_FILENAME: Final = "<template>"


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


def truncate(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


def template_line(exc: BaseException) -> int | None:
    """The innermost template line in ``exc``'s traceback (Jinja rewrites frames to template lines)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_reason(exc: Exception) -> str:
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
    return truncate(reason)
