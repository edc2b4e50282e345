"""Blue Gateway: receives Blue events, matches webhook subscriptions and delivers them through connectors."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
