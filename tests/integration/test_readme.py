"""The README's five-minute walkthrough, run as written: make run, the receiver, token, webhook, event."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs make run and the README's commands as written

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _port_free(port):
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.2)


def _spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``bash -c command`` in the checkout, in its own process group, output to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return subprocess.Popen(
            ["bash", "-c", command], cwd=ROOT, env=env, stdout=fd, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        os.close(fd)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    make_run, receiver_cmd, create_cmd, event_cmd = (block.strip() for block in BLOCKS[1:5])
    assert BLOCKS[0].splitlines()[0].startswith("make run")
    assert make_run == "make run"
    assert receiver_cmd == ".venv/bin/python docs/examples/receiver.py 9000"
    for port in (8080, 9000):
        if not _port_free(port):
            if os.environ.get("CI") == "true":
                pytest.fail(f"port {port} is taken; the walkthrough needs it")
            pytest.skip(f"port {port} is taken on this machine; the walkthrough needs it")
    # Same commands, in the checkout; only the database and its key file go to a temporary folder.
    env = {
        **os.environ,
        "BLUE_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/blue-gateway.db",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS", None)
    gateway = _spawn(make_run, env, tmp_path / "run.log")
    receiver = None
    try:
        _wait_port(8080, gateway)
        made = subprocess.run(
            ["bash", "-c", f"set -e\n{create_cmd}\necho\necho TOKEN=$TOKEN"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        answer, token_line = made.stdout.strip().splitlines()[-2:]
        hook = json.loads(answer)
        assert hook["secret"].startswith("whsec_")
        token = token_line.removeprefix("TOKEN=")

        # "restart it as WEBHOOK_SECRET=whsec_... .venv/bin/python docs/examples/receiver.py 9000"
        receiver_log = tmp_path / "receiver.log"
        receiver = _spawn(f"WEBHOOK_SECRET={hook['secret']} PYTHONUNBUFFERED=1 {receiver_cmd}", env, receiver_log)
        _wait_port(9000, receiver)
        posted = subprocess.run(
            ["bash", "-c", event_cmd],
            cwd=ROOT,
            env={**env, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        answer = json.loads(posted.stdout)
        assert answer["id"].startswith("evt_")
        assert answer["deliveries"] == 1
        assert answer["duplicate"] is False
        deadline = time.monotonic() + 60
        while "webhook-signature valid" not in receiver_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = receiver_log.read_text()
        assert "TODO_CREATED -> /hook" in text, text
        assert "X-Signature valid: True   webhook-signature valid: True" in text, text
    finally:
        if receiver is not None:
            _stop(receiver)
        _stop(gateway)
