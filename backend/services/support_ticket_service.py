"""Support tickets: conversations between a student (in the bot) and the admins (the panel and the API).

A ticket is open while the student waits for an answer, answered once an admin answered last, closed when
done; a student's further message reopens it. Admin messages are sent to the student by the job
support.send_messages (kicked per message, and periodically as a sweep); one that Telegram refuses for good
(the student blocked the bot) is marked undeliverable and never retried."""

import logging
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy import update as update_rows
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.services import payment_service, user_service
from backend.services.common import PageResult, paginate, sort_order, text_search
from backend.services.exceptions import (
    PurchaseNotFound,
    RecipientBlocked,
    TelegramUnavailable,
    TicketNotFound,
)
from backend.services.telegram import Telegram
from shared.constants import SupportMessageAuthor, TicketStatus
from shared.database import commit_now, writes
from shared.models import Purchase, SupportMessage, SupportTicket
from shared.schemas import SupportAttachment, SupportTicketCreate, SupportTicketUpdate
from shared.utils import utcnow

logger = logging.getLogger(__name__)

SORT_COLUMNS = {
    "created_at": SupportTicket.created_at,
    "updated_at": SupportTicket.updated_at,
    "id": SupportTicket.id,
}


async def get(session: AsyncSession, ticket_id: int) -> SupportTicket:
    """The ticket with this id, or TicketNotFound."""
    ticket = await session.get(
        SupportTicket, ticket_id, options=[selectinload(SupportTicket.messages)], populate_existing=True
    )
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


async def get_all(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    status: TicketStatus | None = None,
    search: str | None = None,
    sort: str = "-created_at",
    limit: int,
    offset: int,
    with_user: bool = False,
) -> PageResult[SupportTicket]:
    """A page of tickets matching the filters (search looks in subject and message); with_user loads each
    ticket's author too (the panel's list names them)."""
    filters = []
    if user_id is not None:
        filters.append(SupportTicket.user_id == user_id)
    if status is not None:
        filters.append(SupportTicket.status == status)
    if search:
        filters.append(text_search(search, SupportTicket.subject, SupportTicket.message))
    return await paginate(
        session,
        SupportTicket,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, SupportTicket.id),
        limit=limit,
        offset=offset,
        options=[
            selectinload(SupportTicket.messages),
            *([selectinload(SupportTicket.user)] if with_user else []),
        ],
    )


# Students write while a ticket is open or answered; a closed one takes a message only when they reopen it.
ACTIVE = (TicketStatus.OPEN, TicketStatus.ANSWERED)


def _touch(ticket: SupportTicket, status: TicketStatus) -> None:
    ticket.status = status
    # The last activity, which the panel's list shows and sorts by, even when the status stays the same.
    ticket.updated_at = utcnow()


def _append(ticket: SupportTicket, message: SupportMessage) -> None:
    # Appending to the loaded collection keeps ticket.messages (and the answer fields of the API) current.
    if "messages" in ticket.__dict__:
        ticket.messages.append(message)
    else:
        message.ticket_id = ticket.id


@writes
async def create(
    session: AsyncSession, *, data: SupportTicketCreate, attachments: Sequence[SupportAttachment] = ()
) -> SupportTicket:
    """Open a ticket for a user, its text as the opening message."""
    await user_service.get(session, data.user_id)
    if data.purchase_id is not None:
        purchase = await session.get(Purchase, data.purchase_id)
        if purchase is None or purchase.user_id != data.user_id:
            raise PurchaseNotFound(data.purchase_id)
    ticket = SupportTicket(**data.model_dump(), status=TicketStatus.OPEN)
    ticket.messages = [
        SupportMessage(
            author=SupportMessageAuthor.STUDENT,
            text=data.message,
            attachments=[a.model_dump(mode="json") for a in attachments],
        )
    ]
    session.add(ticket)
    await session.flush()
    return ticket


