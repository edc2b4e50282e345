"""A webhook's own delivery controls: attempt timeout, retry schedule, maximum rate and ordering.

Each is optional; a webhook that sets none is delivered by the server's settings. The server's bounds
(:class:`ControlBounds`) keep a tenant from asking for more than the operator allows.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.policy import DeliveryPolicy, RetrySchedule

__all__ = [
    "ControlBounds",
    "ControlRefused",
    "Ordering",
    "OrderingKey",
    "check_controls",
    "policy_with",
    "record_key",
]

MAX_RECORD_KEY = 200
"""Longest record id kept as an ordering key; a longer one is cut (ids are far shorter in practice)."""


class Ordering(enum.StrEnum):
    """How a webhook's deliveries are sequenced (``null``: not at all, each goes as soon as it can)."""

    FIFO = "fifo"


class OrderingKey(enum.StrEnum):
    """What one ordered sequence spans: the whole webhook, or each record on its own."""

    WEBHOOK = "webhook"
    RECORD = "record"


class ControlRefused(ValueError):
    """A control outside the server's bounds; ``field`` is its public name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class ControlBounds:
    """The server-wide limits on what a webhook may ask for."""

    max_timeout: float
    max_retries: int
    max_retry_delay: float
    max_rate: float


_COLUMNS = {
    "timeout": "timeout",
    "retrySchedule": "retry_schedule",
    "maxRate": "max_rate",
    "ordering": "ordering",
    "orderingKey": "ordering_key",
}


def check_controls(fields: Mapping[str, Any], bounds: ControlBounds) -> dict[str, Any]:
    """The column values of the controls ``fields`` names (camelCase keys); ``None`` resets one to the default.

    Shapes (positive numbers, known words) are the request type's to check; this checks the bounds.
    """
    timeout = fields.get("timeout")
    if timeout is not None and timeout > bounds.max_timeout:
        raise ControlRefused("timeout", f"at most {bounds.max_timeout:g} seconds on this server")
    schedule = fields.get("retrySchedule")
    if schedule is not None:
        if len(schedule) > bounds.max_retries:
            raise ControlRefused("retrySchedule", f"at most {bounds.max_retries} retries on this server")
        for i, delay in enumerate(schedule):
            if delay > bounds.max_retry_delay:
                raise ControlRefused(f"retrySchedule[{i}]", f"at most {bounds.max_retry_delay:g} seconds")
        schedule = [float(delay) for delay in schedule]
    rate = fields.get("maxRate")
    if rate is not None and rate > bounds.max_rate:
        raise ControlRefused("maxRate", f"at most {bounds.max_rate:g} requests per second on this server")
    values = {"timeout": timeout, "retrySchedule": schedule, "maxRate": rate}
    values["ordering"] = fields.get("ordering")
    key = fields.get("orderingKey")
    values["orderingKey"] = None if key in (None, OrderingKey.WEBHOOK) else str(key)
    return {_COLUMNS[name]: value for name, value in values.items() if name in fields}


def policy_with(policy: DeliveryPolicy, retry_schedule: Sequence[float] | None) -> DeliveryPolicy:
    """``policy`` with a webhook's own retries: the delays after the first, second, ... failed attempt."""
    if retry_schedule is None:
        return policy
    first = policy.schedule.delays[0]  # the first attempt's delay is the server's (it is set at ingest)
    schedule = RetrySchedule([first, *retry_schedule], policy.schedule.jitter)
    return dataclasses.replace(policy, schedule=schedule)


def record_key(envelope: Mapping[str, Any]) -> str:
    """The id of the record an event is about: ``currentValue.id``, or ``previousValue.id`` for a delete;
    ``""`` when it has neither (such events form one sequence of their own)."""
    for side in ("currentValue", "previousValue"):
        value = envelope.get(side)
        if isinstance(value, Mapping) and value.get("id") not in (None, ""):
            return str(value["id"])[:MAX_RECORD_KEY]
    return ""
