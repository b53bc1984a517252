"""The broadcast sender (worker/tasks/broadcasts.py) against the Bot API double: order, blocks, 429s,
retries, pause/resume/cancel, media uploaded once, paid broadcasts, a dead sender's takeover, the jobs."""

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy import update as sql_update

from backend.services import broadcast_service
from backend.services.jobs import SEND_BROADCAST
from backend.tests.factories import create_course, create_lesson, create_user
from bot.callbacks import CourseCb, ItemAction, LessonCb
from bot.tests import conftest as bot_fixtures
from bot.tests.helpers import buttons, db_scalar, db_scalars
from shared import database
from shared.config import Settings, get_settings
from shared.constants import BroadcastMediaKind, BroadcastStatus, RecipientStatus
from shared.models import Broadcast, BroadcastRecipient, BroadcastSender, User
from shared.schemas import BroadcastCreate
from shared.utils import utcnow
from worker import engine as job_engine
from worker.rate_limit import LocalRateLimiter, RedisRateLimiter
from worker.tasks import broadcasts

# The Bot API double and the bot talking to it (bot/tests/conftest.py).
telegram, bot_settings, bot = bot_fixtures.telegram, bot_fixtures.bot_settings, bot_fixtures.bot

# Slow enough that each send is its own moment (a 429's answer lands before the next slot), fast enough
# for short tests.
RATE = 10
# A PNG's first bytes are enough for the double: it stores what it is given.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def settings(bot_settings: Settings) -> Settings:
    return bot_settings.model_copy(update={"BROADCAST_RATE_PER_SECOND": RATE})


@pytest.fixture
def limiter() -> LocalRateLimiter:
    return LocalRateLimiter(RATE)


async def students(session, count: int, **fields) -> list[User]:
    return [await create_user(session, **fields) for _ in range(count)]


async def started(data: dict, *, media: Path | None = None, kind=BroadcastMediaKind.PHOTO) -> int:
    """A broadcast created and started as the API does; its id."""
    async with database.session_scope() as session:
        broadcast = await broadcast_service.create(
            session, BroadcastCreate.model_validate({"audience": {"kind": "all"}, **data}), admin_id=None
        )
        if media is not None:
            await broadcast_service.set_media(session, broadcast, kind, str(media))
        await broadcast_service.start(session, broadcast)
        return broadcast.id


async def stored(broadcast_id: int) -> Broadcast:
    async with database.session_scope() as session:
        return await session.get(Broadcast, broadcast_id)


async def until_done(broadcast_id: int) -> None:
    """Wait (up to 10 s) for the broadcast to be done."""
    async with asyncio.timeout(10):
        while (await stored(broadcast_id)).status is not BroadcastStatus.DONE:  # noqa: ASYNC110 (a DB row)
            await asyncio.sleep(0.05)


