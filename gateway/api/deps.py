"""Litestar dependencies shared by the controllers: the runtime and the caller, checked for a scope.

A handler names what it needs (``runtime: Runtime``, ``principal: Principal``) and gets it already
checked, so no handler repeats the lookup, the bearer check or the scope check.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from gateway.api.auth import Principal, provide_principal
from gateway.runtime import Runtime

__all__ = ["ANY_TOKEN", "INGEST", "MANAGE", "RUNTIME", "provide_runtime"]


def provide_runtime(request: Request[Any, Any, Any]) -> Runtime:
    """The process's runtime, set on the app by ``create_app``."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _manager(request: Request[Any, Any, Any], runtime: Runtime) -> Principal:
    principal = await provide_principal(request, runtime)
    principal.require("manage")
    return principal


async def _ingester(request: Request[Any, Any, Any], runtime: Runtime) -> Principal:
    principal = await provide_principal(request, runtime)
    principal.require("ingest")
    return principal


RUNTIME = Provide(provide_runtime, sync_to_thread=False)
"""``runtime``: registered once on the app."""
ANY_TOKEN = Provide(provide_principal)
"""``principal`` for read-only catalog routes: any valid token, whatever its scopes, else 401."""
MANAGE = Provide(_manager)
"""``principal`` for management routes: a valid token with the ``manage`` scope, else 401/403."""
INGEST = Provide(_ingester)
"""``principal`` for ingest routes: a valid token with the ``ingest`` scope, else 401/403."""
