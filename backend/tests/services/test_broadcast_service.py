"""broadcast_service: audiences as SQL, the plan, the state machine, recipients created in batches."""

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from backend.services import broadcast_service
from backend.services.exceptions import BroadcastStateConflict, LessonNotFound, RuleViolation
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.config import get_settings
from shared.constants import BroadcastMediaKind, BroadcastStatus, PurchaseStatus, RecipientStatus
from shared.models import BroadcastRecipient, BroadcastSender
from shared.schemas import BroadcastAudience, BroadcastCreate, BroadcastUpdate
from shared.utils import utcnow


def audience(kind: str, **fields) -> BroadcastAudience:
    return BroadcastAudience.model_validate({"kind": kind, **fields})


async def count(session, kind: str, **fields) -> int:
    return await broadcast_service.count_audience(session, audience(kind, **fields))


async def new(session, **data):
    return await broadcast_service.create(
        session,
        BroadcastCreate.model_validate({"text": "Hi", "audience": {"kind": "all"}, **data}),
        admin_id=None,
    )


@pytest.fixture
async def store(session):
    """Students: a buyer of a lesson, a buyer of a course holding another lesson, one with only a refunded
    and a pending purchase, one with nothing, and one who blocked the bot (a buyer too)."""
    lesson, in_course = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [in_course])
    people = {
        "lesson_buyer": await create_user(session, language_code="ru"),
        "course_buyer": await create_user(session, language_code="ru-RU"),
        "refunded": await create_user(session, language_code="en"),
        "nobody": await create_user(session, language_code="rue"),
        "blocked": await create_user(session, bot_blocked_at=utcnow()),
    }
    await create_purchase(session, people["lesson_buyer"], lesson)
    await create_purchase(session, people["course_buyer"], course)
    await create_purchase(session, people["refunded"], lesson, status=PurchaseStatus.REFUNDED)
    await create_purchase(session, people["refunded"], course, status=PurchaseStatus.PENDING)
    await create_purchase(session, people["blocked"], lesson)
    return {"lesson": lesson, "in_course": in_course, "course": course, **people}


async def test_count_audience_by_kind(session, store):
    assert await count(session, "all") == 4
    assert await count(session, "buyers") == 2
    assert await count(session, "non_buyers") == 2
    assert await count(session, "bought_lesson", lesson_id=store["lesson"].id) == 1
    # A lesson bought as part of a course counts as bought (the store's access rule).
    assert await count(session, "bought_lesson", lesson_id=store["in_course"].id) == 1
    assert await count(session, "bought_course", course_id=store["course"].id) == 1
    assert await count(session, "not_bought_course", course_id=store["course"].id) == 3


@pytest.mark.usefixtures("store")
async def test_count_audience_by_language_prefix(session):
    assert await count(session, "all", language="ru") == 2  # ru and ru-RU, not rue
    assert await count(session, "all", language="en") == 1
    assert await count(session, "buyers", language="ru") == 2


async def test_recipients_are_the_audience(session, store):
    broadcast = await new(session, audience={"kind": "non_buyers"})
    await broadcast_service.start(session, broadcast)
    while not await broadcast_service.add_recipients(session, broadcast, batch=1):
        pass

    rows = (await session.scalars(select(BroadcastRecipient).order_by(BroadcastRecipient.id))).all()
    assert [row.user_id for row in rows] == [store["refunded"].id, store["nobody"].id]
    assert [row.telegram_id for row in rows] == [store["refunded"].telegram_id, store["nobody"].telegram_id]
    assert broadcast.total == 2
    assert broadcast.recipients_ready


async def test_add_recipients_in_batches_is_idempotent(session):
    people = [await create_user(session) for _ in range(5)]
    broadcast = await new(session)
    await broadcast_service.start(session, broadcast)

    assert await broadcast_service.add_recipients(session, broadcast, batch=2) is False
    assert broadcast.audience_cursor == people[1].id
    # A crash before the cursor was kept: the same batch again adds nobody twice.
    broadcast.audience_cursor = 0
    while not await broadcast_service.add_recipients(session, broadcast, batch=2):
        pass

    user_ids = (
        await session.scalars(select(BroadcastRecipient.user_id).order_by(BroadcastRecipient.id))
    ).all()
    assert list(user_ids) == [person.id for person in people]
    assert broadcast.total == 5
    # Done is done: a new student after that is not added.
    await create_user(session)
    assert await broadcast_service.add_recipients(session, broadcast) is True
    assert await session.scalar(select(func.count()).select_from(BroadcastRecipient)) == 5


