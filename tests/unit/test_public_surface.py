"""Module boundaries: gateway.core imports no framework, and importing any module connects to nothing.

That every ``__all__`` name exists (and none repeats) is ruff's F822 and RUF068, run by ``make lint``.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import connectors
import gateway


def _modules() -> Iterator[str]:
    for package in (gateway, connectors):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if ".migrations" not in info.name:
                yield info.name


def test_core_imports_no_framework() -> None:
    """gateway.core is framework-free: no litestar, taskiq, sqlalchemy or aiohttp in its imports."""
    root = Path(gateway.__file__).parent / "core"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            for mod in names:
                assert mod.split(".")[0] not in {"litestar", "taskiq", "sqlalchemy", "aiohttp"}, f"{path}: {mod}"


def test_importing_connects_to_nothing() -> None:
    """In a fresh interpreter whose sockets refuse to connect, every module imports."""
    script = (
        "import socket, importlib, sys\n"
        "def refuse(*a, **k): raise AssertionError(f'connect at import time: {a}')\n"
        "socket.socket.connect = refuse\n"
        "socket.socket.connect_ex = refuse\n"
        "socket.create_connection = refuse\n"
        f"for name in {sorted(_modules())!r}: importlib.import_module(name)\n"
        "print('imported', len(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("imported")
