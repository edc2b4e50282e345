"""Unit tests for gateway.core.patterns: tenant regexes on RE2, refused constructs and bounded searches."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.patterns import (
    MAX_PATTERN_CHARS,
    MAX_PROGRAM_SIZE,
    PatternError,
    compile_pattern,
)


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(a)\1", r"backreference \1"),
        (r"(?P<x>a)(?P=x)", "named backreference (?P=name)"),
        (r"a(?=b)", "lookahead (?=...)"),
        (r"a(?!b)", "negative lookahead (?!...)"),
        (r"(?<=a)b", "lookbehind (?<=...)"),
        (r"(?<!a)b", "negative lookbehind (?<!...)"),
        (r"(?>a+)b", "atomic group (?>...)"),
        (r"a++", "possessive quantifier ++"),
        (r"a\Z", r"\Z (write \z for the end of the text)"),
    ],
)
def test_constructs_that_need_backtracking_are_refused_by_name(pattern: str, construct: str) -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert str(info.value) == (
        f"unsupported regex construct: {construct} "
        "(patterns run on RE2, a linear-time engine without backtracking)"
    )


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("a(b", "invalid regex: missing ): a(b"),
        ("x" * (MAX_PATTERN_CHARS + 1), f"regex longer than {MAX_PATTERN_CHARS} characters"),
        ("[ab]{1000}c[ab]{1000}c", f"at most {MAX_PROGRAM_SIZE}"),
        (r"\pL{2}", f"at most {MAX_PROGRAM_SIZE}"),
        ("((a{100}){100}){100}", "invalid regex: invalid repetition size"),
        (r"\pL{1000}", "regex too complex: it compiles to more than RE2's 1048576-byte budget"),
    ],
)
def test_invalid_or_oversized_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=re.escape(reason)):
        compile_pattern(pattern)


def test_the_usual_syntax_works() -> None:
    assert compile_pattern(r"(?i)^TODO_(CREATED|DELETED)$").search("todo_created")
    assert compile_pattern(r"\bbug\b").search("a bug here")
    assert not compile_pattern(r"\bbug\b").search("debugging")
    assert compile_pattern(r"(?P<year>\d{4})-\d{2}").search("due 2026-03")
    assert compile_pattern(r"\p{Greek}").search("λ")
    assert compile_pattern("é+").search("café")


def test_catastrophic_patterns_run_in_linear_time() -> None:
    # With backtracking, (a+)+$ against 26 a's and a '!' takes about 2^26 steps (seconds); RE2 takes microseconds.
    start = time.perf_counter()
    for pattern in (r"(a+)+$", r"^(a|a)*$", r"^(a|aa)+$", r"^(.*a){12}$"):
        assert compile_pattern(pattern).search("a" * 26 + "!") is False
        assert compile_pattern(pattern).search("a" * 100_000 + "!") is False
    assert time.perf_counter() - start < 2  # ~1 ms when idle


def test_the_cost_of_a_search_is_its_text_times_the_program() -> None:
    small, large = compile_pattern("urgent"), compile_pattern("[ab]{900}")
    assert 5 < small.program_size < 20 < 900 < large.program_size <= MAX_PROGRAM_SIZE
    assert small.cost("x" * 10) == 10 * small.program_size
    assert large.cost("x" * 10) == 10 * large.program_size


@given(st.text(alphabet="ab(|)*+?.", max_size=12), st.text(alphabet="ab", max_size=30))
def test_where_both_engines_accept_a_pattern_they_agree(pattern: str, text: str) -> None:
    try:
        expected = re.search(pattern, text) is not None
        compiled = compile_pattern(pattern)
    except (re.error, PatternError):
        return
    assert compiled.search(text) is expected
