"""The panel's lessons pages: list, form, preview, deletion and deactivation, the streamed video upload."""

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from backend.panel.telegram_html import preview_html
from backend.services import media_service
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from backend.tests.panel.conftest import csrf_of
from backend.tests.panel.test_pages import assert_no_inline_code
from bot.tests.conftest import settings_env
from shared.constants import AdminRole
from shared.models import Lesson

MEDIA_DIR = Path(os.environ["MEDIA_DIR"])
VIDEOS = MEDIA_DIR / media_service.VIDEO_FOLDER
# The first bytes of an MP4 file: a box of 24 bytes whose type, at offset 4, is "ftyp".
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
WEBM_HEAD = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"


def mp4(size: int = 4096) -> bytes:
    return MP4_HEAD + b"\x00" * (size - len(MP4_HEAD))


def video_files() -> list[Path]:
    return sorted(VIDEOS.iterdir()) if VIDEOS.exists() else []


async def token(client: httpx.AsyncClient, path: str = "/admin/lessons/new") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def lesson_row(session, lesson_id: int) -> Lesson | None:
    session.expire_all()
    return await session.scalar(select(Lesson).where(Lesson.id == lesson_id))


def form(csrf: str, **fields: str) -> dict[str, str]:
    values = {
        "title": "Knots",
        "description": "Tie them",
        "price": "25",
        "text_content": "",
        "is_active": "true",
    }
    return {"csrf_token": csrf, **values, **fields}


async def upload(client: httpx.AsyncClient, lesson_id: int, body, content_type: str = "video/mp4", **headers):
    csrf = await token(client, f"/admin/lessons/{lesson_id}")
    return await client.post(
        f"/admin/lessons/video-upload/{lesson_id}",
        content=body,
        headers={"X-CSRF-Token": csrf, "Content-Type": content_type, **headers},
    )


# The list ----------------------------------------------------------------------------------------------


async def test_read_lessons_filters_and_escapes(signed_in, session):
    await create_lesson(session, title="<b>Knots</b>", price=100, video_path="videos/a.mp4")
    await create_lesson(session, title="Sails", price=0, is_free=True, is_active=False)
    await session.commit()

    page = await signed_in.get("/admin/lessons")
    assert page.status_code == 200
    assert "&lt;b&gt;Knots&lt;/b&gt;" in page.text
    assert "<b>Knots</b>" not in page.text
    assert page.text.count('data-testid="lesson-row"') == 2
    assert_no_inline_code(page.text)

    cases = {
        "kind=video": "Knots",
        "kind=text": "Sails",
        "free=yes": "Sails",
        "active=yes": "Knots",
        "q=sail": "Sails",
    }
    for query, title in cases.items():
        filtered = await signed_in.get(f"/admin/lessons?{query}")
        assert filtered.status_code == 200, query
        assert filtered.text.count('data-testid="lesson-row"') == 1, query
        assert title in filtered.text, query


async def test_read_lessons_sorts_and_pages(signed_in, session):
    for price in (30, 10, 20):
        await create_lesson(session, title=f"P{price}", price=price)
    await session.commit()
    page = await signed_in.get("/admin/lessons?sort=price")
    assert re.findall(r">(P\d\d)</a>", page.text) == ["P10", "P20", "P30"]
    page = await signed_in.get("/admin/lessons?sort=-price&offset=1")
    assert re.findall(r">(P\d\d)</a>", page.text) == ["P20", "P10"]


@pytest.mark.parametrize("query", ["sort=nope", "offset=-1", "active=maybe", "kind=audio", "offset=x"])
async def test_read_lessons_bad_query_is_422(signed_in, query):
    page = await signed_in.get(f"/admin/lessons?{query}")
    assert page.status_code == 422
    assert "Traceback" not in page.text


# The form ----------------------------------------------------------------------------------------------


async def test_create_lesson(signed_in, session):
    csrf = await token(signed_in)
    response = await signed_in.post("/admin/lessons/new", data=form(csrf, text_content="<b>Hi</b>"))
    assert response.status_code == 303
    [lesson] = (await session.scalars(select(Lesson))).all()
    assert (lesson.title, lesson.price, lesson.is_free, lesson.is_active) == ("Knots", 25, False, True)
    assert lesson.text_content == "<b>Hi</b>"
    assert response.headers["location"] == f"/admin/lessons/{lesson.id}"
    page = await signed_in.get(response.headers["location"])
    assert "Lesson created" in page.text
    # The bot is off in the tests: the start parameter, and why there is no link.
    assert f"lesson_{lesson.id}" in page.text
    assert "TELEGRAM_BOT_TOKEN" in page.text


