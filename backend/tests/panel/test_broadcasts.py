"""The panel's broadcasts pages: roles, the list, the composer (errors beside the fields, values kept, the
live recipient count and the planner), the actions that change a broadcast's status, the progress partial,
the recipient log, the paid broadcast's confirmation and the test-send."""

import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from backend.main import app
from backend.services import broadcast_service
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from backend.tests.panel.conftest import csrf_of
from backend.tests.panel.test_pages import assert_no_inline_code
from bot.gateway import BotGateway
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN
from shared.constants import AdminRole, AudienceKind, BroadcastMediaKind, BroadcastStatus, RecipientStatus
from shared.models import Admin, Broadcast, BroadcastRecipient
from shared.schemas import BroadcastAudience, BroadcastCreate
from shared.utils import utcnow

MEDIA_DIR = Path(os.environ["MEDIA_DIR"])
COUNT = re.compile(r'data-testid="recipient-count">([^<]*)<')


async def token(client: httpx.AsyncClient, path: str = "/admin/broadcasts/new") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def composer(csrf: str, **fields: Any) -> dict[str, Any]:
    values = {
        "text": "<b>Spring sale</b>",
        "button_text": "",
        "button_kind": "url",
        "button_url": "",
        "button_lesson_id": "",
        "button_course_id": "",
        "audience_kind": "all",
        "audience_lesson_id": "",
        "audience_course_id": "",
        "audience_language": "",
        "scheduled_at": "",
        "action": "save",
    }
    return {"csrf_token": csrf, **values, **fields}


async def stored(session, broadcast_id: int | None = None) -> Broadcast:
    session.expire_all()
    query = select(Broadcast).order_by(Broadcast.id.desc())
    if broadcast_id is not None:
        query = query.where(Broadcast.id == broadcast_id)
    broadcast = await session.scalar(query.limit(1))
    assert broadcast is not None
    return broadcast


async def new_broadcast(session, *, paid: bool = False, **fields: Any) -> Broadcast:
    data = BroadcastCreate(
        text="Hello", audience=BroadcastAudience(kind=AudienceKind.ALL), paid=paid, **fields
    )
    broadcast = await broadcast_service.create(session, data, admin_id=None)
    await session.commit()
    return broadcast


async def students(session, n: int, **fields: Any) -> list:
    return [await create_user(session, **fields) for _ in range(n)]


def count_of(html: str) -> int:
    match = COUNT.search(html)
    assert match is not None, html
    return int(match.group(1).replace(",", "").replace("\u00a0", ""))


# Roles and pages ---------------------------------------------------------------------------------------


async def test_support_may_not_open_broadcasts(signed_in_as, session):
    broadcast = await new_broadcast(session)
    client = await signed_in_as(AdminRole.SUPPORT)
    for path in ("/admin/broadcasts", "/admin/broadcasts/new", f"/admin/broadcasts/{broadcast.id}"):
        assert (await client.get(path)).status_code == 403, path
    csrf = csrf_of((await client.get("/admin")).text)
    for path in ("/admin/broadcasts/plan", f"/admin/broadcasts/{broadcast.id}/start"):
        response = await client.post(path, data=composer(csrf))
        assert response.status_code == 403, path
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.DRAFT


@pytest.mark.parametrize("role", [AdminRole.MANAGER, AdminRole.OWNER])
async def test_managers_and_owners_see_the_broadcasts(signed_in_as, role):
    client = await signed_in_as(role)
    page = await client.get("/admin/broadcasts")
    assert page.status_code == 200
    assert 'href="/admin/broadcasts" aria-current="page"' in page.text
    assert 'data-testid="no-broadcasts"' in page.text


