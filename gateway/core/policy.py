"""The delivery policy: what an attempt's outcome means for the delivery and for its webhook's health.

Every retry and health rule lives here, framework-free: the retry schedule with its jitter, ``Retry-After``
and its one-hour cap, the next state of a delivery, why an attempt failed (a :class:`FailureKind`, turned
into the delivery log's text only by :class:`Failure`), and how outcomes fold into a webhook's health.
"""

from __future__ import annotations

import dataclasses
import email.utils
import enum
import random
import re
import time
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SCHEDULE",
    "MAX_RETRY_AFTER",
    "UNHEALTHY_AFTER",
    "DeliveryPolicy",
    "DeliveryStatus",
    "DisableReason",
    "Failure",
    "FailureKind",
    "Health",
    "HealthChange",
    "HealthStatus",
    "Outcome",
    "OutcomeKind",
    "RetrySchedule",
    "Transition",
    "health_changes",
    "parse_duration",
    "parse_retry_after",
]

DEFAULT_SCHEDULE = "0,5s,5m,30m,2h,5h,10h,10h"
MAX_RETRY_AFTER = 3600.0
"""An endpoint's ``Retry-After`` is honoured up to an hour, so one answer cannot park a delivery for days."""
UNHEALTHY_AFTER = 5
"""Consecutive failed attempts after which a webhook shows ``UNHEALTHY``."""
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|)\s*$")