async def test_create_free_lesson_ignores_price(signed_in, session):
    csrf = await token(signed_in)
    data = form(csrf, is_free="true")
    del data["price"]  # the disabled field is not sent
    assert (await signed_in.post("/admin/lessons/new", data=data)).status_code == 303
    lesson = await session.scalar(select(Lesson))
    assert (lesson.is_free, lesson.price) == (True, 0)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "This field is required."),
        ({"title": "x" * 201}, "title", "Enter at most 200 characters."),
        ({"price": "ten"}, "price", "Enter a whole number."),
        ({"price": "1.5"}, "price", "Enter a whole number."),
        ({"price": "0"}, "price", "price must be at least 1 Star unless is_free is true"),
        ({"price": ""}, "price", "price must be at least 1 Star unless is_free is true"),
        ({"price": "99999999999"}, "price", "Enter a number of at most 1,000,000."),
    ],
)
async def test_create_lesson_bad_input_is_422_with_values_kept(signed_in, session, fields, field, message):
    csrf = await token(signed_in)
    data = form(csrf, description="<i>kept</i>", **fields)
    response = await signed_in.post("/admin/lessons/new", data=data)
    assert response.status_code == 422
    assert re.search(rf'data-testid="error-{field}">([^<]*)<', response.text).group(1) == message
    assert "&lt;i&gt;kept&lt;/i&gt;" in response.text
    assert f'value="{fields.get("price", "25")}"' in response.text or field == "price"
    assert (await session.scalars(select(Lesson))).all() == []


async def test_update_lesson(signed_in, session):
    lesson = await create_lesson(
        session, title="Old", price=10, video_path="videos/keep.mp4", video_file_id="F"
    )
    await session.commit()
    csrf = await token(signed_in, f"/admin/lessons/{lesson.id}")
    response = await signed_in.post(f"/admin/lessons/{lesson.id}", data=form(csrf, title="New", price="40"))
    assert response.status_code == 303
    stored = await lesson_row(session, lesson.id)
    assert (stored.title, stored.price, stored.is_active) == ("New", 40, True)
    # The form does not touch the video.
    assert (stored.video_path, stored.video_file_id) == ("videos/keep.mp4", "F")

    unticked = form(csrf)
    del unticked["is_active"]
    await signed_in.post(f"/admin/lessons/{lesson.id}", data=unticked)
    assert not (await lesson_row(session, lesson.id)).is_active


async def test_update_lesson_bad_input_is_422(signed_in, session):
    lesson = await create_lesson(session, title="Old", price=10)
    await session.commit()
    csrf = await token(signed_in, f"/admin/lessons/{lesson.id}")
    response = await signed_in.post(f"/admin/lessons/{lesson.id}", data=form(csrf, title="", price="-3"))
    assert response.status_code == 422
    assert 'data-testid="error-title"' in response.text
    assert 'data-testid="error-price"' in response.text
    assert 'value="-3"' in response.text
    assert (await lesson_row(session, lesson.id)).title == "Old"


@pytest.mark.parametrize("path", ["/admin/lessons/999999", "/admin/lessons/abc", "/admin/lessons/0"])
async def test_unknown_lesson_is_404(signed_in, path):
    assert (await signed_in.get(path)).status_code == 404
    csrf = await token(signed_in)
    for action in ("", "/delete", "/deactivate"):
        assert (await signed_in.post(path + action, data=form(csrf))).status_code == 404
    response = await signed_in.post(
        path.replace("/lessons/", "/lessons/video-upload/"),
        content=mp4(),
        headers={"X-CSRF-Token": csrf, "Content-Type": "video/mp4"},
    )
    assert response.status_code == 404
    assert video_files() == []


async def test_form_without_csrf_is_refused(signed_in, session):
    response = await signed_in.post("/admin/lessons/new", data={"title": "x", "price": "5"})
    assert response.status_code == 403
    assert (await session.scalars(select(Lesson))).all() == []


# The preview -------------------------------------------------------------------------------------------


