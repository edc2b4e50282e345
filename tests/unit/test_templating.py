"""Unit tests for gateway.core.templating: specs, helpers, sandbox and bounds."""

from __future__ import annotations

import os
import threading
from typing import Any

import orjson
import pytest

import gateway.core.jsonpath as jsonpath_module
from gateway.core.templating import (
    DEFAULT_MAX_OUTPUT_BYTES,
    CompiledTemplate,
    RenderedBody,
    TemplateError,
    compile_template,
    is_json_content_type,
)

ENVELOPE: dict[str, Any] = {
    "event": "TODO_CREATED",
    "previousValue": None,
    "currentValue": {
        "id": "t1",
        "title": "Fix the login bug",
        "startedAt": "2024-05-10T12:34:56.000Z",
        "todoList": {"id": "L", "title": "Backlog", "projectId": "p1"},
        "todoTags": [{"tag": {"title": "urgent"}}, {"tag": {"title": "backend"}}],
        "__typename": "Todo",
    },
    "user": {"id": "u1"},
    "company": {"id": "c1"},
    "project": {"id": "p1"},
}
WEBHOOK: dict[str, Any] = {"id": "w1", "name": "New todos to Zapier", "url": "https://example.com/hook"}
CONTEXT: dict[str, Any] = {**ENVELOPE, "webhook": WEBHOOK}


def render(body: str, context: dict[str, Any] | None = None, **limits: Any) -> str:
    """Compile ``body`` as text/plain and render it; return the text."""
    template = compile_template({"body": body, "contentType": "text/plain"}, **limits)
    return template.render(CONTEXT if context is None else context).body.decode()


def render_error(body: str, **limits: Any) -> TemplateError:
    """The TemplateError raised while compiling or rendering ``body`` (fails if none is raised)."""
    with pytest.raises(TemplateError) as info:
        render(body, **limits)
    return info.value


# ---------------------------------------------------------------------------------------------------------
# Errors and spec validation


def test_syntax_error_reports_line_and_column() -> None:
    source = '{"a": 1,\n "b": 2,\n "c": {{ x + }}\n}'
    with pytest.raises(TemplateError) as info:
        compile_template({"body": source})
    error = info.value
    assert error.field == "template.body"
    assert error.line == 3
    assert error.column == 14  # the '}}' that ends the expression too early
    assert str(error) == f"template.body line 3, column 14: {error.reason}"
    assert error.to_dict() == {"field": "template.body", "reason": error.reason, "line": 3, "column": 14}


def test_lexer_error_column_comes_from_offset() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"body": "a\nb\n{{ x $ }}"})
    assert (info.value.line, info.value.column) == (3, 6)
    assert "$" in info.value.reason


def test_unknown_filter_is_a_compile_error_with_line() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"body": "line one\n{{ x|nosuchfilter }}"})
    assert info.value.line == 2
    assert "nosuchfilter" in info.value.reason


