"""What Slack, Discord, Teams, Make and n8n accept, written from their documentation (not from our code).

Each ``*_problems(body)`` returns the reasons the service would refuse the body; ``[]`` means it is valid.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from jsonschema import Draft202012Validator

_LINK = re.compile(r"<https?://[^|>\s]+(\|[^<>]*)?>")
_URL = re.compile(r"^https?://\S+$")


def _utf16(text: str) -> int:
    """Discord counts characters the way JavaScript does."""
    return len(text.encode("utf-16-le")) // 2


# --- Slack: incoming webhooks and Block Kit ---------------------------------------------------------------


def _slack_text_object(obj: Any, where: str, limit: int) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        return [f"{where}: not a text object"]
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        return [f"{where}.text: 1 to {limit} characters"]
    # Only links and a quote marker at the start of a line may use < and >; all else must be escaped.
    if obj["type"] == "mrkdwn" and re.search(r"[<>]", _LINK.sub("", re.sub(r"(?m)^> ", "", text))):
        return [f"{where}.text: an unescaped < or > outside a <url|label> link"]
    return []


def slack_problems(body: Any) -> list[str]:
    """Slack's rules: ``text`` and/or ``blocks``; blocks ≤ 50; section text ≤ 3000, ≤ 10 fields of ≤ 2000."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    problems: list[str] = []
    text, blocks = body.get("text"), body.get("blocks")
    if not (isinstance(text, str) and text.strip()) and not blocks:
        problems.append("neither text nor blocks")
    if isinstance(text, str) and len(text) > 40_000:
        problems.append("text over 40000 characters")
    if blocks is None:
        return problems
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*problems, "blocks: a list of 1 to 50 blocks"]
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                problems += _slack_text_object(block["text"], f"{where}.text", 3000)
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                problems.append(f"{where}.fields: at most 10")
            else:
                for j, f in enumerate(fields):
                    problems += _slack_text_object(f, f"{where}.fields[{j}]", 2000)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{where}.elements: 1 to 10")
            else:
                for j, e in enumerate(elements):
                    problems += _slack_text_object(e, f"{where}.elements[{j}]", 3000)
        elif kind == "header":
            problems += _slack_text_object(block.get("text"), f"{where}.text", 150)
        elif kind != "divider":
            problems.append(f"{where}: unknown block type {kind!r}")
    return problems


# --- Discord: Execute Webhook -----------------------------------------------------------------------------

_DISCORD_KEYS = {
    "content",
    "username",
    "avatar_url",
    "tts",
    "embeds",
    "allowed_mentions",
    "components",
    "flags",
    "thread_name",
    "applied_tags",
    "poll",
    "attachments",
}


