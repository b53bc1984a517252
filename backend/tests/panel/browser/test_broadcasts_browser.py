"""A broadcast in a real browser, with the bot on against the Bot API double: compose it (the recipient
count follows the audience), save it, start it, and watch its progress reach "done" without reloading;
the composer and the broadcast's page at desktop and phone width, with axe-core's check."""

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import create_lesson, create_purchase, create_user
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, follow, sign_in
from bot.tests.bot_api_double import BotAPIDouble
from shared.constants import BroadcastStatus
from shared.models import Broadcast

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(bot_base_url: str) -> str:
    return bot_base_url


@pytest.fixture(autouse=True)
def fresh_double(telegram: BotAPIDouble) -> None:
    telegram.reset()


async def test_compose_count_save_start_and_watch_it_finish(
    page: Page, session: AsyncSession, telegram: BotAPIDouble, browser: Browser, base_url: str
):
    lesson = await create_lesson(session, title="Knots 101", price=50)
    buyers = [await create_user(session, telegram_id=7_100_000 + n) for n in range(2)]
    for buyer in buyers:
        await create_purchase(session, buyer, lesson)
    for n in range(3):
        await create_user(session, telegram_id=7_200_000 + n)
    everyone = {buyer.telegram_id for buyer in buyers} | {7_200_000 + n for n in range(3)}

    await sign_in(page)
    await follow(page, page.get_by_role("link", name="Broadcasts"))
    # The preview follows the text through HTMX, bound once the page has loaded.
    await follow(page, page.get_by_test_id("new-broadcast"))
    count = page.get_by_test_id("recipient-count")
    await expect(count).to_have_text("5")

    await page.get_by_label("Text", exact=True).fill("<b>Spring</b> sale")
    await expect(page.get_by_test_id("preview")).to_contain_text("Spring sale")
    await expect(page.get_by_test_id("preview").locator("b")).to_have_text("Spring")

    # The lesson select appears for its audience kind, and the count follows the audience.
    lesson_select = page.get_by_label("Lesson", exact=True)
    await expect(lesson_select).to_be_hidden()
    await page.get_by_label("Who gets it").select_option("bought_lesson")
    await expect(lesson_select).to_be_visible()
    await expect(page.get_by_test_id("planner-incomplete")).to_be_visible()
    await lesson_select.select_option(label="Knots 101")
    await expect(count).to_have_text("2")
    await page.get_by_label("Who gets it").select_option("all")
    await expect(count).to_have_text("5")

    # A button: added in place, its target field chosen by its kind.
    await page.get_by_label("Button text").first.fill("Open the site")
    await page.get_by_label("Address").first.fill("https://example.com/sale")
    await expect(page.get_by_test_id("preview-button")).to_have_text("Open the site")
    await page.get_by_test_id("add-button").click()
    await expect(page.get_by_test_id("button-row")).to_have_count(2)
    await page.get_by_test_id("button-row").nth(1).get_by_role("button", name="Remove").click()
    await expect(page.get_by_test_id("button-row")).to_have_count(1)

    await page.get_by_test_id("save-broadcast").click()
    await expect(page.get_by_test_id("flash")).to_have_text("The broadcast is saved as a draft.")
    await expect(page.get_by_test_id("broadcast-status").first).to_have_text("Draft")
    broadcast_url = page.url

    await page.get_by_test_id("start-broadcast").click()
    await expect(page.get_by_test_id("flash")).to_have_text("The broadcast has started.")
    # Polled, not reloaded: the status and the counts change in place.
    progress = page.get_by_test_id("progress")
    await expect(progress).to_have_attribute("data-status", "done")
    await expect(page.get_by_test_id("count-sent")).to_have_text("5")
    await expect(page.get_by_test_id("flash")).to_be_visible()  # the same page: a reload would drop it

    sent = await telegram.wait_for("sendMessage", count=5)
    assert {int(call["chat_id"]) for call in sent} == everyone
    session.expire_all()
    broadcast = await session.scalar(select(Broadcast))
    assert broadcast is not None
    assert broadcast.status is BroadcastStatus.DONE

    async def composer(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/broadcasts/new")
        await expect(page.get_by_test_id("recipient-count")).to_have_text("5")

    async def finished(page: Page) -> None:
        await sign_in(page)
        await page.goto(broadcast_url)
        await expect(page.get_by_test_id("progress")).to_have_attribute("data-status", "done")

    async def listing(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/broadcasts")
        await expect(page.get_by_test_id("broadcast-row")).to_have_count(1)

    async def editing_a_draft(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/broadcasts/new")
        await page.get_by_label("Text", exact=True).fill("A draft")
        await page.get_by_test_id("save-broadcast").click()
        await page.get_by_test_id("edit-broadcast").click()
        await expect(page.get_by_test_id("media-file")).to_be_visible()

    for viewport_name, viewport in VIEWPORTS:
        await check_page(browser, base_url, composer, f"broadcast-composer-{viewport_name}", viewport)
        await check_page(browser, base_url, finished, f"broadcast-done-{viewport_name}", viewport)
    for viewport_name, viewport in VIEWPORTS:
        await check_page(browser, base_url, listing, f"broadcasts-{viewport_name}", viewport)
    await check_page(browser, base_url, editing_a_draft, "broadcast-edit-desktop", VIEWPORTS[0][1])
