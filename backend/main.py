"""The FastAPI application: `uvicorn backend.main:app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from backend.api import (
    admins,
    audit_log,
    auth,
    broadcasts,
    courses,
    docs,
    errors,
    health,
    lessons,
    limits,
    promo_codes,
    purchases,
    support_tickets,
    telegram,
    unmatched_payments,
    users,
)
from backend.panel import app as panel
from backend.services import auth_service
from backend.setup_errors import SetupErrorsInOneLine
from bot.app import running_in_api
from shared import database
from shared.config import get_settings
from shared.setup_checks import check_database
from worker import engine as job_engine

logger = logging.getLogger(__name__)


async def prepare_database() -> None:
    """Migrate the database to the latest schema and make sure the configured admin exists."""
    settings = get_settings()
    await check_database(settings.DATABASE_URL)
    await database.migrate()
    async with database.session_scope() as session:
        await auth_service.ensure_admin(
            session, username=settings.ADMIN_USERNAME, password=settings.ADMIN_PASSWORD.get_secret_value()
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    settings.warn_if_insecure()
    await prepare_database()
    # The composition root: the bot's gateway is the services' and the API's way to Telegram.
    # The composition root: the bot's gateway is the services' and the API's way to Telegram, and this
    # process hosts the jobs (the embedded mode; with REDIS_URL it only enqueues them for the workers).
    async with (
        running_in_api(settings) as gateway,
        job_engine.running(settings, bot=gateway.bot if gateway else None, host=True) as jobs,
    ):
        app.state.telegram = gateway
        app.state.jobs = jobs
        app.state.webhook = gateway if gateway is not None and gateway.dispatcher is not None else None
        if app.state.webhook is not None:
            gateway.dispatcher["jobs"] = jobs
        logger.info("Lesson store API ready (environment: %s)", settings.ENVIRONMENT.value)
        try:
            yield
        finally:
            app.state.telegram = app.state.webhook = app.state.jobs = None
    await database.dispose_engine()


api_router = APIRouter(prefix="/api")
for module in (
    users,
    lessons,
    courses,
    purchases,
    promo_codes,
    support_tickets,
    unmatched_payments,
    admins,
    audit_log,
    broadcasts,
):
    api_router.include_router(module.router)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Lesson Store API",
        summary="Sell video and text lessons and courses for Telegram Stars.",
        version="1.0.0",
        lifespan=lifespan,
        # Served by docs.install with the scripts from backend/static, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    # Inside CORS (added next, so outside it): a browser reads a 413 only with CORS's headers.
    app.add_middleware(
        limits.BodySizeLimit,
        max_bytes=settings.MAX_REQUEST_BODY_BYTES,
        exempt_prefixes=limits.UNLIMITED_BODY_PATHS,
        exempt_patterns=limits.UNLIMITED_BODY_PATTERNS,
    )
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    # A setup mistake found at startup (shared/setup_checks.py) fails it with one line, not a traceback.
    app.add_middleware(SetupErrorsInOneLine)
    if settings.trusted_proxies:
        # Outermost: login throttling counts per client, so a forged X-Forwarded-For must not name one.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    errors.install(app)
    app.include_router(auth.router)
    telegram.install(app)
    app.include_router(api_router)
    app.include_router(health.router)
    docs.install(app)
    # After the API's error handlers: the panel's wrap them, so that only /admin answers with pages.
    panel.install(app)

    return app


app = create_app()
