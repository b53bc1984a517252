"""Broadcasts: a message to a chosen audience of students, sent at Telegram's rate by the job
worker/tasks/broadcasts.py.

Audiences (students who blocked the bot are never in one):
- all: every student; buyers / non_buyers: with / without a completed purchase;
- bought_lesson: those who can open the lesson because they bought it, directly or as part of a course
  (the store's access rule, access_service); bought_course / not_bought_course: with / without a completed
  purchase of the course;
- language (optional): only students whose Telegram language code is it or a variant of it (ru, ru-RU).

Statuses: draft → (scheduled →) sending ⇄ paused → done; draft, scheduled, sending and paused can be
cancelled; the sender marks it failed when Telegram refuses the message itself.

A recipient row per student is created when sending starts, in batches by user id (each its own short
transaction; the cursor is kept on the broadcast, so a crash resumes where it stopped), never the whole
audience in memory. The broadcast's counters (total, sent, failed, blocked) change in the transactions
that change its recipients, so its progress is one row read.
"""

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Integer, bindparam, exists, func, literal, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.common import PageResult, dialect_insert, paginate
from backend.services.exceptions import (
    BotNotConfigured,
    BroadcastNotFound,
    BroadcastStateConflict,
    CourseNotFound,
    LessonNotFound,
    RuleViolation,
    TelegramNotLinked,
)
from backend.services.telegram import BroadcastMessage, Telegram
from shared.config import Settings, get_settings
from shared.constants import (
    BROADCAST_CAPTION_MAX_LENGTH,
    BROADCAST_ERROR_MAX_LENGTH,
    PAID_BROADCAST_STARS_PER_MESSAGE_TENTHS,
    AudienceKind,
    BroadcastMediaKind,
    BroadcastStatus,
    PurchaseStatus,
    RecipientStatus,
)
from shared.database import begin_write, writes
from shared.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastSender,
    Course,
    CourseLesson,
    Lesson,
    Purchase,
    User,
)
from shared.schemas import (
    BroadcastAudience,
    BroadcastCreate,
    BroadcastRead,
    BroadcastUpdate,
    check_broadcast_text,
)
from shared.utils import escape_like, utcnow

logger = logging.getLogger(__name__)

# Recipients created per transaction: a few milliseconds of SQLite's writer lock each.
AUDIENCE_BATCH = 2000
# A recipient whose send failed (not a block, not a 429) is tried this many times in all, with backoff.
MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 2

EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED)
CANCELLABLE = (
    BroadcastStatus.DRAFT,
    BroadcastStatus.SCHEDULED,
    BroadcastStatus.SENDING,
    BroadcastStatus.PAUSED,
)


class BroadcastPlan(NamedTuple):
    duration_seconds: int
    cost_stars: int


class BroadcastProgress(NamedTuple):
    total: int
    sent: int
    failed: int
    blocked: int
    pending: int
    eta_seconds: int | None


# Audiences --------------------------------------------------------------------------------------------


def _completed(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        Purchase.user_id == User.id, Purchase.status == PurchaseStatus.COMPLETED, *conditions
    )


def audience_filter(audience: BroadcastAudience) -> list[ColumnElement[bool]]:
    """The conditions on users of an audience (as SQL: the audience is never loaded)."""
    conditions: list[ColumnElement[bool]] = [User.bot_blocked_at.is_(None)]
    kind = audience.kind
    if kind is AudienceKind.BUYERS:
        conditions.append(_completed())
    elif kind is AudienceKind.NON_BUYERS:
        conditions.append(~_completed())
    elif kind is AudienceKind.BOUGHT_LESSON:
        in_course = exists().where(
            CourseLesson.course_id == Purchase.course_id, CourseLesson.lesson_id == audience.lesson_id
        )
        conditions.append(_completed(or_(Purchase.lesson_id == audience.lesson_id, in_course)))
    elif kind is AudienceKind.BOUGHT_COURSE:
        conditions.append(_completed(Purchase.course_id == audience.course_id))
    elif kind is AudienceKind.NOT_BOUGHT_COURSE:
        conditions.append(~_completed(Purchase.course_id == audience.course_id))
    if audience.language:
        code = escape_like(audience.language)
        conditions.append(
            or_(
                User.language_code == audience.language,
                User.language_code.like(f"{code}-%", escape="\\"),
                User.language_code.like(f"{code}\\_%", escape="\\"),
            )
        )
    return conditions


