"""The one JSON body decoder of every route: bodies breaking the input limits are refused before any handler."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.types import Empty

from gateway.api.errors import Unprocessable
from gateway.core.jsonlimits import (
    JsonLimitExceeded,
    MalformedJson,
    NestedTooDeep,
    decode,
    find_violation,
    may_break_limits,
)

__all__ = ["GatewayRequest", "decode_body"]

INLINE_DIAGNOSIS_BYTES = 64 * 1024
"""Naming the field at fault walks the body in Python; larger bodies are walked off the event loop."""
_DIAGNOSIS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="json-limits")
"""One walker thread: a burst of hostile bodies queues here instead of crowding the event loop off the GIL."""


async def decode_body(body: bytes) -> Any:
    """Decode a JSON body within the limits: 400 when it is not JSON, 422 naming the field that breaks one."""
    try:
        value = decode(body)
        decoded = True
    except MalformedJson as exc:
        raise _malformed(exc) from None
    except NestedTooDeep:
        value, decoded = None, False
    if decoded and not may_break_limits(body, value):
        return value
    try:
        if len(body) <= INLINE_DIAGNOSIS_BYTES:
            violation = find_violation(body, value, decoded=decoded)
        else:
            walk = functools.partial(find_violation, body, value, decoded=decoded)
            violation = await asyncio.get_running_loop().run_in_executor(_DIAGNOSIS, walk)
    except MalformedJson as exc:
        raise _malformed(exc) from None
    if violation is not None:
        raise _unprocessable(violation)
    return value


def _malformed(exc: MalformedJson) -> HTTPException:
    return HTTPException(status_code=400, detail="malformed JSON: " + str(exc).removeprefix("JSON is malformed: "))


def _unprocessable(violation: JsonLimitExceeded) -> Unprocessable:
    return Unprocessable(violation.path, violation.message)


class GatewayRequest(Request[Any, Any, Any]):
    """A request whose ``json()`` (and so every ``data`` parameter) goes through :func:`decode_body`."""

    async def json(self) -> Any:
        """The decoded body, checked against the input limits once per request."""
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                self._json = self._connection_state.json = await decode_body(await self.body() or b"null")
        return self._json
