"""Unit tests for gateway.core.jsonpath: the bounded JSONPath language, what it refuses and its cost bounds."""

from __future__ import annotations

import contextlib
import functools
import json
import time
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonpath_ng.ext import parse as reference_parse

from gateway.core.jsonpath import (
    MAX_JSONPATH_CHARS,
    MAX_MATCHES,
    MAX_VISITS,
    Budget,
    JsonPathLimitError,
    parse_jsonpath,
)
from gateway.core.jsonpath_parser import parse_segments
from gateway.core.jsonpath_syntax import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_TERMS,
    MAX_UNION,
    AllOf,
    AnyOf,
    Comparison,
    Exists,
    Filter,
    Index,
    Name,
    Segment,
    Slice,
    Test,
    Wildcard,
)

DOC: dict[str, Any] = {
    "event": "TODO_CREATED",
    "currentValue": {
        "title": "Ship it",
        "todoList": {"id": "L", "title": "Backlog"},
        "todoTags": [{"tag": {"title": "urgent", "n": 2}}, {"tag": {"title": "sales"}}, {"tag": None}],
        "users": [{"fullName": "Ada"}, {"fullName": "Grace"}],
        "done": False,
        "weird key": 1,
    },
}


def find(expr: str, data: Any = DOC) -> list[Any]:
    compiled, error = parse_jsonpath(expr)
    assert compiled is not None, error
    return compiled.find(data)


def refusal(expr: str) -> str:
    compiled, error = parse_jsonpath(expr)
    assert compiled is None, f"{expr!r} was accepted"
    assert error is not None
    return error


# ------------------------------------------------------------------------------------------ what is allowed

ALLOWED: list[tuple[str, list[Any]]] = [
    ("$", [DOC]),
    ("$.event", ["TODO_CREATED"]),
    ("$.currentValue.todoList.title", ["Backlog"]),
    ("$['currentValue']['todoList'][\"id\"]", ["L"]),
    ("$.currentValue['weird key']", [1]),
    ("$.currentValue.'weird key'", [1]),
    ("$.currentValue.todoTags[0].tag.title", ["urgent"]),
    ("$.currentValue.todoTags[-1].tag", [None]),
    ("$.currentValue.todoTags[*].tag.title", ["urgent", "sales"]),
    ("$.currentValue.todoTags.*.tag.title", ["urgent", "sales"]),
    ("$.currentValue.todoList.*", ["L", "Backlog"]),
    ("$.currentValue.users[0,1].fullName", ["Ada", "Grace"]),
    ("$.currentValue.todoList['id','title']", ["L", "Backlog"]),
    ("$.currentValue.todoTags[1:].tag.title", ["sales"]),
    ("$.currentValue.users[::-1].fullName", ["Grace", "Ada"]),
    ("$..title", ["Ship it", "Backlog", "urgent", "sales"]),
    ("$.currentValue..fullName", ["Ada", "Grace"]),
    ("$..[0].fullName", ["Ada"]),
    ("$.currentValue.todoTags[?(@.tag.title == 'urgent')].tag.n", [2]),
    ("$.currentValue.todoTags[?@.tag.title != 'urgent'].tag", [{"title": "sales"}, None]),
    ("$.currentValue.todoTags[?(@.tag.n)].tag.title", ["urgent"]),
    ("$.currentValue.todoTags[?(!@.tag.n)].tag.title", ["sales"]),
    ('$.currentValue.todoTags[?(@.tag.n >= 2 && @.tag.title == "urgent")].tag.n', [2]),
    ("$.currentValue.todoTags[?(@.tag == null || @.tag.title < 't')].tag", [{"title": "sales"}, None]),
    ("$.currentValue.todoTags[?(@['tag']['title'] == 'sales')].tag.title", ["sales"]),
    ("$.currentValue[?(@ == false)]", [False]),
    ("$.nothing", []),
    ("$.currentValue.title[0]", []),
    ("$.currentValue.todoTags[7]", []),
]


@pytest.mark.parametrize(("expr", "expected"), ALLOWED, ids=[case[0] for case in ALLOWED])
def test_allowed_paths_find_what_the_docs_say(expr: str, expected: list[Any]) -> None:
    assert find(expr) == expected


# ------------------------------------------------------------------------------------------ what is refused