async def count_audience(session: AsyncSession, audience: BroadcastAudience) -> int:
    """How many students the audience reaches now (those who blocked the bot are never counted)."""
    return await session.scalar(select(func.count()).select_from(User).where(*audience_filter(audience))) or 0


def rate(*, paid: bool, settings: Settings | None = None) -> int:
    """Messages a second a broadcast goes out at."""
    settings = settings or get_settings()
    return settings.BROADCAST_PAID_RATE_PER_SECOND if paid else settings.BROADCAST_RATE_PER_SECOND


def plan(total: int, *, paid: bool, settings: Settings | None = None) -> BroadcastPlan:
    """How long sending `total` messages takes at the allowed rate, and what a paid broadcast costs."""
    duration = math.ceil(total / rate(paid=paid, settings=settings))
    cost = math.ceil(total * PAID_BROADCAST_STARS_PER_MESSAGE_TENTHS / 10) if paid else 0
    return BroadcastPlan(duration, cost)


# Reading ----------------------------------------------------------------------------------------------


async def get(session: AsyncSession, broadcast_id: int) -> Broadcast:
    """The broadcast with this id, or BroadcastNotFound."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id)
    return broadcast


async def get_all(
    session: AsyncSession, *, status: BroadcastStatus | None = None, limit: int, offset: int
) -> PageResult[Broadcast]:
    """A page of broadcasts, newest first."""
    filters = [Broadcast.status == status] if status is not None else []
    return await paginate(
        session,
        Broadcast,
        filters=filters,
        order_by=[Broadcast.created_at.desc(), Broadcast.id.desc()],
        limit=limit,
        offset=offset,
    )


def progress(broadcast: Broadcast, *, settings: Settings | None = None) -> BroadcastProgress:
    """Where the broadcast stands (its counters: one row read, whatever its size), and the seconds left
    while it is sending or paused."""
    pending = max(broadcast.total - broadcast.sent - broadcast.failed - broadcast.blocked, 0)
    eta = None
    if broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.PAUSED):
        eta = plan(pending, paid=broadcast.paid, settings=settings).duration_seconds
    return BroadcastProgress(
        broadcast.total, broadcast.sent, broadcast.failed, broadcast.blocked, pending, eta
    )


def describe(broadcast: Broadcast, *, settings: Settings | None = None) -> BroadcastRead:
    """The broadcast as the API and the panel show it: progress, time left, planned duration and cost."""
    now = progress(broadcast, settings=settings)
    planned = plan(broadcast.total, paid=broadcast.paid, settings=settings)
    return BroadcastRead.model_validate(
        {
            **{key: getattr(broadcast, key) for key in BroadcastRead.model_fields if hasattr(broadcast, key)},
            "pending": now.pending,
            "eta_seconds": now.eta_seconds,
            "duration_seconds": planned.duration_seconds,
            "cost_stars": planned.cost_stars,
        }
    )


async def recipients(
    session: AsyncSession,
    broadcast: Broadcast,
    *,
    status: RecipientStatus | None = None,
    limit: int,
    offset: int,
) -> PageResult[BroadcastRecipient]:
    """A page of the broadcast's per-student log, in sending order."""
    filters = [BroadcastRecipient.broadcast_id == broadcast.id]
    if status is not None:
        filters.append(BroadcastRecipient.status == status)
    return await paginate(
        session,
        BroadcastRecipient,
        filters=filters,
        order_by=[BroadcastRecipient.id],
        limit=limit,
        offset=offset,
    )


def message_of(broadcast: Broadcast, *, media_dir: Path | None = None) -> BroadcastMessage:
    """What Telegram is sent for the broadcast."""
    media_path = None
    if broadcast.media_path:
        path = Path(broadcast.media_path)
        media_path = path if path.is_absolute() else (media_dir or Path(get_settings().MEDIA_DIR)) / path
    return BroadcastMessage(
        text=broadcast.text,
        buttons=list(broadcast.buttons or []),
        media_kind=broadcast.media_kind.value if broadcast.media_kind else None,
        media_file_id=broadcast.media_file_id,
        media_path=media_path,
        paid=broadcast.paid,
    )