async def test_preview_renders_telegram_html_only(signed_in):
    csrf = await token(signed_in)
    text = (
        '<b>bold</b> <script>alert(1)</script><a href="javascript:alert(1)">x</a><tg-spoiler>s</tg-spoiler>'
    )
    response = await signed_in.post(
        "/admin/lessons/preview",
        data={"title": "<i>T</i>", "text_content": text},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200
    assert "<b>&lt;i&gt;T&lt;/i&gt;</b>" in response.text
    assert "<b>bold</b>" in response.text
    assert "<script" not in response.text
    assert "javascript:" not in response.text
    assert '<span class="tg-spoiler">s</span>' in response.text


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<strong>a</strong><em>b</em><ins>c</ins><del>d</del>", "<b>a</b><i>b</i><u>c</u><s>d</s>"),
        (
            '<a href="https://x.org/?a=1&amp;b=2" onclick="x()">l</a>',
            '<a href="https://x.org/?a=1&amp;b=2" rel',
        ),
        ("<pre><code class='language-py'>1 < 2</code></pre>", "<pre><code>1 &lt; 2</code></pre>"),
        ("<blockquote expandable>q</blockquote>", "<blockquote>q</blockquote>"),
        ('<span class="tg-spoiler">s</span><span>p</span>', '<span class="tg-spoiler">s</span>p'),
        ("<b>unclosed <i>both", "<b>unclosed <i>both</i></b>"),
        ("a<br>b</i>", "a\nb"),
        ("<img src=x onerror=alert(1)>&lt;b&gt;", "&lt;b&gt;"),
        ('<a href="x" title="t">rel</a>', "rel"),
    ],
)
def test_preview_html(text, html):
    assert html in preview_html(text)
    assert "onclick" not in preview_html(text)
    assert "onerror" not in preview_html(text)


# Deleting and deactivating -----------------------------------------------------------------------------


async def test_delete_lesson(signed_in, session):
    lesson = await create_lesson(session)
    await session.commit()
    page = await signed_in.get(f"/admin/lessons/{lesson.id}")
    assert "data-confirm=" in page.text
    response = await signed_in.post(
        f"/admin/lessons/{lesson.id}/delete", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert await lesson_row(session, lesson.id) is None


async def test_delete_bought_lesson_explains_and_deactivates(signed_in, session):
    lesson = await create_lesson(session, title="<Bought>")
    user = await create_user(session)
    await create_purchase(session, user, lesson)
    course = await create_course(session, lessons=[lesson])
    await create_purchase(session, await create_user(session), course)
    await session.commit()
    csrf = await token(signed_in, f"/admin/lessons/{lesson.id}")

    refused = await signed_in.post(f"/admin/lessons/{lesson.id}/delete", data={"csrf_token": csrf})

    assert refused.status_code == 409
    assert "“&lt;Bought&gt;” has 2 purchases" in refused.text
    assert 'data-testid="deactivate"' in refused.text
    assert (await lesson_row(session, lesson.id)).is_active
    response = await signed_in.post(f"/admin/lessons/{lesson.id}/deactivate", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert not (await lesson_row(session, lesson.id)).is_active


async def test_delete_refusal_in_russian(signed_in, session):
    lesson = await create_lesson(session)
    await create_purchase(session, await create_user(session), lesson)
    await session.commit()
    csrf = await token(signed_in, f"/admin/lessons/{lesson.id}")
    refused = await signed_in.post(
        f"/admin/lessons/{lesson.id}/delete", data={"csrf_token": csrf}, headers={"Accept-Language": "ru"}
    )
    assert "1 покупка" in refused.text
    assert "Деактивировать" in refused.text


# Roles -------------------------------------------------------------------------------------------------


async def test_support_is_refused_every_lesson_route(signed_in_as, session):
    lesson = await create_lesson(session)
    await session.commit()
    client = await signed_in_as(AdminRole.SUPPORT)
    csrf = csrf_of((await client.get("/admin")).text)
    for path in ("/admin/lessons", "/admin/lessons/new", f"/admin/lessons/{lesson.id}"):
        assert (await client.get(path)).status_code == 403, path
    for path in ("/new", "/preview", f"/{lesson.id}", f"/{lesson.id}/delete", f"/{lesson.id}/deactivate"):
        response = await client.post(f"/admin/lessons{path}", data=form(csrf))
        assert response.status_code == 403, path
    response = await client.post(
        f"/admin/lessons/video-upload/{lesson.id}",
        content=mp4(),
        headers={"X-CSRF-Token": csrf, "Content-Type": "video/mp4"},
    )
    assert response.status_code == 403
    assert video_files() == []
    assert (await lesson_row(session, lesson.id)).title == lesson.title


async def test_manager_may_use_the_lessons_pages(signed_in_as):
    client = await signed_in_as(AdminRole.MANAGER)
    assert (await client.get("/admin/lessons")).status_code == 200
    csrf = await token(client)
    assert (await client.post("/admin/lessons/new", data=form(csrf))).status_code == 303


# Video upload ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_videos() -> Iterator[None]:
    """No uploaded video before or after each test (other tests upload to the same MEDIA_DIR)."""
    for path in video_files():
        path.unlink()
    yield
    for path in video_files():
        path.unlink()


async def test_upload_video(signed_in, session):
    lesson = await create_lesson(session, video_file_id="OLD")
    await session.commit()

    response = await upload(signed_in, lesson.id, mp4())

    assert response.status_code == 200, response.text
    assert response.json() == {"redirect": f"/admin/lessons/{lesson.id}"}
    stored = await lesson_row(session, lesson.id)
    assert stored.video_file_id is None
    assert re.fullmatch(rf"videos/lesson-{lesson.id}-[0-9a-f]{{16}}\.mp4", stored.video_path)
    assert (MEDIA_DIR / stored.video_path).read_bytes() == mp4()
    assert video_files() == [MEDIA_DIR / stored.video_path]
    page = await signed_in.get(f"/admin/lessons/{lesson.id}")
    assert "Video uploaded." in page.text
    assert Path(stored.video_path).name in page.text

    # A new video replaces the old one, whose file goes.
    webm = await upload(signed_in, lesson.id, WEBM_HEAD + b"\x00" * 100, content_type="video/webm")
    assert webm.status_code == 200
    replaced = await lesson_row(session, lesson.id)
    assert replaced.video_path.endswith(".webm")
    assert video_files() == [MEDIA_DIR / replaced.video_path]


async def test_upload_streams_chunks(signed_in, session):
    lesson = await create_lesson(session)
    await session.commit()

    async def chunks() -> AsyncIterator[bytes]:
        yield MP4_HEAD[:5]  # the signature split between chunks
        yield MP4_HEAD[5:]
        for _ in range(300):
            yield b"\x01" * 65536

    response = await upload(signed_in, lesson.id, chunks())
    assert response.status_code == 200
    stored = await lesson_row(session, lesson.id)
    assert (MEDIA_DIR / stored.video_path).stat().st_size == len(MP4_HEAD) + 300 * 65536


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"%PDF-1.7 not a video at all", "video/mp4", 415),
        (mp4(), "application/pdf", 415),
        (mp4(), "", 415),
        (b"", "video/mp4", 415),
        (b"\x00\x00", "video/mp4", 415),
    ],
)
async def test_upload_refuses_what_is_not_a_video(signed_in, session, body, content_type, status):
    lesson = await create_lesson(session)
    await session.commit()
    response = await upload(signed_in, lesson.id, body, content_type=content_type)
    assert response.status_code == status
    assert "not a video" in response.json()["error"]
    assert video_files() == []
    assert (await lesson_row(session, lesson.id)).video_path is None


