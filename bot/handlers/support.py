"""/support and /paysupport: a student's message becomes a support ticket, and their further messages (text,
photos, documents) go into it; admins' answers arrive with buttons to reply and to close."""

import logging
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup, default_state
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import purchase_service, support_ticket_service
from backend.services.exceptions import TicketNotFound
from backend.services.jobs import NOTIFY_ADMINS, JobQueue
from bot import keyboards
from bot.callbacks import MenuAction, MenuCb, PaySupportCb, TicketAction, TicketCb
from bot.i18n import Translator
from shared.constants import MESSAGE_MAX_LENGTH, AttachmentKind, PurchaseStatus
from shared.models import SupportMessage, SupportTicket, User
from shared.schemas import SupportAttachment, SupportTicketCreate

logger = logging.getLogger(__name__)

PAYSUPPORT_PURCHASES = 10
# What a student can send into a ticket: the rest (stickers, locations, ...) is not kept.
KEPT = F.text | F.photo | F.document


class SupportRequest(StatesGroup):
    waiting_for_message = State()
    # After the Reply button under an answer: the next message goes into that ticket (data: ticket_id).
    replying = State()


def _text_of(message: Message) -> str:
    return (message.text or message.caption or "").replace("\x00", "")[:MESSAGE_MAX_LENGTH]


def _attachments_of(message: Message) -> list[SupportAttachment]:
    if message.photo:
        # Telegram sends each photo in several sizes; the largest is the last.
        return [SupportAttachment(kind=AttachmentKind.PHOTO, file_id=message.photo[-1].file_id)]
    if message.document:
        document = message.document
        return [
            SupportAttachment(
                kind=AttachmentKind.DOCUMENT, file_id=document.file_id, file_name=document.file_name
            )
        ]
    return []


async def _notify_admins(jobs: JobQueue | None, message: SupportMessage) -> None:
    # Without a job queue (a dispatcher of the tests) nobody is notified; the panel still shows it.
    if jobs is not None:
        await jobs.kick(NOTIFY_ADMINS, support_message_id=message.id)


async def _ask(message: Message, state: FSMContext, t: Translator, purchase_id: int | None = None) -> None:
    await state.set_state(SupportRequest.waiting_for_message)
    await state.update_data(purchase_id=purchase_id)
    await message.answer(t("support-ask"))


async def _support(
    message: Message, state: FSMContext, session: AsyncSession, user: User, t: Translator
) -> None:
    ticket = await support_ticket_service.active_ticket(session, user.id)
    if ticket is None:
        await _ask(message, state, t)
        return
    await state.clear()
    await message.answer(
        t("support-open-ticket", id=ticket.id), reply_markup=keyboards.ticket_open(t, ticket.id)
    )


async def support_command(
    message: Message, state: FSMContext, session: AsyncSession, user: User, t: Translator
) -> None:
    await _support(message, state, session, user, t)


