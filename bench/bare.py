"""A bare Litestar JSON endpoint on uvicorn, as the gateway is served: the yardstick of single-event ingest.

Run as ``python -m bench.bare --port N``. ``POST /v1/events`` decodes the JSON body and answers 202
with a small JSON object, as ingest does, but stores nothing; ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from litestar import Litestar, get, post

__all__ = ["app", "main"]


@post("/v1/events", status_code=202)
async def events(data: dict[str, Any]) -> dict[str, Any]:
    """Accept one JSON event and store nothing."""
    return {"accepted": 1, "event": data.get("event")}


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Ready."""
    return {"status": "ok"}


app = Litestar([events, healthz])


def main(argv: list[str] | None = None) -> None:
    """Serve on 127.0.0.1 with the gateway's uvicorn options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
