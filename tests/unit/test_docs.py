"""Docs that must not drift: settings, CLI commands, connectors, signatures, metrics, links,
built-in templates, template helpers, the Zapier flat keys and the REST Hooks paths.

Every check reads its list from the code, so a new setting, command, option, connector, signature header
or metric fails here until it is documented.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import jinja2.defaults
import jinja2.filters
import pytest
import typer.main
from litestar.handlers import HTTPRouteHandler

import gateway.cli
import gateway.metrics
from connectors.builtin_templates import BUILTIN_TEMPLATES
from connectors.registry import load_connectors
from connectors.zapier import flat_sample
from gateway.api.zapier import ZapierController
from gateway.core.catalog import EVENT_TYPES
from gateway.core.signing import SIGNING_SCHEMES, sign_blue, sign_github, sign_standard
from gateway.core.templating.sandbox import ENV as TEMPLATE_ENV
from gateway.delivery.engine import signature_headers
from gateway.settings import PREFIX, Settings, documented_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
GETTING_STARTED = DOCS / "getting-started.md"
OPERATIONS = DOCS / "operations.md"
SIGNATURES = DOCS / "signatures.md"
TEMPLATES = DOCS / "templates.md"
CONNECTORS = DOCS / "connectors.md"
ZAPIER_AND_PABBLY = DOCS / "zapier-and-pabbly.md"
BLUE_SETUP = DOCS / "blue-setup.md"

_SETTINGS_ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(?P<target>[^\s>]+)>?", re.M)
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _read(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text(encoding="utf-8")


def _doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _all_docs_text() -> str:
    return "\n".join(_read(p) for p in _doc_pages())


# --- settings ---------------------------------------------------------------------------------------------


def _settings_rows() -> dict[str, str]:
    """Env name -> its row in the settings table of getting-started.md."""
    rows: dict[str, str] = {}
    for line in _read(GETTING_STARTED).splitlines():
        match = _SETTINGS_ROW.match(line)
        if match and match["name"].startswith(PREFIX):
            rows[match["name"]] = line
    return rows


def _duration_text(seconds: float) -> str:
    """``432000.0`` -> ``5d``: how the docs write a default duration."""
    if seconds == 0:
        return "0s"
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{suffix}"
    millis = seconds * 1000
    return f"{int(millis)}ms" if millis == int(millis) else f"{seconds:g}"


def _default_text(f: dataclasses.Field[object]) -> str | None:
    """The default of a setting as the table shows it, or None when it has no literal default."""
    if f.default is dataclasses.MISSING:
        return None
    kind, value = str(f.type), f.default
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        assert isinstance(value, int | float)
        return _duration_text(float(value))
    text = str(value)
    return text or None


SETTING_NAMES = sorted(documented_settings())
SETTING_FIELDS = {PREFIX + f.name.upper(): f for f in dataclasses.fields(Settings)}


def test_settings_are_found() -> None:
    assert SETTING_NAMES, "documented_settings() returned nothing"
    assert set(SETTING_NAMES) == set(SETTING_FIELDS)


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_every_setting_is_in_the_settings_table(name: str) -> None:
    assert name in _settings_rows(), f"{name} has no row in the settings table of docs/getting-started.md"


# Settings whose default is a literal the table can show (the others are computed at start-up).
LITERAL_DEFAULTS = {
    name: text for name in SETTING_NAMES if (text := _default_text(SETTING_FIELDS[name])) is not None
}


@pytest.mark.parametrize("name", sorted(LITERAL_DEFAULTS))
def test_settings_table_shows_the_code_default(name: str) -> None:
    expected = LITERAL_DEFAULTS[name]
    row = _settings_rows().get(name, "")
    assert f"`{expected}`" in row, f"the row of {name} should show its default `{expected}`: {row!r}"


def test_settings_table_has_no_stale_rows() -> None:
    stale = sorted(set(_settings_rows()) - set(SETTING_NAMES))
    assert not stale, f"docs/getting-started.md documents settings the code no longer has: {stale}"


# --- CLI ----------------------------------------------------------------------------------------------------


def _cli_commands() -> list[tuple[str, Any]]:
    """Every leaf command of ``blue-gateway`` as ("tokens create", command).

    Duck-typed on purpose: typer may bring its own copy of click, so ``isinstance(x, click.Group)`` is not
    reliable. A group is anything with a ``commands`` mapping.
    """
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if isinstance(subcommands, dict):
            for name, sub in sorted(subcommands.items()):
                if not getattr(sub, "hidden", False):
                    walk(sub, [*path, name])
        elif path:
            found.append((" ".join(path), command))

    walk(typer.main.get_command(gateway.cli.app), [])
    return found


def _cli_options() -> list[tuple[str, str]]:
    """Every long option of every command, as ("serve", "--no-worker")."""
    return [
        (path, opt)
        for path, command in _cli_commands()
        for param in command.params
        if getattr(param, "param_type_name", "") == "option" and not getattr(param, "hidden", False)
        for opt in [*param.opts, *param.secondary_opts]
        if opt.startswith("--") and opt != "--help"
    ]


CLI_COMMANDS = [path for path, _ in _cli_commands()]
CLI_OPTIONS = _cli_options()


def _cli_docs() -> str:
    return _read(OPERATIONS) + "\n" + _read(GETTING_STARTED)


def test_cli_commands_are_found() -> None:
    assert {"serve", "worker", "migrate", "tokens create"} <= set(CLI_COMMANDS), CLI_COMMANDS


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"blue-gateway {command}" in _cli_docs(), (
        f"'blue-gateway {command}' appears in neither docs/operations.md nor docs/getting-started.md"
    )


@pytest.mark.parametrize(("command", "option"), CLI_OPTIONS, ids=[f"{c} {o}" for c, o in CLI_OPTIONS])
def test_every_cli_option_is_documented(command: str, option: str) -> None:
    assert re.search(rf"{re.escape(option)}(?![\w-])", _cli_docs()), (
        f"option {option} of 'blue-gateway {command}' is not documented"
    )


# --- connectors -------------------------------------------------------------------------------------------


BUILT_IN_CONNECTORS = sorted(c.name for c in load_connectors() if type(c).__module__.startswith("connectors."))


def test_built_in_connectors_are_found() -> None:
    assert BUILT_IN_CONNECTORS, "load_connectors() found no built-in connector"


@pytest.mark.parametrize("name", BUILT_IN_CONNECTORS)
def test_every_built_in_connector_is_documented(name: str) -> None:
    assert f"`{name}`" in _all_docs_text(), f"connector `{name}` is not mentioned in docs/*.md"


# --- signatures and metrics -------------------------------------------------------------------------------


SIGNATURE_HEADERS = sorted(
    signature_headers(sorted(SIGNING_SCHEMES), ["whsec_c2VjcmV0"], "msg_1", 1, b"{}"), key=str.lower
)


@pytest.mark.parametrize("header", SIGNATURE_HEADERS)
def test_every_signature_header_is_documented(header: str) -> None:
    assert f"`{header}`" in _read(SIGNATURES), f"header `{header}` is not documented in docs/signatures.md"


@pytest.mark.parametrize("scheme", sorted(SIGNING_SCHEMES))
def test_every_signing_scheme_is_documented(scheme: str) -> None:
    assert f"`{scheme}`" in _read(SIGNATURES)


def test_worked_signature_example_matches_the_code() -> None:
    secret = "whsec_VGhpcyBpcyBub3QgYSByZWFsIHNlY3JldCBrZXkhISE="
    body, msg_id, timestamp = b'{"event":"TODO_CREATED"}', "msg_0193a4c1f2e0a1b2c3d4e5f6a7b8", 1772533800
    text = _read(SIGNATURES)
    for value in (secret, msg_id, str(timestamp), body.decode()):
        assert value in text, f"the worked example lost its input {value!r}"
    for header, value in (
        ("X-Signature", sign_blue(secret, body)),
        ("webhook-signature", sign_standard(secret, msg_id, timestamp, body)),
        ("X-Hub-Signature-256", sign_github(secret, body)),
    ):
        assert f"{header}: {value}" in text, f"the worked example shows a wrong {header}"


METRIC_NAMES = sorted(set(re.findall(r"\bblue_gateway_[a-z0-9_]+", inspect.getsource(gateway.metrics))))


def test_metrics_are_found() -> None:
    assert METRIC_NAMES


@pytest.mark.parametrize("metric", METRIC_NAMES)
def test_every_metric_is_documented(metric: str) -> None:
    assert f"`{metric}`" in _read(OPERATIONS), f"metric {metric} is not documented in docs/operations.md"


# --- links ------------------------------------------------------------------------------------------------


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for match in _HEADING.finditer(_FENCE.sub("", _read(path))):
        slug = _slug(match["text"])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(path: Path) -> list[str]:
    prose = _prose(_read(path))
    return [m["target"] for m in (*_INLINE_LINK.finditer(prose), *_REFERENCE_LINK.finditer(prose))]


LINKED_PAGES = [README, *_doc_pages()]


@pytest.mark.parametrize("page", LINKED_PAGES, ids=[str(p.relative_to(ROOT)) for p in LINKED_PAGES])
def test_relative_links_point_to_existing_files(page: Path) -> None:
    broken = []
    for target in _links(page):
        if _SCHEME.match(target):
            continue  # http(s):, mailto: ...
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target} (no heading #{fragment})")
    assert not broken, f"broken links in {page.relative_to(ROOT)}: {broken}"


def test_the_documentation_pages_exist() -> None:
    names = {p.name for p in _doc_pages()}
    assert {"getting-started.md", "signatures.md", "operations.md", "architecture.md"} <= names
    assert {"templates.md", "connectors.md", "zapier-and-pabbly.md", "blue-setup.md"} <= names


@pytest.mark.parametrize("page", [TEMPLATES, CONNECTORS, ZAPIER_AND_PABBLY, BLUE_SETUP], ids=lambda p: p.name)
def test_every_guide_is_linked_from_the_readme(page: Path) -> None:
    assert f"](docs/{page.name})" in _read(README), f"README.md's 'Learn more' list does not link docs/{page.name}"


# --- templates --------------------------------------------------------------------------------------------


BUILTIN_TEMPLATE_NAMES = sorted(BUILTIN_TEMPLATES)


def test_builtin_templates_are_found() -> None:
    assert {"record", "zapier", "flat"} <= set(BUILTIN_TEMPLATE_NAMES)


@pytest.mark.parametrize("name", BUILTIN_TEMPLATE_NAMES)
def test_every_builtin_template_is_documented(name: str) -> None:
    assert f"`{name}`" in _read(TEMPLATES), f"built-in template `{name}` is not documented in docs/templates.md"


def _template_helpers() -> list[str]:
    """The helpers the sandbox adds to Jinja2: globals and filters Jinja2 does not have, plus ``tojson``.

    ``tojson`` shares its name with a Jinja2 filter but is the gateway's own (orjson, not HTML-escaped).
    """
    added_globals = set(TEMPLATE_ENV.globals) - set(jinja2.defaults.DEFAULT_NAMESPACE)
    added_filters = set(TEMPLATE_ENV.filters) - set(jinja2.filters.FILTERS)
    return sorted(added_globals | added_filters | {"tojson"})


TEMPLATE_HELPERS = _template_helpers()


def test_template_helpers_are_found() -> None:
    assert {"tojson", "jsonpath", "jsonpath_first", "date", "datetime"} <= set(TEMPLATE_HELPERS)


@pytest.mark.parametrize("helper", TEMPLATE_HELPERS)
def test_every_template_helper_is_documented(helper: str) -> None:
    assert f"`{helper}`" in _read(TEMPLATES), f"template helper `{helper}` is not documented in docs/templates.md"


# --- connectors on their own pages ----------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILT_IN_CONNECTORS)
def test_every_built_in_connector_is_in_a_connector_guide(name: str) -> None:
    text = _read(CONNECTORS) + "\n" + _read(ZAPIER_AND_PABBLY)
    assert f"`{name}`" in text, (
        f"connector `{name}` is in neither docs/connectors.md nor docs/zapier-and-pabbly.md"
    )


# --- Zapier: flat keys and REST Hooks paths ---------------------------------------------------------------


def _flat_keys(event_name: str) -> list[str]:
    """The keys, in order, of what the ``zapier`` connector sends for the catalog sample of ``event_name``."""
    return list(flat_sample(event_name, "acme"))


FLAT_KEYS_BY_EVENT = {t.name: _flat_keys(t.name) for t in EVENT_TYPES}
FLAT_KEYS = sorted({key for keys in FLAT_KEYS_BY_EVENT.values() for key in keys})


def _common_prefix(lists: list[list[str]]) -> list[str]:
    """The keys every event starts with (a family's own keys may repeat a name, such as ``project_name``)."""
    prefix: list[str] = []
    for column in zip(*lists, strict=False):
        if len(set(column)) != 1:
            break
        prefix.append(column[0])
    return prefix


COMMON_FLAT_KEYS = _common_prefix(list(FLAT_KEYS_BY_EVENT.values()))
EVENT_GROUPS = sorted({t.group for t in EVENT_TYPES})
_TABLE_KEY = re.compile(r"^\|\s*`(?P<key>[a-z0-9_]+)`\s*\|", re.M)


def _section(text: str, heading: str) -> str:
    """The text (outside code blocks) under the heading called ``heading``, up to the next heading."""
    prose = _FENCE.sub("", text)
    for match in _HEADING.finditer(prose):
        if match["text"] == heading:
            following = _HEADING.search(prose, match.end())
            return prose[match.end() : following.start() if following else len(prose)]
    raise AssertionError(f"no heading {heading!r}")


def _table_keys(heading: str) -> list[str]:
    return _TABLE_KEY.findall(_section(_read(ZAPIER_AND_PABBLY), heading))


def test_flat_keys_are_found() -> None:
    assert {"event", "event_id", "record_title", "tag_title", "comment_text"} <= set(FLAT_KEYS)
    assert COMMON_FLAT_KEYS[:2] == ["event", "event_id"]


@pytest.mark.parametrize("key", FLAT_KEYS)
def test_every_flat_key_is_documented(key: str) -> None:
    assert f"`{key}`" in _read(ZAPIER_AND_PABBLY), (
        f"flat key `{key}` is not documented in docs/zapier-and-pabbly.md"
    )


def test_common_flat_keys_table_matches_the_code() -> None:
    assert _table_keys("Common keys") == COMMON_FLAT_KEYS


@pytest.mark.parametrize("group", EVENT_GROUPS)
def test_flat_keys_table_of_each_family_matches_the_code(group: str) -> None:
    documented = _table_keys(f"{group.capitalize()} events")
    for event_type in EVENT_TYPES:
        if event_type.group == group:
            own = [k for k in FLAT_KEYS_BY_EVENT[event_type.name] if k not in COMMON_FLAT_KEYS]
            assert documented == own, f"the {group} table does not list the keys {event_type.name} sends, in order"
            assert f"`{event_type.name}`" in _section(_read(ZAPIER_AND_PABBLY), f"{group.capitalize()} events")


def _rest_hooks_routes() -> list[tuple[str, str]]:
    """Every ``METHOD /path`` of the Zapier REST Hooks API, path parameters as ``{name}``."""
    routes = []
    for handler in vars(ZapierController).values():
        if isinstance(handler, HTTPRouteHandler):
            for path in handler.paths:
                full = re.sub(r"\{(\w+):\w+\}", r"{\1}", ZapierController.path + path)
                routes.extend((method, full) for method in sorted(handler.http_methods))
    return sorted(routes)


REST_HOOKS_ROUTES = _rest_hooks_routes()


def test_rest_hooks_routes_are_found() -> None:
    assert ("POST", "/v1/zapier/subscriptions") in REST_HOOKS_ROUTES
    assert len(REST_HOOKS_ROUTES) >= 4


@pytest.mark.parametrize(("method", "path"), REST_HOOKS_ROUTES, ids=[f"{m} {p}" for m, p in REST_HOOKS_ROUTES])
def test_every_rest_hooks_route_is_documented(method: str, path: str) -> None:
    # Any parameter name is fine in the docs: /v1/zapier/subscriptions/{id} documents {subscription_id}.
    parts = re.split(r"\{\w+\}", f"{method} {path}")
    pattern = r"\{\w+\}".join(re.escape(part) for part in parts)
    assert re.search(pattern, _read(ZAPIER_AND_PABBLY)), f"`{method} {path}` is not in docs/zapier-and-pabbly.md"
