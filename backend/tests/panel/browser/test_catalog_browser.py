"""The courses and promo codes pages in a real browser: building a course by dragging its lessons (and
with the keyboard instead), creating a promo code and seeing it used, and every page's look and
accessibility at desktop and phone width."""

import re
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import purchase_service
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, sign_in
from shared.constants import PurchaseStatus
from shared.models import CourseLesson
from shared.schemas import PurchaseCreate

pytestmark = pytest.mark.slow


async def stored_order(session: AsyncSession, course_id: int) -> list[int]:
    rows = await session.scalars(
        select(CourseLesson.lesson_id)
        .where(CourseLesson.course_id == course_id)
        .order_by(CourseLesson.position)
    )
    return list(rows)


async def drag(page: Page, source: Locator, target: Locator) -> None:
    """Drag by a Sortable handle with the mouse, in steps, as a person would."""
    start, end = await source.bounding_box(), await target.bounding_box()
    assert start is not None
    assert end is not None
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    # Past the target's middle: Sortable swaps when the pointer crosses it.
    below = end["y"] > start["y"]
    await page.mouse.move(
        end["x"] + end["width"] / 2, end["y"] + end["height"] * (0.9 if below else 0.1), steps=15
    )
    await page.wait_for_timeout(100)  # Sortable checks the pointer's place every 50 ms
    await page.mouse.up()


async def shown_titles(page: Page) -> list[str]:
    return await page.get_by_test_id("lesson-title").all_inner_texts()


async def test_build_a_course_by_dragging_lessons(page: Page, session: AsyncSession):
    lessons = [await create_lesson(session, title=f"Step {n}", price=50) for n in (1, 2, 3)]
    course = await create_course(session, lessons, title="Drag me", total_price=120)
    await sign_in(page)
    await page.goto(f"/admin/courses/{course.id}/lessons")
    await expect(page.get_by_test_id("course-saving")).to_have_text("30 ⭐")
    assert await shown_titles(page) == ["Step 1", "Step 2", "Step 3"]

    handles = page.get_by_test_id("drag-handle")
    async with page.expect_response(re.compile(r"/lessons/order$")) as answer:
        await drag(page, handles.nth(2), handles.nth(0))
    assert (await answer.value).status == 200
    await expect(page.get_by_test_id("lessons-notice")).to_have_text("The new order is saved.")
    assert await shown_titles(page) == ["Step 3", "Step 1", "Step 2"]
    assert await stored_order(session, course.id) == [lessons[2].id, lessons[0].id, lessons[1].id]

    # The list swapped in from the server's answer is draggable again.
    await expect(page.get_by_test_id("course-lessons")).to_have_attribute("data-sortable-ready", "true")

    await page.reload()
    assert await shown_titles(page) == ["Step 3", "Step 1", "Step 2"]


async def test_reorder_and_add_lessons_with_the_keyboard(page: Page, session: AsyncSession):
    first, second = await create_lesson(session, title="First"), await create_lesson(session, title="Second")
    extra = await create_lesson(session, title="Extra")
    course = await create_course(session, [first, second], title="Keys")
    await sign_in(page)
    await page.goto(f"/admin/courses/{course.id}/lessons")

    await page.get_by_role("button", name="Move “First” down").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("flash")).to_have_text("The lesson is moved.")
    assert await shown_titles(page) == ["Second", "First"]
    # The moved lesson's button keeps the focus: the next key press moves it on.
    await expect(page.get_by_role("button", name="Move “First” up")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("flash")).to_be_visible()
    assert await shown_titles(page) == ["First", "Second"]

    await page.get_by_label("Lesson", exact=True).focus()
    await page.get_by_label("Lesson", exact=True).select_option(value=str(extra.id))
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("flash")).to_have_text("The lesson is added to the course.")
    assert await shown_titles(page) == ["First", "Second", "Extra"]