def test_template_error_str_without_line() -> None:
    assert str(TemplateError("bad", field="template.fields.title")) == "template.fields.title: bad"
    assert isinstance(TemplateError("x"), ValueError)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"body": "x", "bogus": 1}, "template.bogus"),
        ({"body": "x", "fields": {"a": "$.event"}}, "template"),
        ({"body": 3}, "template.body"),
        ({"body": "x", "contentType": "not a type"}, "template.contentType"),
        ({"body": "x", "contentType": "text/plain\r\nX-Evil: 1"}, "template.contentType"),
        ({"body": "x", "headers": ["X-A"]}, "template.headers"),
        ({"body": "x", "headers": {"Bad Name": "v"}}, "template.headers.Bad Name"),
        ({"body": "x", "headers": {"X-A": 1}}, "template.headers.X-A"),
        ({"body": "x", "headers": {"X-A": "a\r\nX-B: b"}}, "template.headers.X-A"),
        ({"body": "x", "headers": {"Content-Type": "text/plain"}}, "template.headers.Content-Type"),
        ({"body": "x", "headers": {"X-Signature": "forged"}}, "template.headers.X-Signature"),
        ({"body": "x", "headers": {"Host": "evil"}}, "template.headers.Host"),
        ({"body": "x", "headers": {"X-A": "{{ x + }}"}}, "template.headers.X-A"),
        ({"fields": {}}, "template.fields"),
        ({"fields": {"title": 3}}, "template.fields.title"),
        ({"fields": {"title": "$.[[["}}, "template.fields.title"),
        ({"fields": {"a": "$.event"}, "contentType": "text/plain"}, "template.contentType"),
        ({"name": "../etc/passwd"}, "template.name"),
        ("not an object", "template"),
    ],
)
def test_invalid_specs_name_the_field(spec: Any, field: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(spec)
    assert info.value.field == field


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time_limit"):
        compile_template({"body": "x"}, time_limit=0)


# ---------------------------------------------------------------------------------------------------------
# Spec forms


def test_body_template_renders_json_with_webhook() -> None:
    body = (
        '{"event": {{ event|tojson }}, "title": {{ currentValue.title|tojson }}, '
        '"hook": {{ webhook.name|tojson }}}'
    )
    template = compile_template({"body": body})
    assert isinstance(template, CompiledTemplate)
    rendered = template.render(CONTEXT)
    assert isinstance(rendered, RenderedBody)
    assert rendered.content_type == "application/json"
    assert orjson.loads(rendered.body) == {
        "event": "TODO_CREATED",
        "title": "Fix the login bug",
        "hook": "New todos to Zapier",
    }


def test_webhook_name_is_available() -> None:
    assert render("{{ webhook.name }}") == "New todos to Zapier"


def test_missing_values_are_chainable_and_null_safe() -> None:
    assert render("[{{ nope.a.b }}][{{ previousValue.title }}][{{ nope|tojson }}]") == "[][][null]"
    assert render("{% for t in previousValue.todoTags %}x{% endfor %}done") == "done"


def test_graphql_style_underscore_keys_are_data() -> None:
    assert render("{{ currentValue.__typename }}") == "Todo"


def test_fields_single_multi_and_none() -> None:
    template = compile_template(
        {
            "fields": {
                "title": "$.currentValue.title",
                "tags": "$.currentValue.todoTags[*].tag.title",
                "missing": "$.currentValue.nope",
                "hook": "$.webhook.name",
            }
        }
    )
    rendered = template.render(CONTEXT)
    assert rendered.content_type == "application/json"
    assert orjson.loads(rendered.body) == {
        "title": "Fix the login bug",
        "tags": ["urgent", "backend"],
        "missing": None,
        "hook": "New todos to Zapier",
    }


def test_fields_with_headers() -> None:
    template = compile_template({"fields": {"e": "$.event"}, "headers": {"X-Event": "{{ event }}"}})
    rendered = template.render(CONTEXT)
    assert rendered.headers == {"X-Event": "TODO_CREATED"}


def test_named_template_through_loader() -> None:
    sources = {
        "record": '{"event": {{ event|replace("TODO_", "RECORD_")|tojson }}, "record": {{ currentValue|tojson }}}'
    }
    seen: list[str] = []

    def loader(name: str) -> str:
        seen.append(name)
        return sources[name]

    template = compile_template({"name": "record"}, loader=loader)
    body = orjson.loads(template.render(CONTEXT).body)
    assert body["event"] == "RECORD_CREATED"
    assert body["record"]["id"] == "t1"
    assert seen == ["record"]


def test_named_template_unknown_or_without_loader() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"name": "nope"}, loader=lambda name: {"record": "x"}[name])
    assert info.value.field == "template.name"
    assert "nope" in info.value.reason
    with pytest.raises(TemplateError):
        compile_template({"name": "record"})


def test_named_template_syntax_error() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"name": "broken"}, loader=lambda name: "ok\n{% if %}")
    assert info.value.field == "template.name"
    assert info.value.line == 2


def test_no_template_sends_the_raw_envelope() -> None:
    for spec in (None, {}):
        rendered = compile_template(spec).render(CONTEXT)
        assert rendered.content_type == "application/json"
        assert orjson.loads(rendered.body) == CONTEXT
        assert b" " not in rendered.body.replace(b"Fix the login bug", b"").replace(b"New todos to Zapier", b"")


