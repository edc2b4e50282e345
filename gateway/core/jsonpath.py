"""JSONPath parsing, once per expression, shared by filters and templates (parsing costs ~0.5 ms)."""

from __future__ import annotations

import functools
from typing import Any, Final

from jsonpath_ng.ext.parser import parse as _jsonpath_parse

__all__ = ["MAX_JSONPATH_CHARS", "parse_jsonpath"]

MAX_JSONPATH_CHARS: Final = 1_000


@functools.lru_cache(maxsize=4096)
def parse_jsonpath(expr: str) -> tuple[Any, str | None]:
    """``(compiled, None)`` or ``(None, reason)``; failures are cached too.

    Regular expressions inside a path (``=~``) are refused: they would run user-supplied patterns on
    every event with no bound. Filters have the ``regex`` op for that, with a bounded pattern.
    """
    if len(expr) > MAX_JSONPATH_CHARS:
        return None, f"JSONPath longer than {MAX_JSONPATH_CHARS} characters"
    if not expr.strip():
        return None, "empty JSONPath"
    if "=~" in expr:
        return None, "regular expressions inside a JSONPath (=~) are not allowed; use the filter op 'regex'"
    try:
        return _jsonpath_parse(expr), None
    except Exception as exc:  # JsonPathParserError, JsonPathLexerError, RecursionError, ...
        message = str(exc).strip() or type(exc).__name__
        return None, f"invalid JSONPath {expr!r}: {message}"
