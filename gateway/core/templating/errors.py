"""TemplateError, the one exception templating raises, and how Jinja's syntax and render failures become one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.lexer import TOKEN_EOF, TokenStream
from jinja2.parser import Parser

from gateway.core.templating.sandbox import ENV

__all__ = ["TemplateError", "render_reason", "syntax_error", "template_line", "truncate"]


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


# How Jinja names tokens in its messages, shown as the template writes them.
_TOKEN_NAMES: Final = {
    "end of print statement": "}}",
    "end of statement block": "%}",
    "begin of print statement": "{{",
    "begin of statement block": "{%",
    "end of comment": "#}",
    "begin of comment": "{#",
}


def _normalise_newlines(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _stop_offset(source: str) -> tuple[int, bool] | None:
    """Where Jinja stopped reading ``source`` (offset, whether the lexer stopped) or ``None`` if it parses.

    Jinja reports only the line of a syntax error, so the source is read again through Jinja's own lexer
    and parser while recording where each raw token starts: a lexer error stops just after the last token
    it matched, a parser error at the start of the token it was looking at.
    """
    position = {"start": 0, "end": 0, "lexer": False}

    def recorded() -> Iterator[tuple[int, str, str]]:
        try:
            for lineno, kind, value in ENV.lexer.tokeniter(source, None):
                found = source.find(value, position["end"]) if value else -1
                if found >= 0:
                    position["start"], position["end"] = found, found + len(value)
                yield lineno, kind, value
        except TemplateSyntaxError:
            position["lexer"] = True
            raise

    parser = Parser(ENV, source)
    parser.stream = TokenStream(ENV.lexer.wrap(recorded()), None, None)
    try:
        parser.parse()
    except TemplateSyntaxError:
        # The lexer stops after its last match, the parser at its current token (or after the last, at the end).
        at_end = position["lexer"] or parser.stream.current.type == TOKEN_EOF
        return int(position["end"] if at_end else position["start"]), bool(position["lexer"])
    return None


def syntax_error(source: str, exc: TemplateSyntaxError, field: str) -> TemplateError:
    """``exc`` as a TemplateError with the line Jinja gives and the column where it stopped reading."""
    message = exc.message or str(exc)
    for name, text in _TOKEN_NAMES.items():
        message = message.replace(f"'{name}'", f"'{text}'")
    column = None
    stop = _stop_offset(_normalise_newlines(source))
    if stop is not None and exc.lineno is not None:
        offset, by_lexer = stop
        text = _normalise_newlines(source)
        if text.count("\n", 0, offset) + 1 == exc.lineno:
            column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        if by_lexer:  # the lexer appends the absolute offset, which the line and column replace
            message = message.removesuffix(f" at {offset}")
    return TemplateError(message, field=field, line=exc.lineno, column=column)
