"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from vidgate import __version__
from vidgate.api import errors
from vidgate.api.deps import AuthCache
from vidgate.api.middleware import RequestContextMiddleware
from vidgate.api.routes import admin, keys, videos, webhooks
from vidgate.gateway import Gateway
from vidgate.settings import Settings

log = logging.getLogger("vidgate")


def create_app(settings: Settings | None = None, *, workers: bool = True) -> FastAPI:
    """Build the app. ``workers=False`` serves the API only (tasks run in `vidgate worker`)."""
    settings = settings or Settings()
    gw = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gw.open()
        if workers:
            await gw.start_workers()
        try:
            yield
        finally:
            await gw.close()

    app = FastAPI(
        title="vidgate",
        version=__version__,
        description="Unified video generation API (API Mall contract).",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    app.state.auth_cache = AuthCache()
    errors.install(app)
    app.router.routes.extend(videos.poll_routes)
    app.include_router(videos.router)
    app.include_router(keys.router)
    app.include_router(admin.router)
    app.include_router(webhooks.router)

    from vidgate.storage.local import files_router

    app.include_router(files_router(lambda: gw.storage))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"ok": True, "version": __version__})

    app.add_middleware(RequestContextMiddleware, allowed_hosts=settings.gateway_hosts)

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema["paths"]["/api/v1/videos/{task_id}"] = videos.POLL_OPENAPI
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