async def test_read_broadcasts_shows_progress_and_filters(signed_in, session):
    draft = await new_broadcast(session)
    done = await new_broadcast(session)
    done.status, done.total, done.sent, done.failed, done.blocked = BroadcastStatus.DONE, 10, 7, 2, 1
    done.started_at = done.finished_at = utcnow()
    await session.commit()

    page = await signed_in.get("/admin/broadcasts")
    assert page.status_code == 200
    assert page.text.count('data-testid="broadcast-row"') == 2
    assert 'value="10" max="10"' in page.text  # sent + failed + blocked of total
    assert "7 · 2 · 1 / 10" in page.text
    assert_no_inline_code(page.text)

    only_done = await signed_in.get("/admin/broadcasts?status=done")
    assert only_done.text.count('data-testid="broadcast-row"') == 1
    assert f"/admin/broadcasts/{done.id}" in only_done.text
    assert f'/admin/broadcasts/{draft.id}"' not in only_done.text
    assert (await signed_in.get("/admin/broadcasts?status=nope")).status_code == 422


# The composer ------------------------------------------------------------------------------------------


async def test_new_broadcast_page_counts_every_student(signed_in, session):
    await students(session, 3)
    await create_user(session, bot_blocked_at=utcnow())
    page = await signed_in.get("/admin/broadcasts/new")
    assert page.status_code == 200
    assert count_of(page.text) == 3  # who blocked the bot is not counted
    assert 'hx-post="/admin/broadcasts/plan"' in page.text
    assert 'data-testid="media-after-save"' in page.text
    assert_no_inline_code(page.text)


async def test_create_broadcast_saves_a_draft(signed_in, session):
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    lesson_id, course_id = lesson.id, course.id
    csrf = await token(signed_in)
    form = composer(
        csrf,
        button_text=["Site", "Lesson", "Course", ""],
        button_kind=["url", "lesson", "course", "url"],
        button_url=["https://example.com", "", "", ""],
        button_lesson_id=["", str(lesson.id), "", ""],
        button_course_id=["", "", str(course.id), ""],
        audience_kind="bought_course",
        audience_course_id=str(course.id),
        audience_language="ru",
        paid="true",
    )
    response = await signed_in.post("/admin/broadcasts/new", data=form)
    assert response.status_code == 303, response.text
    broadcast = await stored(session)
    assert response.headers["location"] == f"/admin/broadcasts/{broadcast.id}"
    assert broadcast.status is BroadcastStatus.DRAFT
    assert broadcast.text == "<b>Spring sale</b>"
    assert broadcast.paid is True
    assert [
        {key: value for key, value in button.items() if value is not None} for button in broadcast.buttons
    ] == [
        {"text": "Site", "url": "https://example.com"},
        {"text": "Lesson", "lesson_id": lesson_id},
        {"text": "Course", "course_id": course_id},
    ]
    audience = BroadcastAudience.model_validate(broadcast.audience)
    assert (audience.kind, audience.course_id, audience.language) == (
        AudienceKind.BOUGHT_COURSE,
        course_id,
        "ru",
    )

    page = await signed_in.get(response.headers["location"])
    assert "The broadcast is saved as a draft." in page.text
    assert page.text.count('data-testid="preview-button"') == 3


async def test_create_broadcast_errors_beside_fields_keep_values(signed_in, session):
    csrf = await token(signed_in)
    form = composer(
        csrf,
        text="",
        button_text=["Site", "Open"],
        button_kind=["url", "lesson"],
        button_url=["ftp://example.com", ""],
        button_lesson_id=["", ""],
        button_course_id=["", ""],
        audience_kind="bought_lesson",
        audience_language="ru",
        paid="true",
    )
    response = await signed_in.post("/admin/broadcasts/new", data=form)
    assert response.status_code == 422
    html = response.text
    assert 'data-testid="form-errors"' in html
    for field in ("text", "button-0-target", "button-1-target", "audience_lesson_id"):
        assert f'data-testid="error-{field}"' in html, field
    assert "Choose what the button opens." in html
    # What was typed is still there.
    assert 'value="ftp://example.com"' in html
    assert 'value="Open"' in html
    assert '<option value="bought_lesson" selected>' in html
    assert '<option value="ru" selected>' in html
    assert 'id="paid" name="paid" type="checkbox" value="true" checked' in html
    assert (await session.scalar(select(Broadcast))) is None


