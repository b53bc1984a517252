"""Health: whether the API and its database are up (for load balancers, Docker and monitoring)."""

import asyncio
import logging

from fastapi import APIRouter, Response, status

from shared import database
from shared.schemas import HealthRead

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 5

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Whether the API and its database are up",
    responses={503: {"model": HealthRead, "description": "The database is unreachable"}},
)
async def health(response: Response) -> HealthRead:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            await database.ping()
    except Exception:
        logger.exception("Health check: database unreachable")
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthRead(status="unavailable", database="unavailable")
    return HealthRead(status="ok", database="ok")