def test_default_spec_is_used_when_none_given() -> None:
    default = {"fields": {"e": "$.event"}}
    assert orjson.loads(compile_template(None, default=default).render(CONTEXT).body) == {"e": "TODO_CREATED"}
    assert orjson.loads(compile_template({}, default=default).render(CONTEXT).body) == {"e": "TODO_CREATED"}
    # A given spec wins over the default.
    own = compile_template({"body": "{{ 1 }}"}, default=default)
    assert own.render(CONTEXT).body == b"1"


def test_headers_only_spec_applies_on_top_of_default() -> None:
    template = compile_template({"headers": {"X-Hook": "{{ webhook.id }}"}}, default={"fields": {"e": "$.event"}})
    rendered = template.render(CONTEXT)
    assert orjson.loads(rendered.body) == {"e": "TODO_CREATED"}
    assert rendered.headers == {"X-Hook": "w1"}


def test_json_content_type_requires_valid_json() -> None:
    template = compile_template({"body": '{"title": {{ currentValue.title }}}'})
    with pytest.raises(TemplateError) as info:
        template.render(CONTEXT)
    assert info.value.reason.startswith("rendered body is not valid JSON: ")
    assert info.value.field == "template.body"
    # +json types are JSON too; other types are not checked.
    with pytest.raises(TemplateError):
        compile_template({"body": "nope", "contentType": "application/vnd.blue+json"}).render(CONTEXT)
    assert compile_template({"body": "nope", "contentType": "text/plain"}).render(CONTEXT).body == b"nope"


def test_is_json_content_type() -> None:
    assert is_json_content_type("application/json")
    assert is_json_content_type("Application/JSON; charset=utf-8")
    assert is_json_content_type("application/cloudevents+json")
    assert not is_json_content_type("text/plain")
    assert not is_json_content_type("application/x-www-form-urlencoded")


def test_body_is_utf8() -> None:
    context = {**CONTEXT, "currentValue": {"title": "Café ✓"}}
    assert (
        compile_template({"body": "{{ currentValue.title }}", "contentType": "text/plain"}).render(context).body
        == "Café ✓".encode()
    )


def test_headers_are_rendered() -> None:
    template = compile_template(
        {
            "body": "{}",
            "headers": {"X-Event": "{{ event }}", "X-Title": "  {{ currentValue.title|upper }} ", "X-Static": "v"},
        }
    )
    assert template.header_names == ["X-Event", "X-Title", "X-Static"]
    assert template.render(CONTEXT).headers == {
        "X-Event": "TODO_CREATED",
        "X-Title": "FIX THE LOGIN BUG",
        "X-Static": "v",
    }


def test_header_value_with_crlf_is_refused() -> None:
    template = compile_template({"body": "{}", "headers": {"X-Title": "{{ currentValue.title }}"}})
    context = {**CONTEXT, "currentValue": {"title": "a\r\nX-Injected: 1"}}
    with pytest.raises(TemplateError) as info:
        template.render(context)
    assert info.value.field == "template.headers.X-Title"
    assert "CR" in info.value.reason


# ---------------------------------------------------------------------------------------------------------
# Helpers


def test_tojson_is_compact_ordered_and_not_html_escaped() -> None:
    out = render("{{ {'b': '<i>&</i>', 'a': [1, 2.5, none, true], 'é': 'ü'}|tojson }}")
    assert out == '{"b":"<i>&</i>","a":[1,2.5,null,true],"é":"ü"}'
    assert render("{{ currentValue.todoList|tojson }}") == '{"id":"L","title":"Backlog","projectId":"p1"}'
    assert orjson.loads(render("{{ currentValue|tojson(indent=2) }}")) == ENVELOPE["currentValue"]


def test_tojson_survives_autoescape_blocks() -> None:
    assert render("{% autoescape true %}{{ {'a': '<'}|tojson }}{% endautoescape %}") == '{"a":"<"}'


def test_jsonpath_helpers() -> None:
    assert render("{{ jsonpath('$.currentValue.todoTags[*].tag.title')|tojson }}") == '["urgent","backend"]'
    assert render("{{ jsonpath('$.nothing')|tojson }}") == "[]"
    assert render("{{ jsonpath_first('$.currentValue.todoList.title') }}") == "Backlog"
    assert render("{{ jsonpath_first('$.nothing')|tojson }}") == "null"
    assert render("{{ jsonpath_first('$.name', webhook) }}") == "New todos to Zapier"
    assert render("{{ jsonpath(\"$.currentValue.todoTags[?(@.tag.title == 'urgent')]\")|length }}") == "1"