class OutcomeKind(enum.Enum):
    """How the engine treats an attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    FAIL = "fail"


class FailureKind(enum.Enum):
    """Why an attempt did not deliver."""

    HTTP_STATUS = "http_status"
    """The endpoint answered with a status its connector does not count as delivered."""
    GONE = "gone"
    """The endpoint says it no longer exists (410, or the service's own word for it)."""
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    PROTOCOL = "protocol"
    """The HTTP exchange broke off (the server disconnected, sent a malformed answer, ...)."""
    SSRF = "ssrf"
    TEMPLATE_ERROR = "template_error"
    CONNECTOR_ERROR = "connector_error"
    CONNECTOR_UNAVAILABLE = "connector_unavailable"
    SECRET_UNREADABLE = "secret_unreadable"  # noqa: S105 - a failure name, not a secret
    RENDER_UNAVAILABLE = "render_unavailable"

    @property
    def retried(self) -> bool:
        """True when a later attempt may succeed; False when retrying would fail the same way."""
        return self not in _NOT_RETRIED


# An operator can restore the right key or the render processes come back, so those are retried; a refused
# target, a template or connector error, or a connector that is not loaded fails the same way every time.
_NOT_RETRIED = frozenset(
    {FailureKind.SSRF, FailureKind.TEMPLATE_ERROR, FailureKind.CONNECTOR_ERROR, FailureKind.CONNECTOR_UNAVAILABLE}
)
_LOG_TEXT = {
    FailureKind.TIMEOUT: "timeout",
    FailureKind.CONNECTION: "connection error: {}",
    FailureKind.PROTOCOL: "{}",
    FailureKind.HTTP_STATUS: "{}",
    FailureKind.GONE: "{}",
}


@dataclass(frozen=True)
class Failure:
    """A failure that happened before the endpoint's answer could be classified; ``str`` is its log text."""

    kind: FailureKind
    detail: str = ""

    def __str__(self) -> str:
        return _LOG_TEXT.get(self.kind, self.kind.value + ": {}").format(self.detail)

    def outcome(self) -> Outcome:
        """The outcome this failure makes: retried or failed at once, as its kind says."""
        return Outcome(
            OutcomeKind.RETRY if self.kind.retried else OutcomeKind.FAIL, reason=str(self), failure=self.kind
        )


@dataclass(frozen=True)
class Outcome:
    """The verdict on one response: deliver, retry (optionally not before ``retry_after`` s), gone or fail.

    ``reason`` is the delivery log's text; ``failure`` says why in a form code can decide on (a connector's
    ``classify`` may leave it out: gone outcomes are ``GONE``, other failed ones ``HTTP_STATUS``).
    """

    kind: OutcomeKind
    retry_after: float | None = None
    reason: str | None = None
    failure: FailureKind | None = None

    def __post_init__(self) -> None:
        if self.failure is None and self.kind is not OutcomeKind.DELIVERED:
            failure = FailureKind.GONE if self.kind is OutcomeKind.GONE else FailureKind.HTTP_STATUS
            object.__setattr__(self, "failure", failure)


class DeliveryStatus(enum.StrEnum):
    """A delivery's state as stored and shown."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    DISCARDED = "discarded"


class HealthStatus(enum.StrEnum):
    """A webhook's health as stored and shown."""

    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"


class HealthChange(enum.StrEnum):
    """A change of a webhook's health that the gateway reports (see :func:`health_changes`)."""

    UNHEALTHY = "unhealthy"
    RECOVERED = "recovered"
    DISABLED = "disabled"


class DisableReason(enum.StrEnum):
    """Why the gateway disabled a webhook (its ``disabledReason``)."""

    GONE = "gone"
    FAILING = "failing"


def parse_duration(text: str) -> float:
    """Seconds in ``"250ms"``, ``"5s"``, ``"5m"``, ``"2h"``, ``"1d"`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use a number with ms, s, m, h or d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class RetrySchedule:
    """Delays before each attempt; attempt ``n`` (1-based) waits ``delays[n-1]`` after the previous one."""

    def __init__(self, delays: list[float], jitter: float = 0.2) -> None:
        if not delays:
            raise ValueError("the retry schedule needs at least one entry")
        self.delays = delays
        self.jitter = jitter

    @classmethod
    def parse(cls, text: str, jitter: float = 0.2) -> RetrySchedule:
        """Build from ``"0,5s,5m,..."``."""
        return cls([parse_duration(part) for part in text.split(",") if part.strip()], jitter)

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets in all."""
        return len(self.delays)

    def delay_after(self, attempts_made: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when the schedule is exhausted."""
        if attempts_made >= len(self.delays):
            return None
        base = self.delays[attempts_made]
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date), capped at one hour."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Transition:
    """A delivery's state after an attempt: ``next_at`` (Unix seconds) is set only when it is pending."""

    status: DeliveryStatus
    next_at: float | None = None


@dataclass(frozen=True)
class Health:
    """A webhook's health as its outcomes fold in, in order.

    ``disabled`` is set by the outcome that disables the webhook; ``deleted`` when a gone subscription is
    removed. ``last_success_at`` is the time of the latest success folded in (None: none was).
    """

    failures: int = 0
    failing_since: float | None = None
    status: HealthStatus = HealthStatus.HEALTHY
    last_success_at: float | None = None
    disabled: DisableReason | None = None
    deleted: bool = False


@dataclass(frozen=True)
class DeliveryPolicy:
    """The rules: retry per ``schedule``; ``UNHEALTHY`` after ``unhealthy_after`` consecutive failures;
    disabled after ``disable_after`` seconds of failing attempts with no success between them."""

    schedule: RetrySchedule
    disable_after: float
    unhealthy_after: int = UNHEALTHY_AFTER

    def retry_delay(
        self, attempts_made: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds until the next attempt (the schedule's, or ``Retry-After`` up to its cap if longer)."""
        delay = self.schedule.delay_after(attempts_made, rng)
        if delay is None:
            return None
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay

    def next_state(
        self, attempts_made: int, outcome: Outcome, now: float, rng: random.Random | None = None
    ) -> Transition:
        """Where a delivery goes after its ``attempts_made``-th attempt ended in ``outcome``."""
        if outcome.kind is OutcomeKind.DELIVERED:
            return Transition(DeliveryStatus.DELIVERED)
        if outcome.kind is OutcomeKind.GONE:
            return Transition(DeliveryStatus.DISCARDED)
        if outcome.kind is OutcomeKind.FAIL:
            return Transition(DeliveryStatus.FAILED)
        delay = self.retry_delay(attempts_made, outcome.retry_after, rng)
        if delay is None:
            return Transition(DeliveryStatus.FAILED)
        return Transition(DeliveryStatus.PENDING, now + delay)

    def fold(self, health: Health, kind: OutcomeKind, now: float, *, delete_on_gone: bool = False) -> Health:
        """``health`` after one more attempt ended ``kind`` at ``now``; a disabled webhook's stays as it is."""
        if health.disabled is not None:
            return health
        if kind is OutcomeKind.DELIVERED:
            return Health(status=HealthStatus.HEALTHY, last_success_at=now)
        if kind is OutcomeKind.GONE and delete_on_gone:
            # A REST Hooks subscription whose target is gone is removed, as the REST Hooks rules ask.
            return dataclasses.replace(health, disabled=DisableReason.GONE, deleted=True)
        failures = health.failures + 1
        since = health.failing_since if health.failing_since is not None else now
        disabled = None
        if kind is OutcomeKind.GONE:
            disabled = DisableReason.GONE
        elif now - since >= self.disable_after:
            disabled = DisableReason.FAILING
        return dataclasses.replace(
            health,
            failures=failures,
            failing_since=since,
            status=HealthStatus.UNHEALTHY if failures >= self.unhealthy_after else HealthStatus.HEALTHY,
            disabled=disabled,
        )


def health_changes(before: Health, after: Health) -> tuple[HealthChange, ...]:
    """The reportable changes from ``before`` to ``after`` one fold: turned unhealthy, recovered, disabled."""
    changes: list[HealthChange] = []
    if before.status is not after.status:
        unhealthy = after.status is HealthStatus.UNHEALTHY
        changes.append(HealthChange.UNHEALTHY if unhealthy else HealthChange.RECOVERED)
    if after.disabled is not None and before.disabled is None:
        changes.append(HealthChange.DISABLED)
    return tuple(changes)