async def test_upload_over_declared_limit_is_413_before_reading(signed_in, session):
    lesson = await create_lesson(session)
    await session.commit()
    limit = media_service.video_size_limit()
    assert limit == 50 * 1024 * 1024  # Telegram's public Bot API server
    response = await upload(signed_in, lesson.id, mp4(), **{"Content-Length": str(limit + 1)})
    assert response.status_code == 413
    assert response.json()["error"] == "The file is larger than 50 MB, the most the bot can send."
    assert video_files() == []


async def test_chunked_upload_past_limit_is_stopped(signed_in, session, monkeypatch):
    lesson = await create_lesson(session)
    await session.commit()
    monkeypatch.setattr(media_service, "PUBLIC_API_VIDEO_LIMIT", 1_000_000)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield mp4(65536)
        while sent < 100_000_000:
            sent += 65536
            yield b"\x00" * 65536

    response = await upload(signed_in, lesson.id, endless())
    assert response.status_code == 413
    assert sent < 2_000_000  # reading stopped at the limit
    assert video_files() == []
    assert list(VIDEOS.iterdir()) == []  # no partial file either


def test_local_bot_api_server_lifts_the_limit():
    with settings_env(TELEGRAM_API_URL="http://127.0.0.1:8081"):
        assert media_service.video_size_limit() == 2000 * 1024 * 1024
    with settings_env(TELEGRAM_API_URL="https://api.telegram.org/"):
        assert media_service.video_size_limit() == 50 * 1024 * 1024


async def test_upload_needs_csrf_header(signed_in, session):
    lesson = await create_lesson(session)
    await session.commit()
    response = await signed_in.post(
        f"/admin/lessons/video-upload/{lesson.id}", content=mp4(), headers={"Content-Type": "video/mp4"}
    )
    assert response.status_code == 403
    assert video_files() == []


async def test_upload_is_exempt_from_the_body_limit_alone(signed_in):
    # A form post elsewhere under /admin/lessons keeps the 1 MiB limit.
    csrf = await token(signed_in)
    response = await signed_in.post(
        "/admin/lessons/new", data=form(csrf, description="x" * 2_000_000), headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 413
