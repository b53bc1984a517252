"""The FastAPI application: `uvicorn backend.main:app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend.api import (
    auth,
    courses,
    errors,
    health,
    lessons,
    promo_codes,
    purchases,
    shortcuts,
    support_tickets,
    telegram,
    users,
)
from backend.services import auth_service
from bot.app import running_in_api
from shared import database
from shared.config import get_settings
from shared.utils import settle_garbage_collector

logger = logging.getLogger(__name__)


async def prepare_database() -> None:
    """Migrate the database to the latest schema and make sure the configured admin exists."""
    settings = get_settings()
    await database.migrate()
    async with database.session_scope(write=True) as session:
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
    async with running_in_api(app.state, settings):
        logger.info("Lesson store API ready (environment: %s)", settings.ENVIRONMENT.value)
        settle_garbage_collector()
        yield
    await database.dispose_engine()


api_router = APIRouter(prefix="/api")
for module in (users, lessons, courses, purchases, promo_codes, support_tickets):
    api_router.include_router(module.router)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Lesson Store API",
        summary="Sell video and text lessons and courses for Telegram Stars.",
        version="1.0.0",
        lifespan=lifespan,
    )
    # Inside CORS (added next, so outside it), whose headers its answers need too.
    app.add_middleware(shortcuts.Shortcuts)
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    errors.install(app)
    app.include_router(auth.router)
    telegram.install(app)
    app.include_router(api_router)
    app.include_router(health.router)

    return app


app = create_app()