# Writing (admins) ----------------------------------------------------------------------------------------


async def _check_references(
    session: AsyncSession, audience: BroadcastAudience | None, buttons: Sequence[Any]
) -> None:
    """The lessons and courses an audience or a button names exist (LessonNotFound, CourseNotFound)."""
    lesson_ids = {b.lesson_id for b in buttons if b.lesson_id is not None}
    course_ids = {b.course_id for b in buttons if b.course_id is not None}
    if audience is not None and audience.lesson_id is not None:
        lesson_ids.add(audience.lesson_id)
    if audience is not None and audience.course_id is not None:
        course_ids.add(audience.course_id)
    for lesson_id in sorted(lesson_ids):
        if await session.get(Lesson, lesson_id) is None:
            raise LessonNotFound(lesson_id)
    for course_id in sorted(course_ids):
        if await session.get(Course, course_id) is None:
            raise CourseNotFound(course_id)


def check_editable(broadcast: Broadcast, action: str) -> None:
    """BroadcastStateConflict unless the broadcast is a draft or scheduled (only those change)."""
    if broadcast.status not in EDITABLE:
        raise BroadcastStateConflict(broadcast.id, broadcast.status.value, action)


def _check_caption(text: str) -> None:
    try:
        check_broadcast_text(text, limit=BROADCAST_CAPTION_MAX_LENGTH)
    except ValueError as error:
        raise RuleViolation(f"With a photo or video, {error}") from error