def _discord_embed(embed: Any, where: str) -> tuple[list[str], int]:
    if not isinstance(embed, dict):
        return [f"{where}: not an object"], 0
    problems: list[str] = []
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        if key in embed:
            value = embed[key]
            if not isinstance(value, str) or _utf16(value) > limit:
                problems.append(f"{where}.{key}: a string of at most {limit}")
            else:
                total += _utf16(value)
    for key in ("footer", "author"):
        part = embed.get(key)
        if part is not None:
            label = part.get("text" if key == "footer" else "name") if isinstance(part, dict) else None
            limit = 2048 if key == "footer" else 256
            if not isinstance(label, str) or not 1 <= _utf16(label) <= limit:
                problems.append(f"{where}.{key}: 1 to {limit} characters")
            else:
                total += _utf16(label)
    fields = embed.get("fields", [])
    if not isinstance(fields, list) or len(fields) > 25:
        problems.append(f"{where}.fields: at most 25")
        fields = []
    for j, f in enumerate(fields):
        name, value = (f.get("name"), f.get("value")) if isinstance(f, dict) else (None, None)
        if not isinstance(name, str) or not 1 <= _utf16(name) <= 256:
            problems.append(f"{where}.fields[{j}].name: 1 to 256 characters")
        if not isinstance(value, str) or not 1 <= _utf16(value) <= 1024:
            problems.append(f"{where}.fields[{j}].value: 1 to 1024 characters")
        if isinstance(name, str) and isinstance(value, str):
            total += _utf16(name) + _utf16(value)
    if "url" in embed and not (isinstance(embed["url"], str) and _URL.match(embed["url"])):
        problems.append(f"{where}.url: not a URL")
    if "color" in embed and not (isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF):
        problems.append(f"{where}.color: an integer colour")
    if "timestamp" in embed:
        try:
            dt.datetime.fromisoformat(str(embed["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}.timestamp: not ISO 8601")
    return problems, total


def discord_problems(body: Any) -> list[str]:
    """Discord's rules: content ≤ 2000; ≤ 10 embeds (title ≤ 256, description ≤ 4096, ≤ 25 fields), 6000 in all."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    problems = [f"unknown key {k!r}" for k in body if k not in _DISCORD_KEYS]
    content, embeds = body.get("content"), body.get("embeds") or []
    if not content and not embeds:
        problems.append("Cannot send an empty message")
    if content is not None and (not isinstance(content, str) or _utf16(content) > 2000):
        problems.append("content: at most 2000 characters")
    if not isinstance(embeds, list) or len(embeds) > 10:
        return [*problems, "embeds: at most 10"]
    total = 0
    for i, embed in enumerate(embeds):
        found, size = _discord_embed(embed, f"embeds[{i}]")
        problems += found
        total += size
    if total > 6000:
        problems.append("embeds: over 6000 characters in all")
    username = body.get("username")
    if username is not None and (not isinstance(username, str) or not 1 <= len(username) <= 80):
        problems.append("username: 1 to 80 characters")
    return problems


# --- Teams: a Workflows webhook with an Adaptive Card -----------------------------------------------------

_TEXT_BLOCK = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"const": "TextBlock"},
        "text": {"type": "string", "minLength": 1},
        "size": {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]},
        "weight": {"enum": ["Default", "Lighter", "Bolder"]},
        "color": {"enum": ["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"]},
        "spacing": {"enum": ["None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"]},
        "wrap": {"type": "boolean"},
        "isSubtle": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_FACT_SET = {
    "type": "object",
    "required": ["type", "facts"],
    "properties": {
        "type": {"const": "FactSet"},
        "facts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["title", "value"],
                "properties": {"title": {"type": "string"}, "value": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
_OPEN_URL = {
    "type": "object",
    "required": ["type", "url"],
    "properties": {
        "type": {"const": "Action.OpenUrl"},
        "title": {"type": "string"},
        "url": {"type": "string", "pattern": "^https?://"},
    },
    "additionalProperties": False,
}
ADAPTIVE_CARD_MESSAGE = {
    "type": "object",
    "required": ["type", "attachments"],
    "properties": {
        "type": {"const": "message"},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "properties": {
                    "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                    "contentUrl": {"type": ["string", "null"]},
                    "content": {
                        "type": "object",
                        "required": ["type", "version", "body"],
                        "properties": {
                            "$schema": {"type": "string"},
                            "type": {"const": "AdaptiveCard"},
                            # Teams renders Adaptive Cards up to version 1.5.
                            "version": {"enum": ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]},
                            "body": {"type": "array", "minItems": 1, "items": {"oneOf": [_TEXT_BLOCK, _FACT_SET]}},
                            "actions": {"type": "array", "items": _OPEN_URL},
                            "msteams": {"type": "object", "properties": {"width": {"const": "Full"}}},
                        },
                        "additionalProperties": False,
                    },
                },
            },
        },
    },
}
_CARD_VALIDATOR = Draft202012Validator(ADAPTIVE_CARD_MESSAGE)


def teams_problems(body: Any, size: int = 0) -> list[str]:
    """A message whose first attachment is an Adaptive Card Teams can show; Teams takes at most 28 KB."""
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _CARD_VALIDATOR.iter_errors(body)]
    if size > 28 * 1024:
        problems.append("over 28 KB")
    return problems


# --- Make and n8n: any JSON object; ours always carries the summary keys ----------------------------------


def automation_problems(body: Any) -> list[str]:
    """A JSON object with the event, its id and a non-empty headline; a link is null or a URL."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    problems = [f"{k} missing" for k in ("event", "eventId", "headline", "heading") if not body.get(k)]
    link = body.get("link")
    if link is not None and not (isinstance(link, str) and _URL.match(link)):
        problems.append("link: not a URL")
    return problems


PROBLEMS = {
    "slack": slack_problems,
    "discord": discord_problems,
    "teams": teams_problems,
    "make": automation_problems,
    "n8n": automation_problems,
}
"""The validator of each service, by connector name."""