async def recipient_rows(broadcast_id: int) -> list[BroadcastRecipient]:
    return await db_scalars(
        select(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .order_by(BroadcastRecipient.id)
    )


async def run(broadcast_id: int, bot, settings, limiter, **kwargs) -> bool:
    return await broadcasts.run_sender(broadcast_id, bot=bot, settings=settings, limiter=limiter, **kwargs)


async def run_to_the_end(broadcast_id: int, bot, settings, limiter) -> None:
    async with asyncio.timeout(30):
        while await run(broadcast_id, bot, settings, limiter):
            pass


async def test_send_reaches_everyone_once_in_user_order(session, bot, settings, limiter, telegram):
    people = await students(session, 6)
    await create_user(session, bot_blocked_at=utcnow())  # never in an audience
    broadcast_id = await started({"text": "<b>News</b> for you"})

    assert await run(broadcast_id, bot, settings, limiter) is False

    calls = telegram.calls_to("sendMessage")
    assert [call["chat_id"] for call in calls] == [person.telegram_id for person in people]
    assert all(call["text"] == "<b>News</b> for you" and call["parse_mode"] == "HTML" for call in calls)
    assert all("allow_paid_broadcast" not in call.params for call in calls)
    broadcast = await stored(broadcast_id)
    assert (broadcast.status, broadcast.total, broadcast.sent, broadcast.failed, broadcast.blocked) == (
        BroadcastStatus.DONE,
        6,
        6,
        0,
        0,
    )
    assert broadcast.finished_at is not None
    assert await db_scalars(select(BroadcastSender)) == []
    rows = await recipient_rows(broadcast_id)
    assert [row.message_id for row in rows] == [call.result["message_id"] for call in calls]
    assert {row.status for row in rows} == {RecipientStatus.SENT}


async def test_send_slots_follow_the_rate(session, bot, settings, limiter, telegram):
    await students(session, 8)
    broadcast_id = await started({"text": "Hello"})

    await run(broadcast_id, bot, settings, limiter)

    times = [call.at for call in telegram.calls_to("sendMessage")]
    assert len(times) == 8
    # No sliding second holds more than RATE sends (the limiter spaces them 1/RATE apart).
    assert all(later - earlier >= 1 - 0.05 for earlier, later in zip(times, times[RATE:], strict=False))
    assert times[-1] - times[0] >= 7 * (1 / RATE) * 0.9


async def test_blocked_student_is_marked_and_not_retried(session, bot, settings, limiter, telegram):
    _first, blocked, _last = await students(session, 3)
    telegram.block(blocked.telegram_id)
    broadcast_id = await started({"text": "Hello"})

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    assert len([c for c in telegram.calls_to("sendMessage") if c["chat_id"] == blocked.telegram_id]) == 1
    rows = {row.user_id: row for row in await recipient_rows(broadcast_id)}
    assert rows[blocked.id].status is RecipientStatus.BLOCKED
    assert "blocked" in (rows[blocked.id].error or "")
    assert await db_scalar(select(User.bot_blocked_at).where(User.id == blocked.id)) is not None
    broadcast = await stored(broadcast_id)
    assert (broadcast.status, broadcast.sent, broadcast.blocked) == (BroadcastStatus.DONE, 2, 1)


async def test_429_holds_every_send_until_retry_after(session, bot, settings, limiter, telegram):
    people = await students(session, 4)
    telegram.fail("sendMessage", error_code=429, retry_after=1, times=1)
    broadcast_id = await started({"text": "Hello"})

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    calls = telegram.calls_to("sendMessage")
    [refused] = [call for call in calls if call.status == 429]
    after = [call for call in calls if call.at > refused.at]
    assert after
    assert min(call.at for call in after) >= refused.at + 1
    # The refused student got it afterwards, once; nobody twice.
    sent_to = [call["chat_id"] for call in calls if call.ok]
    assert sorted(sent_to) == sorted(person.telegram_id for person in people)
    rows = await recipient_rows(broadcast_id)
    assert all(row.status is RecipientStatus.SENT and row.attempts == 0 for row in rows)


async def test_failures_are_retried_then_recorded(session, bot, settings, limiter, telegram, monkeypatch):
    monkeypatch.setattr(broadcast_service, "RETRY_BASE_SECONDS", 0.05)
    good, bad = await students(session, 2)
    telegram.fail(
        "sendMessage", error_code=500, times=None, when=lambda p: p.get("chat_id") == bad.telegram_id
    )
    broadcast_id = await started({"text": "Hello"})

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    attempts = [c for c in telegram.calls_to("sendMessage") if c["chat_id"] == bad.telegram_id]
    assert len(attempts) == broadcast_service.MAX_ATTEMPTS
    rows = {row.user_id: row for row in await recipient_rows(broadcast_id)}
    assert rows[bad.id].status is RecipientStatus.FAILED
    assert rows[bad.id].attempts == broadcast_service.MAX_ATTEMPTS
    assert rows[bad.id].error
    assert rows[good.id].status is RecipientStatus.SENT
    broadcast = await stored(broadcast_id)
    assert (broadcast.status, broadcast.sent, broadcast.failed) == (BroadcastStatus.DONE, 1, 1)


async def test_message_refused_by_telegram_fails_the_broadcast(session, bot, settings, limiter, telegram):
    await students(session, 5)
    telegram.fail("sendMessage", error_code=400, description="Bad Request: can't parse entities", times=None)
    broadcast_id = await started({"text": "Hello"})

    assert await run(broadcast_id, bot, settings, limiter) is False

    broadcast = await stored(broadcast_id)
    assert broadcast.status is BroadcastStatus.FAILED
    assert "can't parse entities" in (broadcast.error or "")
    assert broadcast.sent == 0
    assert broadcast.failed == 0
    # It stops at the batch in which the refusals reached the limit: the others never get a request.
    assert len(telegram.calls_to("sendMessage")) < 5


async def _change(broadcast_id: int, action) -> float:
    async with database.session_scope() as session:
        await action(session, await broadcast_service.get(session, broadcast_id))
    return asyncio.get_running_loop().time()


@pytest.mark.parametrize("action", ["pause", "cancel"])
async def test_pause_and_cancel_take_effect_within_a_second(
    session, bot, settings, limiter, telegram, action
):
    await students(session, 40)
    broadcast_id = await started({"text": "Hello"})
    sender = asyncio.create_task(run(broadcast_id, bot, settings, limiter))
    await telegram.wait_for("sendMessage", count=3)

    changed_at = await _change(broadcast_id, getattr(broadcast_service, action))
    async with asyncio.timeout(1):
        assert await sender is False
    stopped_at = asyncio.get_running_loop().time()

    assert stopped_at - changed_at < 1
    sent = len(telegram.calls_to("sendMessage"))
    assert sent < 40
    broadcast = await stored(broadcast_id)
    assert broadcast.status is (BroadcastStatus.PAUSED if action == "pause" else BroadcastStatus.CANCELLED)
    assert broadcast.sent == sent
    assert all(row.status is not RecipientStatus.SENDING for row in await recipient_rows(broadcast_id))
    # Nothing more goes out while it stays paused or cancelled.
    assert await run(broadcast_id, bot, settings, limiter) is False
    assert len(telegram.calls_to("sendMessage")) == sent


async def test_pause_takes_effect_within_a_second_during_a_long_429(
    session, bot, settings, limiter, telegram
):
    await students(session, 10)
    broadcast_id = await started({"text": "Hello"})
    telegram.fail("sendMessage", error_code=429, retry_after=30, times=1)
    sender = asyncio.create_task(run(broadcast_id, bot, settings, limiter))
    await telegram.wait_for("sendMessage")

    changed_at = await _change(broadcast_id, broadcast_service.pause)
    async with asyncio.timeout(1.5):
        assert await sender is False

    assert asyncio.get_running_loop().time() - changed_at < 1.5
    assert len(telegram.calls_to("sendMessage")) == 1
    rows = await recipient_rows(broadcast_id)
    assert {row.status for row in rows} == {RecipientStatus.PENDING}
    assert all(row.attempts == 0 for row in rows)


async def test_resume_sends_to_the_rest_only(session, bot, settings, limiter, telegram):
    people = await students(session, 12)
    broadcast_id = await started({"text": "Hello"})
    sender = asyncio.create_task(run(broadcast_id, bot, settings, limiter))
    await telegram.wait_for("sendMessage", count=2)
    await _change(broadcast_id, broadcast_service.pause)
    await sender

    await _change(broadcast_id, broadcast_service.resume)
    await run_to_the_end(broadcast_id, bot, settings, limiter)

    sent_to = [call["chat_id"] for call in telegram.calls_to("sendMessage")]
    assert sent_to == [person.telegram_id for person in people]
    assert (await stored(broadcast_id)).status is BroadcastStatus.DONE


async def test_media_is_uploaded_once_then_sent_by_file_id(session, bot, settings, limiter, telegram):
    people = await students(session, 4)
    media = Path(get_settings().MEDIA_DIR) / "broadcasts" / "test-photo.png"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(PNG)
    broadcast_id = await started({"text": "<i>Look</i>"}, media=media)

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    calls = telegram.calls_to("sendPhoto")
    assert [call["chat_id"] for call in calls] == [person.telegram_id for person in people]
    assert calls[0].file("photo") is not None
    file_id = calls[0].result["photo"][-1]["file_id"]
    assert all(call.file("photo") is None and call["photo"] == file_id for call in calls[1:])
    assert all(call["caption"] == "<i>Look</i>" for call in calls)
    assert (await stored(broadcast_id)).media_file_id == file_id


async def test_paid_broadcast_asks_for_paid_broadcasting(session, bot, settings, telegram):
    await students(session, 3)
    broadcast_id = await started({"text": "Hello", "paid": True})

    await run_to_the_end(broadcast_id, bot, settings, LocalRateLimiter(1000))

    calls = telegram.calls_to("sendMessage")
    assert len(calls) == 3
    assert all(call["allow_paid_broadcast"] is True for call in calls)


async def test_buttons_open_cards_like_the_catalog(session, bot, settings, limiter, telegram):
    await students(session, 1)
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    broadcast_id = await started(
        {
            "text": "New!",
            "buttons": [
                {"text": "Site", "url": "https://example.com/a"},
                {"text": "Lesson", "lesson_id": lesson.id},
                {"text": "Course", "course_id": course.id},
            ],
        }
    )

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    [call] = telegram.calls_to("sendMessage")
    assert buttons(call) == [
        ("Site", None),
        ("Lesson", LessonCb(id=lesson.id, action=ItemAction.SHOW).pack()),
        ("Course", CourseCb(id=course.id, action=ItemAction.SHOW).pack()),
    ]
    assert call["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://example.com/a"


async def claimed_by(sender_id: str, broadcast_id: int, count: int) -> list[broadcast_service.Claimed]:
    """Another sender took the broadcast, created its recipients and claimed the first `count`."""
    async with database.session_scope() as s:
        broadcast = await broadcast_service.take_sender(s, broadcast_id, sender_id)
        while not await broadcast_service.add_recipients(s, broadcast):
            pass
    async with database.session_scope() as s:
        return await broadcast_service.claim(s, broadcast_id, sender_id, limit=count)


async def test_a_dead_senders_claimed_recipients_are_the_only_ones_sent_again(
    session,
    bot,
    settings,
    limiter,
    telegram,
):
    people = await students(session, 5)
    broadcast_id = await started({"text": "Hello"})
    # A sender took the broadcast, created its recipients, claimed two, and died (its heartbeat stopped).
    in_flight = await claimed_by("dead-sender", broadcast_id, 2)
    async with database.session_scope() as s:
        stale = utcnow() - timedelta(seconds=broadcast_service.sender_lease_seconds() + 1)
        await s.execute(
            sql_update(BroadcastSender).where(BroadcastSender.id == "dead-sender").values(heartbeat_at=stale)
        )

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    assert [call["chat_id"] for call in telegram.calls_to("sendMessage")] == [p.telegram_id for p in people]
    assert [c.user_id for c in in_flight] == [p.id for p in people[:2]]
    assert (await stored(broadcast_id)).sent == 5


async def test_a_live_senders_claims_are_left_to_it(session, bot, settings, limiter, telegram):
    people = await students(session, 4)
    broadcast_id = await started({"text": "Hello"})
    held = await claimed_by("live-sender", broadcast_id, 1)

    # This sender sends to everyone else, then waits for the live one's claim until its run ends.
    assert await run(broadcast_id, bot, settings, limiter, run_seconds=1) is True

    assert [call["chat_id"] for call in telegram.calls_to("sendMessage")] == [
        p.telegram_id for p in people[1:]
    ]
    assert [c.user_id for c in held] == [people[0].id]
    assert (await stored(broadcast_id)).status is BroadcastStatus.SENDING


async def test_a_broadcast_with_all_its_senders_takes_no_more(session, bot, settings, limiter, telegram):
    await students(session, 2)
    broadcast_id = await started({"text": "Hello"})
    async with database.session_scope() as s:
        for n in range(get_settings().BROADCAST_SENDERS):
            assert await broadcast_service.take_sender(s, broadcast_id, f"sender-{n}") is not None

    assert await run(broadcast_id, bot, settings, limiter) is False
    assert telegram.calls_to("sendMessage") == []


async def test_the_job_goes_on_in_short_runs_until_done(session, bot, bot_settings, telegram, monkeypatch):
    monkeypatch.setattr(broadcasts, "RUN_SECONDS", 0.3)
    people = await students(session, 12)
    broadcast_id = await started({"text": "Hello"})

    async with job_engine.running(bot_settings, bot=bot, host=True) as engine:
        await engine.jobs.kick(SEND_BROADCAST, broadcast_id=broadcast_id)
        await telegram.wait_for("sendMessage", count=12, timeout=15)
        await until_done(broadcast_id)

    # Once each; in no set order: the host's senders loop joins the broadcast beside the kicked job.
    sent_to = [call["chat_id"] for call in telegram.calls_to("sendMessage")]
    assert sorted(sent_to) == [p.telegram_id for p in people]


@pytest.mark.usefixtures("session")
async def test_tick_starts_the_due_broadcasts():
    later = {"audience": {"kind": "all"}, "scheduled_at": utcnow() + timedelta(hours=1)}
    async with database.session_scope() as s:
        due = await broadcast_service.create(
            s, BroadcastCreate.model_validate({"text": "Due", **later}), admin_id=None
        )
        not_yet = await broadcast_service.create(
            s, BroadcastCreate.model_validate({"text": "Not yet", **later}), admin_id=None
        )
    async with database.session_scope() as s:
        await s.execute(
            sql_update(Broadcast)
            .where(Broadcast.id == due.id)
            .values(scheduled_at=utcnow() - timedelta(seconds=1))
        )

    assert await broadcasts.tick() == 1

    assert (await stored(due.id)).status is BroadcastStatus.SENDING
    assert (await stored(due.id)).started_at is not None
    assert (await stored(not_yet.id)).status is BroadcastStatus.SCHEDULED


async def test_the_senders_of_a_process_join_every_sending_broadcast_once(session, bot, settings, telegram):
    people = await students(session, 3)
    first, second = await started({"text": "First"}), await started({"text": "Second"})
    senders = broadcasts.Senders(bot=bot, settings=settings)
    try:
        await senders.join()
        assert set(senders.tasks) == {first, second}
        # Already sending both here: neither a join nor the job adds a second sender in this process.
        await senders.join()
        assert senders.ensure(first) is False
        await until_done(first)
        await until_done(second)
    finally:
        await senders.stop()

    texts = sorted((call["text"], call["chat_id"]) for call in telegram.calls_to("sendMessage"))
    assert texts == sorted((text, p.telegram_id) for text in ("First", "Second") for p in people)
    assert senders.tasks == {}


async def test_stopped_senders_give_back_their_claims(session, bot, settings, telegram):
    await students(session, 4)
    telegram.fail("sendMessage", error_code=429, retry_after=30)
    broadcast_id = await started({"text": "Hello"})
    senders = broadcasts.Senders(bot=bot, settings=settings)
    senders.ensure(broadcast_id)
    await telegram.wait_for("sendMessage", count=1, timeout=10)

    # Waiting out the 429 with its batch claimed, the sender is stopped (a worker shutting down).
    await senders.stop()

    rows = await recipient_rows(broadcast_id)
    assert {(row.status, row.sender_id) for row in rows} == {(RecipientStatus.PENDING, None)}
    assert await db_scalars(select(BroadcastSender)) == []


async def test_at_the_rate_telegram_never_answers_429(session, bot, settings, limiter, telegram):
    people = await students(session, 3 * RATE)
    # The margin production keeps (25 a second under Telegram's 30): here the double shares the sender's
    # event loop, and a pause of it (a garbage collection, a busy machine) stamps requests sent apart as
    # if they came together.
    limit = RATE + RATE // 5
    telegram.limit_rate(limit)
    broadcast_id = await started({"text": "Hello"})

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    assert telegram.rate_limited == []
    assert telegram.peak_rate() <= limit
    assert [call["chat_id"] for call in telegram.calls_to("sendMessage")] == [p.telegram_id for p in people]


async def test_over_telegrams_limit_nothing_goes_before_retry_after(
    session, bot, settings, limiter, telegram
):
    people = await students(session, 12)
    # Telegram allows less than the configured rate: it answers 429s, and the sender must honour them.
    telegram.limit_rate(RATE // 2)
    broadcast_id = await started({"text": "Hello"})

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    assert telegram.rate_limited
    assert telegram.too_early == []
    delivered = [call["chat_id"] for call in telegram.calls_to("sendMessage") if call.ok]
    assert sorted(delivered) == sorted(p.telegram_id for p in people)
    assert (await stored(broadcast_id)).sent == 12


async def test_video_with_a_stale_file_id_is_uploaded_again(session, bot, settings, limiter, telegram):
    people = await students(session, 3)
    media = Path(get_settings().MEDIA_DIR) / "broadcasts" / "test-video.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    broadcast_id = await started({"text": "Watch"}, media=media, kind=BroadcastMediaKind.VIDEO)
    async with database.session_scope() as s:
        await broadcast_service.set_media_file_id(s, broadcast_id, "BAACAgvideo-from-another-bot")

    await run_to_the_end(broadcast_id, bot, settings, limiter)

    calls = telegram.calls_to("sendVideo")
    assert calls[0].status == 400
    uploads = [call for call in calls if call.file("video") is not None]
    assert len(uploads) == 1
    delivered = [call["chat_id"] for call in calls if call.ok]
    assert delivered == [person.telegram_id for person in people]
    assert (await stored(broadcast_id)).media_file_id == uploads[0].result["video"]["file_id"]
    assert all(row.attempts == 0 for row in await recipient_rows(broadcast_id))


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="set TEST_REDIS_URL to run the Redis tests")
async def test_send_through_the_redis_rate_limiter(session, bot, settings, telegram):
    people = await students(session, 6)
    telegram.limit_rate(RATE)
    broadcast_id = await started({"text": "Hello"})
    redis = Redis.from_url(os.environ["TEST_REDIS_URL"])
    limiter = broadcasts.limiter_for(settings, paid=False, redis=redis)
    assert isinstance(limiter, RedisRateLimiter)
    await limiter.clear()
    try:
        while await broadcasts.run_sender(broadcast_id, bot=bot, settings=settings, redis=redis):
            pass
    finally:
        await limiter.clear()
        await redis.aclose()

    assert telegram.rate_limited == []
    assert [call["chat_id"] for call in telegram.calls_to("sendMessage")] == [p.telegram_id for p in people]
