"""Support tickets: questions from students, answered by admins."""

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.services import user_service
from backend.services.common import PageResult, paginate, sort_order, text_search
from backend.services.exceptions import (
    PurchaseNotFound,
    RecipientBlocked,
    TelegramUnavailable,
    TicketNotFound,
)
from backend.services.telegram import Telegram
from shared.constants import TicketStatus
from shared.database import writes
from shared.models import Purchase, SupportTicket
from shared.schemas import SupportTicketCreate, SupportTicketUpdate
from shared.utils import utcnow

logger = logging.getLogger(__name__)

SORT_COLUMNS = {
    "created_at": SupportTicket.created_at,
    "updated_at": SupportTicket.updated_at,
    "id": SupportTicket.id,
}


async def get(session: AsyncSession, ticket_id: int) -> SupportTicket:
    """The ticket with this id, or TicketNotFound."""
    ticket = await session.get(SupportTicket, ticket_id)
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
        options=[selectinload(SupportTicket.user)] if with_user else [],
    )


@writes
async def create(session: AsyncSession, *, data: SupportTicketCreate) -> SupportTicket:
    """Open a ticket for a user."""
    await user_service.get(session, data.user_id)
    if data.purchase_id is not None:
        purchase = await session.get(Purchase, data.purchase_id)
        if purchase is None or purchase.user_id != data.user_id:
            raise PurchaseNotFound(data.purchase_id)
    ticket = SupportTicket(**data.model_dump(), status=TicketStatus.OPEN)
    session.add(ticket)
    await session.flush()
    return ticket


@writes
async def update(session: AsyncSession, ticket: SupportTicket, *, data: SupportTicketUpdate) -> SupportTicket:
    """Change the fields that were given; an answer to an open ticket moves it to in progress."""
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(ticket, field, value)
    if "admin_response" in changes:
        # A new answer is still to be sent to the user (see answers_to_send), and tried even if an earlier
        # one could not be (the user may have unblocked the bot since).
        ticket.response_sent_at = None
        ticket.response_undeliverable_at = None
        if changes["admin_response"] and "status" not in changes and ticket.status is TicketStatus.OPEN:
            ticket.status = TicketStatus.IN_PROGRESS
    await session.flush()
    return ticket


@writes
async def delete(session: AsyncSession, ticket: SupportTicket) -> None:
    """Delete a ticket."""
    await session.delete(ticket)
    await session.flush()


async def answers_to_send(session: AsyncSession, *, limit: int = 50) -> Sequence[SupportTicket]:
    """Tickets whose admin answer has not reached the user yet and still can (with the user loaded)."""
    statement = (
        select(SupportTicket)
        .where(
            SupportTicket.admin_response.is_not(None),
            SupportTicket.response_sent_at.is_(None),
            SupportTicket.response_undeliverable_at.is_(None),
        )
        .options(selectinload(SupportTicket.user))
        .order_by(SupportTicket.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


@writes
async def mark_answer_sent(session: AsyncSession, ticket: SupportTicket) -> None:
    """Record that the admin's answer reached the user."""
    ticket.response_sent_at = utcnow()
    await session.flush()


@writes
async def mark_answer_undeliverable(session: AsyncSession, ticket: SupportTicket) -> None:
    """Record that Telegram refused the answer for good (the user blocked the bot): it is not retried."""
    ticket.response_undeliverable_at = utcnow()
    await session.flush()


async def deliver_answer(session: AsyncSession, ticket: SupportTicket, *, telegram: Telegram) -> bool:
    """Send the admin's answer to the ticket's author; whether it reached them. An answer Telegram refuses for
    good (the user blocked the bot) is marked so and not tried again; others are retried by the jobs."""
    user = await ticket.awaitable_attrs.user
    try:
        await telegram.send_ticket_answer(
            telegram_user_id=user.telegram_id,
            language_code=user.language_code,
            ticket_id=ticket.id,
            answer=ticket.admin_response or "",
        )
    except RecipientBlocked:
        logger.warning("User %s blocked the bot; ticket %s answer cannot be delivered", user.id, ticket.id)
        await mark_answer_undeliverable(session, ticket)
        await user_service.mark_bot_blocked(session, user.id)
        return False
    except TelegramUnavailable as error:
        logger.warning("Ticket %s answer not delivered yet: %s", ticket.id, error)
        return False
    await mark_answer_sent(session, ticket)
    return True
