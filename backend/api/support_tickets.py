"""Support tickets: students' questions and the admins' answers."""

from typing import Literal

from fastapi import APIRouter, status

from backend.api.deps import (
    DEFAULT_LIMIT,
    IdFilter,
    Limit,
    Offset,
    Search,
    SessionDep,
    TelegramDep,
    TicketDep,
    require_support,
)
from backend.api.errors import FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import support_ticket_service
from shared.constants import TicketStatus
from shared.schemas import SupportTicketCreate, SupportTicketList, SupportTicketRead, SupportTicketUpdate

router = APIRouter(
    prefix="/support-tickets",
    tags=["support tickets"],
    dependencies=[require_support],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

TicketSort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "id", "-id"]


@router.get("/", summary="List support tickets with filters and paging")
async def read_tickets(
    session: SessionDep,
    user_id: IdFilter = None,
    status: TicketStatus | None = None,
    q: Search = None,
    sort: TicketSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> SupportTicketList:
    page = await support_ticket_service.get_all(
        session, user_id=user_id, status=status, search=q, sort=sort, limit=limit, offset=offset
    )
    return SupportTicketList(
        items=[SupportTicketRead.model_validate(t) for t in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/", summary="Open a ticket for a user", status_code=status.HTTP_201_CREATED, responses={**NOT_FOUND}
)
async def create_ticket(session: SessionDep, data: SupportTicketCreate) -> SupportTicketRead:
    return SupportTicketRead.model_validate(await support_ticket_service.create(session, data=data))


@router.get("/{ticket_id}", summary="A support ticket", responses={**NOT_FOUND})
async def read_ticket(ticket: TicketDep) -> SupportTicketRead:
    return SupportTicketRead.model_validate(ticket)


@router.put(
    "/{ticket_id}",
    summary="Update a ticket: change its status or answer it (the answer is sent to the user in the bot)",
    responses={**NOT_FOUND},
)
async def update_ticket(
    session: SessionDep, ticket: TicketDep, data: SupportTicketUpdate, telegram: TelegramDep
) -> SupportTicketRead:
    ticket = await support_ticket_service.update(session, ticket, data=data)
    if telegram is not None and ticket.admin_response and "admin_response" in data.model_fields_set:
        # Sent now when Telegram lets us; an answer that did not get through is retried by the bot's jobs.
        await support_ticket_service.deliver_answer(session, ticket, telegram=telegram)
    return SupportTicketRead.model_validate(ticket)


@router.delete(
    "/{ticket_id}", summary="Delete a ticket", status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND}
)
async def delete_ticket(session: SessionDep, ticket: TicketDep) -> None:
    await support_ticket_service.delete(session, ticket)
