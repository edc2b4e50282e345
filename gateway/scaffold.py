"""``blue-gateway connectors new NAME``: write a ready connector plugin package to start from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from string import Template

from gateway.scaffold_files import FILES

__all__ = ["ScaffoldError", "plugin_names", "write_plugin"]

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME = 40


class ScaffoldError(ValueError):
    """The plugin cannot be written as asked (a bad or taken name, a folder in the way)."""


def plugin_names(name: str) -> dict[str, str]:
    """The names a plugin called ``name`` uses: connector, distribution, import package and class."""
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise ScaffoldError(
            f"connector name {name!r}: use lowercase letters and digits, words joined by '-' or '_',"
            f" starting with a letter, at most {MAX_NAME} characters (e.g. 'acme-crm')"
        )
    words = re.split(r"[-_]", name)
    return {
        "name": name,
        "dist": f"blue-gateway-{name.replace('_', '-')}",
        "module": "blue_gateway_" + "_".join(words),
        "cls": "".join(word.capitalize() for word in words) + "Connector",
    }


def write_plugin(name: str, parent: Path, *, taken: Iterable[str] = ()) -> Path:
    """Write the plugin package for connector ``name`` into a new folder under ``parent``; return the folder.

    ``taken`` are the connector names already loaded: a plugin with one of them would be skipped at start.
    Nothing is written when the name is refused or the folder already exists.
    """
    names = plugin_names(name)
    if name in set(taken):
        raise ScaffoldError(f"connector name {name!r} is taken by a loaded connector; pick another")
    root = parent / names["dist"]
    if root.exists():
        raise ScaffoldError(f"{root} already exists; remove it or choose another --directory")
    files = {Path(Template(path).substitute(names)): text.substitute(names) for path, text in FILES.items()}
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root