def test_jsonpath_literals_are_parsed_at_compile_time(monkeypatch: pytest.MonkeyPatch) -> None:
    expr = "$.currentValue.todoList.projectId"  # not used by any other test: compile must parse it
    template = compile_template({"body": "{{ jsonpath_first('" + expr + "') }}", "contentType": "text/plain"})

    def no_parsing(text: str) -> Any:
        raise AssertionError(f"JSONPath parsed during render: {text}")

    monkeypatch.setattr(jsonpath_module, "_jsonpath_parse", no_parsing)
    assert template.render(CONTEXT).body == b"p1"


def test_bad_literal_jsonpath_is_a_compile_error() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"body": "ok\n{{ jsonpath('$.[[[') }}"})
    assert info.value.line == 2
    assert "JSONPath" in info.value.reason


def test_bad_dynamic_jsonpath_is_a_render_error() -> None:
    error = render_error("{{ jsonpath('$.[' ~ '[[') }}")
    assert "JSONPath" in error.reason


def test_date_helpers() -> None:
    assert render("{{ currentValue.startedAt|date }}") == "2024-05-10"
    assert render("{{ currentValue.startedAt|date('%d.%m.%Y %H:%M') }}") == "10.05.2024 12:34"
    assert render("{{ currentValue.startedAt|datetime }}") == "2024-05-10T12:34:56Z"
    assert render("{{ '2024-05-10T12:34:56.250+02:00'|datetime }}") == "2024-05-10T12:34:56.250+02:00"
    assert render("{{ 1715342400|date }}") == "2024-05-10"
    assert render("{{ 1715342400|datetime }}") == "2024-05-10T12:00:00Z"
    assert render("{{ 1715342400000|datetime }}") == "2024-05-10T12:00:00Z"  # epoch milliseconds
    assert render("{{ 1715342400|datetime('%Y') }}") == "2024"
    assert render("[{{ previousValue|date }}][{{ nope|datetime }}]") == "[][]"
    assert "date" in render_error("{{ 'yesterday'|date }}").reason.lower()
    assert render_error("{{ 1715342400|date('%999999999Y') }}")


def test_builtin_filters_and_loops_still_work() -> None:
    out = render(
        "{% for t in currentValue.todoTags %}{{ loop.index }}:{{ t.tag.title|upper }}"
        "{% if not loop.last %},{% endif %}{% endfor %}"
        "|{{ currentValue.todoTags|map(attribute='tag.title')|join(', ') }}"
        "|{{ 'a' ~ 'b' ~ 1 }}|{{ [1, 2, 3]|sum }}|{{ [[1], [2]]|sum(start=[]) }}"
        "|{{ '%s-%d' % ('x', 3) }}|{{ '{}:{}'.format('k', 'v') }}|{{ 'X'|center(5) }}"
        "|{% for k, v in currentValue.todoList|dictsort %}{{ k }}={{ v }};{% endfor %}"
        "|{% set a, b = 1, 2 %}{{ a + b }}|{{ range(5)|list }}|{{ 3 in range(5) }}"
        "|{% for i in range(5) %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}"
    )
    assert out == (
        "1:URGENT,2:BACKEND|urgent, backend|ab1|6|[1, 2]|x-3|k:v|  X  "
        "|id=L;projectId=p1;title=Backlog;|3|[0, 1, 2, 3, 4]|True|01"
    )


def test_macros_and_set_blocks_work() -> None:
    out = render(
        "{% macro tag(t) %}<{{ t }}>{% endmacro %}"
        "{% set s %}{{ tag('a') }}{{ tag('b') }}{% endset %}{{ s|length }}"
    )
    assert out == "6"


