"""The JSONPath parser: a small hand-written recursive descent over the grammar in
:mod:`gateway.core.jsonpath_syntax`, linear in the length of the path, naming every refused construct."""

from __future__ import annotations

import json
import re
from typing import Final

from gateway.core.jsonpath_syntax import (
    COMPARISONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_TERMS,
    MAX_UNION,
    AllOf,
    AnyOf,
    Comparison,
    Exists,
    Filter,
    Index,
    JsonPathSyntaxError,
    Literal,
    Name,
    Segment,
    Selector,
    Slice,
    Test,
    Wildcard,
)

__all__ = ["parse_segments"]

_NAME_RE: Final = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\-\u0080-\U0010ffff]*")
_INT_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?![0-9.eE])")
_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,16})?(?:[eE][+-]?[0-9]{1,3})?")
_ESCAPE_RE: Final = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')
_KEYWORDS: Final[dict[str, Literal]] = {"true": True, "false": False, "null": None}
_ARITHMETIC: Final = "+-*/%"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.descendants = 0
        self.terms = 0

    # -- low level

    def fail(self, reason: str, position: int | None = None) -> JsonPathSyntaxError:
        return JsonPathSyntaxError(reason, self.pos if position is None else position)

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expect(self, token: str, what: str) -> None:
        self.spaces()
        if not self.take(token):
            raise self.unexpected(what)

    def unexpected(self, expected: str) -> JsonPathSyntaxError:
        if self.pos >= len(self.text):
            return self.fail(f"unexpected end of path, expected {expected}")
        char = self.text[self.pos]
        if char in _ARITHMETIC or self.peek("=~") or char == "`":
            return self.refused()
        if char == "|" and not self.peek("||"):
            return self.fail("path unions ('|') are not allowed")
        if char == "^":
            return self.fail("parent ('^') is not allowed")
        match = _NAME_RE.match(self.text, self.pos)
        if match and self.text.startswith("(", match.end()):
            return self.fail(f"functions ({match.group()}(...)) are not allowed")
        return self.fail(f"unexpected {char!r}, expected {expected}")

    def refused(self) -> JsonPathSyntaxError:
        char = self.text[self.pos]
        if self.peek("=~"):
            return self.fail("regular expressions (=~) are not allowed; use the filter op 'regex'")
        if char == "`":
            return self.fail("functions (`len`, `sub(...)`, `sorted` ...) are not allowed")
        return self.fail(f"arithmetic ({char!r}) is not allowed")

    # -- paths

    def path(self) -> tuple[Segment, ...]:
        self.spaces()
        if not self.take("$"):
            raise self.unexpected("'$' at the start of the path")
        segments: list[Segment] = []
        while True:
            self.spaces()
            if self.pos >= len(self.text):
                return tuple(segments)
            segments.append(self.segment())

    def segment(self) -> Segment:
        start = self.pos
        if self.take(".."):
            self.descendants += 1
            if self.descendants > 1:
                raise self.fail("at most one '..' (descendant) segment is allowed per JSONPath", start)
            if self.take("["):
                return Segment(self.selectors(), descendant=True)
            return Segment((self.dotted(),), descendant=True)
        if self.take("."):
            return Segment((self.dotted(),))
        if self.take("["):
            return Segment(self.selectors())
        raise self.unexpected("'.', '..' or '['")

    def dotted(self) -> Selector:
        if self.take("*"):
            return Wildcard()
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            return Name(self.quoted())
        return Name(self.name())

    def name(self) -> str:
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            raise self.unexpected("a name")
        self.pos = match.end()
        if self.peek("("):
            raise self.fail(f"functions ({match.group()}(...)) are not allowed", match.start())
        return match.group()

    def quoted(self) -> str:
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                escape = self.text[self.pos : self.pos + 2]
                if escape in ("\\'", '\\"'):
                    chars.append(escape[1])
                    self.pos += 2
                    continue
                match = _ESCAPE_RE.match(self.text, self.pos)
                if match is None:
                    raise self.fail("invalid escape in a quoted name")
                chars.append(json.loads(f'"{match.group()}"'))
                self.pos = match.end()
                continue
            chars.append(char)
            self.pos += 1
        raise self.fail("unterminated quoted string", start)

    def integer(self) -> int | None:
        match = _INT_RE.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return int(match.group())

    def selectors(self) -> tuple[Selector, ...]:
        self.spaces()
        if self.take("*"):
            self.expect("]", "']'")
            return (Wildcard(),)
        if self.take("?"):
            self.spaces()
            test = self.test(0)
            self.expect("]", "']' after the filter")
            return (Filter(test),)
        first = self.integer()
        self.spaces()
        if self.peek(":"):
            return (self.slice(first),)
        keys: list[Name | Index] = []
        while True:
            if first is not None:
                keys.append(Index(first))
                first = None
            else:
                keys.append(self.key())
            if len(keys) > MAX_UNION:
                raise self.fail(f"at most {MAX_UNION} names or indexes in one bracket")
            self.spaces()
            if self.take("]"):
                return tuple(keys)
            if not self.take(","):
                raise self.unexpected("',' or ']'")
            self.spaces()

    def key(self) -> Name | Index:
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            return Name(self.quoted())
        index = self.integer()
        if index is None:
            raise self.unexpected("a quoted name or an integer index")
        return Index(index)

    def slice(self, start: int | None) -> Slice:
        bounds: list[int | None] = [start]
        while len(bounds) < 3 and self.take(":"):
            self.spaces()
            bounds.append(self.integer())
            self.spaces()
        self.expect("]", "']' after the slice")
        bounds += [None] * (3 - len(bounds))
        if bounds[2] == 0:
            raise self.fail("a slice step must not be 0")
        return Slice(bounds[0], bounds[1], bounds[2])

    # -- filters

    def test(self, depth: int) -> Test:
        if depth > MAX_FILTER_DEPTH:
            raise self.fail(f"filters nest at most {MAX_FILTER_DEPTH} parentheses deep")
        options = [self.conjunction(depth)]
        while True:
            self.spaces()
            if not self.take("||"):
                return options[0] if len(options) == 1 else AnyOf(tuple(options))
            options.append(self.conjunction(depth))

    def conjunction(self, depth: int) -> Test:
        parts = [self.unary(depth)]
        while True:
            self.spaces()
            if not self.take("&&"):
                return parts[0] if len(parts) == 1 else AllOf(tuple(parts))
            parts.append(self.unary(depth))

    def unary(self, depth: int) -> Test:
        self.spaces()
        if self.take("("):
            inner = self.test(depth + 1)
            self.expect(")", "')'")
            return inner
        if self.take("!"):
            self.spaces()
            return Exists(self.query(), negated=True)
        query = self.query()
        self.spaces()
        op = next((candidate for candidate in COMPARISONS if self.peek(candidate)), None)
        if op is None:
            if self.peek("=~") or (self.pos < len(self.text) and self.text[self.pos] in _ARITHMETIC):
                raise self.refused()
            return Exists(query)
        self.pos += len(op)
        self.spaces()
        return Comparison(query, op, self.literal())

    def query(self) -> tuple[Name | Index, ...]:
        if not self.take("@"):
            raise self.unexpected("a relative query such as '@.name'")
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise self.fail(f"at most {MAX_FILTER_TERMS} queries in one filter")
        steps: list[Name | Index] = []
        while True:
            if self.peek(".."):
                raise self.fail("'..' is not allowed inside a filter")
            if self.take("."):
                if self.peek("*"):
                    raise self.fail("wildcards are not allowed inside a filter")
                steps.append(Name(self.name()))
            elif self.take("["):
                self.spaces()
                if self.peek("*") or self.peek("?"):
                    raise self.fail("wildcards and nested filters are not allowed inside a filter")
                steps.append(self.key())
                self.expect("]", "']'")
            else:
                return tuple(steps)

    def literal(self) -> Literal:
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            return self.quoted()
        match = _NUMBER_RE.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            text = match.group()
            return int(text) if text.lstrip("-").isdigit() else float(text)
        word = _NAME_RE.match(self.text, self.pos)
        if word is not None and word.group() in _KEYWORDS:
            self.pos = word.end()
            return _KEYWORDS[word.group()]
        if word is not None and not self.text.startswith("(", word.end()):
            raise self.fail(f"quote string literals: '{word.group()}'")
        raise self.unexpected("a string, number, true, false or null")


def parse_segments(text: str) -> tuple[Segment, ...]:
    """Parse ``text`` into its segments; raises :class:`JsonPathSyntaxError` naming what is not allowed."""
    return _Parser(text).path()
