"""The students and purchases pages in a real browser, with the bot on against the Bot API double: grant
and revoke, refund a purchase and see the student lose access, export CSV, a support admin cannot refund;
every page's screenshot at desktop and phone width, with axe-core's check."""

import asyncio
import codecs
import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import access_service, payment_service
from backend.tests.api import TEAM_PASSWORD, create_admin
from backend.tests.factories import create_course, create_lesson, create_purchase, create_ticket, create_user
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, follow, sign_in
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.test_payments import BUYER
from shared.constants import AdminRole, PurchaseStatus
from shared.models import Lesson, Purchase, UnmatchedPaymentReason

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(bot_base_url: str) -> str:
    return bot_base_url


@pytest.fixture(autouse=True)
def fresh_double(telegram: BotAPIDouble) -> None:
    """The module's double, its recorded calls forgotten (each test checks its own)."""
    telegram.reset()


def _accept(page: Page) -> None:
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)


async def _paid(session: AsyncSession, telegram: BotAPIDouble, charge_id: str) -> tuple[int, int, int]:
    """A lesson BUYER paid for through Telegram (the double's ledger has the charge): ids of the buyer,
    the lesson and the purchase."""
    buyer = await create_user(session, telegram_id=BUYER["id"], first_name=BUYER["first_name"])
    lesson = await create_lesson(session, title="Paid lesson", price=100)
    invoice = await payment_service.create_invoice(session, user_id=buyer.id, lesson_id=lesson.id)
    telegram.record_star_payment(BUYER, 100, invoice.payload, charge_id)
    recorded = await payment_service.record_payment(
        session, user_id=buyer.id, payload=invoice.payload, total_amount=100, charge_id=charge_id
    )
    await session.commit()
    return buyer.id, lesson.id, recorded.purchase.id


async def _has_access(session: AsyncSession, user_id: int, lesson_id: int) -> bool:
    session.expunge_all()
    lesson = await session.get(Lesson, lesson_id)
    assert lesson is not None
    return await access_service.can_access_lesson(session, user_id=user_id, lesson=lesson)


async def test_grant_and_revoke(page: Page, session: AsyncSession):
    student = await create_user(session, first_name="Grace")
    lesson = await create_lesson(session, title="Knots 101", price=50)
    student_id, lesson_id = student.id, lesson.id
    await sign_in(page)
    await page.get_by_role("link", name="Students").click()
    await page.get_by_label("Search").fill("Grace")
    await page.get_by_label("Search").press("Enter")
    await page.get_by_role("link", name="Grace").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Grace")

    await page.get_by_label("Lesson or course").select_option(label=f"Knots 101 (#{lesson_id})")
    await page.get_by_role("button", name="Give for free").click()

    await expect(page.get_by_test_id("flash")).to_contain_text("given for free")
    grant = await session.scalar(select(Purchase).where(Purchase.user_id == student_id))
    assert grant is not None
    assert (grant.amount, grant.granted_by_id is not None) == (0, True)
    await expect(page.get_by_test_id(f"status-{grant.id}")).to_have_text("completed")
    assert await _has_access(session, student_id, lesson_id)

    # Granting it again is refused beside the field, the choice kept.
    await page.get_by_label("Lesson or course").select_option(label=f"Knots 101 (#{lesson_id})")
    await page.get_by_role("button", name="Give for free").click()
    await expect(page.get_by_test_id("error-item")).to_have_text(
        "The student already has access to this item."
    )

    await page.goto(f"/admin/students/{student_id}")
    _accept(page)
    await page.get_by_test_id(f"revoke-{grant.id}").click()

    await expect(page.get_by_test_id("flash")).to_contain_text("revoked")
    await expect(page.get_by_test_id(f"status-{grant.id}")).to_have_text("revoked")
    assert not await _has_access(session, student_id, lesson_id)


async def test_refund_a_purchase_and_the_student_loses_access(
    page: Page, session: AsyncSession, telegram: BotAPIDouble
):
    charge_id = f"stxB{uuid.uuid4().hex[:8]}"
    buyer_id, lesson_id, purchase_id = await _paid(session, telegram, charge_id)
    assert await _has_access(session, buyer_id, lesson_id)
    await sign_in(page)
    # The question before a refund is the panel's script's, there once the page has loaded.
    await follow(page, page.get_by_role("link", name="Purchases"))

    # Dismissing the question changes nothing.
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.dismiss()))
    await page.get_by_test_id(f"refund-{purchase_id}").click()
    await expect(page.get_by_test_id(f"status-{purchase_id}")).to_have_text("completed")
    assert telegram.calls_to("refundStarPayment") == []

    _accept(page)
    await page.get_by_test_id(f"refund-{purchase_id}").click()

    await expect(page.get_by_test_id("flash")).to_contain_text("refunded")
    await expect(page.get_by_test_id(f"status-{purchase_id}")).to_have_text("refunded")
    [call] = telegram.calls_to("refundStarPayment")
    assert call["telegram_payment_charge_id"] == charge_id
    assert telegram.star_payments[charge_id].refunded
    assert not await _has_access(session, buyer_id, lesson_id)
    await expect(page.get_by_test_id(f"refund-{purchase_id}")).to_have_count(0)


async def test_export_csv(page: Page, session: AsyncSession):
    student = await create_user(session, first_name="=Eve", username="eve")
    lesson, other = (
        await create_lesson(session, title="Exported"),
        await create_lesson(session, title="Left out"),
    )
    wanted = [await create_purchase(session, student, lesson, amount=n) for n in (10, 20)]
    await create_purchase(session, student, other, status=PurchaseStatus.FAILED)
    await sign_in(page)
    await page.goto(f"/admin/purchases?lesson_id={lesson.id}")

    async with page.expect_download() as info:
        await page.get_by_test_id("export-csv").click()
    download = await info.value
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)

    assert download.suggested_filename.startswith("purchases-")
    assert download.suggested_filename.endswith(".csv")
    assert content.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert sorted(int(row["id"]) for row in rows) == sorted(p.id for p in wanted)
    assert {row["item_title"] for row in rows} == {"Exported"}
    assert {row["student_name"] for row in rows} == {"'=Eve"}