# ---------------------------------------------------------------------------------------------------------
# The sandbox


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self }}",
        "{{ self._TemplateReference__context }}",
        "{{ lipsum.__globals__ }}",
        "{{ range.__self__ }}",
        "{{ jsonpath.__globals__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ ''['__class__'] }}",
        "{{ ''['__cla' ~ 'ss__'] }}",
        "{{ ''|attr('__cla' ~ 'ss__') }}",
        "{{ '{0.__class__}'.format('') }}",
        "{{ '{0[__class__]}'.format('') }}",
        "{{ dict.mro() }}",
        "{{ (1).to_bytes(8, 'big') }}",
        "{{ {}.fromkeys([1, 2]) }}",
        "{{ currentValue.todoTags.append(1) }}",
        "{{ currentValue.todoList.update({'id': 'x'}) }}",
        "{{ (currentValue.todoTags|map(attribute='tag')).gi_frame }}",
        "{{ loop.__class__ }}",
    ],
)
def test_sandbox_escapes_are_refused(body: str) -> None:
    error = render_error(body)
    assert "unsafe" in error.reason


@pytest.mark.parametrize(
    "body",
    [
        "{% include '/etc/passwd' %}",
        "{% import '/etc/passwd' as p %}",
        "{% from '/etc/passwd' import x %}",
        "{% extends '/etc/passwd' %}",
        "{% if false %}{% include '/etc/hosts' %}{% endif %}",
    ],
)
def test_templates_cannot_load_files(body: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"body": body})
    assert "unsafe" in info.value.reason
    assert "not supported" in info.value.reason


def test_dangerous_globals_are_gone() -> None:
    assert render("[{{ cycler }}][{{ joiner }}][{{ namespace }}][{{ lipsum }}]") == "[][][][]"
    assert render("[{{ config }}][{{ request }}][{{ environ }}][{{ os }}]") == "[][][][]"
    assert render_error("{{ lipsum(n=100000) }}")  # calling an undefined fails


def test_templates_cannot_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "blue-gateway-test-secret-0123456789"
    monkeypatch.setenv("BLUE_GATEWAY_TEST_SECRET", secret)
    assert os.environ["BLUE_GATEWAY_TEST_SECRET"] == secret
    attempts = [
        "{{ environ }}{{ environ.BLUE_GATEWAY_TEST_SECRET }}",
        "{{ config }}{{ request.environ }}{{ os.environ }}",
        "{{ env }}{{ ENV }}{{ getenv('BLUE_GATEWAY_TEST_SECRET') }}",
        "{{ range.__globals__.os.environ }}",
        "{{ jsonpath.__globals__['os'].environ }}",
        "{{ cycler.__init__.__globals__.os.environ.BLUE_GATEWAY_TEST_SECRET }}",
        "{{ jsonpath('$..*')|tojson }}",
        "{{ self.__dict__ }}",
        "{{ ''|attr('__cla' ~ 'ss__') }}",
    ]
    for body in attempts:
        try:
            output = render(body)
        except TemplateError as error:
            output = str(error)
        assert secret not in output, body


# ---------------------------------------------------------------------------------------------------------
# Bounds: time


def test_ranges_are_capped_by_the_jinja_sandbox() -> None:
    assert render("{{ range(100000)|length }}|{{ range(100000)|list|length }}") == "100000|100000"
    for body in ("{% for i in range(10**9) %}{% endfor %}", "{{ range(100001)|list|length }}"):
        error = render_error(body)
        assert "Range too big" in error.reason and "MAX_RANGE (100000)" in error.reason


def test_nested_loops_hit_the_time_limit() -> None:
    error = render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    assert "render time limit exceeded" in error.reason


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(10**9) %}{{ loop.last }}{% endfor %}",
        "{% for i in range(10**6) %}{% for j in range(10**6) %}{% for k in range(10**6) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    ],
)
def test_long_renders_are_stopped(body: str) -> None:
    with pytest.raises(TemplateError):
        render(body, time_limit=0.3)


def test_recursion_is_an_error() -> None:
    error = render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    assert "recursion" in error.reason


# ---------------------------------------------------------------------------------------------------------
# Bounds: size


def test_huge_string_multiplication_is_refused_before_allocating() -> None:
    error = render_error("{{ 'x' * 10000000 }}")
    assert "output exceeds" in error.reason
    assert render_error("{{ 'x' * 10**12 }}")  # would be a terabyte: refused, not attempted


def test_printing_loop_over_ten_megabytes_is_refused() -> None:
    error = render_error("{% for i in range(100000) %}{{ 'x' * 101 }}{% endfor %}")
    assert error.reason == f"output exceeds {DEFAULT_MAX_OUTPUT_BYTES} bytes"