@writes
async def update(session: AsyncSession, ticket: SupportTicket, *, data: SupportTicketUpdate) -> SupportTicket:
    """Change the fields that were given; an admin_response becomes an admin message (see add_answer)."""
    changes = data.model_dump(exclude_unset=True)
    answer = changes.pop("admin_response", None)
    if answer:
        await add_answer(session, ticket, text=answer)
    for field, value in changes.items():
        setattr(ticket, field, value)
    if "message" in changes and ticket.messages:
        ticket.messages[0].text = changes["message"]
    await session.flush()
    return ticket


@writes
async def delete(session: AsyncSession, ticket: SupportTicket) -> None:
    """Delete a ticket and its messages."""
    await session.delete(ticket)
    await session.flush()


async def active_ticket(session: AsyncSession, user_id: int) -> SupportTicket | None:
    """The student's latest open or answered ticket, where their further messages go; None if none."""
    statement = (
        select(SupportTicket)
        .where(SupportTicket.user_id == user_id, SupportTicket.status.in_(ACTIVE))
        .order_by(SupportTicket.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)


async def get_of_user(session: AsyncSession, ticket_id: int, user_id: int) -> SupportTicket:
    """The user's own ticket with this id, or TicketNotFound (a crafted button names another's)."""
    ticket = await session.get(SupportTicket, ticket_id)
    if ticket is None or ticket.user_id != user_id:
        raise TicketNotFound(ticket_id)
    return ticket


@writes
async def add_student_message(
    session: AsyncSession,
    ticket: SupportTicket,
    *,
    text: str,
    attachments: Sequence[SupportAttachment] = (),
) -> SupportMessage:
    """A further message of the student into their ticket, which becomes (or stays) open."""
    message = SupportMessage(
        author=SupportMessageAuthor.STUDENT,
        text=text,
        attachments=[a.model_dump(mode="json") for a in attachments],
    )
    _append(ticket, message)
    session.add(message)
    _touch(ticket, TicketStatus.OPEN)
    await session.flush()
    return message


@writes
async def add_answer(
    session: AsyncSession, ticket: SupportTicket, *, text: str, admin_id: int | None = None
) -> SupportMessage:
    """An admin's answer: the ticket becomes answered (a closed one stays closed: a late note, which the
    student may answer to reopen it); the message waits to be sent (messages_to_deliver)."""
    message = SupportMessage(author=SupportMessageAuthor.ADMIN, admin_id=admin_id, text=text, attachments=[])
    _append(ticket, message)
    session.add(message)
    _touch(ticket, TicketStatus.CLOSED if ticket.status is TicketStatus.CLOSED else TicketStatus.ANSWERED)
    await session.flush()
    return message


@writes
async def close(session: AsyncSession, ticket: SupportTicket) -> SupportTicket:
    """Close the ticket (an admin, or the student from the bot)."""
    _touch(ticket, TicketStatus.CLOSED)
    await session.flush()
    return ticket


@writes
async def reopen(session: AsyncSession, ticket: SupportTicket) -> SupportTicket:
    """Reopen a closed ticket: the student writes again, or an admin takes it up again."""
    if ticket.status is TicketStatus.CLOSED:
        _touch(ticket, TicketStatus.OPEN)
        await session.flush()
    return ticket


async def messages(
    session: AsyncSession, ticket: SupportTicket, *, after_id: int = 0
) -> Sequence[SupportMessage]:
    """The ticket's messages in order, each with the admin who wrote it (those after the message after_id,
    for a view that has the rest)."""
    statement = (
        select(SupportMessage)
        .where(SupportMessage.ticket_id == ticket.id, SupportMessage.id > after_id)
        .order_by(SupportMessage.id)
        .options(selectinload(SupportMessage.admin))
    )
    return (await session.scalars(statement)).all()


async def get_message(session: AsyncSession, message_id: int) -> SupportMessage | None:
    """The message with this id (its ticket and author loaded), or None."""
    statement = (
        select(SupportMessage)
        .where(SupportMessage.id == message_id)
        .options(selectinload(SupportMessage.ticket).selectinload(SupportTicket.user))
    )
    return await session.scalar(statement)


async def messages_to_deliver(session: AsyncSession, *, limit: int = 50) -> Sequence[SupportMessage]:
    """Admin messages that have not reached their student yet and still can (ticket and student loaded),
    oldest first; one that a run is sending now (claimed) is left out."""
    filters = [
        SupportMessage.author == SupportMessageAuthor.ADMIN,
        SupportMessage.delivered_at.is_(None),
        SupportMessage.undeliverable_at.is_(None),
        or_(SupportMessage.sending_until.is_(None), SupportMessage.sending_until < utcnow()),
    ]
    statement = (
        select(SupportMessage)
        .where(*filters)
        .options(selectinload(SupportMessage.ticket).selectinload(SupportTicket.user))
        .order_by(SupportMessage.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


@writes
async def mark_part_sent(
    session: AsyncSession, message: SupportMessage, *, number: int, telegram_message_id: int
) -> None:
    """Record that the message's part `number` (from 1) reached the student, durably: a retry after a later
    part fails sends only what comes after it."""
    message.parts_sent = number
    message.telegram_message_id = telegram_message_id
    await commit_now(session)


@writes
async def mark_delivered(session: AsyncSession, message: SupportMessage) -> None:
    """Record that the admin's message reached the student, all of it."""
    message.delivered_at = utcnow()
    await session.flush()


@writes
async def mark_undeliverable(session: AsyncSession, message: SupportMessage) -> None:
    """Record that Telegram refused the message for good (the student blocked the bot): it is not retried."""
    message.undeliverable_at = utcnow()
    await session.flush()


async def deliver(session: AsyncSession, message: SupportMessage, *, telegram: Telegram) -> bool:
    """Send an admin message to the ticket's student (unless already done); whether it reached them. One that
    Telegram refuses for good (they blocked the bot) is marked so and not tried again; others are retried by
    the sweep of support.send_messages."""
    if message.delivered_at is not None or message.undeliverable_at is not None:
        return message.delivered_at is not None
    if not await _claim(session, message):
        return False
    ticket = await message.awaitable_attrs.ticket
    user = await ticket.awaitable_attrs.user

    async def part_sent(number: int, telegram_message_id: int) -> None:
        await mark_part_sent(session, message, number=number, telegram_message_id=telegram_message_id)

    try:
        await telegram.send_ticket_answer(
            telegram_user_id=user.telegram_id,
            language_code=user.language_code,
            ticket_id=ticket.id,
            answer=message.text,
            parts_sent=message.parts_sent,
            part_sent=part_sent,
        )
    except RecipientBlocked:
        logger.warning("User %s blocked the bot; support message %s cannot be delivered", user.id, message.id)
        await mark_undeliverable(session, message)
        await user_service.mark_bot_blocked(session, user.id)
        return False
    except TelegramUnavailable as error:
        logger.warning("Support message %s not delivered yet: %s", message.id, error)
        await _release(session, message)
        return False
    await mark_delivered(session, message)
    return True


@writes
async def _claim(session: AsyncSession, message: SupportMessage) -> bool:
    """Take the message to send it, unless another run has it (the job kicked for the answer and the sweep
    may meet); durable before Telegram is called."""
    now = utcnow()
    claimed = await session.execute(
        update_rows(SupportMessage)
        .where(
            SupportMessage.id == message.id,
            SupportMessage.delivered_at.is_(None),
            SupportMessage.undeliverable_at.is_(None),
            or_(SupportMessage.sending_until.is_(None), SupportMessage.sending_until < now),
        )
        .values(sending_until=now + payment_service.delivery_lease())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await commit_now(session)
    await session.refresh(message)
    return message.delivered_at is None


@writes
async def _release(session: AsyncSession, message: SupportMessage) -> None:
    """Give up the claim of a message Telegram did not take now: the next sweep tries again."""
    message.sending_until = None
    await session.flush()
