"""Unit tests for gateway.core.filters."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

import gateway.core.jsonpath as jsonpath_module
from gateway.core.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_REGEX_STEPS,
    CompiledFilter,
    FilterError,
    JsonPath,
    compile_filter,
    compile_jsonpath,
    compile_stored_filter,
)
from gateway.core.jsonpath import MAX_MATCHES, MAX_VISITS
from gateway.core.patterns import compile_pattern

ENVELOPE: dict[str, Any] = {
    "event": "TODO_CREATED",
    "previousValue": None,
    "currentValue": {
        "id": "t1",
        "title": "Fix the login bug",
        "done": False,
        "position": 3.5,
        "count": 1,
        "duedAt": "2024-05-10T12:00:00.000Z",
        "todoList": {"id": "L", "title": "Backlog", "projectId": "p1"},
        "todoTags": [
            {"tag": {"id": "g1", "title": "bug"}},
            {"tag": {"id": "g2", "title": "urgent"}},
            {"tag": {"id": "g3", "title": "backend"}},
        ],
        "users": [],
        "labels": ["a", "b", True],
        "meta": {"x": 1},
    },
    "user": {"id": "u1"},
}

CONTRACT_EXAMPLE: dict[str, Any] = {
    "all": [
        {"path": "$.currentValue.todoList.id", "op": "eq", "value": "L"},
        {"path": "$.currentValue.todoTags[*].tag.title", "op": "eq", "value": "urgent"},
    ]
}


def cond(path: Any, op: str, *value: Any) -> dict[str, Any]:
    """Build a condition; the value is optional (``exists``)."""
    spec: dict[str, Any] = {"path": path, "op": op}
    if value:
        spec["value"] = value[0]
    return spec


def with_current(**changes: Any) -> dict[str, Any]:
    """A copy of ENVELOPE with currentValue keys replaced."""
    envelope = copy.deepcopy(ENVELOPE)
    envelope["currentValue"].update(changes)
    return envelope


# ------------------------------------------------------------------------------------------- every operator

OPERATOR_CASES: list[tuple[str, dict[str, Any], bool]] = [
    # eq
    ("eq string", cond("$.event", "eq", "TODO_CREATED"), True),
    ("eq string differs", cond("$.event", "eq", "TODO_DELETED"), False),
    ("eq number", cond("$.currentValue.position", "eq", 3.5), True),
    ("eq int equals float", cond("$.currentValue.count", "eq", 1.0), True),
    ("eq null", cond("$.previousValue", "eq", None), True),
    ("eq false", cond("$.currentValue.done", "eq", False), True),
    ("eq false is not 0", cond("$.currentValue.done", "eq", 0), False),
    ("eq 1 is not true", cond("$.currentValue.count", "eq", True), False),
    ("eq string is not number", cond("$.currentValue.id", "eq", 1), False),
    ("eq object", cond("$.currentValue.meta", "eq", {"x": 1}), True),
    ("eq object bool-strict", cond("$.currentValue.meta", "eq", {"x": True}), False),
    ("eq list", cond("$.currentValue.labels", "eq", ["a", "b", True]), True),
    ("eq list bool-strict", cond("$.currentValue.labels", "eq", ["a", "b", 1]), False),
    # ne
    ("ne passes", cond("$.event", "ne", "TODO_DELETED"), True),
    ("ne fails", cond("$.event", "ne", "TODO_CREATED"), False),
    ("ne false vs 0", cond("$.currentValue.done", "ne", 0), True),
    ("ne null fails on null", cond("$.previousValue", "ne", None), False),
    ("ne null passes on value", cond("$.currentValue.title", "ne", None), True),
    # in / nin
    ("in passes", cond("$.event", "in", ["TODO_CREATED", "TODO_MOVED"]), True),
    ("in fails", cond("$.event", "in", ["TODO_MOVED"]), False),
    ("in empty list", cond("$.event", "in", []), False),
    ("in bool-strict", cond("$.currentValue.count", "in", [True]), False),
    ("in number", cond("$.currentValue.position", "in", [1, 3.5]), True),
    ("nin passes", cond("$.event", "nin", ["TODO_MOVED"]), True),
    ("nin fails", cond("$.event", "nin", ["TODO_CREATED", "TODO_MOVED"]), False),
    # contains
    ("contains substring", cond("$.currentValue.title", "contains", "login"), True),
    ("contains substring missing", cond("$.currentValue.title", "contains", "logout"), False),
    ("contains substring case-sensitive", cond("$.currentValue.title", "contains", "LOGIN"), False),
    ("contains list member", cond("$.currentValue.labels", "contains", "b"), True),
    ("contains list non-member", cond("$.currentValue.labels", "contains", "c"), False),
    ("contains list bool-strict", cond("$.currentValue.labels", "contains", 1), False),
    (
        "contains list of objects",
        cond("$.currentValue.todoTags", "contains", ENVELOPE["currentValue"]["todoTags"][1]),
        True,
    ),
    ("contains empty list", cond("$.currentValue.users", "contains", "u1"), False),
    ("contains on number fails", cond("$.currentValue.position", "contains", 3.5), False),
    ("contains non-string in string", cond("$.currentValue.title", "contains", 1), False),
    # exists
    ("exists default true", cond("$.currentValue.title", "exists"), True),
    ("exists true", cond("$.currentValue.title", "exists", True), True),
    ("exists true on null value", cond("$.previousValue", "exists", True), True),
    ("exists true missing", cond("$.currentValue.nope", "exists", True), False),
    ("exists false missing", cond("$.currentValue.nope", "exists", False), True),
    ("exists false present", cond("$.currentValue.title", "exists", False), False),
    # gt / gte / lt / lte — numbers
    ("gt number", cond("$.currentValue.position", "gt", 3), True),
    ("gt number equal", cond("$.currentValue.position", "gt", 3.5), False),
    ("gte number equal", cond("$.currentValue.position", "gte", 3.5), True),
    ("gte number", cond("$.currentValue.position", "gte", 4), False),
    ("lt number", cond("$.currentValue.position", "lt", 4), True),
    ("lt number equal", cond("$.currentValue.position", "lt", 3.5), False),
    ("lte number equal", cond("$.currentValue.position", "lte", 3.5), True),
    ("lte number", cond("$.currentValue.position", "lte", 3), False),
    # gt / gte / lt / lte — strings (ISO dates compare lexically)
    ("gt iso date", cond("$.currentValue.duedAt", "gt", "2024-05-01T00:00:00Z"), True),
    ("gt iso date later", cond("$.currentValue.duedAt", "gt", "2024-06-01T00:00:00Z"), False),
    ("gte string", cond("$.currentValue.duedAt", "gte", "2024-05-10T12:00:00.000Z"), True),
    ("lt iso date", cond("$.currentValue.duedAt", "lt", "2025-01-01"), True),
    ("lt iso date earlier", cond("$.currentValue.duedAt", "lt", "2024-01-01"), False),
    ("lte string", cond("$.event", "lte", "TODO_CREATED"), True),
    ("lte string smaller", cond("$.event", "lte", "A"), False),
    # regex
    ("regex search", cond("$.currentValue.title", "regex", r"log(in|out)"), True),
    ("regex anchored", cond("$.event", "regex", r"^TODO_(CREATED|DELETED)$"), True),
    ("regex no match", cond("$.event", "regex", r"^COMMENT_"), False),
    ("regex inline flags", cond("$.currentValue.title", "regex", r"(?i)LOGIN"), True),
    ("regex ignores numbers", cond("$.currentValue.position", "regex", r"3"), False),
    ("regex ignores lists", cond("$.currentValue.labels", "regex", r"a"), False),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in OPERATOR_CASES], ids=[c[0] for c in OPERATOR_CASES])
def test_operators(spec: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec).matches(ENVELOPE) is expected
    # Wrapped in groups the result is the same.
    assert compile_filter({"all": [spec]}).matches(ENVELOPE) is expected
    assert compile_filter({"any": [spec]}).matches(ENVELOPE) is expected


# --------------------------------------------------------------------------------------- multi-match paths

TAGS = "$.currentValue.todoTags[*].tag.title"

MULTI_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("eq one of three tags", cond(TAGS, "eq", "urgent"), True),
    ("eq none of the tags", cond(TAGS, "eq", "frontend"), False),
    ("ne some tag differs", cond(TAGS, "ne", "urgent"), True),
    ("in any tag", cond(TAGS, "in", ["frontend", "backend"]), True),
    ("in no tag", cond(TAGS, "in", ["frontend", "design"]), False),
    ("nin some tag outside list", cond(TAGS, "nin", ["bug", "urgent"]), True),
    ("nin every tag in list", cond(TAGS, "nin", ["bug", "urgent", "backend"]), False),
    ("contains substring of one", cond(TAGS, "contains", "end"), True),
    ("regex one", cond(TAGS, "regex", "^urg"), True),
    ("gt lexical one", cond(TAGS, "gt", "t"), True),
    ("lt lexical none", cond(TAGS, "lt", "a"), False),
    ("exists several", cond(TAGS, "exists"), True),
    ("recursive descent", cond("$..title", "eq", "Backlog"), True),
    ("filter expression", cond("$.currentValue.todoTags[?(@.tag.title == 'urgent')].tag.id", "eq", "g2"), True),
    ("filter expression no match", cond("$.currentValue.todoTags[?(@.tag.title == 'x')]", "exists", False), True),
    ("index", cond("$.currentValue.todoTags[0].tag.title", "eq", "bug"), True),
    ("index other", cond("$.currentValue.todoTags[0].tag.title", "eq", "urgent"), False),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in MULTI_CASES], ids=[c[0] for c in MULTI_CASES])
def test_multi_match(spec: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec).matches(ENVELOPE) is expected


def test_ne_with_all_matches_equal_fails() -> None:
    envelope = with_current(todoTags=[{"tag": {"title": "urgent"}}, {"tag": {"title": "urgent"}}])
    assert compile_filter(cond(TAGS, "ne", "urgent")).matches(envelope) is False
    assert compile_filter(cond(TAGS, "eq", "urgent")).matches(envelope) is True


# ------------------------------------------------------------------------------- missing paths and no match

MISSING = "$.currentValue.assignee.name"
MISSING_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("eq", cond(MISSING, "eq", None), False),
    ("ne", cond(MISSING, "ne", "x"), False),
    ("in", cond(MISSING, "in", [None, "x"]), False),
    ("nin", cond(MISSING, "nin", ["x"]), False),
    ("contains", cond(MISSING, "contains", "x"), False),
    ("gt", cond(MISSING, "gt", 0), False),
    ("gte", cond(MISSING, "gte", ""), False),
    ("lt", cond(MISSING, "lt", 0), False),
    ("lte", cond(MISSING, "lte", "z"), False),
    ("regex", cond(MISSING, "regex", ".*"), False),
    ("exists", cond(MISSING, "exists"), False),
    ("exists false", cond(MISSING, "exists", False), True),
    ("wildcard over empty list", cond("$.currentValue.users[*].id", "ne", "u1"), False),
    ("through null previousValue", cond("$.previousValue.title", "ne", "x"), False),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in MISSING_CASES], ids=[c[0] for c in MISSING_CASES])
def test_missing_path(spec: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec).matches(ENVELOPE) is expected


# ----------------------------------------------------------------------------------------- type mismatches

MISMATCH_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("gt number vs string value", cond("$.currentValue.title", "gt", 1), False),
    ("gt string vs number value", cond("$.currentValue.position", "gt", "1"), False),
    ("lt bool is not a number", cond("$.currentValue.done", "lt", 1), False),
    ("gte bool is not a number", cond("$.currentValue.done", "gte", 0), False),
    ("lte null", cond("$.previousValue", "lte", 5), False),
    ("gt object", cond("$.currentValue.todoList", "gt", "a"), False),
    ("gt list", cond("$.currentValue.labels", "gt", 0), False),
    ("regex on null", cond("$.previousValue", "regex", ".*"), False),
    ("regex on bool", cond("$.currentValue.done", "regex", "False"), False),
    ("contains on object", cond("$.currentValue.todoList", "contains", "id"), False),
    ("contains on null", cond("$.previousValue", "contains", "x"), False),
    ("in with unhashable items", cond("$.currentValue.meta", "in", [{"x": 1}, ["y"]]), True),
    ("nin with unhashable items", cond("$.currentValue.meta", "nin", [{"x": 1}]), False),
    ("eq object vs list", cond("$.currentValue.meta", "eq", ["x"]), False),
    ("eq empty list", cond("$.currentValue.users", "eq", []), True),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in MISMATCH_CASES], ids=[c[0] for c in MISMATCH_CASES])
def test_type_mismatch_never_raises(spec: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec).matches(ENVELOPE) is expected


# Envelopes in which none of the paths above leads anywhere: every condition fails, except the ones that ask
# for absence ({"op": "exists", "value": false}), which pass.
SHAPELESS_ENVELOPES: list[Any] = [
    {},
    {"currentValue": None},
    {"currentValue": "text"},
    {"currentValue": [1, 2, 3]},
    {1: 2, None: "x"},
    [],
    None,
    "string",
    42,
]


def _asks_for_absence(spec: dict[str, Any]) -> bool:
    return spec["op"] == "exists" and spec.get("value") is False


@pytest.mark.parametrize("envelope", SHAPELESS_ENVELOPES, ids=repr)
def test_paths_that_lead_nowhere_fail_every_condition_but_absence(envelope: Any) -> None:
    for name, spec, _ in OPERATOR_CASES + MULTI_CASES:
        assert compile_filter(spec).matches(envelope) is _asks_for_absence(spec), name


@pytest.mark.parametrize(
    ("current", "spec", "expected"),
    [
        ({"todoTags": "notalist", "position": "3.5", "title": 7}, cond("$.currentValue.position", "gt", 3), False),
        (
            {"todoTags": "notalist", "position": "3.5", "title": 7},
            cond("$.currentValue.position", "gt", "3"),
            True,
        ),
        (
            {"todoTags": "notalist", "position": "3.5", "title": 7},
            cond("$.currentValue.title", "contains", "7"),
            False,
        ),
        ({"todoTags": "notalist", "position": "3.5", "title": 7}, cond("$.currentValue.title", "exists"), True),
        ({"todoTags": "notalist", "position": "3.5", "title": 7}, cond(TAGS, "exists"), False),
        ({"todoTags": [None, 1, {"tag": None}, {"tag": {"title": 5}}]}, cond(TAGS, "eq", 5), True),
        ({"todoTags": [None, 1, {"tag": None}, {"tag": {"title": 5}}]}, cond(TAGS, "regex", "5"), False),
        ({"todoTags": [None, 1, {"tag": None}, {"tag": {"title": 5}}]}, cond(TAGS, "ne", 5), False),
    ],
)
def test_odd_shapes_give_the_documented_outcome(current: Any, spec: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec).matches({"currentValue": current}) is expected


def _nested_leaf(depth: int) -> dict[str, Any]:
    deep: Any = "leaf"
    for _ in range(depth):
        deep = {"a": [deep]}
    return {"currentValue": deep}


def test_a_deeply_nested_envelope_is_walked_without_recursion() -> None:
    # 500 levels: '$..a' matches 500 lists and the innermost holds the leaf.
    assert compile_filter(cond("$..a", "contains", "leaf")).matches(_nested_leaf(500)) is True
    # 5000 levels: the innermost list is match number 5000, past the cap of MAX_MATCHES (1000), so it is not seen.
    assert MAX_MATCHES < 5000
    assert compile_filter(cond("$..a", "contains", "leaf")).matches(_nested_leaf(5000)) is False
    assert compile_filter(cond("$..a", "exists")).matches(_nested_leaf(5000)) is True
    # Comparing a 5000-deep object does not crash the filter: it simply does not match.
    assert compile_filter(cond("$.currentValue", "eq", {"a": 1})).matches(_nested_leaf(5000)) is False


# --------------------------------------------------------------------------------------------- all / any


def _nested(expected_inner: bool) -> dict[str, Any]:
    return {
        "all": [
            cond("$.event", "eq", "TODO_CREATED"),
            {
                "any": [
                    cond("$.currentValue.todoList.id", "eq", "OTHER"),
                    {
                        "all": [
                            cond(TAGS, "eq", "urgent"),
                            {
                                "any": [
                                    cond("$.currentValue.done", "eq", True),
                                    cond("$.currentValue.position", "gt", 3 if expected_inner else 10),
                                ]
                            },
                        ]
                    },
                ]
            },
        ]
    }


GROUP_CASES: list[tuple[str, dict[str, Any] | None, bool]] = [
    ("none", None, True),
    ("empty", {}, True),
    ("contract example", CONTRACT_EXAMPLE, True),
    ("all true", {"all": [cond("$.event", "exists"), cond("$.currentValue.id", "eq", "t1")]}, True),
    ("all one false", {"all": [cond("$.event", "exists"), cond("$.currentValue.id", "eq", "t2")]}, False),
    ("any one true", {"any": [cond("$.event", "eq", "X"), cond("$.currentValue.id", "eq", "t1")]}, True),
    ("any all false", {"any": [cond("$.event", "eq", "X"), cond("$.currentValue.id", "eq", "t2")]}, False),
    ("4 levels pass", _nested(True), True),
    ("4 levels fail innermost", _nested(False), False),
    (
        "3 levels any-of-all",
        {
            "any": [
                {"all": [cond("$.event", "eq", "TODO_DELETED"), cond("$.previousValue", "exists")]},
                {"all": [cond("$.event", "eq", "TODO_CREATED"), {"any": [cond(TAGS, "eq", "bug")]}]},
            ]
        },
        True,
    ),
    (
        "3 levels any-of-all none",
        {
            "any": [
                {"all": [cond("$.event", "eq", "TODO_DELETED"), cond("$.previousValue", "exists")]},
                {"all": [cond("$.event", "eq", "TODO_CREATED"), {"any": [cond(TAGS, "eq", "design")]}]},
            ]
        },
        False,
    ),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in GROUP_CASES], ids=[c[0] for c in GROUP_CASES])
def test_groups(spec: dict[str, Any] | None, expected: bool) -> None:
    assert compile_filter(spec).matches(ENVELOPE) is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"todoList": {"id": "M", "projectId": "p1"}}, False),
        ({"todoTags": [{"tag": {"title": "bug"}}]}, False),
        ({"todoTags": []}, False),
        ({"todoTags": None}, False),
    ],
    ids=["matching", "other list", "not urgent", "no tags", "null tags"],
)
def test_contract_example(changes: dict[str, Any], expected: bool) -> None:
    assert compile_filter(CONTRACT_EXAMPLE).matches(with_current(**changes)) is expected


def test_empty_filter_always_passes() -> None:
    for spec in (None, {}):
        compiled = compile_filter(spec)
        assert compiled.always
        assert compiled.matches({}) is True
    assert not compile_filter(CONTRACT_EXAMPLE).always
    assert compile_filter(CONTRACT_EXAMPLE).condition_count == 2


def test_compiled_filter_is_callable_and_reusable() -> None:
    compiled = compile_filter(CONTRACT_EXAMPLE)
    assert isinstance(compiled, CompiledFilter)
    assert compiled(ENVELOPE) is True
    assert compiled.matches(with_current(todoTags=[])) is False
    assert compiled.matches(ENVELOPE) is True


def test_max_depth_and_conditions_are_allowed() -> None:
    spec: dict[str, Any] = {"all": [cond("$.event", "exists")]}
    for _ in range(MAX_DEPTH - 1):
        spec = {"any": [spec]}
    assert compile_filter(spec).matches(ENVELOPE) is True
    many = {"all": [cond("$.event", "exists")] * MAX_CONDITIONS}
    assert compile_filter(many).condition_count == MAX_CONDITIONS


# ---------------------------------------------------------------------------------------- compile errors


def _too_deep() -> dict[str, Any]:
    spec: dict[str, Any] = {"all": [cond("$.event", "exists")]}
    for _ in range(MAX_DEPTH):
        spec = {"any": [spec]}
    return spec


ERROR_CASES: list[tuple[str, Any, str, str]] = [
    # (id, spec, location, substring of reason)
    ("not an object", ["all"], "", "must be an object"),
    (
        "bad path syntax",
        {"all": [cond("$.event", "exists"), cond("$.a[", "eq", 1)]},
        "all[1].path",
        "unexpected end of path",
    ),
    ("bad path lexer", cond('$.a["x', "eq", 1), "path", "invalid JSONPath"),
    (
        "bad filter expression",
        cond("$[?(@.x ==)]", "eq", 1),
        "path",
        "expected a string, number, true, false or null",
    ),
    ("path not string", {"any": [cond(5, "eq", 1)]}, "any[0].path", "must be a JSONPath string"),
    ("empty path", cond("", "eq", 1), "path", "must not be empty"),
    ("missing path", {"all": [{"op": "eq", "value": 1}]}, "all[0].path", "is required"),
    ("missing op", {"all": [{"path": "$.a", "value": 1}]}, "all[0].op", "is required"),
    ("bad op", {"all": [cond("$.a", "equals", 1)]}, "all[0].op", "unknown operator 'equals'"),
    ("op not string", {"all": [{"path": "$.a", "op": ["eq"], "value": 1}]}, "all[0].op", "unknown operator"),
    ("missing value", cond("$.a", "eq"), "value", "is required for 'eq'"),
    ("in without list", {"all": [cond("$.a", "in", "abc")]}, "all[0].value", "'in' needs a list value"),
    ("nin without list", cond("$.a", "nin", {"a": 1}), "value", "'nin' needs a list value"),
    ("bad regex", {"any": [cond("$.a", "regex", "a(b")]}, "any[0].value", "invalid regex: missing )"),
    ("regex not string", cond("$.a", "regex", 5), "value", "'regex' needs a string pattern"),
    ("regex too long", cond("$.a", "regex", "a" * 513), "value", "longer than 512"),
    ("exists not bool", cond("$.a", "exists", "yes"), "value", "optional boolean"),
    ("gt bool", cond("$.a", "gt", True), "value", "'gt' needs a number or string"),
    ("lte list", cond("$.a", "lte", [1]), "value", "'lte' needs a number or string"),
    ("gte null", cond("$.a", "gte", None), "value", "'gte' needs a number or string"),
    ("lt nan", cond("$.a", "lt", float("nan")), "value", "'lt' needs a number or string"),
    (
        "unknown key in condition",
        {"all": [{**cond("$.a", "eq", 1), "vale": 2}]},
        "all[0].vale",
        "unknown key 'vale'",
    ),
    ("unknown key in group", {"all": [cond("$.a", "exists")], "not": {}}, "not", "unknown key 'not'"),
    ("unknown key alone", {"all": [{"none": []}]}, "all[0]", "unknown key 'none'"),
    (
        "both all and any",
        {"any": [{"all": [cond("$.a", "exists")], "any": [cond("$.a", "exists")]}]},
        "any[0]",
        "not both",
    ),
    ("empty group", {"all": []}, "all", "must not be empty"),
    ("nested empty group", {"all": [{"any": []}]}, "all[0].any", "must not be empty"),
    ("group not list", {"any": {"path": "$.a", "op": "exists"}}, "any", "must be a list"),
    ("group item not object", {"all": ["$.a"]}, "all[0]", "must be an object"),
    ("nested empty object", {"all": [{}]}, "all[0]", "empty object"),
    ("too deep", _too_deep(), "any[0]." * MAX_DEPTH + "all", f"deeper than {MAX_DEPTH}"),
    (
        "too many conditions",
        {"any": [cond("$.a", "exists")] * MAX_CONDITIONS + [cond("$.b", "exists")]},
        f"any[{MAX_CONDITIONS}]",
        f"too many conditions (at most {MAX_CONDITIONS})",
    ),
]


@pytest.mark.parametrize(
    ("spec", "location", "reason"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_compile_errors(spec: Any, location: str, reason: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(spec)
    error = info.value
    assert error.location == location
    assert reason in error.reason
    assert isinstance(error, ValueError)
    assert str(error) == (f"{location}: {error.reason}" if location else error.reason)


def test_filter_error_str() -> None:
    error = FilterError("unknown operator 'x'", "all[1].op")
    assert str(error) == "all[1].op: unknown operator 'x'"
    assert error.reason == "unknown operator 'x'"
    assert error.location == "all[1].op"


# ------------------------------------------------------------------------------------------ compile_jsonpath


def test_compile_jsonpath_find_values_and_cache() -> None:
    path = compile_jsonpath(TAGS)
    assert isinstance(path, JsonPath)
    assert path.expr == TAGS
    assert path.find_values(ENVELOPE) == ["bug", "urgent", "backend"]
    assert path.find_values({}) == []
    assert path.find_values(None) == []
    assert compile_jsonpath(TAGS) is path  # cached: parsed once
    assert compile_jsonpath("$.currentValue[?(@.id == 't1')]") is not None


@pytest.mark.parametrize("expr", ["$.a[", "", "$$$", "$.a b"])
def test_compile_jsonpath_errors(expr: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_jsonpath(expr)
    assert info.value.location == "path"
    assert str(info.value).startswith("path: ")


def test_matches_does_not_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compile_filter(CONTRACT_EXAMPLE)

    def fail(_expr: str) -> None:
        raise AssertionError("parse called during matches")

    monkeypatch.setattr(jsonpath_module, "_jsonpath_parse", fail)
    assert compiled.matches(ENVELOPE) is True


# ----------------------------------------------------------------------------------- the bounded language


@pytest.mark.parametrize(
    ("spec", "location", "reason"),
    [
        (cond("$.currentValue.position * 5000 * 1000", "gt", 1), "path", "arithmetic ('*') is not allowed"),
        (cond("$..*..*..*", "exists"), "path", "at most one '..'"),
        (cond("$.currentValue.title.`sub(/(a+)+$/, x)`", "exists"), "path", "functions"),
        (cond("$.currentValue.todoTags[?(@.tag.title =~ 'a')]", "exists"), "path", "regular expressions (=~)"),
        (cond("$.a", "regex", r"(a)\1"), "value", r"unsupported regex construct: backreference \1"),
        (cond("$.a", "regex", r"a(?=b)"), "value", "unsupported regex construct: lookahead (?=...)"),
        (cond("$.a", "regex", r"(?<!a)b"), "value", "unsupported regex construct: negative lookbehind"),
    ],
)
def test_dangerous_constructs_are_refused_when_compiling(spec: dict[str, Any], location: str, reason: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter({"any": [spec]})
    assert info.value.location == f"any[0].{location}"
    assert reason in info.value.reason


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    compiled = compile_filter(cond("$.currentValue.title", "regex", "(a+)+$"))
    start = time.perf_counter()
    assert compiled.matches(with_current(title="a" * 40 + "!")) is False
    assert compiled.matches(with_current(title="a" * 40)) is True
    assert time.perf_counter() - start < 1  # backtracking would need about 2^40 steps


def _many_items(count: int) -> dict[str, Any]:
    return {"event": "X", "currentValue": {"items": [{"i": i} for i in range(count)]}}


def test_conditions_share_one_visit_budget_and_running_out_fails_closed() -> None:
    absent = cond("$..missing", "exists", False)  # walks the whole envelope
    small, large = _many_items(100), _many_items(MAX_VISITS // 3)  # large: two thirds of the budget per walk
    assert compile_filter(absent).matches(small) is True
    assert compile_filter(absent).matches(large) is True
    assert compile_filter({"all": [absent, absent]}).matches(small) is True
    assert compile_filter({"all": [absent, absent]}).matches(large) is False


def test_regexes_share_one_step_budget_and_running_out_fails_closed() -> None:
    pattern = "[ab]{900}"
    steps_per_string = 1_000 * compile_pattern(pattern).program_size
    fitting = MAX_REGEX_STEPS // steps_per_string
    spec = cond("$.currentValue.texts[*]", "regex", pattern)
    within = with_current(texts=["c" * 1_000] * (fitting - 1) + ["ab" * 500])
    beyond = with_current(texts=["c" * 1_000] * fitting + ["ab" * 500])
    assert compile_filter(spec).matches(within) is True
    assert compile_filter(spec).matches(beyond) is False  # the matching string is past the budget


def test_a_stored_filter_that_no_longer_compiles_matches_nothing(caplog: pytest.LogCaptureFixture) -> None:
    stored = compile_stored_filter({"all": [cond("$.a", "regex", r"(x)\1")]})
    assert not stored.always
    assert stored.matches(ENVELOPE) is False
    assert "no longer compiles" in caplog.text
    assert compile_stored_filter(CONTRACT_EXAMPLE).matches(ENVELOPE) is True
