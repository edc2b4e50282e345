"""Webhook record filters: compile a filter spec once, evaluate it cheaply per event.

A filter spec is a JSON object::

    {"all": [node, ...]}            every child must pass
    {"any": [node, ...]}            at least one child must pass
    {"path": "$.x", "op": "eq", "value": ...}   a condition

Groups nest (at most :data:`MAX_DEPTH` levels, at most :data:`MAX_CONDITIONS` conditions in all) and the
top level may be a group or a bare condition. ``None`` or ``{}`` is the empty filter, which always passes.

All validation and JSONPath parsing happens in :func:`compile_filter`, which raises :class:`FilterError`
naming the offending place in the spec (e.g. ``all[1].path``). :meth:`CompiledFilter.matches` only runs
the pre-parsed paths and never raises.

Evaluation semantics
--------------------
* **Multi-match.** A path may match several values (``$.currentValue.todoTags[*].tag.title``). A condition
  passes when *any* matched value passes the operator. This also holds for the negative operators: ``ne``
  passes when some matched value differs from ``value`` and ``nin`` passes when some matched value is not
  in the list. To say "no matched value equals X", test for the absence of a JSONPath filter match instead:
  ``{"path": "$.currentValue.todoTags[?(@.tag.title == 'X')]", "op": "exists", "value": false}``.
* **No match.** A path that matches nothing fails every operator — including ``ne`` and ``nin`` — except
  ``exists`` with ``value: false``, which passes exactly when nothing matches. So ``ne`` really means
  "present and different", and ``{"op": "ne", "value": null}`` means "present and not null".
* **exists** (``value`` optional, default ``true``) tests whether the path matches at all. A key whose
  value is JSON ``null`` *exists* (MongoDB semantics); combine with ``ne null`` to require a value.
* **eq / ne / in / nin** compare with ``==`` except that booleans only ever equal booleans (``true`` is
  never ``1``), recursively inside lists and objects. ``1 == 1.0`` holds.
* **contains**: a matched string passes when ``value`` is a string and a substring of it; a matched list
  passes when it has an element equal (as for ``eq``) to ``value``. Any other matched type fails.
* **gt / gte / lt / lte** compare numbers with numbers (``bool`` is not a number) and strings with strings
  (lexically, so RFC 3339 / ISO 8601 timestamps in the same format and zone order correctly). Mismatched
  types fail.
* **regex**: an RE2 search (:mod:`gateway.core.patterns`) in matched strings only, which runs in linear time;
  patterns that need backtracking (backreferences, lookaround) are refused when compiled.

Evaluation is bounded: the paths of one evaluation share a budget of
:data:`~gateway.core.jsonpath.MAX_VISITS` visited values and the regex searches one of
:data:`MAX_REGEX_STEPS` steps. An evaluation that runs out does not match (it fails closed).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from gateway.core.jsonpath import Budget, CompiledJsonPath, parse_jsonpath
from gateway.core.patterns import MAX_PATTERN_CHARS, PatternError, TenantPattern, compile_pattern

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_REGEX_LENGTH",
    "MAX_REGEX_STEPS",
    "OPERATORS",
    "CompiledFilter",
    "FilterError",
    "JsonPath",
    "compile_filter",
    "compile_jsonpath",
    "compile_stored_filter",
]

MAX_DEPTH: Final = 8
"""Maximum nesting depth of groups (the top-level group is depth 1)."""
MAX_CONDITIONS: Final = 64
"""Maximum number of conditions in one filter."""
MAX_REGEX_LENGTH: Final = MAX_PATTERN_CHARS
"""Maximum length of a ``regex`` pattern."""
MAX_REGEX_STEPS: Final = 8_000_000
"""Regex work one evaluation may do, counted as characters searched times the pattern's compiled size
(a pattern of 2,000 instructions, the most allowed, can search 4,000 characters; one of 25, 320,000)."""
OPERATORS: Final = frozenset({"eq", "ne", "in", "nin", "contains", "exists", "gt", "gte", "lt", "lte", "regex"})
"""The condition operators understood by :func:`compile_filter`."""

_GROUP_KEYS: Final = ("all", "any")
log = logging.getLogger("gateway")
_CONDITION_KEYS: Final = frozenset({"path", "op", "value"})


class FilterError(ValueError):
    """An invalid filter spec or JSONPath expression.

    ``location`` points inside the filter spec (``all[1].path``; ``""`` is the spec itself) and ``reason``
    says what is wrong. ``str()`` gives ``"<location>: <reason>"`` (just the reason when the location is
    empty).
    """

    def __init__(self, reason: str, location: str = "") -> None:
        self.reason = reason
        self.location = location
        super().__init__(f"{location}: {reason}" if location else reason)

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason


class JsonPath:
    """A parsed JSONPath expression in the gateway's bounded dialect (:mod:`gateway.core.jsonpath_syntax`).

    Obtain one through :func:`compile_jsonpath`, which caches parses. Instances are immutable and safe to
    share between threads and tasks.
    """

    __slots__ = ("_parsed", "expr")

    def __init__(self, expr: str, parsed: CompiledJsonPath) -> None:
        self.expr: Final[str] = expr
        self._parsed: Final = parsed

    def find_values(self, data: Any, budget: Budget | None = None) -> list[Any]:
        """Every value the expression matches in ``data``, in document order (at most
        :data:`~gateway.core.jsonpath.MAX_MATCHES`).

        Raises :class:`~gateway.core.jsonpath.JsonPathLimitError` once ``budget`` is spent, nothing else.
        """
        return self._parsed.find(data, budget)

    def __repr__(self) -> str:
        return f"JsonPath({self.expr!r})"


@functools.lru_cache(maxsize=4096)
def compile_jsonpath(expr: str) -> JsonPath:
    """Parse a JSONPath expression once (cached) into a :class:`JsonPath`.

    Raises :class:`FilterError` with location ``"path"`` and the parser's message when ``expr`` is not a
    string, is empty or does not parse.
    """
    if not isinstance(expr, str):
        raise FilterError("must be a JSONPath string", "path")
    if not expr.strip():
        raise FilterError("must not be empty", "path")
    parsed, error = parse_jsonpath(expr)
    if parsed is None:
        raise FilterError(error or "invalid JSONPath", "path")
    return JsonPath(expr, parsed)


# --------------------------------------------------------------------------------------------- evaluation


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strict_eq(left: Any, right: Any) -> bool:
    """``left == right``, except that a bool only equals a bool, recursively through lists and objects."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, list | tuple):
        return (
            isinstance(right, list | tuple)
            and len(left) == len(right)
            and all(_strict_eq(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, Mapping):
        return (
            isinstance(right, Mapping)
            and left.keys() == right.keys()
            and all(_strict_eq(left[key], right[key]) for key in left)
        )
    if isinstance(right, list | tuple | Mapping):
        return False
    return bool(left == right)


def _in_list(item: Any, values: Sequence[Any]) -> bool:
    return any(_strict_eq(item, candidate) for candidate in values)


class _Evaluation:
    """The budgets of one evaluation of a filter against one event."""

    __slots__ = ("regex_left", "visits")

    def __init__(self) -> None:
        self.visits = Budget()
        self.regex_left = MAX_REGEX_STEPS

    def search(self, pattern: TenantPattern, text: str) -> bool:
        self.regex_left -= pattern.cost(text)
        if self.regex_left < 0:
            raise _OutOfBudget
        return pattern.search(text)


class _OutOfBudget(Exception):
    """The regex budget of an evaluation is spent."""


_Predicate = Callable[[Any, _Evaluation], bool]


def _make_predicate(op: str, value: Any) -> _Predicate:
    """Build the per-matched-value test for ``op`` (``exists`` is handled by the caller)."""
    if op == "eq":
        return lambda item, _: _strict_eq(item, value)
    if op == "ne":
        return lambda item, _: not _strict_eq(item, value)
    if op == "in":
        return lambda item, _: _in_list(item, value)
    if op == "nin":
        return lambda item, _: not _in_list(item, value)
    if op == "contains":

        def contains(item: Any, _: _Evaluation) -> bool:
            if isinstance(item, str):
                return isinstance(value, str) and value in item
            if isinstance(item, list | tuple):
                return _in_list(value, item)
            return False

        return contains
    if op == "regex":
        pattern: TenantPattern = value
        return lambda item, evaluation: isinstance(item, str) and evaluation.search(pattern, item)
    if op in ("gt", "gte", "lt", "lte"):
        compare: Callable[[Any, Any], bool] = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }[op]
        if isinstance(value, str):
            return lambda item, _: isinstance(item, str) and compare(item, value)
        return lambda item, _: _is_number(item) and compare(item, value)
    raise AssertionError(f"unhandled operator {op!r}")  # pragma: no cover - guarded by validation


class _Node:
    """A compiled filter node."""

    __slots__ = ()

    def evaluate(self, envelope: Any, evaluation: _Evaluation) -> bool:  # pragma: no cover - abstract
        """Return whether ``envelope`` passes this node."""
        raise NotImplementedError


class _Condition(_Node):
    __slots__ = ("exists", "op", "path", "predicate")

    def __init__(self, path: JsonPath, op: str, predicate: _Predicate | None, exists: bool = True) -> None:
        self.path = path
        self.op = op
        self.predicate = predicate
        self.exists = exists

    def evaluate(self, envelope: Any, evaluation: _Evaluation) -> bool:
        values = self.path.find_values(envelope, evaluation.visits)
        if self.predicate is None:  # exists
            return bool(values) is self.exists
        predicate = self.predicate
        return any(predicate(item, evaluation) for item in values)


class _Group(_Node):
    __slots__ = ("children", "mode")

    def __init__(self, mode: str, children: tuple[_Node, ...]) -> None:
        self.mode = mode
        self.children = children

    def evaluate(self, envelope: Any, evaluation: _Evaluation) -> bool:
        if self.mode == "all":
            return all(child.evaluate(envelope, evaluation) for child in self.children)
        return any(child.evaluate(envelope, evaluation) for child in self.children)


class CompiledFilter:
    """A validated, pre-parsed filter. Build it with :func:`compile_filter`."""

    __slots__ = ("_root", "condition_count")

    def __init__(self, root: _Node | None, condition_count: int = 0) -> None:
        self._root = root
        self.condition_count = condition_count

    @property
    def always(self) -> bool:
        """True for the empty filter, which passes every event."""
        return self._root is None

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        """Return whether the event ``envelope`` passes the filter. Never raises: errors, and running out of
        the evaluation's budget, count as no match."""
        if self._root is None:
            return True
        try:
            return self._root.evaluate(envelope, _Evaluation())
        except Exception:
            return False

    def __call__(self, envelope: Mapping[str, Any]) -> bool:
        """Alias of :meth:`matches`."""
        return self.matches(envelope)

    def __repr__(self) -> str:
        return f"CompiledFilter(conditions={self.condition_count})"


# ---------------------------------------------------------------------------------------------- compiling


def _join(location: str, child: str) -> str:
    if not location:
        return child
    return f"{location}{child}" if child.startswith("[") else f"{location}.{child}"


class _Compiler:
    def __init__(self) -> None:
        self.conditions = 0

    def node(self, spec: Any, location: str, depth: int) -> _Node:
        if not isinstance(spec, Mapping):
            raise FilterError("must be an object (a group with 'all'/'any' or a condition)", location)
        group_keys = [key for key in _GROUP_KEYS if key in spec]
        if len(group_keys) == 2:
            raise FilterError("a group takes either 'all' or 'any', not both", location)
        if group_keys:
            return self.group(spec, group_keys[0], location, depth + 1)
        if "path" in spec or "op" in spec:
            return self.condition(spec, location)
        if not spec:
            raise FilterError("empty object: expected a group ('all'/'any') or a condition", location)
        unknown = sorted(map(str, spec))
        raise FilterError(f"unknown key {unknown[0]!r}: expected 'all', 'any' or 'path'/'op'/'value'", location)

    def group(self, spec: Mapping[Any, Any], mode: str, location: str, depth: int) -> _Group:
        for key in spec:
            if key != mode:
                raise FilterError(f"unknown key {key!r} in an '{mode}' group", _join(location, str(key)))
        here = _join(location, mode)
        if depth > MAX_DEPTH:
            raise FilterError(f"filter nests deeper than {MAX_DEPTH} levels", here)
        items = spec[mode]
        if not isinstance(items, list | tuple):
            raise FilterError("must be a list of conditions or groups", here)
        if not items:
            raise FilterError("must not be empty", here)
        children = tuple(self.node(item, f"{here}[{index}]", depth) for index, item in enumerate(items))
        return _Group(mode, children)

    def condition(self, spec: Mapping[Any, Any], location: str) -> _Condition:
        for key in spec:
            if key not in _CONDITION_KEYS:
                raise FilterError(f"unknown key {key!r} in a condition", _join(location, str(key)))
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(f"too many conditions (at most {MAX_CONDITIONS})", location)

        if "path" not in spec:
            raise FilterError("is required", _join(location, "path"))
        raw_path = spec["path"]
        if not isinstance(raw_path, str):
            raise FilterError("must be a JSONPath string", _join(location, "path"))
        try:
            path = compile_jsonpath(raw_path)
        except FilterError as exc:
            raise FilterError(exc.reason, _join(location, "path")) from None

        op_location = _join(location, "op")
        if "op" not in spec:
            raise FilterError("is required", op_location)
        op = spec["op"]
        if not isinstance(op, str) or op not in OPERATORS:
            raise FilterError(
                f"unknown operator {op!r}; expected one of {', '.join(sorted(OPERATORS))}", op_location
            )

        value_location = _join(location, "value")
        if op == "exists":
            expected = spec.get("value", True)
            if not isinstance(expected, bool):
                raise FilterError("'exists' takes an optional boolean value", value_location)
            return _Condition(path, op, None, expected)

        if "value" not in spec:
            raise FilterError(f"is required for '{op}'", value_location)
        value = spec["value"]
        if op in ("in", "nin"):
            if not isinstance(value, list | tuple):
                raise FilterError(f"'{op}' needs a list value", value_location)
            value = tuple(value)
        elif op in ("gt", "gte", "lt", "lte"):
            if not (isinstance(value, str) or _is_number(value)) or (
                isinstance(value, float) and math.isnan(value)
            ):
                raise FilterError(f"'{op}' needs a number or string value", value_location)
        elif op == "regex":
            if not isinstance(value, str):
                raise FilterError("'regex' needs a string pattern", value_location)
            try:
                value = compile_pattern(value)
            except PatternError as exc:
                raise FilterError(str(exc), value_location) from None
        return _Condition(path, op, _make_predicate(op, value))


def compile_filter(spec: Mapping[str, Any] | None) -> CompiledFilter:
    """Validate and compile a filter spec (see the module docstring for the grammar and semantics).

    ``None`` and ``{}`` give a filter that always passes. Raises :class:`FilterError` on any problem, with
    ``location`` pointing into the spec (``all[1].path``, ``any[0].all[2].value``, ``op``, ...).
    """
    if spec is None:
        return CompiledFilter(None)
    if not isinstance(spec, Mapping):
        raise FilterError("filter must be an object or null")
    if not spec:
        return CompiledFilter(None)
    compiler = _Compiler()
    root = compiler.node(spec, "", 0)
    return CompiledFilter(root, compiler.conditions)


class _MatchNothing:
    """The stand-in for a stored filter that no longer compiles: it fails closed."""

    always = False

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        """Never matches."""
        return False


def compile_stored_filter(spec: Mapping[str, Any] | None) -> CompiledFilter | _MatchNothing:
    """:func:`compile_filter` for a filter read back from the database.

    A filter saved before the expression language was narrowed (a regex with a backreference, a JSONPath
    with arithmetic ...) must not stop the other webhooks from loading: it is logged and matches nothing,
    until the webhook is saved again with a filter that compiles.
    """
    try:
        return compile_filter(spec)
    except FilterError as exc:
        log.warning("stored webhook filter no longer compiles and matches nothing: %s", exc)
        return _MatchNothing()