@writes
async def create(session: AsyncSession, data: BroadcastCreate, *, admin_id: int | None) -> Broadcast:
    """A new broadcast: a draft, or scheduled when scheduled_at is given; its total is the audience's size."""
    await _check_references(session, data.audience, data.buttons)
    broadcast = Broadcast(
        text=data.text,
        buttons=[button.model_dump(exclude_none=True) for button in data.buttons],
        audience=data.audience.model_dump(exclude_none=True, mode="json"),
        paid=data.paid,
        scheduled_at=data.scheduled_at,
        status=BroadcastStatus.SCHEDULED if data.scheduled_at else BroadcastStatus.DRAFT,
        created_by_id=admin_id,
        total=await count_audience(session, data.audience),
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


@writes
async def update(session: AsyncSession, broadcast: Broadcast, data: BroadcastUpdate) -> Broadcast:
    """Change a draft or scheduled broadcast (BroadcastStateConflict otherwise); scheduled_at null makes it
    a draft again."""
    check_editable(broadcast, "changed")
    changes = data.model_dump(exclude_unset=True)
    await _check_references(session, data.audience, data.buttons or [])
    if "text" in changes and broadcast.media_kind is not None:
        _check_caption(changes["text"])
    if "buttons" in changes:
        changes["buttons"] = [button.model_dump(exclude_none=True) for button in data.buttons or []]
    if "audience" in changes:
        assert data.audience is not None
        changes["audience"] = data.audience.model_dump(exclude_none=True, mode="json")
        broadcast.total = await count_audience(session, data.audience)
    if "scheduled_at" in changes:
        broadcast.status = BroadcastStatus.SCHEDULED if changes["scheduled_at"] else BroadcastStatus.DRAFT
    for field, value in changes.items():
        setattr(broadcast, field, value)
    await session.flush()
    return broadcast


@writes
async def set_media(
    session: AsyncSession, broadcast: Broadcast, kind: BroadcastMediaKind, path: str
) -> str | None:
    """Give a draft or scheduled broadcast a photo or video (a file under MEDIA_DIR); the path of the file
    it replaces, for the caller to remove. Its text becomes a caption: RuleViolation over 1024 characters."""
    check_editable(broadcast, "changed")
    _check_caption(broadcast.text)
    old = broadcast.media_path
    broadcast.media_kind, broadcast.media_path, broadcast.media_file_id = kind, path, None
    await session.flush()
    return old if old != path else None


@writes
async def clear_media(session: AsyncSession, broadcast: Broadcast) -> str | None:
    """Take a draft's or scheduled broadcast's photo or video off; the removed file's path."""
    check_editable(broadcast, "changed")
    old = broadcast.media_path
    broadcast.media_kind = broadcast.media_path = broadcast.media_file_id = None
    await session.flush()
    return old


@writes
async def start(session: AsyncSession, broadcast: Broadcast) -> Broadcast:
    """Start sending a draft or scheduled broadcast now (the caller kicks the sending job)."""
    check_editable(broadcast, "started")
    audience = BroadcastAudience.model_validate(broadcast.audience)
    broadcast.total = await count_audience(session, audience)
    broadcast.status = BroadcastStatus.SENDING
    broadcast.started_at = utcnow()
    await session.flush()
    return broadcast


def _transition(broadcast: Broadcast, allowed: Sequence[BroadcastStatus], action: str) -> None:
    if broadcast.status not in allowed:
        raise BroadcastStateConflict(broadcast.id, broadcast.status.value, action)


@writes
async def pause(session: AsyncSession, broadcast: Broadcast) -> Broadcast:
    """Pause a sending broadcast: its sender stops after the messages in flight (within a second)."""
    _transition(broadcast, [BroadcastStatus.SENDING], "paused")
    broadcast.status = BroadcastStatus.PAUSED
    await session.flush()
    return broadcast


@writes
async def resume(session: AsyncSession, broadcast: Broadcast) -> Broadcast:
    """Resume a paused broadcast (the caller kicks the sending job)."""
    _transition(broadcast, [BroadcastStatus.PAUSED], "resumed")
    broadcast.status = BroadcastStatus.SENDING
    await session.flush()
    return broadcast


@writes
async def cancel(session: AsyncSession, broadcast: Broadcast) -> Broadcast:
    """Cancel a broadcast that has not finished: nobody else gets it (its sender stops within a second)."""
    _transition(broadcast, CANCELLABLE, "cancelled")
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.finished_at = utcnow()
    await session.flush()
    return broadcast


async def send_test(broadcast: Broadcast, *, telegram: Telegram | None, chat_id: int | None) -> int:
    """Send the broadcast to one admin's own Telegram chat, to see it as students will; its message id.
    BotNotConfigured when the bot is off, TelegramNotLinked when the admin has no linked chat."""
    if telegram is None:
        raise BotNotConfigured()
    if chat_id is None:
        raise TelegramNotLinked()
    return await telegram.send_broadcast(chat_id=chat_id, broadcast=message_of(broadcast))


# The sender (worker/tasks/broadcasts.py) ----------------------------------------------------------------


def new_sender_id() -> str:
    return uuid.uuid4().hex


def sender_lease_seconds() -> int:
    """A sender renews its heartbeat every third of this; one silent longer is dead, another takes over."""
    return get_settings().BROADCAST_SENDER_LEASE_SECONDS


def senders_wanted() -> int:
    """How many senders a broadcast may have at once (one per process: the job's workers)."""
    return get_settings().BROADCAST_SENDERS


def _lease_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=sender_lease_seconds())


