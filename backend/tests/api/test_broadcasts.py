"""/api/broadcasts: the composer's and the progress page's API, against the real sender and the Bot API
double where Telegram is involved."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.main import app
from backend.tests.api import assert_invalid, assert_rule_violation, count, fresh
from backend.tests.factories import create_lesson, create_purchase, create_user
from bot.app import create_bot
from bot.gateway import BotGateway
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN, settings_env
from shared.config import get_settings
from shared.models import Admin, AuditLog, Broadcast
from shared.utils import utcnow
from worker import engine as job_engine

URL = "/api/broadcasts/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    """The Bot API double, and the app's way to Telegram and job queue (as its lifespan wires them)."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=api.base_url) as settings:
            bot = create_bot(settings)
            async with job_engine.running(settings, bot=bot, host=True) as engine:
                app.state.telegram, app.state.jobs = BotGateway(bot), engine.jobs
                try:
                    yield api
                finally:
                    app.state.telegram = app.state.jobs = None
            await bot.session.close()


async def create(client, headers, **data) -> dict:
    response = await client.post(
        URL, json={"text": "<b>Hi</b>", "audience": {"kind": "all"}, **data}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_status(client, headers, broadcast_id: int, status: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            body = (await client.get(f"{URL}{broadcast_id}", headers=headers)).json()
            if body["status"] == status:
                return body
            await asyncio.sleep(0.05)


async def test_create_broadcast_counts_recipients(client, admin_headers, session):
    buyer = await create_user(session)
    await create_user(session)
    await create_user(session, bot_blocked_at=utcnow())
    await create_purchase(session, buyer, await create_lesson(session))

    body = await create(client, admin_headers, audience={"kind": "buyers"}, paid=True)

    assert body["status"] == "draft"
    assert (body["total"], body["pending"], body["sent"]) == (1, 1, 0)
    assert (body["paid"], body["cost_stars"], body["duration_seconds"]) == (True, 1, 1)
    assert body["eta_seconds"] is None
    assert body["audience"] == {"kind": "buyers"}
    everyone = await create(client, admin_headers)
    assert everyone["total"] == 2
    [entry] = (
        await session.scalars(
            select(AuditLog).where(AuditLog.entity == "broadcasts", AuditLog.entity_id == str(body["id"]))
        )
    ).all()
    assert entry.action == "create"


async def test_create_scheduled_broadcast(client, admin_headers):
    when = (utcnow() + timedelta(hours=2)).isoformat()
    body = await create(client, admin_headers, scheduled_at=when)
    assert body["status"] == "scheduled"


async def test_create_broadcast_invalid(client, admin_headers, session):
    response = await client.post(
        URL, json={"text": "Hi", "audience": {"kind": "bought_lesson"}}, headers=admin_headers
    )
    assert_rule_violation(response, "lesson_id is required")
    response = await client.post(URL, json={"audience": {"kind": "all"}}, headers=admin_headers)
    assert_invalid(response, "body", "text")
    missing = {"text": "Hi", "audience": {"kind": "all"}, "buttons": [{"text": "Go", "course_id": 999_999}]}
    response = await client.post(URL, json=missing, headers=admin_headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "Course 999999 not found"
    assert await count(session, Broadcast) == 0


async def test_count_audience(client, admin_headers, session):
    await create_user(session, language_code="ru")
    await create_user(session, language_code="en")
    response = await client.post(
        f"{URL}audience",
        json={"kind": "all", "language": "ru"},
        params={"paid": "true"},
        headers=admin_headers,
    )
    assert response.json() == {"count": 1, "duration_seconds": 1, "cost_stars": 1}


async def test_read_broadcasts(client, admin_headers):
    first = await create(client, admin_headers)
    second = await create(client, admin_headers, scheduled_at=(utcnow() + timedelta(days=1)).isoformat())

    listed = (await client.get(URL, headers=admin_headers)).json()
    assert [item["id"] for item in listed["items"]] == [second["id"], first["id"]]
    scheduled = (await client.get(URL, params={"status": "scheduled"}, headers=admin_headers)).json()
    assert [item["id"] for item in scheduled["items"]] == [second["id"]]
    assert (await client.get(f"{URL}{first['id']}", headers=admin_headers)).json() == first
    assert (await client.get(f"{URL}999999", headers=admin_headers)).status_code == 404


async def test_update_broadcast(client, admin_headers, session):
    lesson = await create_lesson(session)
    body = await create(client, admin_headers)
    changes = {"text": "New text", "buttons": [{"text": "Open", "lesson_id": lesson.id}]}

    response = await client.patch(f"{URL}{body['id']}", json=changes, headers=admin_headers)

    assert response.status_code == 200, response.text
    assert response.json()["text"] == "New text"
    assert response.json()["buttons"] == [{"text": "Open", "lesson_id": lesson.id}]
    bad = await client.patch(f"{URL}{body['id']}", json={"text": None}, headers=admin_headers)
    assert_rule_violation(bad, "text may not be null")


async def test_start_broadcast_with_the_bot_off(client, admin_headers):
    body = await create(client, admin_headers)
    response = await client.post(f"{URL}{body['id']}/start", headers=admin_headers)
    assert response.status_code == 409
    assert "bot is off" in response.json()["detail"]


async def test_start_sends_to_everyone_and_the_log_shows_it(client, admin_headers, session, telegram):
    people = [await create_user(session) for _ in range(3)]
    body = await create(client, admin_headers)

    response = await client.post(f"{URL}{body['id']}/start", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sending"
    done = await wait_status(client, admin_headers, body["id"], "done")

    assert (done["sent"], done["pending"], done["eta_seconds"]) == (3, 0, None)
    assert done["started_at"] is not None
    assert done["finished_at"] is not None
    assert [call["chat_id"] for call in telegram.calls_to("sendMessage")] == [p.telegram_id for p in people]
    log = (
        await client.get(f"{URL}{body['id']}/recipients", params={"status": "sent"}, headers=admin_headers)
    ).json()
    assert [row["user_id"] for row in log["items"]] == [p.id for p in people]
    assert all(row["message_id"] and row["sent_at"] for row in log["items"])
    empty = await client.get(
        f"{URL}{body['id']}/recipients", params={"status": "failed"}, headers=admin_headers
    )
    assert empty.json()["total"] == 0
    # Done: nothing more may happen to it.
    for action in ("start", "pause", "resume", "cancel"):
        assert (await client.post(f"{URL}{body['id']}/{action}", headers=admin_headers)).status_code == 409
    assert (
        await client.patch(f"{URL}{body['id']}", json={"text": "x"}, headers=admin_headers)
    ).status_code == 409


@pytest.mark.usefixtures("telegram")
async def test_pause_resume_cancel(client, admin_headers, session):
    # 60 students at 25 a second: sending lasts over 2 s, time enough for the calls below.
    for _ in range(60):
        await create_user(session)
    body = await create(client, admin_headers)
    url = f"{URL}{body['id']}"
    assert (await client.post(f"{url}/pause", headers=admin_headers)).status_code == 409
    assert (await client.post(f"{url}/resume", headers=admin_headers)).status_code == 409

    await client.post(f"{url}/start", headers=admin_headers)
    paused = await client.post(f"{url}/pause", headers=admin_headers)
    assert paused.json()["status"] == "paused"
    assert paused.json()["eta_seconds"] >= 1
    assert (await client.post(f"{url}/pause", headers=admin_headers)).status_code == 409
    resumed = await client.post(f"{url}/resume", headers=admin_headers)
    assert resumed.json()["status"] == "sending"
    cancelled = await client.post(f"{url}/cancel", headers=admin_headers)

    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["sent"] < 60
    assert (await client.post(f"{url}/resume", headers=admin_headers)).status_code == 409


async def test_cancel_a_draft(client, admin_headers):
    body = await create(client, admin_headers)
    response = await client.post(f"{URL}{body['id']}/cancel", headers=admin_headers)
    assert response.json()["status"] == "cancelled"
    again = await client.post(f"{URL}{body['id']}/cancel", headers=admin_headers)
    assert again.status_code == 409
    assert again.json()["detail"] == f"Broadcast {body['id']} is cancelled: it cannot be cancelled"


async def test_test_send_needs_the_bot(client, admin_headers):
    body = await create(client, admin_headers)
    response = await client.post(f"{URL}{body['id']}/test", headers=admin_headers)
    assert response.status_code == 409
    assert "bot is off" in response.json()["detail"]


async def test_test_send_needs_a_linked_chat(client, admin_headers, telegram):
    body = await create(client, admin_headers)
    response = await client.post(f"{URL}{body['id']}/test", headers=admin_headers)
    assert response.status_code == 409
    assert "Link your Telegram account" in response.json()["detail"]
    assert telegram.calls_to("sendMessage") == []


async def test_test_send_goes_to_the_admins_own_chat(client, admin_headers, session, telegram):
    admin = await session.scalar(select(Admin).where(Admin.username == get_settings().ADMIN_USERNAME))
    admin.telegram_id = 555_000_111
    await session.commit()
    await create_user(session)
    body = await create(client, admin_headers, buttons=[{"text": "Site", "url": "https://example.com"}])

    response = await client.post(f"{URL}{body['id']}/test", headers=admin_headers)

    assert response.status_code == 200, response.text
    [call] = telegram.calls_to("sendMessage")
    assert call["chat_id"] == 555_000_111
    assert response.json() == {"chat_id": 555_000_111, "message_id": call.result["message_id"]}
    assert (await client.get(f"{URL}{body['id']}", headers=admin_headers)).json()["status"] == "draft"


async def upload(client, headers, broadcast_id: int, field: str, data: bytes, content_type: str):
    return await client.put(
        f"{URL}{broadcast_id}/media", files={field: ("file", data, content_type)}, headers=headers
    )


async def test_upload_and_remove_media(client, admin_headers, session):
    body = await create(client, admin_headers)

    response = await upload(client, admin_headers, body["id"], "photo", PNG, "image/png")
    assert response.status_code == 200, response.text
    assert response.json()["media_kind"] == "photo"
    broadcast = await fresh(session, Broadcast, body["id"])
    photo = Path(get_settings().MEDIA_DIR) / broadcast.media_path
    assert photo.read_bytes() == PNG

    response = await upload(client, admin_headers, body["id"], "video", MP4, "video/mp4")
    assert response.json()["media_kind"] == "video"
    assert not photo.exists()  # the replaced file goes
    video = Path(get_settings().MEDIA_DIR) / (await fresh(session, Broadcast, body["id"])).media_path

    response = await client.delete(f"{URL}{body['id']}/media", headers=admin_headers)
    assert response.json()["media_kind"] is None
    assert not video.exists()


async def test_upload_media_refused(client, admin_headers):
    body = await create(client, admin_headers)
    url_id = body["id"]
    assert (await upload(client, admin_headers, url_id, "photo", b"hello", "text/plain")).status_code == 415
    assert (
        await upload(client, admin_headers, url_id, "photo", b"not a png", "image/png")
    ).status_code == 415
    assert (await upload(client, admin_headers, url_id, "video", PNG, "video/mp4")).status_code == 415
    assert (await upload(client, admin_headers, url_id, "document", PNG, "image/png")).status_code == 422
    too_large = PNG + b"\x00" * (10 * 1024 * 1024)
    response = await upload(client, admin_headers, url_id, "photo", too_large, "image/png")
    assert response.status_code == 413
    assert "10 MB" in response.json()["detail"]
    long_text = await create(client, admin_headers, text="x" * 1500)
    response = await upload(client, admin_headers, long_text["id"], "photo", PNG, "image/png")
    assert_rule_violation(response, "1024")
    assert list((Path(get_settings().MEDIA_DIR) / "broadcasts").glob(f"broadcast-{url_id}-*")) == []


async def test_upload_media_only_while_editable(client, admin_headers):
    body = await create(client, admin_headers)
    await client.post(f"{URL}{body['id']}/cancel", headers=admin_headers)
    response = await upload(client, admin_headers, body["id"], "photo", PNG, "image/png")
    assert response.status_code == 409
    assert (await client.delete(f"{URL}{body['id']}/media", headers=admin_headers)).status_code == 409
