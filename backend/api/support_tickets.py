"""Support tickets: students' questions and the admins' answers."""

from typing import Literal

from fastapi import APIRouter, status

from backend.api.deps import (
    DEFAULT_LIMIT,
    CurrentAdmin,
    IdFilter,
    JobsDep,
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
from backend.services.jobs import SEND_SUPPORT_MESSAGE, JobQueue
from backend.services.telegram import Telegram
from shared.constants import TicketStatus
from shared.models import SupportMessage
from shared.schemas import (
    SupportMessageCreate,
    SupportMessageList,
    SupportMessageRead,
    SupportTicketCreate,
    SupportTicketList,
    SupportTicketRead,
    SupportTicketUpdate,
)

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


async def send_soon(message: SupportMessage, *, telegram: Telegram | None, jobs: JobQueue | None) -> None:
    """Have an admin message sent to the student at once (a job of its own); the periodic sweep
    (support.send_messages) sends it anyway if this does not run or Telegram does not take it. With the bot
    off there is nothing to send with: the sweep sends it once the bot is on."""
    if telegram is not None and jobs is not None:
        await jobs.kick(SEND_SUPPORT_MESSAGE, support_message_id=message.id)


@router.put(
    "/{ticket_id}",
    summary="Update a ticket: its subject, opening message or status; `admin_response` adds an admin message "
    "(as POST /messages does), which is sent to the user in the bot",
    responses={**NOT_FOUND},
)
async def update_ticket(
    session: SessionDep,
    ticket: TicketDep,
    data: SupportTicketUpdate,
    current: CurrentAdmin,
    telegram: TelegramDep,
    jobs: JobsDep,
) -> SupportTicketRead:
    changes = data.model_dump(exclude_unset=True)
    answer = changes.pop("admin_response", None)
    message = None
    if answer:
        message = await support_ticket_service.add_answer(
            session, ticket, text=answer, admin_id=current.admin_id
        )
    ticket = await support_ticket_service.update(session, ticket, data=SupportTicketUpdate(**changes))
    if message is not None:
        await send_soon(message, telegram=telegram, jobs=jobs)
    return SupportTicketRead.model_validate(ticket)


@router.get(
    "/{ticket_id}/messages",
    summary="The conversation of a ticket, oldest message first",
    responses={**NOT_FOUND},
)
async def read_ticket_messages(session: SessionDep, ticket: TicketDep) -> SupportMessageList:
    messages = await support_ticket_service.messages(session, ticket)
    return SupportMessageList(items=[SupportMessageRead.model_validate(m) for m in messages])


@router.post(
    "/{ticket_id}/messages",
    summary="Answer a ticket: an admin message, sent to the student in the bot (the ticket becomes answered)",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND},
)
async def create_ticket_message(
    session: SessionDep,
    ticket: TicketDep,
    data: SupportMessageCreate,
    current: CurrentAdmin,
    telegram: TelegramDep,
    jobs: JobsDep,
) -> SupportMessageRead:
    message = await support_ticket_service.add_answer(
        session, ticket, text=data.text, admin_id=current.admin_id
    )
    await send_soon(message, telegram=telegram, jobs=jobs)
    return SupportMessageRead.model_validate(message)


@router.delete(
    "/{ticket_id}", summary="Delete a ticket", status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND}
)
async def delete_ticket(session: SessionDep, ticket: TicketDep) -> None:
    await support_ticket_service.delete(session, ticket)
