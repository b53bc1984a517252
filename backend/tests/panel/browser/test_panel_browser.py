"""The panel in a real browser: signing in and out, the language, keyboard use, every page's look at
desktop and phone width (screenshots) and its accessibility (axe-core: no serious or critical violation)."""

import re
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import create_lesson, create_purchase, create_user
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, new_context, sign_in

pytestmark = pytest.mark.slow


async def test_sign_in_and_see_the_dashboard(page: Page, session: AsyncSession):
    lesson = await create_lesson(session, price=40)
    await create_purchase(session, await create_user(session), lesson, amount=40)
    await sign_in(page)
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    await expect(page.get_by_test_id("dashboard-revenue")).to_have_text("40")
    # HTMX swaps the figures in, under the Content-Security-Policy (the page fixture fails on its errors).
    async with page.expect_response(re.compile(r"/admin/dashboard/totals\?period=7$")):
        await page.get_by_test_id("period-7").click()
    await expect(page.get_by_test_id("dashboard-sales")).to_have_text("1")


async def test_wrong_password_is_refused(page: Page):
    await sign_in(page, password="not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await expect(page.get_by_label("User name")).to_have_value("admin")


async def test_switch_language(page: Page):
    await sign_in(page)
    await page.get_by_role("button", name="Русский").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Обзор")
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


async def test_log_out_ends_the_session(page: Page, context: BrowserContext, browser: Browser, base_url: str):
    await sign_in(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    cookies = await context.cookies()
    await page.get_by_test_id("logout").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    # The cookie, copied before the logout, opens nothing any more.
    other = await new_context(browser, base_url)
    try:
        await other.add_cookies(cookies)  # type: ignore[arg-type]
        copied = await other.new_page()
        await copied.goto("/admin")
        await expect(copied).to_have_url(re.compile(r"/admin/login\?next="))
    finally:
        await other.close()


async def test_form_without_csrf_token_is_refused(page: Page):
    await sign_in(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    # A form posted from elsewhere has no token: take it out of the page's logout form and submit that.
    await page.locator('form[action="/admin/logout"] input[name="csrf_token"]').evaluate(
        "input => input.remove()"
    )
    async with page.expect_response(re.compile(r"/admin/logout$")) as refused:
        await page.get_by_test_id("logout").click()
    assert (await refused.value).status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Forbidden")
    # Nothing happened: the session is still alive.
    await page.goto("/admin")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


async def test_keyboard_reaches_the_content_first(page: Page):
    await sign_in(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()


async def _login_page(page: Page) -> None:
    await page.goto("/admin/login")


async def _login_error(page: Page) -> None:
    await sign_in(page, password="not-the-password")
    await expect(page.get_by_role("alert")).to_be_visible()


async def _dashboard(page: Page) -> None:
    await sign_in(page)
    await expect(page.get_by_test_id("dashboard-new-students")).to_be_visible()


async def _dashboard_russian(page: Page) -> None:
    await _dashboard(page)
    await page.get_by_role("button", name="Русский").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ru")


async def _not_found(page: Page) -> None:
    await sign_in(page)
    await expect(page.get_by_test_id("dashboard-new-students")).to_be_visible()
    await page.goto("/admin/no-such-page")


PAGES: dict[str, Callable[[Page], Awaitable[None]]] = {
    "login": _login_page,
    "login-error": _login_error,
    "dashboard": _dashboard,
    "dashboard-ru": _dashboard_russian,
    "not-found": _not_found,
}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS)
async def test_page_looks_right_and_is_accessible(
    browser: Browser, base_url: str, name: str, viewport_name: str, viewport: dict[str, int]
):
    await check_page(browser, base_url, PAGES[name], f"{name}-{viewport_name}", viewport)
