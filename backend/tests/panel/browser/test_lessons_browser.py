"""The lessons pages in a real browser: creating a lesson and uploading its video (with progress), the
preview, the copy button, the refusal to delete a bought lesson; every page's look and accessibility."""

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import create_lesson, create_purchase, create_user
from backend.tests.panel.browser.conftest import VIEWPORTS, check_page, follow, sign_in
from shared.models import Lesson

pytestmark = pytest.mark.slow

MEDIA_DIR = Path(os.environ["MEDIA_DIR"])
# A small file that passes for an MP4: an "ftyp" box first, then anything.
MP4_LIKE = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 2000


async def test_create_a_lesson_with_a_video_upload(page: Page, session: AsyncSession, tmp_path: Path):
    await sign_in(page)
    await page.goto("/admin/lessons")
    # The preview (HTMX) and the upload (lessons.js) work once their page has loaded.
    await follow(page, page.get_by_test_id("new-lesson"))
    await page.get_by_label("Title").fill("Knots <101>")
    await page.get_by_label("Price in Stars").fill("25")
    # The preview follows the text as it is typed (HTMX, under the Content-Security-Policy).
    async with page.expect_response(re.compile(r"/admin/lessons/preview$")):
        await page.get_by_label("Text content").fill("<b>Tie</b> it <script>x()</script>")
    await expect(page.get_by_test_id("preview").locator("b").nth(1)).to_have_text("Tie")
    # Tags Telegram does not know are dropped, their text kept, as the bot does.
    await expect(page.get_by_test_id("preview")).to_contain_text("Tie it x()")
    await expect(page.get_by_test_id("preview").locator("script")).to_have_count(0)
    await follow(page, page.get_by_test_id("save-lesson"))
    await expect(page.get_by_test_id("flash")).to_contain_text("Lesson created")
    lesson = await session.scalar(select(Lesson).where(Lesson.title == "Knots <101>"))
    assert lesson is not None
    assert lesson.price == 25

    video = tmp_path / "knots.mp4"
    video.write_bytes(MP4_LIKE)
    await page.get_by_test_id("video-file").set_input_files(video)
    await page.get_by_test_id("upload-video").click()
    await expect(page.get_by_test_id("flash")).to_have_text("Video uploaded.")
    lesson_id = lesson.id
    await expect(page.get_by_test_id("current-video")).to_contain_text(f"lesson-{lesson_id}-")
    session.expire_all()
    stored = await session.scalar(select(Lesson).where(Lesson.id == lesson_id))
    assert (MEDIA_DIR / stored.video_path).read_bytes() == MP4_LIKE


async def test_upload_progress_reaches_the_end(page: Page, session: AsyncSession, tmp_path: Path):
    lesson = await create_lesson(session)
    await session.commit()
    await sign_in(page)
    await page.goto(f"/admin/lessons/{lesson.id}")
    # The page stays (a 204 answers the reload after the upload) to show its progress bar at the end.
    await page.route(re.compile(rf"/admin/lessons/{lesson.id}$"), lambda route: route.fulfill(status=204))
    video = tmp_path / "v.mp4"
    video.write_bytes(MP4_LIKE)
    await page.get_by_test_id("video-file").set_input_files(video)
    await page.get_by_test_id("upload-video").click()
    await expect(page.get_by_test_id("video-status")).to_have_text("Upload complete.")
    await expect(page.get_by_test_id("video-progress")).to_have_js_property("value", 100)


async def test_a_file_that_is_not_a_video_is_refused(page: Page, session: AsyncSession, tmp_path: Path):
    lesson = await create_lesson(session)
    await session.commit()
    await sign_in(page)
    await page.goto(f"/admin/lessons/{lesson.id}")
    # Refused in the page before any upload (the server's own refusal is tested in test_lessons.py).
    fake = tmp_path / "notes.txt"
    fake.write_bytes(b"just some text, not a video")
    await page.get_by_test_id("video-file").set_input_files(fake)
    await page.get_by_test_id("upload-video").click()
    await expect(page.get_by_test_id("video-status")).to_contain_text("not a video file")
    await expect(page.get_by_test_id("current-video")).to_have_text("No video yet.")


async def test_copy_the_link(page: Page, context: BrowserContext, session: AsyncSession):
    lesson = await create_lesson(session)
    await session.commit()
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page)
    await page.goto(f"/admin/lessons/{lesson.id}")
    # With the keyboard: the copy button follows the field.
    await page.get_by_test_id("deep-link").focus()
    await page.keyboard.press("Tab")
    await expect(page.get_by_test_id("copy-link")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("copy-status")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == f"lesson_{lesson.id}"


async def test_delete_a_bought_lesson_offers_to_deactivate(page: Page, session: AsyncSession):
    lesson = await create_lesson(session, title="Bought")
    await create_purchase(session, await create_user(session), lesson)
    await session.commit()
    await sign_in(page)
    await page.goto(f"/admin/lessons/{lesson.id}")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("delete-lesson").click()
    await expect(page.get_by_test_id("delete-refused")).to_contain_text("has 1 purchase")
    await page.get_by_test_id("deactivate").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("Lesson deactivated")
    await expect(page.get_by_label("Active (on sale in the bot)")).not_to_be_checked()


async def _lesson_with_purchase(session: AsyncSession) -> Lesson:
    lesson = await create_lesson(
        session, title="Knots", text_content="<b>Bold</b> and <tg-spoiler>hidden</tg-spoiler>"
    )
    await create_purchase(session, await create_user(session), lesson)
    await create_lesson(session, title="Free intro", price=0, is_free=True, video_path="videos/x.mp4")
    await session.commit()
    return lesson


def _opener(session: AsyncSession, name: str) -> Callable[[Page], Awaitable[None]]:
    async def open_page(page: Page) -> None:
        await sign_in(page)
        lesson = await session.scalar(select(Lesson).where(Lesson.title == "Knots"))
        assert lesson is not None
        if name == "list":
            await page.goto("/admin/lessons")
        elif name == "new":
            await page.goto("/admin/lessons/new")
        elif name == "edit":
            await page.goto(f"/admin/lessons/{lesson.id}")
        elif name == "errors":
            await page.goto("/admin/lessons/new")
            await page.get_by_label("Price in Stars").fill("0")
            await page.get_by_test_id("save-lesson").click()
            await expect(page.get_by_test_id("form-errors")).to_be_visible()
        elif name == "delete-refused":
            await page.goto(f"/admin/lessons/{lesson.id}")
            page.once("dialog", lambda dialog: dialog.accept())
            await page.get_by_test_id("delete-lesson").click()
            await expect(page.get_by_test_id("delete-refused")).to_be_visible()

    return open_page


@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS)
@pytest.mark.parametrize("name", ["list", "new", "edit", "errors", "delete-refused"])
async def test_lessons_pages_look_and_accessibility(
    browser: Browser,
    base_url: str,
    session: AsyncSession,
    name: str,
    viewport_name: str,
    viewport: dict[str, int],
):
    await _lesson_with_purchase(session)
    await check_page(browser, base_url, _opener(session, name), f"lessons-{name}-{viewport_name}", viewport)