@pytest.mark.usefixtures("store")
async def test_create_counts_the_audience_and_schedules(session):
    draft = await new(session)
    scheduled = await new(session, scheduled_at=utcnow() + timedelta(hours=1))

    assert (draft.status, draft.total, draft.paid) == (BroadcastStatus.DRAFT, 4, False)
    assert scheduled.status is BroadcastStatus.SCHEDULED


async def test_create_refuses_unknown_lesson(session):
    with pytest.raises(LessonNotFound):
        await new(session, buttons=[{"text": "Open", "lesson_id": 999_999}])


@pytest.mark.usefixtures("store")
async def test_update_only_while_draft_or_scheduled(session):
    broadcast = await new(session)
    await broadcast_service.update(
        session,
        broadcast,
        BroadcastUpdate(scheduled_at=utcnow() + timedelta(days=1), audience=audience("buyers")),
    )
    assert (broadcast.status, broadcast.total) == (BroadcastStatus.SCHEDULED, 2)
    await broadcast_service.update(session, broadcast, BroadcastUpdate.model_validate({"scheduled_at": None}))
    assert broadcast.status is BroadcastStatus.DRAFT

    await broadcast_service.start(session, broadcast)
    with pytest.raises(BroadcastStateConflict, match="is sending"):
        await broadcast_service.update(session, broadcast, BroadcastUpdate(text="Changed"))


@pytest.mark.usefixtures("store")
async def test_state_transitions(session):
    broadcast = await new(session)
    for action in (broadcast_service.pause, broadcast_service.resume):
        with pytest.raises(BroadcastStateConflict):
            await action(session, broadcast)
    await broadcast_service.start(session, broadcast)
    assert broadcast.started_at is not None
    with pytest.raises(BroadcastStateConflict):
        await broadcast_service.start(session, broadcast)
    await broadcast_service.pause(session, broadcast)
    assert broadcast.status is BroadcastStatus.PAUSED
    await broadcast_service.resume(session, broadcast)
    assert broadcast.status is BroadcastStatus.SENDING
    await broadcast_service.cancel(session, broadcast)
    assert broadcast.status is BroadcastStatus.CANCELLED
    assert broadcast.finished_at is not None
    for action in (broadcast_service.cancel, broadcast_service.resume, broadcast_service.start):
        with pytest.raises(BroadcastStateConflict):
            await action(session, broadcast)


async def test_media_makes_the_text_a_caption(session):
    broadcast = await new(session, text="x" * 1025)
    with pytest.raises(RuleViolation, match="1024"):
        await broadcast_service.set_media(session, broadcast, BroadcastMediaKind.PHOTO, "broadcasts/a.png")

    await broadcast_service.update(session, broadcast, BroadcastUpdate(text="Short"))
    assert await broadcast_service.set_media(session, broadcast, BroadcastMediaKind.PHOTO, "a.png") is None
    assert await broadcast_service.set_media(session, broadcast, BroadcastMediaKind.VIDEO, "b.mp4") == "a.png"
    with pytest.raises(RuleViolation):
        await broadcast_service.update(session, broadcast, BroadcastUpdate(text="y" * 1025))
    assert await broadcast_service.clear_media(session, broadcast) == "b.mp4"
    assert broadcast.media_kind is None