async def test_schedule_broadcast_needs_a_future_time(signed_in, session):
    csrf = await token(signed_in)
    missing = await signed_in.post("/admin/broadcasts/new", data=composer(csrf, action="schedule"))
    assert missing.status_code == 422
    assert 'data-testid="error-scheduled_at"' in missing.text
    past = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = await signed_in.post(
        "/admin/broadcasts/new", data=composer(csrf, action="schedule", scheduled_at=past)
    )
    assert response.status_code == 422
    assert 'data-testid="error-scheduled_at"' in response.text
    assert f'value="{past}"' in response.text

    later = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = await signed_in.post(
        "/admin/broadcasts/new",
        data=composer(csrf, action="schedule", scheduled_at=later.strftime("%Y-%m-%dT%H:%M")),
    )
    assert response.status_code == 303, response.text
    broadcast = await stored(session)
    assert broadcast.status is BroadcastStatus.SCHEDULED
    assert broadcast.scheduled_at == later  # the form's time is UTC

    # Saved as a draft again from its edit page: no longer scheduled.
    edit = f"/admin/broadcasts/{broadcast.id}/edit"
    page = await signed_in.get(edit)
    assert f'value="{later.strftime("%Y-%m-%dT%H:%M")}"' in page.text
    response = await signed_in.post(edit, data=composer(csrf, text="Changed"))
    assert response.status_code == 303
    broadcast = await stored(session, broadcast.id)
    assert (broadcast.status, broadcast.scheduled_at, broadcast.text) == (
        BroadcastStatus.DRAFT,
        None,
        "Changed",
    )


async def test_edit_broadcast_refused_once_started(signed_in, session):
    broadcast = await new_broadcast(session)
    await broadcast_service.start(session, broadcast)
    await session.commit()
    page = await signed_in.get(f"/admin/broadcasts/{broadcast.id}/edit")
    assert page.status_code == 303
    assert page.headers["location"] == f"/admin/broadcasts/{broadcast.id}"
    csrf = await token(signed_in)
    response = await signed_in.post(f"/admin/broadcasts/{broadcast.id}/edit", data=composer(csrf))
    assert response.status_code == 409
    assert (await stored(session, broadcast.id)).text == "Hello"


async def test_preview_shows_the_text_as_telegram_does(signed_in):
    csrf = await token(signed_in)
    form = composer(csrf, text='<b>Hi</b> <script>x</script><a href="javascript:x">y</a>', button_text="Go")
    response = await signed_in.post("/admin/broadcasts/preview", data=form)
    assert response.status_code == 200
    assert "<b>Hi</b>" in response.text
    assert "<script>" not in response.text
    assert "javascript:" not in response.text
    assert '<li data-testid="preview-button">Go</li>' in response.text


# The live count and the planner ------------------------------------------------------------------------


async def test_plan_partial_counts_the_audience(signed_in, session):
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    anna, boris, _ = await students(session, 3)
    await create_user(session, language_code="ru")
    await create_purchase(session, anna, lesson)
    await create_purchase(session, boris, course)
    csrf = await token(signed_in)

    async def count(**fields: str) -> int:
        response = await signed_in.post("/admin/broadcasts/plan", data=composer(csrf, **fields))
        assert response.status_code == 200
        return count_of(response.text)

    assert await count() == 4
    assert await count(audience_kind="buyers") == 2
    assert await count(audience_kind="non_buyers") == 2
    # The lesson bought alone, or as part of the course.
    assert await count(audience_kind="bought_lesson", audience_lesson_id=str(lesson.id)) == 2
    assert await count(audience_kind="bought_course", audience_course_id=str(course.id)) == 1
    assert await count(audience_kind="not_bought_course", audience_course_id=str(course.id)) == 3
    assert await count(audience_language="ru") == 1
    incomplete = await signed_in.post(
        "/admin/broadcasts/plan", data=composer(csrf, audience_kind="bought_lesson")
    )
    assert 'data-testid="planner-incomplete"' in incomplete.text


