"""The lessons pages with the bot on (against the Bot API double): the deep link with the bot's username,
and a new video posted once to MEDIA_CHAT_ID, its file id kept with the lesson."""

import contextlib
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from backend.main import app
from backend.tests.factories import create_lesson
from backend.tests.panel.conftest import csrf_of, panel_login
from backend.tests.panel.test_lessons import MEDIA_DIR, mp4
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN, settings_env
from shared.models import Lesson

MEDIA_CHAT = "-1001234567890"


@contextlib.asynccontextmanager
async def panel_with_bot(telegram: BotAPIDouble, **settings: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan (which wires the bot's gateway), signed in to the panel."""
    with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.base_url, **settings):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
        ):
            assert (await panel_login(client)).status_code == 303
            yield client


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        yield api


async def upload(client: httpx.AsyncClient, lesson_id: int, body: bytes) -> httpx.Response:
    page = await client.get(f"/admin/lessons/{lesson_id}")
    return await client.post(
        f"/admin/lessons/video-upload/{lesson_id}",
        content=body,
        headers={"X-CSRF-Token": csrf_of(page.text), "Content-Type": "video/mp4"},
    )


async def stored(session, lesson_id: int) -> Lesson:
    session.expire_all()
    return await session.scalar(select(Lesson).where(Lesson.id == lesson_id))


async def test_lesson_page_shows_the_deep_link(telegram, session):
    lesson = await create_lesson(session)
    await session.commit()
    async with panel_with_bot(telegram) as client:
        page = await client.get(f"/admin/lessons/{lesson.id}")
        await client.get(f"/admin/lessons/{lesson.id}")
    assert f'value="https://t.me/lesson_store_test_bot?start=lesson_{lesson.id}"' in page.text
    assert 'data-testid="copy-link"' in page.text
    # Asked once (the API's startup check is another getMe).
    assert len(telegram.calls_to("getMe")) == 2


async def test_uploaded_video_is_posted_to_the_media_chat(telegram, session):
    lesson = await create_lesson(session)
    await session.commit()
    body = mp4(10_000)
    async with panel_with_bot(telegram, MEDIA_CHAT_ID=MEDIA_CHAT) as client:
        response = await upload(client, lesson.id, body)

    assert response.status_code == 200, response.text
    [call] = telegram.calls_to("sendVideo")
    assert str(call["chat_id"]) == MEDIA_CHAT
    [file] = call.files.values()
    assert file.sha256 == hashlib.sha256(body).hexdigest()
    lesson = await stored(session, lesson.id)
    assert lesson.video_file_id == call.response["result"]["video"]["file_id"]
    assert (MEDIA_DIR / lesson.video_path).is_file()


async def test_media_chat_failure_leaves_the_lesson_usable(telegram, session):
    lesson = await create_lesson(session)
    await session.commit()
    telegram.fail("sendVideo", error_code=400, description="Bad Request: chat not found")
    async with panel_with_bot(telegram, MEDIA_CHAT_ID=MEDIA_CHAT) as client:
        response = await upload(client, lesson.id, mp4())

    assert response.status_code == 200
    assert len(telegram.calls_to("sendVideo")) == 1
    lesson = await stored(session, lesson.id)
    assert lesson.video_path is not None
    assert lesson.video_file_id is None


async def test_no_media_chat_no_post(telegram, session):
    lesson = await create_lesson(session)
    await session.commit()
    async with panel_with_bot(telegram) as client:
        assert (await upload(client, lesson.id, mp4())).status_code == 200
    assert telegram.calls_to("sendVideo") == []