REFUSED: list[tuple[str, str]] = [
    ("$.a * 5000 * 1000", "arithmetic ('*') is not allowed"),
    ("$.a + 1", "arithmetic ('+') is not allowed"),
    ("$.a[?(@.x - 1 > 2)]", "arithmetic ('-') is not allowed"),
    ("$.a.`sub(/(a+)+$/, x)`", "functions"),
    ("$.a.`len`", "functions"),
    ("$.a.`sorted`", "functions"),
    ("$.a.split(',', 0, -1)", "functions (split(...)) are not allowed"),
    ("$.a[?(length(@.b) > 1)]", "functions (length(...)) are not allowed"),
    ("$.a[?(@.b =~ '(a+)+$')]", "regular expressions (=~) are not allowed"),
    ("$..*..*..*", "at most one '..'"),
    ("$..a..b", "at most one '..'"),
    ("$.a | $.b", "path unions ('|') are not allowed"),
    ("$.a.^", "parent ('^') is not allowed"),
    ("$.a[?(@.b == urgent)]", "quote string literals"),
    ("$.a[?(@..b)]", "'..' is not allowed inside a filter"),
    ("$.a[?(@.* == 1)]", "wildcards are not allowed inside a filter"),
    ("$.a[?(@.b[?(@.c)])]", "nested filters are not allowed"),
    ("$.a[" + ",".join(str(i) for i in range(MAX_UNION + 1)) + "]", f"at most {MAX_UNION} names or indexes"),
    ("$.a[?(" + " && ".join(["@.b"] * (MAX_FILTER_TERMS + 1)) + ")]", f"at most {MAX_FILTER_TERMS} queries"),
    ("$.a[?" + "(" * (MAX_FILTER_DEPTH + 1) + "@.b" + ")" * (MAX_FILTER_DEPTH + 1) + "]", "nest at most"),
    ("$.a[::0]", "slice step must not be 0"),
    ("a.b", "expected '$' at the start"),
    ("$.a b", "unexpected 'b'"),
    ("$.a[", "unexpected end of path"),
    ('$.a["x', "unterminated quoted string"),
    ("$" + ".a" * (MAX_JSONPATH_CHARS // 2), f"longer than {MAX_JSONPATH_CHARS}"),
    ("  ", "empty JSONPath"),
]


@pytest.mark.parametrize(("expr", "reason"), REFUSED, ids=[case[0][:40] for case in REFUSED])
def test_refused_paths_name_the_construct(expr: str, reason: str) -> None:
    assert reason in refusal(expr)


def test_a_refusal_says_where() -> None:
    assert (
        refusal("$.a * 5000") == "invalid JSONPath '$.a * 5000': arithmetic ('*') is not allowed (at character 5)"
    )


# --------------------------------------------------------------------------------------------------- bounds


def test_matches_are_capped_in_document_order() -> None:
    data = {"items": list(range(5 * MAX_MATCHES))}
    assert find("$.items[*]", data) == list(range(MAX_MATCHES))
    assert find("$..*", data)[:2] == [data["items"], 0]
    assert len(find("$..*", data)) == MAX_MATCHES


@functools.cache
def _wide(count: int) -> dict[str, Any]:
    return {"items": [{"id": i, "tags": [{"t": "x"}]} for i in range(count)]}


def test_a_walk_past_the_visit_budget_stops_with_an_error() -> None:
    compiled, _ = parse_jsonpath("$..nothing")
    assert compiled is not None
    assert compiled.find(_wide(100)) == []
    with pytest.raises(JsonPathLimitError, match=f"after visiting {MAX_VISITS} values"):
        compiled.find(_wide(MAX_VISITS))


def test_a_shared_budget_counts_every_path_it_is_given_to() -> None:
    compiled, _ = parse_jsonpath("$.items[*].id")
    assert compiled is not None
    budget = Budget()
    assert len(compiled.find(_wide(10), budget)) == 10
    assert budget.left == MAX_VISITS - 1 - 1 - 10  # the root, the list, then each item
    with pytest.raises(JsonPathLimitError):
        Budget(5).spend(6)


def test_duplicating_unions_cannot_multiply_the_work() -> None:
    # Each step would multiply the matches by 8 (8^6 = 262144); the visit budget stops it instead.
    compiled, _ = parse_jsonpath("$" + "[0,0,0,0,0,0,0,0]" * 6)
    assert compiled is not None
    nested: Any = "x"
    for _ in range(6):
        nested = [nested]
    assert len(compiled.find(nested)) == MAX_MATCHES
    with pytest.raises(JsonPathLimitError):
        parse_jsonpath("$" + "[0,0,0,0,0,0,0,0]" * 6 + ".nothing")[0].find(nested)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "expr", ["$..*", "$..nothing", "$..[?(@.id == 3)]", "$.items[*].tags[*].t", "$.items[0:]"]
)
def test_hostile_paths_on_a_large_document_are_cheap(expr: str) -> None:
    data = _wide(MAX_VISITS)  # about 400,000 values, four times the visit budget
    compiled, _ = parse_jsonpath(expr)
    assert compiled is not None
    budget = Budget()
    start = time.perf_counter()
    with contextlib.suppress(JsonPathLimitError):
        compiled.find(data, budget)
    assert budget.left >= -1  # the work done is bounded by the budget, whatever the document
    assert time.perf_counter() - start < 5  # generous for a busy machine: ~0.05 s when idle


def test_cycles_and_odd_containers_do_not_hang() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(JsonPathLimitError):
        find("$..nothing", cyclic)
    assert find("$[0][1]", ((1, 2),)) == [2]


# ------------------------------------------------------------------------- properties: printer and reference

NAMES = st.sampled_from(["a", "b", "a", "b", "k-k", "null", "t_1"])
INDEXES = st.integers(min_value=-3, max_value=3)
LITERALS = st.one_of(
    st.sampled_from(["x", "y", "it's"]), st.integers(-3, 3), st.sampled_from([1.5, True, False, None])
)
QUERIES = st.lists(st.one_of(NAMES.map(Name), INDEXES.map(Index)), max_size=3).map(tuple)


def _tests(depth: int) -> st.SearchStrategy[Test]:
    leaf: st.SearchStrategy[Test] = st.one_of(
        st.builds(Exists, QUERIES, st.booleans()),
        st.builds(Comparison, QUERIES, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), LITERALS),
    )
    if depth == 0:
        return leaf
    inner = _tests(depth - 1)
    return st.one_of(
        leaf,
        st.lists(inner, min_size=2, max_size=2).map(lambda parts: AllOf(tuple(parts))),
        st.lists(inner, min_size=2, max_size=2).map(lambda parts: AnyOf(tuple(parts))),
    )


