"""``create_app(settings)``: the one factory of the HTTP application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.exceptions import NotFoundException

from gateway.api.auth import new_token_cache
from gateway.api.body import GatewayRequest
from gateway.api.deliveries import DeliveriesController
from gateway.api.deps import RUNTIME
from gateway.api.errors import EXCEPTION_HANDLERS
from gateway.api.events import EventsController
from gateway.api.ops import CatalogController, OpsController
from gateway.api.portal_links import PortalLinksController
from gateway.api.quota import new_ingest_quota
from gateway.api.reference import openapi_config, reference_assets
from gateway.api.responses import document_operations
from gateway.api.sources import SourceIngestController, SourcesController
from gateway.api.templates import TemplatesController
from gateway.api.tokens import AuditController, TokensController
from gateway.api.webhook_actions import WebhookActionsController
from gateway.api.webhooks import WebhooksController
from gateway.api.zapier import ZapierController
from gateway.portal import portal_handlers
from gateway.portal.errors import portal_or_api_not_found
from gateway.runtime import Runtime
from gateway.services.sources import new_source_cache
from gateway.services.tokens import TokenUsage
from gateway.settings import Settings

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, worker: bool = True
) -> Litestar:
    """Build the app; the runtime starts with the app's lifespan and stops with it."""
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await rt.start(worker=worker)
        try:
            yield
        finally:
            await rt.stop()

    app = Litestar(
        route_handlers=[
            EventsController,
            WebhooksController,
            WebhookActionsController,
            DeliveriesController,
            CatalogController,
            OpsController,
            SourcesController,
            SourceIngestController,
            TemplatesController,
            ZapierController,
            reference_assets(),
            TokensController,
            AuditController,
            PortalLinksController,
            *portal_handlers(),
        ],
        lifespan=[lifespan],
        dependencies={"runtime": RUNTIME},
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: portal_or_api_not_found},
        request_max_body_size=settings.max_body_bytes,
        request_class=GatewayRequest,  # every JSON body is checked against the input limits once, here
        openapi_config=openapi_config(),
        debug=False,
    )
    document_operations(app)
    app.state.runtime = rt
    app.state.token_cache = new_token_cache()
    app.state.token_usage = TokenUsage(rt.committer.submit)
    app.state.source_secrets = new_source_cache()
    app.state.ingest_quota = new_ingest_quota(settings)
    return app
