"""The dashboard in a real browser: the charts are drawn (under the CSP), the period switches with HTMX and
the keyboard, and every state of the page looks right and is accessible at desktop and phone width."""

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, sign_in
from shared.constants import PurchaseStatus
from shared.utils import utcnow

pytestmark = pytest.mark.slow

# Painted pixels (alpha > 0) of a canvas: Chart.js drew something.
PAINTED = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted;
}"""


async def _history(session: AsyncSession) -> None:
    now = utcnow()
    lessons = [await create_lesson(session, price=40 + 10 * n, title=f"Lesson <{n}>") for n in range(3)]
    course = await create_course(session, lessons[:2], total_price=90, title="A course with a long name " * 3)
    promo = await create_promo_code(session, code="AUTUMN")
    for n in range(12):
        student = await create_user(session, created_at=now - timedelta(days=3 * n))
        lesson = lessons[n % 3]
        status = PurchaseStatus.REFUNDED if n % 5 == 4 else PurchaseStatus.COMPLETED
        await create_purchase(
            session,
            student,
            lesson,
            amount=lesson.price,
            status=status,
            created_at=now - timedelta(days=2 * n),
        )
        if n % 4 == 0:
            await create_purchase(
                session,
                student,
                course,
                amount=81,
                promo_code_id=promo.id,
                created_at=now - timedelta(days=n),
            )


async def _wait_drawn(page: Page, testid: str) -> None:
    """Until the canvas has more than a hundred painted pixels (fails after the default timeout)."""
    # A function, not an expression: Playwright polls an expression through eval(), which the page's
    # Content-Security-Policy refuses (the test failed whenever the chart was not drawn at the first look).
    await page.wait_for_function(f"() => ({PAINTED})(document.querySelector('[data-testid={testid}]')) > 100")


async def test_dashboard_chart_draws_and_period_switches(page: Page, session: AsyncSession):
    await _history(session)
    await sign_in(page)

    chart = page.get_by_test_id("revenue-chart")
    await expect(chart).to_be_visible()
    await _wait_drawn(page, "revenue-chart")
    await expect(page.get_by_test_id("period-30")).to_have_attribute("aria-current", "page")

    async with page.expect_response(re.compile(r"/admin/dashboard/totals\?period=7$")):
        await page.get_by_test_id("period-7").click()
    await expect(page).to_have_url(re.compile(r"/admin\?period=7$"))
    await expect(page.get_by_test_id("period-7")).to_have_attribute("aria-current", "page")
    await _wait_drawn(page, "revenue-chart")
    await _wait_drawn(page, "students-chart")
    await expect(page.get_by_test_id("students-chart")).to_be_visible()

    # The keyboard: the period links are links (Tab to them, Enter follows them).
    await page.get_by_test_id("period-365").focus()
    async with page.expect_response(re.compile(r"/admin/dashboard/totals\?period=365$")):
        await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("period-365")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_test_id("dashboard-new-students")).to_have_text("12")

    # The table of the same figures opens for those who cannot see the chart.
    await page.get_by_text("Figures by day", exact=True).click()
    await expect(page.get_by_test_id("by-day").locator("tbody tr")).to_have_count(365)


async def test_dashboard_without_javascript_still_has_every_figure(browser: Browser, base_url: str, session):
    await _history(session)
    context = await browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        page = await context.new_page()
        await sign_in(page)
        await page.goto("/admin?period=90")
        await expect(page.get_by_test_id("period-90")).to_have_attribute("aria-current", "page")
        await expect(page.get_by_test_id("dashboard-new-students")).to_have_text("12")
    finally:
        await context.close()


async def _dashboard_with_data(page: Page) -> None:
    await sign_in(page)
    await expect(page.get_by_test_id("revenue-chart")).to_be_visible()


async def _dashboard_year(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin?period=365")
    await page.get_by_text("Figures by day", exact=True).click()
    await expect(page.get_by_test_id("by-day")).to_be_visible()


async def _dashboard_russian(page: Page) -> None:
    await sign_in(page)
    await page.get_by_role("button", name="Русский").click()
    await expect(page.get_by_test_id("period-7")).to_have_text("7 дней")


async def _dashboard_bad_period(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin?period=12")


PAGES: dict[str, Callable[[Page], Awaitable[None]]] = {
    "dashboard-data": _dashboard_with_data,
    "dashboard-year-table": _dashboard_year,
    "dashboard-data-ru": _dashboard_russian,
    "dashboard-bad-period": _dashboard_bad_period,
}


@pytest.fixture
async def with_history(session: AsyncSession) -> None:
    await _history(session)


@pytest.mark.usefixtures("with_history")
@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS)
async def test_dashboard_looks_right_and_is_accessible(
    browser: Browser, base_url: str, name: str, viewport_name: str, viewport: dict[str, int]
):
    await check_page(browser, base_url, PAGES[name], f"{name}-{viewport_name}", viewport)
