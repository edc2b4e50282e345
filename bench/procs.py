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
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BenchError", "Memory", "Processes", "free_port", "gateway_env", "read_cpu_seconds", "read_memory"]

REPO = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


class BenchError(RuntimeError):
    """The benchmark cannot go on (a process died, a check failed); the message says why."""


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Memory:
    """A process's resident memory now and at its peak (``VmRSS`` and ``VmHWM`` of ``/proc/<pid>/status``)."""

    rss_mib: float
    hwm_mib: float

    def __str__(self) -> str:
        return f"RSS {self.rss_mib:.0f} MiB (peak {self.hwm_mib:.0f})"


def read_memory(pid: int | None) -> Memory | None:
    """The process's memory in MiB, or None where there is no ``/proc`` (not Linux) or no such process."""
    if pid is None:
        return None
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kib: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            kib[name] = int(rest.split()[0])  # "VmRSS:   123456 kB"
    if len(kib) < 2:
        return None
    return Memory(kib["VmRSS"] / 1024, kib["VmHWM"] / 1024)


def read_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) the process has used so far, or None without ``/proc`` or such a process."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state is fields[0], utime fields[11]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_env(tmp: Path, db_name: str = "bench") -> dict[str, str]:
    """The environment of every gateway command: its own SQLite file, private targets allowed, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUE_GATEWAY_")}
    env.update(
        BLUE_GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/{db_name}.db",
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
        self.share_embedded = False
        """One embedded gateway for every scenario that asks for one (``--quick``: each start costs seconds)."""
        self._shared: tuple[str, tuple[str, str]] | None = None  # (process name, (base URL, token))

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

    def start_receiver(
        self, delays: dict[str, float] | None = None, keyed: tuple[str, ...] = (), name: str = "receiver"
    ) -> str:
        """Start ``python -m bench.receiver`` and return its base URL once it listens.

        ``delays`` maps a path group (``slow`` for ``/slow/...``) to the seconds it waits before answering;
        ``keyed`` groups record each delivery's arrival by event key (see :mod:`bench.receiver`).
        """
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        argv = [sys.executable, "-m", "bench.receiver", "--port", "0"]
        argv += [f"--delay={group}={seconds}" for group, seconds in (delays or {}).items()]
        argv += [f"--keyed={group}" for group in keyed]
        proc = self._spawn(name, argv, env, subprocess.PIPE)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            raise BenchError(f"{name} did not start: {line!r}\n{self.log_tail(name)}")
        return f"http://127.0.0.1:{int(line.split()[1])}"

    def start_bare(self, timeout: float = 30.0) -> str:
        """Start the bare Litestar endpoint (:mod:`bench.bare`); its base URL once it answers."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        port = free_port()
        proc = self._spawn("bare", [sys.executable, "-m", "bench.bare", "--port", str(port)], env)
        base = f"http://127.0.0.1:{port}"
        self._wait_healthy("bare", proc, base, timeout)
        return base

    def _wait_healthy(self, name: str, proc: subprocess.Popen[bytes], base: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{name} not healthy after {timeout:.0f}s:\n{self.log_tail(name)}")
            time.sleep(0.1)

    def cli(self, env: dict[str, str], *args: str) -> str:
        """Run one ``blue-gateway`` command to its end; its stdout, or BenchError with its stderr."""
        done = subprocess.run(
            [_cli(), *args], cwd=self.tmp, env=env, capture_output=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise BenchError(
                f"blue-gateway {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
            )
        return done.stdout.decode().strip()

    def gateway_env(self, name: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of the gateway called ``name``: its own SQLite file unless overridden."""
        return {**gateway_env(self.tmp, "bench" if name == "gateway" else name), **(overrides or {})}

    def start_gateway(
        self,
        overrides: dict[str, str] | None = None,
        timeout: float = 60.0,
        name: str = "gateway",
        *,
        no_worker: bool = False,
    ) -> tuple[str, str]:
        """Start ``blue-gateway serve``, wait for ``/healthz``, create a token; return (base URL, token).

        ``overrides`` are extra ``BLUE_GATEWAY_*`` variables (``--set``, or another database and broker).
        ``name`` names its log and its SQLite file, so a second gateway starts on a fresh database.
        """
        embedded = not no_worker and "BLUE_GATEWAY_DATABASE_URL" not in (overrides or {})
        if self.share_embedded and embedded and self._shared is not None:
            return self._shared[1]
        env = self.gateway_env(name, overrides)
        if not env["BLUE_GATEWAY_DATABASE_URL"].startswith("sqlite"):
            self.cli(env, "migrate")
        port = free_port()
        argv = [_cli(), "serve", "--host", "127.0.0.1", "--port", str(port)] + (
            ["--no-worker"] if no_worker else []
        )
        proc = self._spawn(name, argv, env)
        self.gateway_pid = proc.pid
        base = f"http://127.0.0.1:{port}"
        self._wait_healthy(name, proc, base, timeout)
        started = base, self.token(env, "bench")
        if self.share_embedded and embedded:
            self._shared = name, started
        return started

    def token(self, env: dict[str, str], company: str) -> str:
        """A new admin token of ``company`` on the database of ``env``."""
        token = self.cli(env, "tokens", "create", "--company", company, "--user", "bench")
        if not token:
            raise BenchError("tokens create printed no token")
        return token

    def start_worker(self, name: str, env: dict[str, str]) -> int:
        """Start a ``blue-gateway worker`` with ``env``; its pid."""
        return self._spawn(name, [_cli(), "worker"], env).pid

    def stop(self, name: str, grace: float = 10.0) -> None:
        """Stop the processes called ``name`` (TERM, then KILL after ``grace`` seconds) and forget them.

        A shared embedded gateway keeps running until :meth:`stop_all`.
        """
        if self._shared is not None and self._shared[0] == name:
            return
        self._stop([p for p in self._procs if p[0] == name], grace)

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every process group we started (newest first), wait, then SIGKILL what is left."""
        self._stop(list(self._procs), grace)

    def _stop(self, chosen: list[tuple[str, subprocess.Popen[bytes]]], grace: float) -> None:
        for _, proc in reversed(chosen):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in reversed(chosen):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            if proc.pid == self.gateway_pid:
                self.gateway_pid = None
        self._procs = [p for p in self._procs if p not in chosen]
