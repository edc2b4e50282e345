"""The operational events' rules on plain data: who hears about whom, and what a receiver is told."""

from __future__ import annotations

import pytest

from gateway.core.operational import Notice, Subject, hears_about, is_operational, operational_envelope


@pytest.mark.parametrize(
    ("subscriber", "subject", "hears"),
    [
        ((), (), True),  # company-wide hears about everything
        ((), ("p1",), True),
        (("p1",), (), False),  # a company-wide webhook is not a project-admin's to see
        (("p1", "p2"), ("p1",), True),
        (("p1",), ("p1", "p2"), False),  # partly outside its projects
        (("p1",), ("p2",), False),
    ],
)
def test_a_project_limited_subscriber_hears_only_of_webhooks_within_its_projects(
    subscriber: tuple[str, ...], subject: tuple[str, ...], hears: bool
) -> None:
    assert hears_about(subscriber, subject) is hears


def test_gateway_names_are_operational_and_blue_names_are_not() -> None:
    assert is_operational("gateway.webhook.unhealthy")
    assert not is_operational("TODO_CREATED")
    assert not is_operational("GATEWAY_THING")


def test_the_envelope_names_the_webhook_by_host_only() -> None:
    subject = Subject(
        id="wh_1",
        uid="u" * 32,
        company_id="acme",
        name="Zap",
        connector="zapier",
        url="https://user:pw@hooks.zapier.com/hooks/catch/123/secret-token/?k=v",
        project_ids=("p1",),
    )
    envelope = operational_envelope(
        Notice("gateway.webhook.unhealthy", subject, {"health": {"status": "UNHEALTHY"}}, {"health": {}}),
        "evt_1",
        0.0,
    )
    assert envelope["currentValue"]["webhook"] == {
        "id": "wh_1",
        "uid": "u" * 32,
        "name": "Zap",
        "connector": "zapier",
        "host": "hooks.zapier.com",
        "projectIds": ["p1"],
    }
    assert envelope["companyId"] == "acme" and envelope["occurredAt"] == "1970-01-01T00:00:00.000Z"
    assert "secret-token" not in str(envelope) and "pw" not in str(envelope)
