"""The wheel's configuration names every package and template in the tree, so an install misses none."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_in_the_tree_is_in_the_wheel() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("gateway", "connectors")
        for init in (ROOT / top).rglob("__init__.py")
    }
    missing = sorted(found - set(SETUPTOOLS["packages"]))
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_template_file_is_package_data() -> None:
    templates = ROOT / SETUPTOOLS["package-dir"]["blue_gateway_templates"]
    patterns = SETUPTOOLS["package-data"]["blue_gateway_templates"]
    files = [p.relative_to(templates).as_posix() for p in templates.rglob("*") if p.is_file()]
    data = [f for f in files if f != "__init__.py" and "__pycache__" not in f]
    assert data, f"no template files under {templates}"
    # setuptools expands package-data patterns with glob, relative to the package folder.
    listed = {p.relative_to(templates).as_posix() for pattern in patterns for p in templates.glob(pattern)}
    unlisted = sorted(set(data) - listed)
    assert not unlisted, f"these would be left out of the wheel: {unlisted}"