SELECTORS = st.one_of(
    NAMES.map(lambda name: (Name(name),)),
    st.just((Wildcard(),)),
    INDEXES.map(lambda index: (Index(index),)),
    st.lists(NAMES.map(Name), min_size=2, max_size=3).map(tuple),
    st.lists(INDEXES.map(Index), min_size=2, max_size=3).map(tuple),
    st.builds(
        Slice,
        st.none() | INDEXES,
        st.none() | INDEXES,
        st.none() | st.integers(1, 3) | st.integers(-3, -1),
    ).map(lambda item: (item,)),
    _tests(1).map(lambda test: (Filter(test),)),
)


@st.composite
def paths(draw: st.DrawFn) -> tuple[Segment, ...]:
    segments = [Segment(selectors) for selectors in draw(st.lists(SELECTORS, min_size=1, max_size=4))]
    if segments and draw(st.booleans()):
        where = draw(st.integers(0, len(segments) - 1))
        segments[where] = Segment(segments[where].selectors, descendant=True)
    return tuple(segments)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    return json.dumps(value)


def _key(key: Name | Index) -> str:
    return _literal(key.name) if isinstance(key, Name) else str(key.index)


def _query(query: tuple[Name | Index, ...]) -> str:
    return "@" + "".join(f".{step.name}" if isinstance(step, Name) else f"[{step.index}]" for step in query)


def _test(test: Test) -> str:
    if isinstance(test, Exists):
        return ("!" if test.negated else "") + _query(test.query)
    if isinstance(test, Comparison):
        return f"{_query(test.query)} {test.op} {_literal(test.literal)}"
    joiner = " && " if isinstance(test, AllOf) else " || "
    return "(" + joiner.join(_test(part) for part in test.tests) + ")"


def _bound(value: int | None) -> str:
    return "" if value is None else str(value)


def _selectors(selectors: tuple[Any, ...]) -> str:
    first = selectors[0]
    if isinstance(first, Wildcard):
        return "[*]"
    if isinstance(first, Slice):
        return f"[{_bound(first.start)}:{_bound(first.stop)}:{_bound(first.step)}]"
    if isinstance(first, Filter):
        return f"[?({_test(first.test)})]"
    return "[" + ",".join(_key(key) for key in selectors) + "]"


def to_text(segments: tuple[Segment, ...]) -> str:
    """Print a syntax tree the way a user would write it."""
    return "$" + "".join(
        (".." if segment.descendant else "") + _selectors(segment.selectors) for segment in segments
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["x", "y", "it's", ""]),
    lambda children: (
        st.lists(children, min_size=1, max_size=4)
        | st.fixed_dictionaries({"a": children}, optional={"b": children, "null": children, "k-k": children})
    ),
    max_leaves=30,
)
DOCUMENTS = st.fixed_dictionaries({"a": JSON, "b": JSON}, optional={"k-k": JSON})


@given(paths())
def test_parsing_a_printed_path_gives_the_same_tree(segments: tuple[Segment, ...]) -> None:
    assert parse_segments(to_text(segments)) == segments


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(paths(), DOCUMENTS)
def test_evaluation_agrees_with_jsonpath_ng_on_the_allowed_language(
    segments: tuple[Segment, ...], data: Any
) -> None:
    text = to_text(segments)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [match.value for match in reference_parse(text).find(data)]
    assert find(text, data) == expected[:MAX_MATCHES]
