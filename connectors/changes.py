"""What an event changed, and where the changed thing lives, as (label, value) pairs for messages."""

from __future__ import annotations

from typing import Any

from connectors.blue_values import dig, one_line, people, readable_time, titles

__all__ = ["changed_fields", "custom_field_values", "details", "newly"]


def newly(after: list[str], before: list[str]) -> list[str]:
    """Entries of ``after`` that ``before`` lacks, in order."""
    return [x for x in after if x not in before]


def custom_field_values(record: Any) -> dict[str, str]:
    """A record's custom fields as name -> shown value."""
    values: dict[str, str] = {}
    for entry in dig(record, "customFields") or []:
        name = one_line(dig(entry, "customField", "name"), 80)
        if name:
            values[name] = one_line(dig(entry, "value")) or "—"
    return values


def changed_fields(before: Any, after: Any) -> list[str]:
    """Names of the custom fields whose value differs between the two records."""
    old, new = custom_field_values(before), custom_field_values(after)
    return [k for k, v in new.items() if old.get(k) != v]


def _arrow(before: str | None, after: str | None) -> str:
    return f"{before or '—'} → {after or '—'}"


def _changes(name: str, group: str, value: Any, after: Any, before: Any) -> list[tuple[str, str | None]]:
    """The pairs that say what changed."""
    out: list[tuple[str, str | None]] = []
    key = "name" if group == "custom field" else "title"
    renamed = name.endswith("_NAME_CHANGED") or name in ("CUSTOM_FIELD_UPDATED", "TAG_UPDATED")
    if renamed and before is not None and one_line(dig(before, key)) != one_line(dig(value, key)):
        out.append(("Previous name" if key == "name" else "Previous title", one_line(dig(before, key)) or "—"))
    if name == "TODO_CUSTOM_FIELD_UPDATED":
        old, new = custom_field_values(before), custom_field_values(after)
        out += [(k, _arrow(old.get(k), new[k])) for k in changed_fields(before, after)]
    if "DUE_DATE" in name:
        out.append(("Due", _arrow(readable_time(dig(before, "duedAt")), readable_time(dig(after, "duedAt")))))
    if "DONE_STATUS" in name:
        out.append(("Status", "Done" if dig(after, "done") else "Not done"))
    if "ASSIGNEE" in name:
        out.append(("Assignees", ", ".join(people(dig(value, "users"))) or "nobody"))
    if name == "TODO_MOVED":
        out.append(
            (
                "Moved",
                _arrow(one_line(dig(before, "todoList", "title")), one_line(dig(after, "todoList", "title"))),
            )
        )
    if "TAG" in name and group == "record":
        out.append(("Tags", ", ".join(titles(dig(value, "todoTags"), "tag", "title")) or "none"))
    if group == "tag" and before is not None and after is not None and dig(before, "color") != dig(after, "color"):
        out.append(("Color", _arrow(one_line(dig(before, "color")), one_line(dig(after, "color")))))
    return out


def _context(name: str, group: str, value: Any) -> list[tuple[str, str | None]]:
    """The pairs that say where the changed thing lives and what it is."""
    out: list[tuple[str, str | None]] = []
    if group == "record":
        out.append(("List", one_line(dig(value, "todoList", "title"))))
    if name == "TODO_CREATED":
        out.append(("Due", readable_time(dig(value, "duedAt"))))
        out.append(("Assignees", ", ".join(people(dig(value, "users"))) or None))
        out.append(("Tags", ", ".join(titles(dig(value, "todoTags"), "tag", "title")) or None))
    if group in ("checklist", "comment"):
        out.append(("Record", one_line(dig(value, "todo", "title"))))
    if group == "checklist" and "_ITEM" in name:
        out.append(("Checklist", one_line(dig(value, "checklist", "title"))))
    if group == "tag":
        out.append(("Color", one_line(dig(value, "color"))))
    if group == "custom field":
        out.append(("Type", one_line(dig(value, "type"))))
        out.append(("Options", ", ".join(titles(dig(value, "customFieldOptions"), "title")) or None))
    return out


def details(name: str, group: str, value: Any, after: Any, before: Any) -> list[tuple[str, str]]:
    """What changed first, then context; empty values and repeated labels are left out."""
    seen: set[str] = set()
    result: list[tuple[str, str]] = []
    for label, text in (*_changes(name, group, value, after, before), *_context(name, group, value)):
        if text and label not in seen:
            seen.add(label)
            result.append((label, text))
    return result