async def test_create_a_promo_code_and_see_it_used(page: Page, session: AsyncSession):
    await sign_in(page)
    await page.goto("/admin/promo-codes")
    await page.get_by_test_id("new-promo-code").click()
    await page.get_by_label("Code").fill("autumn20")
    await page.get_by_label("Discount", exact=True).fill("20")
    await page.get_by_label("Uses allowed").fill("5")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("flash")).to_have_text("The promo code is created.")
    await expect(page.get_by_test_id("promo-uses")).to_have_text("0 / 5")
    await expect(page.get_by_test_id("no-purchases")).to_be_visible()

    # A student buys with it, as the bot records a paid purchase.
    student = await create_user(session, first_name="Ann")
    lesson = await create_lesson(session, title="Watercolour", price=100)
    purchase = await purchase_service.create(
        session,
        data=PurchaseCreate(
            user_id=student.id, lesson_id=lesson.id, promo_code="AUTUMN20", status=PurchaseStatus.COMPLETED
        ),
    )
    await session.commit()

    await page.reload()
    await expect(page.get_by_test_id("promo-uses")).to_have_text("1 / 5")
    row = page.get_by_test_id("promo-purchase")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(f"#{purchase.id}")
    await expect(row).to_contain_text("Watercolour")
    await expect(row).to_contain_text("80 ⭐")
    await page.goto("/admin/promo-codes")
    await expect(page.get_by_test_id("promo-uses")).to_have_text("1 / 5")


async def test_deactivate_a_promo_code_after_confirming(page: Page, session: AsyncSession):
    promo = await create_promo_code(session, code="ENDME")
    await sign_in(page)
    await page.goto(f"/admin/promo-codes/{promo.id}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.get_by_test_id("deactivate").click()
    await expect(page.get_by_test_id("promo-status")).to_have_text("Usable")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("deactivate").click()
    await expect(page.get_by_test_id("flash")).to_have_text("The promo code is deactivated.")
    await expect(page.get_by_test_id("promo-status")).to_have_text("Deactivated")


# Screenshots and accessibility of every page ---------------------------------------------------------


@pytest.fixture
async def catalog(session: AsyncSession) -> dict[str, int]:
    """A small store: courses with lessons (one bought), promo codes (one used)."""
    lessons = [await create_lesson(session, title=f"Lesson with a rather long title {n}") for n in range(4)]
    course = await create_course(session, lessons[:3], title="Painting from scratch", discount_price=250)
    bought = await create_course(session, lessons[1:], title="Bought course")
    student = await create_user(session)
    promo = await create_promo_code(session, code="WELCOME10", max_uses=10, current_uses=1)
    await create_promo_code(session, code="FLAT30", discount_percent=0, discount_amount=30)
    await create_purchase(session, student, bought, promo_code_id=promo.id, amount=450)
    return {"course": course.id, "bought": bought.id, "promo": promo.id}


def _opener(
    path: str, then: Callable[[Page], Awaitable[None]] | None = None
) -> Callable[..., Awaitable[None]]:
    async def open_page(page: Page, ids: dict[str, int]) -> None:
        await sign_in(page)
        await expect(page.get_by_test_id("logout")).to_be_visible()
        await page.goto(path.format(**ids))
        if then is not None:
            await then(page)

    return open_page


async def _submit_empty_course(page: Page) -> None:
    await page.get_by_label("Price in Stars", exact=True).fill("free")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("error-title")).to_be_visible()


async def _submit_bad_promo(page: Page) -> None:
    await page.get_by_label("Code").fill("no!")
    await page.get_by_label("Discount", exact=True).fill("500")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("error-code")).to_be_visible()


async def _delete_bought(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("delete").click()
    await expect(page.get_by_test_id("in-use")).to_be_visible()


PAGES: dict[str, Callable[..., Awaitable[None]]] = {
    "courses": _opener("/admin/courses"),
    "course-new": _opener("/admin/courses/new"),
    "course-errors": _opener("/admin/courses/new", _submit_empty_course),
    "course-edit": _opener("/admin/courses/{course}"),
    "course-in-use": _opener("/admin/courses/{bought}", _delete_bought),
    "course-lessons": _opener("/admin/courses/{course}/lessons"),
    "promo-codes": _opener("/admin/promo-codes"),
    "promo-code-new": _opener("/admin/promo-codes/new"),
    "promo-code-errors": _opener("/admin/promo-codes/new", _submit_bad_promo),
    "promo-code-edit": _opener("/admin/promo-codes/{promo}/edit"),
    "promo-code": _opener("/admin/promo-codes/{promo}"),
}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS)
async def test_catalog_page_looks_right_and_is_accessible(
    browser: Browser,
    base_url: str,
    catalog: dict[str, int],
    name: str,
    viewport_name: str,
    viewport: dict[str, int],
):
    async def open_page(page: Page) -> None:
        await PAGES[name](page, catalog)

    await check_page(browser, base_url, open_page, f"{name}-{viewport_name}", viewport)