@writes
async def take_sender(session: AsyncSession, broadcast_id: int, sender_id: str) -> Broadcast | None:
    """Become one of the broadcast's senders, unless it is not sending or has senders_wanted() live ones;
    the broadcast then. The senders that died first give their claimed recipients back (_bury)."""
    now = utcnow()
    # Recipients before the broadcast's row, in the order record() locks them: no two transactions wait
    # for each other.
    await _bury(session, broadcast_id, now)
    # The takers of one broadcast wait for each other here (SQLite's writer is alone anyway), so that two
    # of them never both count one place left.
    broadcast = await session.scalar(
        select(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if broadcast is None or broadcast.status is not BroadcastStatus.SENDING:
        return None
    live = await session.scalar(
        select(func.count()).select_from(BroadcastSender).where(BroadcastSender.broadcast_id == broadcast_id)
    )
    if (live or 0) >= senders_wanted():
        return None
    session.add(BroadcastSender(id=sender_id, broadcast_id=broadcast_id, heartbeat_at=now))
    await session.flush()
    return broadcast


async def _bury(session: AsyncSession, broadcast_id: int, now: datetime) -> None:
    """Remove the broadcast's dead senders; the recipients they had claimed (status sending: maybe sent,
    maybe not) go back to pending. They are the only ones that can be sent twice."""
    dead = list(
        (
            await session.scalars(
                select(BroadcastSender.id).where(
                    BroadcastSender.broadcast_id == broadcast_id,
                    BroadcastSender.heartbeat_at < _lease_cutoff(now),
                )
            )
        ).all()
    )
    if not dead:
        return
    reclaimed = await _unclaim(session, broadcast_id, dead)
    await session.execute(
        sql_delete(BroadcastSender)
        .where(BroadcastSender.id.in_(dead))
        .execution_options(synchronize_session=False)
    )
    if reclaimed:
        logger.warning(
            "Broadcast %s: %s recipients were in flight when their sender died; they are sent again",
            broadcast_id,
            reclaimed,
        )


async def _unclaim(session: AsyncSession, broadcast_id: int, sender_ids: Sequence[str]) -> int:
    """Put the recipients these senders had claimed back to pending; how many."""
    reclaimed = await session.execute(
        sql_update(BroadcastRecipient)
        .where(
            BroadcastRecipient.broadcast_id == broadcast_id,
            BroadcastRecipient.status == RecipientStatus.SENDING,
            BroadcastRecipient.sender_id.in_(sender_ids),
        )
        .values(status=RecipientStatus.PENDING, sender_id=None)
        .execution_options(synchronize_session=False)
    )
    return reclaimed.rowcount  # type: ignore[attr-defined,no-any-return]


@writes
async def renew_sender(session: AsyncSession, broadcast_id: int, sender_id: str) -> bool:
    """Renew the sender's heartbeat, and bury the broadcast's dead senders (so that what they had claimed
    is sent by the live ones); False when this sender was itself taken for dead."""
    now = utcnow()
    renewed = await session.execute(
        sql_update(BroadcastSender)
        .where(BroadcastSender.id == sender_id)
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await _bury(session, broadcast_id, now)
    return True


@writes
async def release_sender(session: AsyncSession, broadcast_id: int, sender_id: str) -> None:
    """Stop being a sender of the broadcast (its next run, or another sender, may take the place at once);
    what it still had claimed (a batch cut short by an error) goes back to pending."""
    await _unclaim(session, broadcast_id, [sender_id])
    await session.execute(
        sql_delete(BroadcastSender)
        .where(BroadcastSender.id == sender_id)
        .execution_options(synchronize_session=False)
    )


async def status_of(session: AsyncSession, broadcast_id: int) -> BroadcastStatus | None:
    """The broadcast's status as stored now (None if it is gone)."""
    return await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))


async def add_recipients(session: AsyncSession, broadcast: Broadcast, *, batch: int = AUDIENCE_BATCH) -> bool:
    """Create the recipients of the next `batch` students of the audience (by user id, after the broadcast's
    cursor); whether all are created now. Idempotent: a batch done again adds nobody twice. The reads come
    before the writer's transaction, which holds only the INSERT (SQLite has one writer at a time)."""
    if broadcast.recipients_ready:
        return True
    audience = BroadcastAudience.model_validate(broadcast.audience)
    conditions = [*audience_filter(audience), User.id > broadcast.audience_cursor]
    batch_ids = select(User.id).where(*conditions).order_by(User.id).limit(batch).subquery()
    last_id = await session.scalar(select(func.max(batch_ids.c.id)))
    if last_id is None:
        # All there: the total is what was created (the audience may have changed since it was counted).
        created = await session.scalar(
            select(func.count())
            .select_from(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast.id)
        )
        await begin_write(session)
        broadcast.total = created or 0
        broadcast.recipients_ready = True
        await session.flush()
        return True
    rows = select(literal(broadcast.id, Integer).label("broadcast_id"), User.id, User.telegram_id).where(
        *conditions, User.id <= last_id
    )
    statement = (
        dialect_insert(session)(BroadcastRecipient)
        .from_select(["broadcast_id", "user_id", "telegram_id"], rows)
        .on_conflict_do_nothing(index_elements=["broadcast_id", "user_id"])
    )
    await begin_write(session)
    await session.execute(statement)
    broadcast.audience_cursor = last_id
    await session.flush()
    return False


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int
    telegram_id: int
    attempts: int


@writes
async def claim(session: AsyncSession, broadcast_id: int, sender_id: str, *, limit: int) -> list[Claimed]:
    """Claim the next `limit` due pending recipients for the sender (status sending, in order): the rows
    another sender is claiming at the same time are skipped."""
    now = utcnow()
    due = (
        select(BroadcastRecipient.id)
        .where(
            BroadcastRecipient.broadcast_id == broadcast_id,
            BroadcastRecipient.status == RecipientStatus.PENDING,
            or_(BroadcastRecipient.next_attempt_at.is_(None), BroadcastRecipient.next_attempt_at <= now),
        )
        .order_by(BroadcastRecipient.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.scalars(due)).all())
    if not ids:
        return []
    rows = await session.execute(
        sql_update(BroadcastRecipient)
        .where(BroadcastRecipient.id.in_(ids), BroadcastRecipient.status == RecipientStatus.PENDING)
        .values(status=RecipientStatus.SENDING, sender_id=sender_id)
        .returning(
            BroadcastRecipient.id,
            BroadcastRecipient.user_id,
            BroadcastRecipient.telegram_id,
            BroadcastRecipient.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    return sorted((Claimed(*row) for row in rows.all()), key=lambda claimed: claimed.id)


async def next_retry_at(session: AsyncSession, broadcast_id: int) -> datetime | None:
    """When the earliest recipient waiting for a retry is due (None: nobody waits)."""
    return await session.scalar(
        select(func.min(BroadcastRecipient.next_attempt_at)).where(
            BroadcastRecipient.broadcast_id == broadcast_id,
            BroadcastRecipient.status == RecipientStatus.PENDING,
        )
    )


async def has_unsent(session: AsyncSession, broadcast_id: int) -> bool:
    """Whether any recipient is still pending or in flight."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.status.in_([RecipientStatus.PENDING, RecipientStatus.SENDING]),
                )
            )
        )
    )


@dataclass
class Outcome:
    """What happened to one claimed recipient."""

    recipient: Claimed
    # sent, blocked, retry (a failed attempt: retried with backoff, then failed), requeue (not attempted:
    # a 429, or the message refused as a whole).
    kind: str
    message_id: int | None = None
    error: str | None = None


def _error(text: str | None) -> str | None:
    return text[:BROADCAST_ERROR_MAX_LENGTH] if text else None


@writes
async def record(
    session: AsyncSession, broadcast_id: int, sender_id: str, outcomes: Sequence[Outcome]
) -> None:
    """Record a batch's outcomes and the broadcast's counters in one transaction; students who blocked the
    bot are marked so. Only the recipients the sender still holds are recorded: one that was taken for dead
    (its heartbeat could not be renewed) and whose claims went to another sender changes nothing."""
    now = utcnow()
    table = BroadcastRecipient.__table__
    held = set(
        (
            await session.scalars(
                select(BroadcastRecipient.id)
                .where(
                    BroadcastRecipient.id.in_([o.recipient.id for o in outcomes]),
                    BroadcastRecipient.status == RecipientStatus.SENDING,
                    BroadcastRecipient.sender_id == sender_id,
                )
                .with_for_update()
            )
        ).all()
    )
    if len(held) < len(outcomes):
        logger.warning(
            "Broadcast %s: %s outcomes of a sender taken for dead are not recorded",
            broadcast_id,
            len(outcomes) - len(held),
        )
        outcomes = [o for o in outcomes if o.recipient.id in held]
    sent = [o for o in outcomes if o.kind == "sent"]
    blocked = [o for o in outcomes if o.kind == "blocked"]
    requeued = [o for o in outcomes if o.kind == "requeue"]
    retried = [o for o in outcomes if o.kind == "retry" and o.recipient.attempts + 1 < MAX_ATTEMPTS]
    failed = [o for o in outcomes if o.kind == "retry" and o.recipient.attempts + 1 >= MAX_ATTEMPTS]
    by_id = table.c.id == bindparam("recipient_id")
    if sent:
        # One statement for the batch (executemany): a paid broadcast records 200 at a time.
        await session.execute(
            table.update()
            .where(by_id)
            .values(
                status=RecipientStatus.SENT.value,
                sender_id=None,
                message_id=bindparam("sent_message_id"),
                sent_at=now,
                error=None,
            ),
            [{"recipient_id": o.recipient.id, "sent_message_id": o.message_id} for o in sent],
        )
    if blocked:
        await session.execute(
            table.update()
            .where(table.c.id.in_([o.recipient.id for o in blocked]))
            .values(status=RecipientStatus.BLOCKED.value, sender_id=None, error=_error(blocked[0].error))
        )
        await session.execute(
            sql_update(User)
            .where(User.id.in_([o.recipient.user_id for o in blocked]), User.bot_blocked_at.is_(None))
            .values(bot_blocked_at=now)
            .execution_options(synchronize_session=False)
        )
    if requeued:
        await session.execute(
            table.update()
            .where(table.c.id.in_([o.recipient.id for o in requeued]))
            .values(status=RecipientStatus.PENDING.value, sender_id=None)
        )
    if retried:
        await session.execute(
            table.update()
            .where(by_id)
            .values(
                status=RecipientStatus.PENDING.value,
                sender_id=None,
                attempts=bindparam("new_attempts"),
                next_attempt_at=bindparam("retry_at"),
                error=bindparam("new_error"),
            ),
            [
                {
                    "recipient_id": o.recipient.id,
                    "new_attempts": o.recipient.attempts + 1,
                    "retry_at": now + timedelta(seconds=RETRY_BASE_SECONDS * 2**o.recipient.attempts),
                    "new_error": _error(o.error),
                }
                for o in retried
            ],
        )
    if failed:
        await session.execute(
            table.update()
            .where(by_id)
            .values(
                status=RecipientStatus.FAILED.value,
                sender_id=None,
                attempts=bindparam("new_attempts"),
                error=bindparam("new_error"),
            ),
            [
                {
                    "recipient_id": o.recipient.id,
                    "new_attempts": o.recipient.attempts + 1,
                    "new_error": _error(o.error),
                }
                for o in failed
            ],
        )
    await session.execute(
        sql_update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(
            sent=Broadcast.sent + len(sent),
            failed=Broadcast.failed + len(failed),
            blocked=Broadcast.blocked + len(blocked),
        )
        .execution_options(synchronize_session=False)
    )


@writes
async def set_media_file_id(session: AsyncSession, broadcast_id: int, file_id: str | None) -> None:
    """Keep (or forget) Telegram's id of the broadcast's uploaded media: the others are sent it by id."""
    await session.execute(
        sql_update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(media_file_id=file_id)
        .execution_options(synchronize_session=False)
    )


@writes
async def finish(session: AsyncSession, broadcast_id: int) -> bool:
    """Mark a sending broadcast done if nobody is left to send to; whether it is done."""
    if await has_unsent(session, broadcast_id):
        return False
    finished = await session.execute(
        sql_update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.DONE, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return finished.rowcount == 1  # type: ignore[attr-defined]


@writes
async def fail(session: AsyncSession, broadcast_id: int, error: str) -> None:
    """Telegram refused the message itself: the broadcast stops, failed, with the reason."""
    await session.execute(
        sql_update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.FAILED, error=_error(error), finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@writes
async def start_due(session: AsyncSession) -> list[int]:
    """Start the scheduled broadcasts whose time has come; their ids (the caller kicks their senders)."""
    now = utcnow()
    due = list(
        (
            await session.scalars(
                select(Broadcast).where(
                    Broadcast.status == BroadcastStatus.SCHEDULED, Broadcast.scheduled_at <= now
                )
            )
        ).all()
    )
    for broadcast in due:
        await start(session, broadcast)
    return [broadcast.id for broadcast in due]


async def understaffed(session: AsyncSession) -> list[int]:
    """Sending broadcasts with fewer live senders than senders_wanted() (none yet, or some died)."""
    stale = _lease_cutoff(utcnow())
    live = (
        select(BroadcastSender.broadcast_id, func.count().label("senders"))
        .where(BroadcastSender.heartbeat_at >= stale)
        .group_by(BroadcastSender.broadcast_id)
        .subquery()
    )
    statement = (
        select(Broadcast.id)
        .outerjoin(live, live.c.broadcast_id == Broadcast.id)
        .where(
            Broadcast.status == BroadcastStatus.SENDING, func.coalesce(live.c.senders, 0) < senders_wanted()
        )
    )
    return list((await session.scalars(statement)).all())
