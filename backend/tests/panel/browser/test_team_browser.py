"""The support, team, audit log and account pages in a real browser: answering a ticket reaches the
student through the bot (the Bot API double), adding and deactivating an admin, filtering the audit log,
changing one's password and signing in with it; each page's look at both widths and its accessibility.

The server of this module runs with the bot on, against the Bot API double (on this test's event loop).
"""

import re
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, Dialog, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.tests.factories import create_ticket, create_user
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, sign_in
from bot.tests.bot_api_double import BotAPIDouble
from conftest import ADMIN_PASSWORD
from shared import database
from shared.constants import TicketStatus
from shared.models import Admin, SupportTicket

pytestmark = pytest.mark.slow

STUDENT_CHAT = 4242001


@pytest.fixture(scope="module")
def base_url(bot_base_url: str) -> str:
    return bot_base_url


def accept_dialogs(page: Page) -> None:
    """Say yes to the confirmations of destructive actions."""

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def test_answer_a_ticket_and_it_reaches_the_student(
    page: Page, session: AsyncSession, telegram: BotAPIDouble
):
    student = await create_user(session, telegram_id=STUDENT_CHAT, first_name="Ann")
    ticket = await create_ticket(session, student, subject="Video does not play", message="Since <yesterday>")
    ticket_id = ticket.id
    await sign_in(page)
    await page.goto("/admin/support")
    await page.get_by_role("link", name="Video does not play").click()
    await expect(page.get_by_test_id("student-message")).to_have_text("Since <yesterday>")

    await page.get_by_label("Your answer").fill("Please reinstall the app.")
    await page.get_by_test_id("send-answer").click()

    await expect(page.get_by_test_id("flash")).to_have_text(
        "The answer is saved and on its way to the student."
    )
    await expect(page.get_by_test_id("admin-answer")).to_have_text("Please reinstall the app.")
    await expect(page.get_by_test_id("ticket-status")).to_have_text("Answered")
    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == str(STUDENT_CHAT))
    assert sent["text"] == f"Answer to your request #{ticket_id}:\n\nPlease reinstall the app."
    # The conversation is polled: the delivery shows without a reload.
    await expect(page.get_by_test_id("delivery")).to_have_text("Delivered")

    accept_dialogs(page)
    await page.get_by_test_id("close").click()
    await expect(page.get_by_test_id("ticket-status")).to_have_text("Closed")
    session.expire_all()
    stored = await session.scalar(
        select(SupportTicket)
        .where(SupportTicket.id == ticket_id)
        .options(selectinload(SupportTicket.messages))
    )
    assert stored is not None
    assert stored.status is TicketStatus.CLOSED
    assert stored.response_sent_at is not None


async def test_answer_to_a_student_who_blocked_the_bot_shows_it(
    page: Page, session: AsyncSession, telegram: BotAPIDouble
):
    student = await create_user(session, telegram_id=STUDENT_CHAT + 1)
    ticket_id = (await create_ticket(session, student)).id
    telegram.block(STUDENT_CHAT + 1)
    try:
        await sign_in(page)
        await page.goto(f"/admin/support/{ticket_id}")
        await page.get_by_label("Your answer").fill("Hello?")
        await page.get_by_test_id("send-answer").click()
        await expect(page.get_by_test_id("delivery")).to_have_text(
            "Not delivered: the student blocked the bot"
        )
    finally:
        telegram.unblock(STUDENT_CHAT + 1)


