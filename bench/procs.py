"""Subprocesses of the benchmark: the gateway, the receiver, and their guaranteed cleanup."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = ["BenchError", "Processes", "free_port", "gateway_env"]

REPO = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


class BenchError(RuntimeError):
    """The benchmark cannot go on (a process died, a check failed); the message says why."""


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(tmp: Path) -> dict[str, str]:
    """The environment of every gateway command: its own SQLite file, private targets allowed, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUE_GATEWAY_")}
    env.update(
        BLUE_GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/bench.db",
        BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS="true",
        BLUE_GATEWAY_LOG_LEVEL="WARNING",
    )
    return env


def _cli() -> str:
    """The ``blue-gateway`` script beside the running interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("blue-gateway")
    if beside.exists():
        return str(beside)
    found = shutil.which("blue-gateway")
    if found is None:
        raise BenchError("blue-gateway is not installed (run `make install`)")
    return found


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a pre-exec hook that makes the child get SIGTERM if the bench itself is killed."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def hook() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class Processes:
    """Owns every subprocess the bench starts; :meth:`stop_all` ends them (TERM, then KILL) by their ids."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.gateway_pid: int | None = None

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], stdout: int | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches only the bench, which then stops these in order
                preexec_fn=_die_with_parent(),  # no threads exist yet
            )
        finally:
            log.close()
        self._procs.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The end of a subprocess's log, for error messages."""
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start_receiver(self) -> str:
        """Start ``python -m bench.receiver`` and return its base URL once it listens."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        proc = self._spawn(
            "receiver", [sys.executable, "-m", "bench.receiver", "--port", "0"], env, subprocess.PIPE
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            raise BenchError(f"receiver did not start: {line!r}\n{self.log_tail('receiver')}")
        return f"http://127.0.0.1:{int(line.split()[1])}"

    def start_gateway(self, overrides: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[str, str]:
        """Start ``blue-gateway serve``, wait for ``/healthz``, create a token; return (base URL, token).

        ``overrides`` are extra ``BLUE_GATEWAY_*`` variables (``--set``), for experiments with settings.
        """
        env = {**gateway_env(self.tmp), **(overrides or {})}
        port = free_port()
        proc = self._spawn("gateway", [_cli(), "serve", "--host", "127.0.0.1", "--port", str(port)], env)
        self.gateway_pid = proc.pid
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise BenchError(f"gateway exited with {proc.returncode}:\n{self.log_tail('gateway')}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"gateway not healthy after {timeout:.0f}s:\n{self.log_tail('gateway')}")
            time.sleep(0.1)
        done = subprocess.run(
            [_cli(), "tokens", "create", "--company", "bench", "--user", "bench"],
            cwd=self.tmp,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        token = done.stdout.decode().strip()
        if done.returncode != 0 or not token:
            raise BenchError(f"tokens create failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        return base, token

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every process group we started (newest first), wait, then SIGKILL what is left."""
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in reversed(self._procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs.clear()
