"""Deliveries verify with Node.js's crypto over the raw bytes: the receiver check our docs give."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Gateway, Receiver, eventually

VERIFY_JS = Path(__file__).parent.parent / "node" / "verify.js"


async def test_node_crypto_verifies_both_signatures(gateway: Gateway, receiver: Receiver, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but node is not installed")
        pytest.skip("node is not installed")
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url)
    await gateway.event(auth, event="TODO_CREATED", currentValue={"title": 'Ünïcödé "quotes" 1.0', "n": 1.0})
    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    (tmp_path / "body").write_bytes(got.body)
    (tmp_path / "headers.json").write_text(json.dumps(got.headers))
    ok = subprocess.run(
        [node, str(VERIFY_JS), str(tmp_path / "body"), str(tmp_path / "headers.json"), hook["secret"]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "ok"
    tampered = got.body.replace(b"quotes", b"QUOTES")
    (tmp_path / "body").write_bytes(tampered)
    bad = subprocess.run(
        [node, str(VERIFY_JS), str(tmp_path / "body"), str(tmp_path / "headers.json"), hook["secret"]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1
    assert "mismatch" in bad.stderr
