"""The panel's support pages (owners and support): the tickets by status, a ticket with its messages, the
answer (sent to the student by the bot, as the API's answer is), closing and reopening."""

from collections.abc import Callable
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import IdPath, Offset, Search, SessionDep, TelegramDep
from backend.panel.deps import SupportSession
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import support_ticket_service
from shared.constants import MESSAGE_MAX_LENGTH, TicketStatus
from shared.models import SupportTicket
from shared.schemas import SupportTicketUpdate

router = page_router("/support")

PAGE_SIZE = 50
# The tabs of the list: a status, or every ticket. The queue of open tickets comes first.
TABS = ("open", "in_progress", "closed", "all")
Tab = Literal["open", "in_progress", "closed", "all"]
TicketSort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "id", "-id"]


def _path(ticket_id: int) -> str:
    return f"{router.prefix}/{ticket_id}"


def _t(request: Request) -> Callable[..., str]:
    return panel_translator(language_of(request)).plain


@router.get("")
async def read_tickets(
    request: Request,
    session: SessionDep,
    _auth: SupportSession,
    status: Tab = "open",
    q: Search = None,
    sort: TicketSort = "-created_at",
    offset: Offset = 0,
) -> Response:
    page = await support_ticket_service.get_all(
        session,
        status=None if status == "all" else TicketStatus(status),
        search=q or None,
        sort=sort,
        limit=PAGE_SIZE,
        offset=offset,
        with_user=True,
    )
    return render(
        request,
        "support/list.html",
        {
            "page": page,
            "tabs": TABS,
            "status": status,
            "q": q or "",
            "sort": sort,
            "offset": offset,
            "limit": PAGE_SIZE,
        },
    )


async def _ticket_page(
    request: Request,
    ticket: SupportTicket,
    *,
    answer: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    author = await ticket.awaitable_attrs.user
    return render(
        request,
        "support/ticket.html",
        {
            "ticket": ticket,
            "author": author,
            "answer": answer,
            "answer_max": MESSAGE_MAX_LENGTH,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/{ticket_id}")
async def read_ticket(
    request: Request, session: SessionDep, _auth: SupportSession, ticket_id: IdPath
) -> Response:
    ticket = await support_ticket_service.get(session, ticket_id)
    return await _ticket_page(request, ticket)


@router.post("/{ticket_id}/answer")
async def answer_ticket(
    request: Request, session: SessionDep, _auth: SupportSession, ticket_id: IdPath, telegram: TelegramDep
) -> Response:
    ticket = await support_ticket_service.get(session, ticket_id)
    values = await posted(request)
    answer = values.get("admin_response")
    fields: dict[str, Any] = {"admin_response": answer}
    if values.get("close") == "true":
        fields["status"] = TicketStatus.CLOSED
    try:
        data = SupportTicketUpdate.model_validate(fields)
    except ValidationError as error:
        errors = field_errors(request, error)
        return await _ticket_page(request, ticket, answer=str(answer or ""), errors=errors, status_code=422)
    if not data.admin_response:
        # The schema lets the API clear an answer; this form only sends one.
        errors = {"admin_response": _t(request)("form-error-missing")}
        return await _ticket_page(request, ticket, answer="", errors=errors, status_code=422)
    ticket = await support_ticket_service.update(session, ticket, data=data)
    # The API's path: sent now when the bot is on; otherwise (or if Telegram is unreachable) the bot's jobs
    # send it later. A student who blocked the bot is marked so and not retried.
    if telegram is not None:
        delivered = await support_ticket_service.deliver_answer(session, ticket, telegram=telegram)
    else:
        delivered = False
    if delivered:
        flash = "flash-ticket-answer-sent"
    elif ticket.response_undeliverable_at is not None:
        flash = "flash-ticket-answer-undeliverable"
    else:
        flash = "flash-ticket-answer-queued"
    return redirect(_path(ticket.id), flash=flash)


@router.post("/{ticket_id}/status")
async def change_ticket_status(
    request: Request, session: SessionDep, _auth: SupportSession, ticket_id: IdPath
) -> Response:
    ticket = await support_ticket_service.get(session, ticket_id)
    values = await posted(request)
    try:
        data = SupportTicketUpdate.model_validate({"status": values.get("status")})
    except ValidationError:
        # Only the page's own buttons post here: anything else is not a status.
        errors = {"status": _t(request)("form-error-enum")}
        return await _ticket_page(request, ticket, errors=errors, status_code=422)
    await support_ticket_service.update(session, ticket, data=data)
    flash = "flash-ticket-closed" if data.status is TicketStatus.CLOSED else "flash-ticket-reopened"
    return redirect(_path(ticket.id), flash=flash)
