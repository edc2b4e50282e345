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
    """Load every connector registered in the entry-point group; failures are logged and skipped.

    One INFO line lists what loaded: each name with the ``module:attribute`` and distribution it came from.
    """
    found = entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps
    by_name: dict[str, Connector] = {}
    origins: dict[str, str] = {}
    for ep in sorted(found, key=lambda e: (not e.value.startswith("connectors."), e.name)):
        connector = _load_one(ep)
        if connector is None:
            continue
        if connector.name in by_name:  # built-ins load first, so a plugin cannot replace them
            log.warning(
                "connector %r from %s skipped: the name is taken by %s",
                connector.name,
                ep.value,
                type(by_name[connector.name]).__module__,
            )
            continue
        by_name[connector.name] = connector
        origins[connector.name] = _origin(ep)
    if by_name:
        log.info("connectors loaded: %s", ", ".join(f"{name} from {origins[name]}" for name in sorted(by_name)))
    return ConnectorRegistry(by_name.values())


def _origin(ep: EntryPoint) -> str:
    """Where a connector came from: its ``module:attribute`` and the distribution that declared it."""
    dist = ep.dist
    return f"{ep.value} ({dist.name} {dist.version})" if dist is not None else ep.value