async def test_planner_figures_unpaid_and_paid_bot_off(signed_in, session):
    await students(session, 26)
    csrf = await token(signed_in)
    unpaid = await signed_in.post("/admin/broadcasts/plan", data=composer(csrf))
    # 26 messages at 25 a second.
    assert re.search(r'data-testid="planner-duration">[^<]*\b[12] s<', unpaid.text), unpaid.text
    assert "planner-cost" not in unpaid.text
    paid = await signed_in.post("/admin/broadcasts/plan", data=composer(csrf, paid="true"))
    assert 'data-testid="planner-cost">Costs 3 ⭐' in paid.text  # ceil(26 / 10)
    assert 'data-testid="planner-balance-off"' in paid.text


@pytest.fixture
async def bot_on() -> AsyncIterator[BotAPIDouble]:
    """The app's way to Telegram is the real gateway, talking to the Bot API double."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        bot = Bot(BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        app.state.telegram = BotGateway(bot)
        try:
            yield api
        finally:
            app.state.telegram = None
            await bot.session.close()


async def test_planner_shows_the_cost_beside_the_balance(signed_in, session, bot_on):
    await students(session, 11)
    bot_on.star_balance = 1
    csrf = await token(signed_in)
    paid = await signed_in.post("/admin/broadcasts/plan", data=composer(csrf, paid="true"))
    assert 'data-testid="planner-cost">Costs 2 ⭐' in paid.text
    assert 'data-testid="planner-balance">The bot&#39;s balance: 1 ⭐' in paid.text
    assert 'data-testid="planner-balance-short"' in paid.text
    bot_on.fail("getMyStarBalance", error_code=500, description="Internal Server Error")
    failing = await signed_in.post("/admin/broadcasts/plan", data=composer(csrf, paid="true"))
    assert 'data-testid="planner-balance-unavailable"' in failing.text


# Actions -----------------------------------------------------------------------------------------------


async def test_start_pause_resume_cancel(signed_in, session):
    await students(session, 2)
    broadcast = await new_broadcast(session)
    path = f"/admin/broadcasts/{broadcast.id}"
    csrf = await token(signed_in, path)

    started = await signed_in.post(f"{path}/start", data={"csrf_token": csrf})
    assert started.status_code == 303
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.SENDING
    again = await signed_in.post(f"{path}/start", data={"csrf_token": csrf})
    assert again.status_code == 409

    page = await signed_in.get(path)
    assert 'data-testid="pause-broadcast"' in page.text
    assert 'data-testid="eta">1 s<' in page.text  # 2 messages at 25 a second
    assert f'hx-get="{path}/progress" hx-trigger="every 1s"' in page.text
    assert (await signed_in.post(f"{path}/pause", data={"csrf_token": csrf})).status_code == 303
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.PAUSED
    assert (await signed_in.post(f"{path}/pause", data={"csrf_token": csrf})).status_code == 409
    assert (await signed_in.post(f"{path}/resume", data={"csrf_token": csrf})).status_code == 303
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.SENDING
    page = await signed_in.get(path)
    assert 'data-confirm="Cancel this broadcast?' in page.text
    assert (await signed_in.post(f"{path}/cancel", data={"csrf_token": csrf})).status_code == 303
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.CANCELLED

    progress = await signed_in.get(f"{path}/progress")
    assert progress.status_code == 200
    assert 'data-status="cancelled"' in progress.text
    assert "hx-trigger" not in progress.text  # nothing changes any more: no polling
    assert (await signed_in.post(f"{path}/resume", data={"csrf_token": csrf})).status_code == 409


async def test_start_now_from_the_composer(signed_in, session):
    await students(session, 1)
    csrf = await token(signed_in)
    response = await signed_in.post("/admin/broadcasts/new", data=composer(csrf, action="start"))
    assert response.status_code == 303
    assert (await stored(session)).status is BroadcastStatus.SENDING


async def test_start_now_of_a_paid_broadcast_from_the_composer_asks_first(signed_in, session):
    await students(session, 3)
    csrf = await token(signed_in)
    form = composer(csrf, action="start", paid="true")
    asked = await signed_in.post("/admin/broadcasts/new", data=form)
    assert asked.status_code == 200
    assert 'data-testid="confirm-start"' in asked.text
    assert 'data-testid="confirm-cost">1 ⭐' in asked.text
    assert (await stored(session)).status is BroadcastStatus.DRAFT


async def test_failed_broadcast_shows_why(signed_in, session):
    broadcast = await new_broadcast(session)
    broadcast.status, broadcast.error = BroadcastStatus.FAILED, "Bad Request: can't parse entities"
    await session.commit()
    progress = await signed_in.get(f"/admin/broadcasts/{broadcast.id}/progress")
    assert "Telegram refused the message: Bad Request: can&#39;t parse entities" in progress.text
    assert "hx-trigger" not in progress.text


async def test_paid_broadcast_asks_to_confirm_first(signed_in, session):
    await students(session, 21)
    broadcast = await new_broadcast(session, paid=True)
    path = f"/admin/broadcasts/{broadcast.id}"
    csrf = await token(signed_in, path)
    asked = await signed_in.post(f"{path}/start", data={"csrf_token": csrf})
    assert asked.status_code == 200
    assert 'data-testid="confirm-count">21<' in asked.text
    assert 'data-testid="confirm-cost">3 ⭐' in asked.text
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.DRAFT
    confirmed = await signed_in.post(f"{path}/start", data={"csrf_token": csrf, "confirmed": "true"})
    assert confirmed.status_code == 303
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.SENDING


async def test_recipient_log_filters_by_status(signed_in, session):
    users = await students(session, 3)
    broadcast = await new_broadcast(session)
    broadcast.status, broadcast.total, broadcast.sent, broadcast.failed, broadcast.blocked = (
        BroadcastStatus.DONE,
        3,
        1,
        1,
        1,
    )
    rows = [
        (RecipientStatus.SENT, 555, None),
        (RecipientStatus.FAILED, None, "Bad Request: <wrong>"),
        (RecipientStatus.BLOCKED, None, "Forbidden: bot was blocked by the user"),
    ]
    for user, (status, message_id, error) in zip(users, rows, strict=True):
        session.add(
            BroadcastRecipient(
                broadcast_id=broadcast.id,
                user_id=user.id,
                telegram_id=user.telegram_id,
                status=status,
                message_id=message_id,
                error=error,
                attempts=1,
                sent_at=utcnow() if message_id else None,
            )
        )
    await session.commit()
    path = f"/admin/broadcasts/{broadcast.id}"
    page = await signed_in.get(path)
    assert page.text.count('data-testid="recipient-row"') == 3
    assert "Bad Request: &lt;wrong&gt;" in page.text
    sent = await signed_in.get(f"{path}?status=sent")
    assert sent.text.count('data-testid="recipient-row"') == 1
    assert "<td>555</td>" in sent.text
    blocked = await signed_in.get(f"{path}?status=blocked")
    assert blocked.text.count('data-testid="recipient-row"') == 1
    assert "bot was blocked" in blocked.text
    assert (await signed_in.get(f"{path}?status=lost")).status_code == 422


async def test_test_send_needs_a_linked_telegram(signed_in, session, bot_on):
    broadcast = await new_broadcast(session)
    path = f"/admin/broadcasts/{broadcast.id}"
    csrf = await token(signed_in, path)
    response = await signed_in.post(f"{path}/test", data={"csrf_token": csrf})
    assert response.status_code == 409
    assert "Link your Telegram account in the panel first" in response.text
    assert 'href="/admin/account"' in response.text
    assert bot_on.calls_to("sendMessage") == []


async def test_test_send_goes_to_the_admins_own_chat(signed_in, session, bot_on):
    await students(session, 2)
    admin = await session.scalar(select(Admin).where(Admin.username == "admin"))
    admin.telegram_id = 424242
    await session.commit()
    broadcast = await new_broadcast(session)
    path = f"/admin/broadcasts/{broadcast.id}"
    csrf = await token(signed_in, path)
    response = await signed_in.post(f"{path}/test", data={"csrf_token": csrf})
    assert response.status_code == 303
    [call] = bot_on.calls_to("sendMessage")
    assert int(call.params["chat_id"]) == 424242
    assert (await stored(session, broadcast.id)).status is BroadcastStatus.DRAFT


# The photo or video ------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def upload(client: httpx.AsyncClient, broadcast_id: int, body: bytes, content_type: str):
    csrf = await token(client, f"/admin/broadcasts/{broadcast_id}/edit")
    return await client.post(
        f"/admin/broadcasts/media-upload/{broadcast_id}",
        content=body,
        headers={"X-CSRF-Token": csrf, "Content-Type": content_type},
    )


async def test_upload_photo_then_remove_it(signed_in, session):
    broadcast = await new_broadcast(session)
    response = await upload(signed_in, broadcast.id, PNG, "image/png")
    assert response.status_code == 200, response.text
    assert response.json() == {"redirect": f"/admin/broadcasts/{broadcast.id}/edit"}
    stored_broadcast = await stored(session, broadcast.id)
    assert stored_broadcast.media_kind is BroadcastMediaKind.PHOTO
    file = MEDIA_DIR / stored_broadcast.media_path
    assert file.read_bytes() == PNG

    page = await signed_in.get(f"/admin/broadcasts/{broadcast.id}/edit")
    assert "A photo is attached." in page.text
    csrf = csrf_of(page.text)
    removed = await signed_in.post(
        f"/admin/broadcasts/{broadcast.id}/media/delete", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    assert (await stored(session, broadcast.id)).media_kind is None
    assert not file.exists()


async def test_upload_refuses_what_is_not_a_photo_or_video(signed_in, session):
    broadcast = await new_broadcast(session)
    response = await upload(signed_in, broadcast.id, b"hello", "text/plain")
    assert response.status_code == 415
    assert "neither a photo nor a video" in response.json()["error"]
    fake = await upload(signed_in, broadcast.id, b"not a png at all", "image/png")
    assert fake.status_code == 415
    assert (await stored(session, broadcast.id)).media_kind is None


async def test_upload_refused_once_started(signed_in, session):
    await students(session, 1)
    broadcast = await new_broadcast(session)
    csrf = await token(signed_in, f"/admin/broadcasts/{broadcast.id}/edit")
    await broadcast_service.start(session, broadcast)
    await session.commit()
    response = await signed_in.post(
        f"/admin/broadcasts/media-upload/{broadcast.id}",
        content=PNG,
        headers={"X-CSRF-Token": csrf, "Content-Type": "image/png"},
    )
    assert response.status_code == 409
    assert (await stored(session, broadcast.id)).media_kind is None


async def test_caption_over_telegrams_limit_is_an_error_beside_the_text(signed_in, session):
    broadcast = await new_broadcast(session)
    assert (await upload(signed_in, broadcast.id, PNG, "image/png")).status_code == 200
    edit = f"/admin/broadcasts/{broadcast.id}/edit"
    csrf = await token(signed_in, edit)
    response = await signed_in.post(edit, data=composer(csrf, text="<b>" + "x" * 1025 + "</b>"))
    assert response.status_code == 422
    assert 'data-testid="error-text"' in response.text
    assert "1024" in response.text
    assert (await stored(session, broadcast.id)).text == "Hello"


async def test_pages_in_russian(signed_in, session):
    await students(session, 2)
    broadcast = await new_broadcast(session, paid=True)
    page = await signed_in.get("/admin/broadcasts")
    csrf = csrf_of(page.text)
    await signed_in.post("/admin/language", data={"lang": "ru", "csrf_token": csrf})
    listing = await signed_in.get("/admin/broadcasts")
    assert "Рассылки" in listing.text
    assert "Черновик" in listing.text
    composer_page = await signed_in.get("/admin/broadcasts/new")
    assert "2 ученика" in re.sub(r"<[^>]+>", "", composer_page.text).replace("\n", " ").replace("  ", " ")
    detail = await signed_in.get(f"/admin/broadcasts/{broadcast.id}")
    assert "2 получателя" in detail.text
    assert "Стоит 1 ⭐" in detail.text
    assert "{???}" not in listing.text + composer_page.text + detail.text
