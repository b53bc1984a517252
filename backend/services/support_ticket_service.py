"""Support tickets: questions from students, answered by admins."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import user_service
from backend.services.common import paginate, sort_order, text_search
from backend.services.exceptions import TicketNotFound
from shared.constants import TicketStatus
from shared.models import SupportTicket
from shared.schemas import SupportTicketCreate, SupportTicketUpdate

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
) -> tuple[Sequence[SupportTicket], int]:
    """A page of tickets matching the filters (search looks in subject and message)."""
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
    )


async def create(session: AsyncSession, *, data: SupportTicketCreate) -> SupportTicket:
    """Open a ticket for a user."""
    await user_service.get(session, data.user_id)
    ticket = SupportTicket(**data.model_dump(), status=TicketStatus.OPEN)
    session.add(ticket)
    await session.commit()
    return ticket


async def update(session: AsyncSession, ticket: SupportTicket, *, data: SupportTicketUpdate) -> SupportTicket:
    """Change the fields that were given; an answer to an open ticket moves it to in progress."""
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(ticket, field, value)
    if changes.get("admin_response") and "status" not in changes and ticket.status is TicketStatus.OPEN:
        ticket.status = TicketStatus.IN_PROGRESS
    await session.commit()
    return ticket


async def delete(session: AsyncSession, ticket: SupportTicket) -> None:
    """Delete a ticket."""
    await session.delete(ticket)
    await session.commit()
