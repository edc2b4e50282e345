"""A plugin written by ``blue-gateway connectors new`` passes its own tests, installs, loads and delivers."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from connectors.api import event_types, sample
from tests.conftest import Receiver, eventually, free_port
from tests.integration.processes import BIN, gateway_env, wait_healthy

pytestmark = pytest.mark.slow  # runs the real CLI, pytest, pip and a gateway process


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=300)


def _scaffold(tmp_path: Path) -> Path:
    made = _run([str(BIN), "connectors", "new", "acme-crm", "--directory", str(tmp_path)], tmp_path)
    assert made.returncode == 0, made.stderr
    root = Path(made.stdout.strip())
    assert root == tmp_path / "blue-gateway-acme-crm"
    return root


def _throwaway_venv(tmp_path: Path) -> Path:
    """A fresh venv that sees the gateway's installed packages but installs into its own site-packages."""
    venv = tmp_path / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    own = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path)
    # addsitedir (not a bare path) so the gateway's own editable-install hooks run in the new venv too.
    gateway_site = sysconfig.get_paths()["purelib"]
    Path(own.stdout.strip(), "gateway-env.pth").write_text(f"import site; site.addsitedir({gateway_site!r})\n")
    return python


def test_scaffolded_plugin_passes_its_own_tests(tmp_path: Path) -> None:
    root = _scaffold(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = _run([sys.executable, "-m", "pytest", str(root), "-q", "-p", "no:cacheprovider"], root, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    expected = len(event_types()) + 1 + 7  # every catalog event, the schema, seven answers
    assert f"{expected} passed" in done.stdout, done.stdout[-1000:]


def test_scaffolded_plugin_refuses_a_taken_name(tmp_path: Path) -> None:
    done = _run([str(BIN), "connectors", "new", "webhook", "--directory", str(tmp_path)], tmp_path)
    assert done.returncode == 2
    assert "'webhook' is taken" in done.stderr
    assert list(tmp_path.iterdir()) == []


async def test_installed_plugin_loads_and_delivers_through_serve(tmp_path: Path, receiver: Receiver) -> None:
    root = _scaffold(tmp_path)
    python = _throwaway_venv(tmp_path)
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "-e", str(root)],
        tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]

    env = gateway_env(tmp_path, BLUE_GATEWAY_LOG_LEVEL="INFO")
    token = _run([str(python), "-c", "from gateway.cli import main; main()", "tokens", "create",
                  "--company", "acme", "--user", "dev"], tmp_path, env)  # fmt: skip
    assert token.returncode == 0, token.stderr
    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "ab") as errors:
        server = subprocess.Popen(
            [str(python), "-c", "from gateway.cli import main; main()", "serve", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base)
        loaded = log.read_text()
        assert (
            "acme-crm from blue_gateway_acme_crm.connector:AcmeCrmConnector (blue-gateway-acme-crm 0.1.0)"
            in loaded
        ), loaded[-3000:]
        auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
        async with httpx.AsyncClient(base_url=base, headers=auth) as client:
            listed = {c["name"]: c for c in (await client.get("/v1/connectors")).json()}
            assert listed["acme-crm"]["optionsSchema"]["properties"]["prefix"]["type"] == "string"
            made = await client.post(
                "/v1/webhooks",
                json={"url": f"{receiver.url}/crm", "connector": "acme-crm", "signing": ["blue"],
                      "events": ["TODO_CREATED"], "options": {"prefix": "[crm] "}},
            )  # fmt: skip
            assert made.status_code == 201, made.text
            secret = made.json()["secret"]
            event = sample("TODO_CREATED")
            sent = await client.post("/v1/events", json=event)
            assert sent.status_code == 202, sent.text
            assert sent.json()["deliveries"] == 1
        await eventually(lambda: receiver.requests, timeout=60, interval=0.1)
    finally:
        server.terminate()
        server.wait(timeout=15)
    got = receiver.requests[0]
    body = got.json()
    assert got.path == "/crm"
    assert body["event"] == "TODO_CREATED"
    assert body["title"] == "[crm] " + event["currentValue"]["title"]
    assert body["project"] == event["projectId"]
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Signature"] == expected
