"""The slack, discord, teams, make and n8n connectors with plain data: messages for every event, answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from connectors.base import DeliveryContext, OutcomeKind, ResponseInfo, WebhookView
from connectors.registry import load_connectors
from connectors.summary import summarize
from gateway.core.catalog import CATALOG, EVENT_TYPES, HEALTH_CHECK, OPERATIONAL_EVENT_TYPES, sample_event
from tests.service_rules import PROBLEMS

REGISTRY = load_connectors()
NAMES = ["slack", "discord", "teams", "make", "n8n"]
STYLES = {
    "slack": [{}, {"style": "text"}],
    "discord": [{}, {"style": "text"}, {"username": "Blue", "avatarUrl": "https://x.example/a.png"}],
    "teams": [{}, {"fullWidth": False}],
    "make": [{}, {"includeValues": False}],
    "n8n": [{}, {"blueUrl": ""}],
}
EVENTS = [t.name for t in (*CATALOG, HEALTH_CHECK)]


def _event(name: str, **changes: Any) -> DeliveryContext:
    envelope = {
        **sample_event(name),
        "id": f"evt-{name}",
        "companyId": "acme",
        "projectId": "project_1",
        **changes,
    }
    return DeliveryContext.from_envelope(envelope)


def _render(connector: str, event: DeliveryContext, **options: Any) -> Any:
    view = WebhookView(
        id="wh_1", uid="0" * 32, name="n", url="https://x.example/", connector=connector, options=options
    )
    request = REGISTRY.get(connector).render(event, view)  # type: ignore[union-attr]
    assert request.content_type == "application/json"
    return orjson.loads(request.body)


def _answer(status: int, body: Any = b"", **headers: str) -> ResponseInfo:
    raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else orjson.dumps(body)
    return ResponseInfo(status, headers, raw)


@pytest.mark.parametrize("connector", NAMES)
@pytest.mark.parametrize("event", EVENTS)
def test_every_event_renders_a_message_the_service_accepts(connector: str, event: str) -> None:
    for options in STYLES[connector]:
        body = _render(connector, _event(event), **options)
        assert PROBLEMS[connector](body) == [], (connector, event, options)


@pytest.mark.parametrize("connector", NAMES)
def test_odd_values_still_render_a_valid_message(connector: str) -> None:
    odd = [
        _event("TODO_CREATED", currentValue={"title": "<@everyone> & <b>" + "x" * 5000, "users": "nope"}),
        _event("COMMENT_CREATED", currentValue="just text", user=None),
        _event("TAG_DELETED", previousValue=None, currentValue=None, user={"id": "u1"}),
        _event("TODO_CREATED", event="SOMETHING_NEW", currentValue=[1, 2], occurredAt="not a date"),
    ]
    for event in odd:
        assert PROBLEMS[connector](_render(connector, event)) == [], (connector, event.event)


def test_slack_escapes_blue_text_so_it_cannot_link_or_mention() -> None:
    body = _render("slack", _event("TODO_CREATED", currentValue={"title": "<!channel> & <https://evil|x>"}))
    text = body["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil|x&gt;" in text


def test_discord_never_pings_and_uses_its_options() -> None:
    body = _render("discord", _event("TODO_CREATED"), username="Blue bot", avatarUrl="https://x.example/a.png")
    assert body["allowed_mentions"] == {"parse": []}
    assert (body["username"], body["avatar_url"]) == ("Blue bot", "https://x.example/a.png")
    embed = body["embeds"][0]
    assert embed["title"] == "Record created: Prepare launch plan"
    assert embed["url"] == "https://app.blue.cc/company/acme-corp/project/website-relaunch"
    assert embed["color"] == 0x22C55E


def test_make_and_n8n_carry_the_values_unless_told_not_to() -> None:
    full = _render("make", _event("TODO_MOVED"))
    assert full["currentValue"]["todoList"]["title"] == "In progress"
    assert full["headline"] == "Ada Lovelace moved record “Prepare launch plan” to “In progress”"
    small = _render("n8n", _event("TODO_MOVED"), includeValues=False, blueUrl="")
    assert "currentValue" not in small and small["link"] is None


@pytest.mark.parametrize("event", [t.name for t in EVENT_TYPES])
def test_summary_says_who_did_what_where(event: str) -> None:
    summary = summarize(_event(event))
    assert summary.headline.startswith("Ada Lovelace ")
    assert summary.project == "Website Relaunch"
    assert summary.link == "https://app.blue.cc/company/acme-corp/project/website-relaunch"
    assert (summary.title and summary.title in summary.headline) or summary.kind == "comment"
    assert all(label and value for label, value in summary.details)


@pytest.mark.parametrize("event", [t.name for t in OPERATIONAL_EVENT_TYPES])
def test_summary_of_a_gateway_event_names_the_webhook_and_the_error(event: str) -> None:
    sample = sample_event(event)["currentValue"]
    summary = summarize(_event(event))
    assert summary.action == "system" and summary.kind == "webhook"
    assert "“Orders to the CRM”" in summary.headline
    assert ("Webhook", sample["webhook"]["id"]) in summary.details
    if sample["delivery"]["error"]:
        assert summary.headline.endswith(sample["delivery"]["error"])
    assert "Someone" not in summary.headline


def test_summary_names_what_changed() -> None:
    assert ("Moved", "To do → In progress") in summarize(_event("TODO_MOVED")).details
    assert ("Budget", "12500 → 15000") in summarize(_event("TODO_CUSTOM_FIELD_UPDATED")).details
    assert summarize(_event("TODO_ASSIGNEE_REMOVED")).headline.startswith("Ada Lovelace unassigned Grace Hopper")
    assert summarize(_event("TODO_TAG_ADDED")).headline.endswith("with marketing")
    assert summarize(_event("TODO_CHECKLIST_ITEM_DONE_STATUS_UPDATED")).heading == "Checklist item done"
    undone = _event("TODO_DONE_STATUS_UPDATED", currentValue={**sample_event("TODO_CREATED")["currentValue"]})
    assert summarize(undone).heading == "Record reopened"


def test_summary_without_a_user_falls_back_to_the_author_or_someone() -> None:
    assert summarize(_event("COMMENT_CREATED", user=None)).actor == "Ada Lovelace"
    assert summarize(_event("TAG_CREATED", user={"id": "u1"})).headline == "Someone created tag “marketing”"


@pytest.mark.parametrize("connector", NAMES)
def test_options_schema_is_valid_and_refuses_unknown_keys(connector: str) -> None:
    schema = REGISTRY.get(connector).options_schema  # type: ignore[union-attr]
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors({"blueUrl": "https://blue.example.com"}))
    assert list(validator.iter_errors({"colour": "red"}))
    assert list(validator.iter_errors({"blueUrl": "ftp://x"}))


GONE, FAIL, RETRY, DELIVERED = OutcomeKind.GONE, OutcomeKind.FAIL, OutcomeKind.RETRY, OutcomeKind.DELIVERED
CLASSIFY_CASES: list[tuple[str, ResponseInfo, OutcomeKind, float | None, str]] = [
    ("slack", _answer(200, "ok"), DELIVERED, None, ""),
    ("slack", _answer(404, "no_service"), GONE, None, "slack 404 no_service"),
    ("slack", _answer(404, "channel_not_found"), GONE, None, "channel_not_found"),
    ("slack", _answer(410, "channel_is_archived"), GONE, None, "channel_is_archived"),
    ("slack", _answer(403, "invalid_token"), GONE, None, "invalid_token"),
    ("slack", _answer(400, "invalid_payload"), FAIL, None, "slack 400 invalid_payload"),
    ("slack", _answer(403, "action_prohibited"), FAIL, None, "action_prohibited"),
    ("slack", _answer(429, "rate_limited", **{"Retry-After": "30"}), RETRY, 30.0, "429"),
    ("slack", _answer(500, "rollup_error"), RETRY, None, "rollup_error"),
    ("discord", _answer(204), DELIVERED, None, ""),
    ("discord", _answer(404, {"code": 10015, "message": "Unknown Webhook"}), GONE, None, "10015: Unknown Webhook"),
    ("discord", _answer(401, {"code": 50027, "message": "Invalid Webhook Token"}), GONE, None, "50027"),
    (
        "discord",
        _answer(
            429,
            {"message": "You are being rate limited.", "retry_after": 64.57, "global": False},
            **{"Retry-After": "65"},
        ),
        RETRY,
        64.57,
        "rate limited",
    ),
    ("discord", _answer(429, "<html>", **{"Retry-After": "7"}), RETRY, 7.0, "429"),
    (
        "discord",
        _answer(
            400,
            {
                "code": 50035,
                "message": "Invalid Form Body",
                "errors": {
                    "embeds": {
                        "0": {
                            "title": {
                                "_errors": [
                                    {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}
                                ]
                            }
                        }
                    }
                },
            },
        ),
        FAIL,
        None,
        "embeds.0.title: Must be 256 or fewer in length.",
    ),
    ("discord", _answer(502, "bad gateway"), RETRY, None, "502"),
    ("teams", _answer(202), DELIVERED, None, ""),
    (
        "teams",
        _answer(
            400,
            {
                "error": {
                    "code": "WorkflowTriggerIsNotEnabled",
                    "message": "Could not trigger workflow; current state 'Disabled'.",
                }
            },
        ),
        GONE,
        None,
        "WorkflowTriggerIsNotEnabled",
    ),
    (
        "teams",
        _answer(404, {"error": {"code": "WorkflowNotFound", "message": "gone"}}),
        GONE,
        None,
        "WorkflowNotFound",
    ),
    ("teams", _answer(429, {"error": {"code": "TooManyRequests"}}, **{"Retry-After": "20"}), RETRY, 20.0, "429"),
    (
        "teams",
        _answer(400, {"error": {"code": "TriggerInputSchemaMismatch", "message": "bad"}}),
        FAIL,
        None,
        "TriggerInputSchemaMismatch",
    ),
    ("teams", _answer(500, "oops"), RETRY, None, "500"),
    ("make", _answer(200, "Accepted"), DELIVERED, None, ""),
    (
        "make",
        _answer(410, "There is no scenario listening for this webhook."),
        GONE,
        None,
        "no scenario listening",
    ),
    ("make", _answer(400, "Queue is full."), RETRY, None, "Queue is full."),
    ("make", _answer(400, "Validation failed for 1 parameter(s)."), FAIL, None, "Validation failed"),
    ("make", _answer(429, "Too many requests", **{"Retry-After": "15"}), RETRY, 15.0, "Too many requests"),
    ("make", _answer(500, "Scenario failed to complete."), RETRY, None, "Scenario failed"),
    ("n8n", _answer(200, {"message": "Workflow was started"}), DELIVERED, None, ""),
    (
        "n8n",
        _answer(
            404,
            {
                "code": 404,
                "message": 'The requested webhook "POST blue" is not registered.',
                "hint": "The workflow must be active for a production URL to run successfully.",
            },
        ),
        GONE,
        None,
        'n8n 404 The requested webhook "POST blue" is not registered.',
    ),
    ("n8n", _answer(403, "Authorization data is wrong!"), FAIL, None, "Authorization data is wrong!"),
    ("n8n", _answer(401, "Authorization is required!"), FAIL, None, "Authorization is required!"),
    ("n8n", _answer(503, "busy", **{"Retry-After": "9"}), RETRY, 9.0, "503"),
    ("n8n", _answer(500, {"code": 0, "message": "Workflow could not be started!"}), RETRY, None, "500"),
]


@pytest.mark.parametrize(
    ("connector", "response", "kind", "retry_after", "reason"),
    CLASSIFY_CASES,
    ids=[f"{c}-{r.status}-{k.value}-{i}" for i, (c, r, k, _, _) in enumerate(CLASSIFY_CASES)],
)
def test_classify_follows_each_services_documented_answers(
    connector: str, response: ResponseInfo, kind: OutcomeKind, retry_after: float | None, reason: str
) -> None:
    outcome = REGISTRY.get(connector).classify(response)  # type: ignore[union-attr]
    assert outcome.kind is kind
    assert outcome.retry_after == retry_after
    assert reason in (outcome.reason or "")


DOC_EXAMPLES = [
    ("slack", "COMMENT_CREATED", {}),
    ("slack", "COMMENT_CREATED", {"style": "text"}),
    ("discord", "TODO_CREATED", {}),
    ("teams", "TODO_CREATED", {}),
    ("make", "TAG_UPDATED", {"includeValues": False}),
]


def test_the_documented_examples_are_what_the_connectors_send() -> None:
    text = (Path(__file__).parents[2] / "docs" / "chat-connectors.md").read_text(encoding="utf-8")
    blocks = [orjson.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    assert len(blocks) >= len(DOC_EXAMPLES)
    for (connector, event, options), documented in zip(DOC_EXAMPLES, blocks, strict=False):
        assert _render(connector, _event(event, id="evt_1"), **options) == documented, (connector, event)
