"""Connectors: pure functions from (event, webhook) to an outbound request, and from a response to an outcome.

The package re-exports :mod:`connectors.api`, the stable plugin API, so ``from connectors import Connector``
and ``from connectors.api import Connector`` name the same object.
"""

from __future__ import annotations

from connectors import api
from connectors.api import *  # noqa: F403 - exactly the plugin API, listed once in connectors.api

__all__ = api.__all__
