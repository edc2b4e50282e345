"""Errors a service raises; the API maps them to 404/409/422."""

from __future__ import annotations

__all__ = ["Conflict", "Invalid", "NotFound", "ServiceError"]


class ServiceError(Exception):
    """Base of the errors a service raises."""


class NotFound(ServiceError):
    """The object does not exist or belongs to someone else (answered 404, never 403)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(ServiceError):
    """The object is in a state that forbids the operation (409)."""


class Invalid(ServiceError):
    """A field's value is refused (422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message
