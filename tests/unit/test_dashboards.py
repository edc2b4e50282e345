"""The Grafana dashboard and the alert rules in docs/ use only metrics, labels and values /metrics exports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.core.policy import FailureKind, HealthChange, OutcomeKind
from gateway.db.counts import BACKLOG_STATES
from gateway.db.retention import HELD_TABLES
from tests.conftest import Gateway, Receiver, eventually

DOCS = Path(__file__).parents[2] / "docs"
DASHBOARD = DOCS / "grafana" / "blue-gateway.json"
ALERTS = DOCS / "prometheus" / "alerts.yml"

_SELECTOR = re.compile(r"\b(blue_gateway_[a-z0-9_]+)(?:\{([^}]*)\})?")
_MATCHER = re.compile(r'([a-z_]+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Label values the code defines, so a rule cannot wait for a value that is never written.
LABEL_VALUES = {
    "outcome": {k.value for k in OutcomeKind},
    "reason": {k.value for k in FailureKind},
    "change": {c.value for c in HealthChange},
    "state": set(BACKLOG_STATES),
    "table": set(HELD_TABLES),
    "result": {"accepted", "duplicate"},
}


def _dashboard_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dashboard_exprs(item)


def _alert_exprs() -> list[str]:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    assert all("alert" in rule and "expr" in rule for rule in rules)
    return [str(rule["expr"]) for rule in rules]


EXPRESSIONS = {
    "dashboard": list(_dashboard_exprs(orjson.loads(DASHBOARD.read_bytes()))),
    "alerts": _alert_exprs(),
}


def _exported(text: str) -> dict[str, set[str]]:
    """Every sample name /metrics can carry (a histogram's three, even before any sample) and its label names."""
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "histogram":
            names = [f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count")]
        elif family.type == "counter":
            names = [f"{family.name}_total"]
        else:
            names = [family.name]
        for name in names:
            exported.setdefault(name, set())
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


@pytest.fixture
async def exported(gateway: Gateway, receiver: Receiver) -> dict[str, set[str]]:
    """The metrics of a gateway that has made a failed and a delivered attempt and counted its rows."""
    receiver.respond((500, {}, ""))
    auth = await gateway.token()
    await gateway.webhook(auth, url=receiver.url)
    await gateway.event(auth, event="TODO_CREATED")

    async def scraped() -> dict[str, set[str]] | None:
        found = _exported((await gateway.client.get("/metrics")).text)
        counted = {"blue_gateway_rows_held", "blue_gateway_deliveries_backlog"} <= {
            n for n, ls in found.items() if ls
        }
        delivered = bool(found.get("blue_gateway_delivery_latency_seconds_bucket"))
        return found if counted and delivered and found.get("blue_gateway_delivery_failures_total") else None

    return await eventually(scraped)  # type: ignore[no-any-return]


def test_the_dashboard_and_the_rules_have_expressions() -> None:
    assert len(EXPRESSIONS["dashboard"]) >= 10
    assert len(EXPRESSIONS["alerts"]) >= 5


@pytest.mark.parametrize("source", sorted(EXPRESSIONS))
async def test_every_metric_and_label_they_use_is_exported(source: str, exported: dict[str, set[str]]) -> None:
    used = 0
    for expr in EXPRESSIONS[source]:
        metrics = _SELECTOR.findall(expr)
        assert metrics, f"{source}: no gateway metric in {expr!r}"
        for name, matchers in metrics:
            used += 1
            assert name in exported, f"{source} uses {name}, which /metrics does not export"
            for label, value in _MATCHER.findall(matchers):
                assert label in exported[name], f"{source}: {name} has no label {label!r}"
                if label in LABEL_VALUES and not value.startswith("$"):
                    assert value in LABEL_VALUES[label], f"{source}: {name}{{{label}={value!r}}} is never written"
        labels = set().union(*(exported[name] for name, _ in metrics)) | {"le"}
        for grouping in _GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in labels, f"{source}: groups by {label!r}, which {expr!r} does not carry"
    assert used


def test_the_docs_link_both_files() -> None:
    text = (DOCS / "operations.md").read_text()
    assert "(grafana/blue-gateway.json)" in text
    assert "(prometheus/alerts.yml)" in text
