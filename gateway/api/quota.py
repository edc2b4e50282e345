"""The ingest quota at the API: 429 with ``Retry-After`` for a company over its events per second."""

from __future__ import annotations

import math
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

from gateway.api.errors import Unprocessable
from gateway.core.quota import IngestQuota
from gateway.settings import Settings

__all__ = ["charge_ingest", "new_ingest_quota"]


def new_ingest_quota(settings: Settings) -> IngestQuota:
    """The quota of ``BLUE_GATEWAY_INGEST_RATE`` / ``BLUE_GATEWAY_INGEST_BURST`` (off when the rate is 0)."""
    return IngestQuota(settings.ingest_rate, settings.ingest_burst)


def charge_ingest(
    request: Request[Any, Any, Any], company_id: str, events: int = 1, field: str = "events"
) -> None:
    """Count ``events`` against the company's quota before any work is done; all of them or none."""
    quota: IngestQuota = request.app.state.ingest_quota
    if not quota.enabled:
        return
    if events > quota.burst:
        raise Unprocessable(field, f"at most {quota.burst} events per request under this gateway's ingest quota")
    wait = quota.take(company_id, events)
    if wait:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            status_code=429,
            detail=f"over the ingest quota of {quota.rate:g} events/s for this company; retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
