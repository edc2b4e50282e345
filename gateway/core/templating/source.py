"""One Jinja2 source to a guarded, compiled Template: parse, refuse what the sandbox never allows,
rewrite through the guards, and report syntax errors with a line and a best-effort column."""

from __future__ import annotations

import re
from typing import Any, Final, NoReturn

from jinja2 import Template, nodes
from jinja2.exceptions import TemplateSyntaxError

from gateway.core.templating.errors import TemplateError, _truncate
from gateway.core.templating.guards import _GuardTransformer
from gateway.core.templating.jsonpath import _parse_jsonpath
from gateway.core.templating.limits import MAX_SOURCE_CHARS
from gateway.core.templating.sandbox import _ENV, _is_dunder

_SYNTAX_TOKEN_ALIASES: Final = {
    "end of print statement": "}}",
    "end of statement block": "%}",
    "begin of print statement": "{{",
    "begin of statement block": "{%",
    "end of comment": "#}",
    "begin of comment": "{#",
}


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
