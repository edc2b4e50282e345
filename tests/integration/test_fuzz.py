"""No input may produce a 500: schemathesis fuzzes every operation of the OpenAPI schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.test_crash_recovery import BIN, _env, _wait_healthy


async def test_no_generated_request_gets_a_500(tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    if not schemathesis.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    env = {**_env(tmp_path), "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "false"}
    token = subprocess.run(
        [str(BIN), "tokens", "create", "--company", "fuzz", "--user", "fuzz"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_healthy(f"http://127.0.0.1:{port}")
        run = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"http://127.0.0.1:{port}/schema/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stdout[-4000:]
    finally:
        server.terminate()
        server.wait(timeout=15)
