"""Tenant regular expressions on RE2, a linear-time engine: matching time grows with the text, never
exponentially with the pattern, so no pattern can stall the process.

RE2 has no backreferences and no lookaround (the features that need backtracking); patterns that use them are
refused when saved, with the construct named. Linear still has a constant: RE2's slow path costs up to the
compiled program's size per character read, so the program size is bounded here and :meth:`TenantPattern.cost`
lets callers bound the total (see :data:`gateway.core.filters.MAX_REGEX_STEPS`).
"""

from __future__ import annotations

from typing import Any, Final

import re2

__all__ = [
    "MAX_PATTERN_CHARS",
    "MAX_PATTERN_MEMORY",
    "MAX_PROGRAM_SIZE",
    "PatternError",
    "TenantPattern",
    "compile_pattern",
]

MAX_PATTERN_CHARS: Final = 512
"""Longest pattern accepted."""
MAX_PATTERN_MEMORY: Final = 1 << 20
"""RE2's memory budget for one compiled pattern and its match cache (bytes)."""
MAX_PROGRAM_SIZE: Final = 2_000
"""Most instructions a compiled pattern may have (about one per literal character; ``a{1000}`` has about 1000,
``\\pL`` about 1200)."""

_ENGINE: Final = "patterns run on RE2, a linear-time engine without backtracking"
# RE2's message for the constructs it leaves out on purpose, and how we name them.
_UNSUPPORTED: Final = (
    ("invalid perl operator: (?=", "lookahead (?=...)"),
    ("invalid perl operator: (?!", "negative lookahead (?!...)"),
    ("invalid perl operator: (?<=", "lookbehind (?<=...)"),
    ("invalid perl operator: (?<!", "negative lookbehind (?<!...)"),
    ("invalid perl operator: (?P=", "named backreference (?P=name)"),
    ("invalid perl operator: (?P>", "recursion (?P>name)"),
    ("invalid perl operator: (?>", "atomic group (?>...)"),
    ("invalid perl operator: (?#", "comment (?#...)"),
    ("invalid perl operator: (?x", "verbose flag (?x)"),
    ("bad repetition operator: ++", "possessive quantifier ++"),
    ("bad repetition operator: *+", "possessive quantifier *+"),
    ("bad repetition operator: ?+", "possessive quantifier ?+"),
    ("invalid escape sequence: \\Z", "\\Z (write \\z for the end of the text)"),
)
_OPTIONS: Final = re2.Options()
_OPTIONS.max_mem = MAX_PATTERN_MEMORY
_OPTIONS.log_errors = False  # RE2 would print every refused tenant pattern to stderr


class PatternError(ValueError):
    """A pattern that is too long, invalid, or uses a construct RE2 does not run."""


class TenantPattern:
    """A compiled tenant pattern (thread-safe); :meth:`search` strings, :meth:`cost` says what that costs."""

    __slots__ = ("_compiled", "pattern", "program_size")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern: Final = pattern
        self._compiled: Final = compiled
        self.program_size: Final[int] = max(1, int(compiled.programsize))

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text``."""
        return self._compiled.search(text) is not None

    def cost(self, text: str) -> int:
        """An upper bound on the steps :meth:`search` takes on ``text``: characters times program size."""
        return len(text) * self.program_size

    def __repr__(self) -> str:
        return f"TenantPattern({self.pattern!r})"


def _reason(message: str, pattern: str) -> str:
    if message.startswith("invalid perl operator: (?P") and "(?P=" in pattern:
        message = "invalid perl operator: (?P="
    for prefix, construct in _UNSUPPORTED:
        if message.startswith(prefix):
            return f"unsupported regex construct: {construct} ({_ENGINE})"
    if message.startswith("invalid escape sequence: \\") and message[-1:].isdigit():
        return f"unsupported regex construct: backreference {message.rsplit(' ', 1)[-1]} ({_ENGINE})"
    if message.startswith("pattern too large"):
        return f"regex too complex: it compiles to more than RE2's {MAX_PATTERN_MEMORY}-byte budget"
    return f"invalid regex: {message}"


def compile_pattern(pattern: str) -> TenantPattern:
    """Compile a tenant pattern (RE2 syntax); raises :class:`PatternError` naming what is wrong."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"regex longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        message = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise PatternError(_reason(message, pattern)) from None
    except (TypeError, ValueError) as exc:  # e.g. a lone surrogate, which UTF-8 cannot encode
        raise PatternError(f"invalid regex: {exc}") from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise PatternError(
            f"regex too complex: it compiles to {compiled.programsize} instructions, at most {MAX_PROGRAM_SIZE}"
        )
    return TenantPattern(pattern, compiled)