def test_output_limit_is_configurable() -> None:
    assert render("{{ 'x' * 100 }}", max_output_bytes=100) == "x" * 100
    assert "output exceeds 99 bytes" in render_error("{{ 'x' * 100 }}", max_output_bytes=99).reason
    template = compile_template({"body": "{{ 'x' * 100 }}", "contentType": "text/plain"})
    with pytest.raises(TemplateError):
        template.render(CONTEXT, max_output_bytes=10)


def test_buffered_output_is_bounded() -> None:
    body = "{% set s %}{% for i in range(100000) %}" + "x" * 100 + "{% endfor %}{% endset %}{{ s|length }}"
    assert "output exceeds" in render_error(body).reason


@pytest.mark.parametrize(
    "body",
    [
        "{% set a = ['x' * 1000] %}" + "{% set a = [a, a] %}" * 40 + "{{ a|length }}",
        "{% set a = 'x' * 1000 %}" + "{% set a = {'k': a, 'j': a} %}" * 40 + "{{ a|length }}",
        "{% set a = 'x' * 1000 %}" + "{% set a = a + a %}" * 40 + "{{ a|length }}",
        "{% set a = 'x' * 1000 %}" + "{% set a = a ~ a %}" * 40 + "{{ a|length }}",
        "{% set t = (1,) %}" + "{% set t = (t, t) %}" * 80 + "{{ {t: 1}|length }}",
        "{% set a = ['x' * 1000] * 1000 %}{{ ([a] * 1000)|length }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ ('x' * 1000).replace('x', 'y' * 100000) }}",
        "{{ ('x' * 1000)|replace('x', 'y' * 100000) }}",
        "{{ ('x\\n' * 1000)|indent(10**6) }}",
        "{{ ('x ' * 100000)|wordwrap(1, wrapstring='y' * 1000) }}",
        "{{ '%0999999999d'|format(1) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ ('{0}' * 100000).format('x' * 1000) }}",
        "{{ ([1] * 100000)|join('y' * 1000) }}",
        "{{ ('y' * 1000).join(['x'] * 100000) }}",
        "{{ [1]|batch(10**9, 'x')|list }}",
        "{{ [1]|slice(10**9)|list }}",
        "{{ range(10**9)|list|length }}",
        "{{ range(10**9)|map('string')|join }}",
        "{{ 2 ** (10 ** 9) }}",
        "{% set x = 10 ** 3000 %}{% for i in range(10) %}{% set x = x * x %}{% endfor %}",
        "{% macro d(n) %}{% if n %}{{ d(n - 1) }}{{ d(n - 1) }}{% else %}xxxxxxxxxx{% endif %}{% endmacro %}"
        "{{ d(30)|length }}",
    ],
)
def test_amplification_is_refused(body: str) -> None:
    with pytest.raises(TemplateError):
        render(body)


def test_render_errors_are_template_errors() -> None:
    for body in ("{{ 1 / 0 }}", "{{ nope + 1 }}", "{{ 'a' - 1 }}", "{{ none.x.y() }}", "{{ '\\ud800' }}"):
        with pytest.raises(TemplateError) as info:
            render(body)
        assert info.value.field == "template.body"
        assert info.value.reason
    assert "ZeroDivisionError" in render_error("{{ 1 / 0 }}").reason


def test_render_error_carries_the_template_line() -> None:
    error = render_error("line 1\nline 2\n{{ 1 / 0 }}")
    assert error.line == 3


def test_concurrent_renders_are_isolated() -> None:
    slow = compile_template(
        {"body": "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}"}, time_limit=0.3
    )
    fast = compile_template({"body": "{{ webhook.name|tojson }}"})
    errors: list[str] = []
    bodies: list[bytes] = []

    def run_slow() -> None:
        try:
            slow.render(CONTEXT)
        except TemplateError as error:
            errors.append(error.reason)

    def run_fast() -> None:
        bodies.extend(fast.render(CONTEXT).body for _ in range(100))

    threads = [threading.Thread(target=run_slow) for _ in range(2)] + [
        threading.Thread(target=run_fast) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == ["render time limit exceeded"] * 2
    assert bodies == [b'"New todos to Zapier"'] * 200
