"""/support and /paysupport: a message from the user becomes a support ticket."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import purchase_service, support_ticket_service
from bot import keyboards
from bot.callbacks import MenuAction, MenuCb, PaySupportCb
from bot.i18n import Translator
from shared.constants import MESSAGE_MAX_LENGTH, PurchaseStatus
from shared.models import User
from shared.schemas import SupportTicketCreate

PAYSUPPORT_PURCHASES = 10


class SupportRequest(StatesGroup):
    waiting_for_message = State()


async def _ask(message: Message, state: FSMContext, t: Translator, purchase_id: int | None = None) -> None:
    await state.set_state(SupportRequest.waiting_for_message)
    await state.update_data(purchase_id=purchase_id)
    await message.answer(t("support-ask"))


async def support_command(message: Message, state: FSMContext, t: Translator) -> None:
    await _ask(message, state, t)


async def support_button(query: CallbackQuery, state: FSMContext, t: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _ask(query.message, state, t)


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
    message: Message, state: FSMContext, session: AsyncSession, user: User, t: Translator
) -> None:
    purchase_id = (await state.get_data()).get("purchase_id")
    await state.clear()
    text = (message.text or "").replace("\x00", "")[:MESSAGE_MAX_LENGTH]
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "-")
    subject = t.plain("support-subject-payment", id=purchase_id) if purchase_id else first_line[:100]
    ticket = await support_ticket_service.create(
        session,
        data=SupportTicketCreate(user_id=user.id, subject=subject, message=text, purchase_id=purchase_id),
    )
    await message.answer(t("support-created", id=ticket.id), reply_markup=keyboards.back_to_menu(t))


async def support_message_not_text(message: Message, t: Translator) -> None:
    # A photo or a sticker cannot become a ticket; the request stays open for the text.
    await message.answer(t("support-text-only"))


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.message.register(support_command, Command("support"))
    router.callback_query.register(support_button, MenuCb.filter(F.action == MenuAction.SUPPORT))
    router.message.register(paysupport, Command("paysupport"))
    router.callback_query.register(paysupport_purchase, PaySupportCb.filter())
    router.message.register(receive_support_message, SupportRequest.waiting_for_message, F.text)
    router.message.register(support_message_not_text, SupportRequest.waiting_for_message)
    return router
