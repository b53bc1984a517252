"""Health for load balancers, orchestrators and monitoring: /health says the process serves (liveness),
/ready whether it can do its work: the database answers, and Redis when one is configured (readiness)."""

import asyncio
import logging

from fastapi import APIRouter, Request, Response, status
from redis.asyncio import Redis

from shared import database
from shared.schemas import HealthRead, ReadinessRead

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 5

router = APIRouter(tags=["health"])


@router.get("/health", summary="Whether the API process serves requests (liveness)")
async def health() -> HealthRead:
    return HealthRead(status="ok")


async def _database() -> bool:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            await database.ping()
    except Exception:
        logger.exception("Readiness: database unreachable")
        return False
    return True


async def _redis(redis: Redis) -> bool:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            await redis.ping()
    except Exception:
        logger.exception("Readiness: Redis unreachable")
        return False
    return True


@router.get(
    "/ready",
    summary="Whether the API can do its work: the database and Redis (if configured) answer",
    responses={503: {"model": ReadinessRead, "description": "The database or Redis is unreachable"}},
)
async def ready(request: Request, response: Response) -> ReadinessRead:
    redis: Redis | None = getattr(request.app.state, "redis", None)
    database_ok = await _database()
    redis_ok = await _redis(redis) if redis is not None else None
    if not database_ok or redis_ok is False:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessRead(
        status="ok" if response.status_code != status.HTTP_503_SERVICE_UNAVAILABLE else "unavailable",
        database="ok" if database_ok else "unavailable",
        redis="not_configured" if redis_ok is None else "ok" if redis_ok else "unavailable",
    )
