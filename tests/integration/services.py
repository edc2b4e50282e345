"""Real services for integration tests: skipped with a reason on a laptop, required when CI=true."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


@contextlib.contextmanager
def worker_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``blue-gateway worker`` process, stopped with SIGTERM (then SIGKILL) at the end."""
    env = {"BLUE_GATEWAY_WORKER_PORT": "0", **env}  # several workers on this host: probes only when asked
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "blue-gateway"), "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            terminate(worker)


def terminate(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, as a supervisor stops a gateway; SIGKILL if it has not exited within ``timeout`` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
