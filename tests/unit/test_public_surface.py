"""The public surface is what ``__all__`` says, and importing a module connects to nothing."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

import connectors
import gateway


def _modules() -> Iterator[str]:
    for package in (gateway, connectors):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if ".migrations" not in info.name:
                yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return
    missing = [attr for attr in exported if not hasattr(module, attr)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"


def test_core_imports_no_framework() -> None:
    """gateway.core is framework-free: no litestar, taskiq, sqlalchemy or aiohttp in its imports."""
    import ast
    from pathlib import Path

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
