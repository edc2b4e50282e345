"""Connector discovery through the ``blue_gateway.connectors`` entry-point group (built-ins included)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import EntryPoint, entry_points

from connectors.base import Connector

__all__ = ["ENTRY_POINT_GROUP", "ConnectorRegistry", "load_connectors"]

ENTRY_POINT_GROUP = "blue_gateway.connectors"
log = logging.getLogger("gateway.connectors")


class ConnectorRegistry:
    """Connector instances by name."""

    def __init__(self, connectors: Iterable[Connector]) -> None:
        self._by_name = {c.name: c for c in connectors}

    def get(self, name: str) -> Connector | None:
        """The connector called ``name``, if loaded."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        """Loaded connector names, sorted."""
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._by_name[n] for n in self.names())


def _load_one(ep: EntryPoint) -> Connector | None:
    try:
        obj = ep.load()
        connector = obj() if isinstance(obj, type) else obj
    except Exception as exc:  # a broken plugin must never stop the gateway
        log.warning("connector %r from %s skipped: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
        return None
    if not isinstance(connector, Connector):
        log.warning("connector %r from %s skipped: not a connectors.base.Connector", ep.name, ep.value)
        return None
    if not connector.name:
        type(connector).name = ep.name
    return connector


def load_connectors(eps: Iterable[EntryPoint] | None = None) -> ConnectorRegistry:
    """Load every connector registered in the entry-point group; failures are logged and skipped."""
    found = entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps
    loaded: list[Connector] = []
    for ep in found:
        connector = _load_one(ep)
        if connector is not None:
            loaded.append(connector)
    return ConnectorRegistry(loaded)
