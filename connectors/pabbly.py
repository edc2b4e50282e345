"""The ``pabbly`` connector: the flat shape POSTed to a Pabbly Connect webhook URL."""

from __future__ import annotations

from connectors.base import Connector

__all__ = ["PabblyConnector"]


class PabblyConnector(Connector):
    """Pabbly Connect's ``.../workflow/sendwebhookdata/<token>`` URL is the secret: no signature needed."""

    name = "pabbly"
    description = "Flat JSON for a Pabbly Connect webhook trigger URL (same keys as Zapier)."
    signs = False
    default_template = "flat"