def test_plan_duration_and_cost():
    settings = get_settings().model_copy(update={"BROADCAST_RATE_PER_SECOND": 30})
    assert broadcast_service.plan(3000, paid=False, settings=settings) == (100, 0)
    assert broadcast_service.plan(10_000, paid=True, settings=settings) == (10, 1000)
    assert broadcast_service.plan(11, paid=True, settings=settings) == (1, 2)
    assert broadcast_service.plan(0, paid=False, settings=settings) == (0, 0)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "bought_lesson"}, "lesson_id is required"),
        ({"kind": "bought_course"}, "course_id is required"),
        ({"kind": "all", "lesson_id": 1}, "takes no lesson_id"),
        ({"kind": "all", "language": "de"}, "language"),
    ],
)
def test_audience_validation(data, error):
    with pytest.raises(ValidationError, match=error):
        BroadcastAudience.model_validate(data)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"text": ""}, "text"),
        ({"text": "<b></b>"}, "must not be empty"),
        ({"text": "<b>" + "x" * 4097 + "</b>"}, "4097"),
        ({"buttons": [{"text": "A"}]}, "exactly one"),
        ({"buttons": [{"text": "A", "url": "https://a.example", "lesson_id": 1}]}, "exactly one"),
        ({"buttons": [{"text": "A", "url": "javascript:alert(1)"}]}, "http, https or tg"),
        ({"buttons": [{"text": "A", "url": "https://a.example"}] * 11}, "buttons"),
        ({"scheduled_at": "2001-01-01T00:00:00Z"}, "future"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_create_validation(data, error):
    with pytest.raises(ValidationError, match=error):
        BroadcastCreate.model_validate({"text": "Hi", "audience": {"kind": "all"}, **data})


def test_text_length_is_counted_as_telegram_does():
    # Tags are not counted; an emoji outside the BMP counts twice (UTF-16).
    BroadcastCreate.model_validate({"text": "<b>" + "x" * 4096 + "</b>", "audience": {"kind": "all"}})
    with pytest.raises(ValidationError):
        BroadcastCreate.model_validate({"text": "😀" * 2049, "audience": {"kind": "all"}})


async def test_progress_reads_the_counters(session):
    for _ in range(3):
        await create_user(session)
    broadcast = await new(session)
    await broadcast_service.start(session, broadcast)
    while not await broadcast_service.add_recipients(session, broadcast):
        pass
    await broadcast_service.take_sender(session, broadcast.id, "s1")
    claimed = await broadcast_service.claim(session, broadcast.id, "s1", limit=2)
    await broadcast_service.record(
        session,
        broadcast.id,
        "s1",
        [
            broadcast_service.Outcome(claimed[0], "sent", message_id=7),
            broadcast_service.Outcome(claimed[1], "blocked", error="Forbidden: bot was blocked by the user"),
        ],
    )

    await session.refresh(broadcast)
    now = broadcast_service.progress(broadcast)

    assert (now.total, now.sent, now.blocked, now.failed, now.pending) == (3, 1, 1, 0, 1)
    assert now.eta_seconds == 1
    await broadcast_service.pause(session, broadcast)
    assert broadcast_service.progress(broadcast).eta_seconds == 1
    await broadcast_service.cancel(session, broadcast)
    assert broadcast_service.progress(broadcast).eta_seconds is None


# Senders ------------------------------------------------------------------------------------------------


async def sending(session, students: int):
    for _ in range(students):
        await create_user(session)
    broadcast = await new(session)
    await broadcast_service.start(session, broadcast)
    while not await broadcast_service.add_recipients(session, broadcast):
        pass
    return broadcast


async def recipient_states(session, broadcast_id: int) -> list[tuple[RecipientStatus, str | None]]:
    rows = await session.execute(
        select(BroadcastRecipient.status, BroadcastRecipient.sender_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .order_by(BroadcastRecipient.id)
    )
    return [tuple(row) for row in rows.all()]


async def die(session, sender_id: str) -> None:
    """The sender's heartbeat stopped longer ago than the lease."""
    stale = utcnow() - timedelta(seconds=broadcast_service.sender_lease_seconds() + 1)
    await session.execute(
        sql_update(BroadcastSender).where(BroadcastSender.id == sender_id).values(heartbeat_at=stale)
    )


async def test_a_broadcast_takes_senders_up_to_the_setting(session):
    broadcast = await sending(session, 1)
    wanted = get_settings().BROADCAST_SENDERS
    assert wanted >= 2

    taken = [await broadcast_service.take_sender(session, broadcast.id, f"s{n}") for n in range(wanted + 1)]

    assert [sender is not None for sender in taken] == [True] * wanted + [False]
    assert await broadcast_service.understaffed(session) == []
    await broadcast_service.release_sender(session, broadcast.id, "s0")
    assert await broadcast_service.understaffed(session) == [broadcast.id]
    assert await broadcast_service.take_sender(session, broadcast.id, "again") is not None


async def test_only_a_sending_broadcast_takes_a_sender(session):
    broadcast = await new(session)
    assert await broadcast_service.take_sender(session, broadcast.id, "s1") is None
    await broadcast_service.start(session, broadcast)
    await broadcast_service.pause(session, broadcast)
    assert await broadcast_service.take_sender(session, broadcast.id, "s1") is None
    assert await broadcast_service.take_sender(session, 999_999, "s1") is None
    assert await broadcast_service.understaffed(session) == []


async def test_senders_claim_different_recipients(session):
    broadcast = await sending(session, 5)
    await broadcast_service.take_sender(session, broadcast.id, "a")
    await broadcast_service.take_sender(session, broadcast.id, "b")

    first = await broadcast_service.claim(session, broadcast.id, "a", limit=2)
    second = await broadcast_service.claim(session, broadcast.id, "b", limit=2)

    assert len(first) == len(second) == 2
    assert not {c.id for c in first} & {c.id for c in second}
    assert await recipient_states(session, broadcast.id) == [
        (RecipientStatus.SENDING, "a"),
        (RecipientStatus.SENDING, "a"),
        (RecipientStatus.SENDING, "b"),
        (RecipientStatus.SENDING, "b"),
        (RecipientStatus.PENDING, None),
    ]


async def test_a_dead_senders_claims_go_back_when_a_live_one_beats(session):
    broadcast = await sending(session, 3)
    await broadcast_service.take_sender(session, broadcast.id, "live")
    await broadcast_service.take_sender(session, broadcast.id, "dead")
    await broadcast_service.claim(session, broadcast.id, "live", limit=1)
    await broadcast_service.claim(session, broadcast.id, "dead", limit=2)
    await die(session, "dead")

    assert await broadcast_service.renew_sender(session, broadcast.id, "live") is True

    assert await recipient_states(session, broadcast.id) == [
        (RecipientStatus.SENDING, "live"),
        (RecipientStatus.PENDING, None),
        (RecipientStatus.PENDING, None),
    ]
    assert await session.scalar(select(func.count()).select_from(BroadcastSender)) == 1
    assert await broadcast_service.renew_sender(session, broadcast.id, "dead") is False


async def test_a_sender_taken_for_dead_records_nothing(session):
    broadcast = await sending(session, 2)
    await broadcast_service.take_sender(session, broadcast.id, "slow")
    [claimed] = await broadcast_service.claim(session, broadcast.id, "slow", limit=1)
    await die(session, "slow")
    await broadcast_service.take_sender(session, broadcast.id, "next")
    [again] = await broadcast_service.claim(session, broadcast.id, "next", limit=1)
    assert again.id == claimed.id

    # The slow one's late outcome changes neither the row the next sender holds nor the counters.
    await broadcast_service.record(
        session, broadcast.id, "slow", [broadcast_service.Outcome(claimed, "retry", error="timeout")]
    )
    await broadcast_service.record(
        session, broadcast.id, "next", [broadcast_service.Outcome(again, "sent", message_id=9)]
    )

    await session.refresh(broadcast)
    assert (broadcast.sent, broadcast.failed) == (1, 0)
    row = await session.get(BroadcastRecipient, claimed.id, populate_existing=True)
    assert (row.status, row.attempts, row.sender_id, row.message_id) == (RecipientStatus.SENT, 0, None, 9)


async def test_releasing_gives_back_what_was_still_claimed(session):
    broadcast = await sending(session, 2)
    await broadcast_service.take_sender(session, broadcast.id, "s1")
    await broadcast_service.claim(session, broadcast.id, "s1", limit=2)

    await broadcast_service.release_sender(session, broadcast.id, "s1")

    assert await recipient_states(session, broadcast.id) == [(RecipientStatus.PENDING, None)] * 2
    assert await session.scalar(select(func.count()).select_from(BroadcastSender)) == 0
