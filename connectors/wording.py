"""How each Blue event reads in a chat message: a short heading and the verb phrase of its headline."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Wording", "wording_for"]


@dataclass(frozen=True)
class Wording:
    """``heading`` ("Record created") and ``phrase`` ("created {object}"), filled in by the summary.

    Placeholders: ``{object}`` (the thing changed, with its title), ``{record}`` (the record a checklist or
    comment belongs to), ``{people}``, ``{tags}``, ``{fields}`` and ``{list}`` (what changed).
    """

    heading: str
    phrase: str


_W = Wording

_WORDING: dict[str, Wording] = {
    "TODO_CREATED": _W("Record created", "created {object}"),
    "TODO_DELETED": _W("Record deleted", "deleted {object}"),
    "TODO_MOVED": _W("Record moved", "moved {object} to {list}"),
    "TODO_NAME_CHANGED": _W("Record renamed", "renamed {object}"),
    "TODO_DUE_DATE_ADDED": _W("Due date set", "set a due date on {object}"),
    "TODO_DUE_DATE_UPDATED": _W("Due date changed", "changed the due date of {object}"),
    "TODO_DUE_DATE_REMOVED": _W("Due date removed", "removed the due date of {object}"),
    "TODO_ASSIGNEE_ADDED": _W("Assignee added", "assigned {people} to {object}"),
    "TODO_ASSIGNEE_REMOVED": _W("Assignee removed", "unassigned {people} from {object}"),
    "TODO_TAG_ADDED": _W("Tag added", "tagged {object} with {tags}"),
    "TODO_TAG_REMOVED": _W("Tag removed", "removed {tags} from {object}"),
    "TODO_CUSTOM_FIELD_UPDATED": _W("Custom field updated", "updated {fields} on {object}"),
    "TODO_CHECKLIST_CREATED": _W("Checklist added", "added {object} to {record}"),
    "TODO_CHECKLIST_NAME_CHANGED": _W("Checklist renamed", "renamed {object} on {record}"),
    "TODO_CHECKLIST_DELETED": _W("Checklist deleted", "deleted {object} from {record}"),
    "TODO_CHECKLIST_ITEM_CREATED": _W("Checklist item added", "added {object} to {record}"),
    "TODO_CHECKLIST_ITEM_NAME_CHANGED": _W("Checklist item renamed", "renamed {object} on {record}"),
    "TODO_CHECKLIST_ITEM_DELETED": _W("Checklist item deleted", "deleted {object} from {record}"),
    "TODO_CHECKLIST_ITEM_DUE_DATE_ADDED": _W("Due date set", "set a due date on {object}"),
    "TODO_CHECKLIST_ITEM_DUE_DATE_UPDATED": _W("Due date changed", "changed the due date of {object}"),
    "TODO_CHECKLIST_ITEM_DUE_DATE_REMOVED": _W("Due date removed", "removed the due date of {object}"),
    "TODO_CHECKLIST_ITEM_ASSIGNEE_ADDED": _W("Assignee added", "assigned {people} to {object}"),
    "TODO_CHECKLIST_ITEM_ASSIGNEE_REMOVED": _W("Assignee removed", "unassigned {people} from {object}"),
    "TODO_LIST_CREATED": _W("List created", "created {object}"),
    "TODO_LIST_DELETED": _W("List deleted", "deleted {object}"),
    "TODO_LIST_NAME_CHANGED": _W("List renamed", "renamed {object}"),
    "CUSTOM_FIELD_CREATED": _W("Custom field created", "created {object}"),
    "CUSTOM_FIELD_DELETED": _W("Custom field deleted", "deleted {object}"),
    "CUSTOM_FIELD_UPDATED": _W("Custom field changed", "changed {object}"),
    "TAG_CREATED": _W("Tag created", "created {object}"),
    "TAG_DELETED": _W("Tag deleted", "deleted {object}"),
    "TAG_UPDATED": _W("Tag changed", "changed {object}"),
    "COMMENT_CREATED": _W("New comment", "commented on {record}"),
    "COMMENT_DELETED": _W("Comment deleted", "deleted a comment on {record}"),
    "COMMENT_UPDATED": _W("Comment edited", "edited a comment on {record}"),
}

# Done/not done reads differently each way, so these two are chosen by the record's state.
_DONE = {
    "TODO_DONE_STATUS_UPDATED": (
        _W("Record done", "marked {object} as done"),
        _W("Record reopened", "marked {object} as not done"),
    ),
    "TODO_CHECKLIST_ITEM_DONE_STATUS_UPDATED": (
        _W("Checklist item done", "checked off {object}"),
        _W("Checklist item reopened", "unchecked {object}"),
    ),
}


def wording_for(event: str, done: bool | None) -> Wording:
    """The wording of ``event``; names outside the catalog read as the name itself ("Todo archived")."""
    if event in _DONE:
        when_done, when_open = _DONE[event]
        return when_done if done else when_open
    found = _WORDING.get(event)
    if found is not None:
        return found
    text = event.replace("_", " ").strip().capitalize() or "Blue event"
    return Wording(text, "changed {object}" if event else "sent an event")
