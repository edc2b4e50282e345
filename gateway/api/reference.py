"""The interactive API reference at ``/schema``, its Swagger UI assets served by the gateway itself.

The assets come from the ``swagger-ui-py`` package (Swagger UI's own build, with its licence), so the
page works with no network beyond the gateway; the bearer scheme in the document lets it sign in.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from gateway import __version__
from gateway.api.responses import COMPONENTS

__all__ = ["ASSETS_PATH", "openapi_config", "reference_assets"]


ASSETS_PATH = "/schema-assets"


def _assets() -> Path:
    # Located, not imported: the package's Python side (its framework handlers) is not used.
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall blue-gateway")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def reference_assets() -> Router:
    """Swagger UI's scripts and styles, cached a day (the package version pins them)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[_assets()],
        name="reference-assets",
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )


def openapi_config() -> OpenAPIConfig:
    """The OpenAPI document at ``/schema/openapi.json`` and Swagger UI at ``/schema``."""
    return OpenAPIConfig(
        title="Blue Gateway",
        version=__version__,
        description="Webhooks and connectors for Blue. Send `Authorization: Bearer <token>` to every `/v1` route "
        "except a source's ingest route, which Blue signs with `X-Signature`.",
        path="/schema",
        use_handler_docstrings=True,
        components=COMPONENTS,
        render_plugins=[
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
            )
        ],
    )
