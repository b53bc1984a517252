"""The support conversation in a real browser: an admin answers a ticket, the student's answer comes in
through the bot, and it shows on the open page without a reload (the page polls its conversation).

The server of this module runs with the bot on, against the Bot API double (on this test's event loop).
"""

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import support_ticket_service
from backend.tests.factories import create_ticket, create_user
from backend.tests.panel.browser.conftest import sign_in
from bot.tests.bot_api_double import BotAPIDouble
from shared import database
from shared.constants import AttachmentKind
from shared.schemas import SupportAttachment

pytestmark = pytest.mark.slow

STUDENT_CHAT = 4242101


@pytest.fixture(scope="module")
def base_url(bot_base_url: str) -> str:
    return bot_base_url


async def test_answer_a_ticket_and_see_the_students_reply_without_reloading(
    page: Page, session: AsyncSession, telegram: BotAPIDouble
):
    student = await create_user(session, telegram_id=STUDENT_CHAT, first_name="Ann")
    ticket = await create_ticket(session, student, subject="Black screen", message="The video is black")
    ticket_id = ticket.id
    await sign_in(page)
    await page.goto(f"/admin/support/{ticket_id}")

    await page.get_by_label("Your answer").fill("Which device do you use?")
    await page.get_by_test_id("send-answer").click()
    await expect(page.get_by_test_id("admin-answer")).to_have_text("Which device do you use?")
    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == str(STUDENT_CHAT))
    assert sent["text"].endswith("Which device do you use?")
    await expect(page.get_by_test_id("delivery")).to_have_text("Delivered")
    # A draft of the next answer: a reload of the page would lose it.
    await page.get_by_label("Your answer").fill("A draft")

    # The student answers in the bot (the bot's handler stores it with this service).
    async with database.session_scope() as bot_session:
        stored = await support_ticket_service.get(bot_session, ticket_id)
        await support_ticket_service.add_student_message(
            bot_session,
            stored,
            text="An old Android phone",
            attachments=[
                SupportAttachment(kind=AttachmentKind.DOCUMENT, file_id="BQAD-1", file_name="log.txt")
            ],
        )

    await expect(page.get_by_test_id("student-message").last).to_have_text("An old Android phone")
    await expect(page.get_by_test_id("attachment")).to_contain_text("log.txt")
    await expect(page.get_by_test_id("ticket-status")).to_have_text("Open")
    await expect(page.get_by_label("Your answer")).to_have_value("A draft")