async def _sign_in_as(page: Page, role: AdminRole) -> None:
    admin = await create_admin(f"{role.value}-{uuid.uuid4().hex[:8]}", role)
    await page.goto("/admin/login")
    await page.get_by_label("User name").fill(admin.username)
    await page.get_by_label("Password").fill(TEAM_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


async def test_support_admin_cannot_refund(page: Page, session: AsyncSession, telegram: BotAPIDouble):
    _, _, purchase_id = await _paid(session, telegram, f"stxS{uuid.uuid4().hex[:8]}")
    await _sign_in_as(page, AdminRole.SUPPORT)
    await page.get_by_role("link", name="Purchases").click()

    await expect(page.get_by_test_id(f"purchase-{purchase_id}")).to_be_visible()
    await expect(page.get_by_test_id(f"refund-{purchase_id}")).to_have_count(0)
    await expect(page.get_by_role("link", name="Unmatched payments")).to_have_count(0)
    # A forged refund, with the session's own CSRF token, is refused all the same.
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = await page.request.post(
        f"/admin/purchases/{purchase_id}/refund", form={"csrf_token": token or ""}, max_redirects=0
    )
    assert forged.status == 403
    assert telegram.calls_to("refundStarPayment") == []
    stored = await session.scalar(select(Purchase.status).where(Purchase.id == purchase_id))
    assert stored is PurchaseStatus.COMPLETED


# Every page, at desktop and phone width -------------------------------------------------------------------


@pytest.fixture
async def sales_data(session: AsyncSession) -> dict[str, int]:
    """A student with a sale, a refunded sale, a grant and a ticket; an unmatched payment."""
    student = await create_user(
        session, first_name="Anastasia", last_name="Konstantinopolskaya", username="anastasia_k_long_name"
    )
    lesson = await create_lesson(session, title="Tying a bowline with one hand, in the dark", price=150)
    course = await create_course(session, [lesson], title="Sailing knots")
    await create_purchase(session, student, lesson, amount=150, telegram_payment_charge_id="stxSHOT1")
    await create_purchase(session, student, course, status=PurchaseStatus.REFUNDED, amount=400)
    await create_ticket(session, student, subject="The video does not play on my phone")
    await create_user(session, first_name="Boris")
    await payment_service.record_unmatched(
        session,
        charge_id="stxUNMATCHED-0123456789-abcdefghijklmnopqrstuvwxyz",
        telegram_user_id=987654321,
        amount=250,
        currency="XTR",
        payload="v9:garbled-payload-that-is-quite-long-0123456789",
        reason=UnmatchedPaymentReason.UNREADABLE_PAYLOAD,
    )
    await session.commit()
    return {"student": student.id, "lesson": lesson.id}


def _pages(data: dict[str, int]) -> dict[str, Callable[[Page], Awaitable[None]]]:
    async def students(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/students")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Students")

    async def profile(page: Page) -> None:
        await sign_in(page)
        await page.goto(f"/admin/students/{data['student']}")
        await expect(page.get_by_role("heading", level=2, name="Purchases")).to_be_visible()

    async def grant_error(page: Page) -> None:
        await profile(page)
        await page.get_by_label("Lesson or course").select_option(value=f"lesson:{data['lesson']}")
        await page.get_by_role("button", name="Give for free").click()
        await expect(page.get_by_test_id("error-item")).to_be_visible()

    async def purchases(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/purchases")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Purchases")

    async def purchases_errors(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/purchases?date_from=2026-02-01&status=completed&lesson_id=abc")
        await expect(page.get_by_test_id("error-lesson_id")).to_be_visible()

    async def unmatched(page: Page) -> None:
        await sign_in(page)
        await page.goto("/admin/purchases/unmatched")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Unmatched payments")

    async def unmatched_error(page: Page) -> None:
        await unmatched(page)
        _accept(page)
        await page.get_by_role("button", name="Mark resolved").first.click()
        await expect(page.get_by_text("This field is required.")).to_be_visible()

    async def refund_refused(page: Page) -> None:
        await purchases(page)
        _accept(page)
        # The bot's telegram has no such charge: Telegram's refusal is shown.
        await page.get_by_role("button", name="Refund").first.click()
        await expect(page.get_by_test_id("refusal")).to_be_visible()

    async def students_russian(page: Page) -> None:
        await students(page)
        await page.get_by_role("button", name="Русский").click()
        await expect(page.locator("html")).to_have_attribute("lang", "ru")
        await page.goto(f"/admin/students/{data['student']}")

    return {
        "students": students,
        "student-profile": profile,
        "student-grant-error": grant_error,
        "purchases": purchases,
        "purchases-filter-errors": purchases_errors,
        "purchases-unmatched": unmatched,
        "purchases-unmatched-error": unmatched_error,
        "purchases-refund-refused": refund_refused,
        "student-profile-ru": students_russian,
    }


PAGE_NAMES = list(_pages({}))


@pytest.mark.parametrize("name", PAGE_NAMES)
@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS)
async def test_sales_page_looks_right_and_is_accessible(
    browser: Browser,
    base_url: str,
    sales_data: dict[str, int],
    name: str,
    viewport_name: str,
    viewport: dict[str, int],
):
    await check_page(browser, base_url, _pages(sales_data)[name], f"{name}-{viewport_name}", viewport)
