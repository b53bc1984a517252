"""The panel's support pages (owners and support): the tickets by status and last activity, a ticket's
conversation (polled by HTMX, so a student's new message shows without reloading), the answer (sent to the
student by the bot, as the API's answer is), closing and reopening, and the purchase a ticket is about."""

from collections.abc import Callable
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import IdPath, JobsDep, Offset, Search, SessionDep, TelegramDep
from backend.api.support_tickets import send_soon
from backend.panel.deps import MANAGER, SupportSession
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import purchase_service, support_ticket_service
from shared.constants import MESSAGE_MAX_LENGTH, TicketStatus
from shared.models import SupportTicket
from shared.schemas import SupportMessageCreate

router = page_router("/support")

PAGE_SIZE = 50
# The tabs of the list: a status, or every ticket. The queue of open tickets comes first.
TABS = ("open", "answered", "closed", "all")
Tab = Literal["open", "answered", "closed", "all"]
# How often an open conversation asks for new messages.
POLL_SECONDS = 3
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
    sort: TicketSort = "-updated_at",
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


async def _conversation(session: SessionDep, ticket: SupportTicket) -> dict[str, Any]:
    await ticket.awaitable_attrs.user
    return {
        "ticket": ticket,
        "messages": await support_ticket_service.messages(session, ticket),
        "poll_seconds": POLL_SECONDS,
    }


async def _ticket_page(
    request: Request,
    session: SessionDep,
    ticket: SupportTicket,
    *,
    answer: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    author = await ticket.awaitable_attrs.user
    purchase = None
    if ticket.purchase_id is not None:
        purchase = await purchase_service.get(session, ticket.purchase_id)
        # The item's title, as the purchases page shows it (relationships are never loaded lazily).
        await purchase.awaitable_attrs.lesson
        await purchase.awaitable_attrs.course
    return render(
        request,
        "support/ticket.html",
        {
            **await _conversation(session, ticket),
            "author": author,
            "purchase": purchase,
            "manager": request.state.panel_user.may(MANAGER),
            "here": _path(ticket.id),
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
    return await _ticket_page(request, session, ticket)


@router.get("/{ticket_id}/messages")
async def read_ticket_messages(
    request: Request, session: SessionDep, _auth: SupportSession, ticket_id: IdPath
) -> Response:
    """The conversation alone: what the ticket page polls."""
    ticket = await support_ticket_service.get(session, ticket_id)
    return render(request, "support/_conversation.html", await _conversation(session, ticket))


@router.post("/{ticket_id}/answer")
async def answer_ticket(
    request: Request,
    session: SessionDep,
    auth: SupportSession,
    ticket_id: IdPath,
    telegram: TelegramDep,
    jobs: JobsDep,
) -> Response:
    ticket = await support_ticket_service.get(session, ticket_id)
    values = await posted(request)
    answer = values.get("text")
    if not answer or not str(answer).strip():
        errors = {"text": _t(request)("form-error-missing")}
        return await _ticket_page(request, session, ticket, answer="", errors=errors, status_code=422)
    try:
        data = SupportMessageCreate.model_validate({"text": answer})
    except ValidationError as error:
        errors = field_errors(request, error)
        return await _ticket_page(
            request, session, ticket, answer=str(answer), errors=errors, status_code=422
        )
    message = await support_ticket_service.add_answer(session, ticket, text=data.text, admin_id=auth.admin_id)
    if values.get("close") == "true":
        await support_ticket_service.close(session, ticket)
    # The API's path: a job sends it at once when the bot is on; otherwise (or if Telegram is unreachable) the
    # periodic sweep sends it later. A student who blocked the bot is marked so and not retried.
    await send_soon(message, telegram=telegram, jobs=jobs)
    flash = "flash-ticket-answer-sending" if telegram is not None else "flash-ticket-answer-queued"
    return redirect(_path(ticket.id), flash=flash)


@router.post("/{ticket_id}/status")
async def change_ticket_status(
    request: Request, session: SessionDep, _auth: SupportSession, ticket_id: IdPath
) -> Response:
    ticket = await support_ticket_service.get(session, ticket_id)
    values = await posted(request)
    wanted = values.get("status")
    if wanted == TicketStatus.CLOSED.value:
        await support_ticket_service.close(session, ticket)
        return redirect(_path(ticket.id), flash="flash-ticket-closed")
    if wanted == TicketStatus.OPEN.value:
        await support_ticket_service.reopen(session, ticket)
        return redirect(_path(ticket.id), flash="flash-ticket-reopened")
    # Only the page's own buttons post here: anything else is not a status.
    errors = {"status": _t(request)("form-error-enum")}
    return await _ticket_page(request, session, ticket, errors=errors, status_code=422)
