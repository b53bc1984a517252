"""Prometheus metrics: off by default; when enabled, /metrics counts requests by route template, and the
money paths count payments and refunds as they are recorded."""

import httpx
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from backend.main import create_app
from backend.services import purchase_service
from backend.tests.factories import create_lesson, create_purchase, create_user
from bot.tests.conftest import settings_env
from shared.constants import PurchaseStatus


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_count_requests_by_handler() -> None:
    handler = "lessons.read_lesson"
    before = sample("lesson_store_http_requests_total", method="GET", handler=handler, status="404")
    with settings_env(METRICS_ENABLED="true"):
        app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/api/lessons/987654")
        await client.get("/api/lessons/987655")
        exposition = await client.get("/metrics/")
    assert exposition.status_code == 200
    assert (
        sample("lesson_store_http_requests_total", method="GET", handler=handler, status="404") == before + 2
    )
    # One label per route, not per id.
    assert "987654" not in exposition.text
    assert "lesson_store_http_request_duration_seconds_count{" in exposition.text
    assert sample("lesson_store_http_request_duration_seconds_count", method="GET", handler=handler) >= 2


async def test_metrics_count_payments_and_refunds(session: AsyncSession) -> None:
    payments = sample("lesson_store_payments_total", kind="lesson")
    refunds = sample("lesson_store_refunds_total")
    student, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, student, lesson, status=PurchaseStatus.PENDING)
    assert sample("lesson_store_payments_total", kind="lesson") == payments
    await purchase_service.complete(session, purchase)
    await purchase_service.mark_refunded(session, purchase)
    assert sample("lesson_store_payments_total", kind="lesson") == payments + 1
    assert sample("lesson_store_refunds_total") == refunds + 1