async def support_button(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, user: User, t: Translator
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _support(query.message, state, session, user, t)


async def paysupport(message: Message, session: AsyncSession, user: User, t: Translator) -> None:
    purchases, _, _ = await purchase_service.get_all(
        session,
        user_id=user.id,
        statuses=[PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED],
        limit=PAYSUPPORT_PURCHASES,
        offset=0,
        with_items=True,
    )
    if not purchases:
        await message.answer(t("paysupport-none"), reply_markup=keyboards.back_to_menu(t))
        return
    titled = [(p, (p.lesson or p.course).title) for p in purchases]  # type: ignore[union-attr]
    await message.answer(t("paysupport-choose"), reply_markup=keyboards.paysupport_purchases(t, titled))


async def paysupport_purchase(
    query: CallbackQuery, callback_data: PaySupportCb, state: FSMContext, t: Translator
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _ask(query.message, state, t, purchase_id=callback_data.purchase_id)


async def receive_support_message(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    user: User,
    t: Translator,
    jobs: JobQueue | None = None,
) -> None:
    purchase_id = (await state.get_data()).get("purchase_id")
    await state.clear()
    text = _text_of(message)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "-")
    subject = t.plain("support-subject-payment", id=purchase_id) if purchase_id else first_line[:100]
    ticket = await support_ticket_service.create(
        session,
        data=SupportTicketCreate(
            user_id=user.id, subject=subject, message=text or "-", purchase_id=purchase_id
        ),
        attachments=_attachments_of(message),
    )
    await _notify_admins(jobs, ticket.messages[0])
    await message.answer(t("support-created", id=ticket.id), reply_markup=keyboards.back_to_menu(t))


async def support_message_not_kept(message: Message, t: Translator) -> None:
    # A sticker or a location cannot go into a ticket; the request stays open for the question.
    await message.answer(t("support-text-only"))


async def _add(
    message: Message, session: AsyncSession, ticket: SupportTicket, t: Translator, jobs: JobQueue | None
) -> None:
    stored = await support_ticket_service.add_student_message(
        session, ticket, text=_text_of(message), attachments=_attachments_of(message)
    )
    await _notify_admins(jobs, stored)
    await message.answer(t("support-added", id=ticket.id))


async def receive_reply(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    user: User,
    t: Translator,
    jobs: JobQueue | None = None,
) -> None:
    ticket_id = (await state.get_data()).get("ticket_id")
    await state.clear()
    try:
        ticket = await support_ticket_service.get_of_user(session, int(ticket_id or 0), user.id)
    except TicketNotFound:
        await message.answer(t("support-ticket-gone"))
        return
    await _add(message, session, ticket, t, jobs)


async def active_ticket_of(
    _message: Message, session: AsyncSession, user: User | None = None
) -> dict[str, Any] | bool:
    """Filter: the sender has an open or answered ticket (handed to the handler as `ticket`)."""
    if user is None:
        return False
    ticket = await support_ticket_service.active_ticket(session, user.id)
    return {"ticket": ticket} if ticket is not None else False


async def further_message(
    message: Message,
    session: AsyncSession,
    ticket: SupportTicket,
    t: Translator,
    jobs: JobQueue | None = None,
) -> None:
    await _add(message, session, ticket, t, jobs)


async def ticket_button(
    query: CallbackQuery,
    callback_data: TicketCb,
    state: FSMContext,
    session: AsyncSession,
    user: User,
    t: Translator,
) -> None:
    try:
        ticket = await support_ticket_service.get_of_user(session, callback_data.id, user.id)
    except TicketNotFound:
        await query.answer(t.plain("support-ticket-gone"), show_alert=True)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if callback_data.action is TicketAction.REPLY:
        await state.set_state(SupportRequest.replying)
        await state.update_data(ticket_id=ticket.id)
        await query.message.answer(t("support-reply-ask", id=ticket.id))
    else:
        await state.clear()
        await support_ticket_service.close(session, ticket)
        await query.message.answer(t("support-closed", id=ticket.id), reply_markup=keyboards.back_to_menu(t))


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.message.register(support_command, Command("support"))
    router.callback_query.register(support_button, MenuCb.filter(F.action == MenuAction.SUPPORT))
    router.message.register(paysupport, Command("paysupport"))
    router.callback_query.register(paysupport_purchase, PaySupportCb.filter())
    router.callback_query.register(ticket_button, TicketCb.filter())
    not_a_command = ~F.text.startswith("/")
    router.message.register(receive_support_message, SupportRequest.waiting_for_message, KEPT, not_a_command)
    router.message.register(receive_reply, SupportRequest.replying, KEPT, not_a_command)
    router.message.register(
        support_message_not_kept,
        StateFilter(SupportRequest.waiting_for_message, SupportRequest.replying),
        not_a_command,
    )
    # Last of this router, before the fallback: a plain message of a student with an open or answered ticket
    # goes into it (the other features' messages and every command were handled before).
    router.message.register(
        further_message, StateFilter(default_state), KEPT, not_a_command, active_ticket_of
    )
    return router
