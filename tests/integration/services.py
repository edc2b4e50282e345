"""Real services for integration tests: skipped with a reason on a laptop, required when CI=true."""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "nats": ("127.0.0.1", 4222),
}
BROKER_URLS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
    "nats": "nats://127.0.0.1:4222",
}
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def require(service: str) -> None:
    """Skip when ``service`` is not reachable, unless running in CI, where that is a failure."""
    host, port = SERVICES[service]
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        reason = f"{service} is not reachable at {host}:{port} ({exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)