async def test_add_and_deactivate_an_admin(page: Page, session: AsyncSession):
    await sign_in(page)
    await page.goto("/admin/team")
    await page.get_by_test_id("add-admin").click()
    await page.get_by_label("User name").fill("maria")
    await page.get_by_label("Role").select_option("manager")
    await page.get_by_label("Initial password").fill("long-enough-pw")
    await page.get_by_test_id("create-admin").click()
    await expect(page.get_by_test_id("flash")).to_have_text("The admin was added.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("maria")

    # Asked first; saying no changes nothing.
    questions: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    await page.get_by_test_id("deactivate").click()
    await expect(page.get_by_test_id("admin-active")).to_have_text("Active")
    assert questions == ["Deactivate maria? Their sessions end at once."]
    page.remove_listener("dialog", dismiss)
    accept_dialogs(page)
    await page.get_by_test_id("deactivate").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("deactivated")
    await expect(page.get_by_test_id("admin-active")).to_have_text("Deactivated")
    session.expire_all()
    maria = await session.scalar(select(Admin).where(Admin.username == "maria"))
    assert maria is not None
    assert maria.is_active is False


async def test_filter_the_audit_log(page: Page):
    await sign_in(page)
    await page.goto("/admin/team/new")
    await page.get_by_label("User name").fill("audited")
    await page.get_by_label("Initial password").fill("long-enough-pw")
    await page.get_by_test_id("create-admin").click()
    await expect(page.get_by_test_id("flash")).to_be_visible()

    await page.goto("/admin/audit-log")
    await page.get_by_label("Table").select_option("admins")
    await page.get_by_label("Action").select_option("create")
    await page.get_by_test_id("apply-filters").click()

    await expect(page).to_have_url(re.compile(r"entity=admins.*action=create"))
    rows = page.get_by_test_id("audit-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("audited")
    await expect(rows.first).to_contain_text("Created")
    await page.get_by_label("Action").select_option("delete")
    await page.get_by_test_id("apply-filters").click()
    await expect(page.get_by_test_id("empty")).to_be_visible()


async def test_change_password_then_sign_in_with_it(page: Page):
    await sign_in(page)
    await page.goto("/admin/account")
    await page.get_by_label("Current password").fill("not-the-password")
    await page.get_by_label("New password", exact=True).fill("a-brand-new-password")
    await page.get_by_label("Repeat the new password").fill("a-brand-new-password")
    await page.get_by_test_id("change-password").click()
    await expect(page.get_by_test_id("error-current_password")).to_have_text(
        "The current password is not correct."
    )

    await page.get_by_label("Current password").fill(ADMIN_PASSWORD)
    await page.get_by_label("New password", exact=True).fill("a-brand-new-password")
    await page.get_by_label("Repeat the new password").fill("a-brand-new-password")
    await page.get_by_test_id("change-password").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("Your password was changed")

    await page.get_by_test_id("logout").click()
    await sign_in(page, password=ADMIN_PASSWORD)
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await sign_in(page, password="a-brand-new-password")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


# Every page of this area, for the screenshots and the accessibility checks ------------------------------


async def _ticket_id() -> int:
    async with database.session_scope() as session:
        student = await create_user(session, first_name="Олег", username="oleg")
        ticket = await create_ticket(
            session, student, subject="Где мой урок?", message="Оплатил вчера,\nно урока нет в библиотеке."
        )
        ticket_id = ticket.id
        await create_ticket(session, student, subject="Second question", status=TicketStatus.ANSWERED)
        return ticket_id


async def _support_list(page: Page) -> None:
    await _ticket_id()
    await sign_in(page)
    await page.goto("/admin/support?status=all")
    await expect(page.get_by_test_id("ticket-row").first).to_be_visible()


async def _ticket(page: Page) -> None:
    ticket_id = await _ticket_id()
    await sign_in(page)
    await page.goto(f"/admin/support/{ticket_id}")
    await expect(page.get_by_test_id("student-message")).to_be_visible()


async def _ticket_error(page: Page) -> None:
    ticket_id = await _ticket_id()
    await sign_in(page)
    await page.goto(f"/admin/support/{ticket_id}")
    await page.get_by_label("Your answer").fill("   ")
    await page.get_by_test_id("send-answer").click()
    await expect(page.get_by_test_id("error-text")).to_be_visible()


async def _team(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin/team")
    await expect(page.get_by_test_id("admin-row").first).to_be_visible()


async def _team_new(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin/team/new")


async def _team_new_error(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin/team/new")
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Initial password").fill("long-enough-pw")
    await page.get_by_test_id("create-admin").click()
    await expect(page.get_by_test_id("error-username")).to_be_visible()


async def _team_admin(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin/team")
    await page.get_by_role("link", name="admin", exact=True).click()
    await expect(page.get_by_test_id("admin-role")).to_be_visible()


async def _team_last_owner(page: Page) -> None:
    await _team_admin(page)
    accept_dialogs(page)
    await page.get_by_test_id("deactivate").click()
    await expect(page.get_by_test_id("refusal")).to_be_visible()


async def _audit_log(page: Page) -> None:
    await _team_new_error(page)  # a refused write is not logged; a language choice is
    await page.get_by_role("button", name="Русский").click()
    await page.get_by_role("button", name="English").click()
    await page.goto("/admin/audit-log")
    await expect(page.get_by_test_id("audit-row").first).to_be_visible()


async def _audit_log_error(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin/audit-log?admin_id=abc&date_from=2024-02-30")
    await expect(page.get_by_role("alert")).to_be_visible()


async def _account(page: Page) -> None:
    await sign_in(page)
    await page.goto("/admin/account")


async def _account_error(page: Page) -> None:
    await _account(page)
    await page.get_by_label("Current password").fill("not-the-password")
    await page.get_by_label("New password", exact=True).fill("short")
    await page.get_by_label("Repeat the new password").fill("other")
    # The browser's own minlength check would stop the form: the server's errors are what is shown here.
    await page.locator("#new_password").evaluate("input => input.removeAttribute('minlength')")
    await page.get_by_test_id("change-password").click()
    await expect(page.get_by_test_id("error-new_password")).to_be_visible()


async def _account_russian(page: Page) -> None:
    await _account(page)
    await page.get_by_role("button", name="Русский").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ru")


PAGES: dict[str, Callable[[Page], Awaitable[None]]] = {
    "support-list": _support_list,
    "support-ticket": _ticket,
    "support-ticket-error": _ticket_error,
    "team": _team,
    "team-new": _team_new,
    "team-new-error": _team_new_error,
    "team-admin": _team_admin,
    "team-last-owner": _team_last_owner,
    "audit-log": _audit_log,
    "audit-log-error": _audit_log_error,
    "account": _account,
    "account-error": _account_error,
    "account-ru": _account_russian,
}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS)
async def test_page_looks_right_and_is_accessible(
    browser: Browser, base_url: str, name: str, viewport_name: str, viewport: dict[str, int]
):
    await check_page(browser, base_url, PAGES[name], f"{name}-{viewport_name}", viewport)
