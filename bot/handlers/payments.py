"""Buying: invoices in Stars, promo codes, pre-checkout checks, payments, delivery and refunds."""

import logging

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import AnswerPreCheckoutQuery
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import payment_service
from backend.services.exceptions import (
    AlreadyPurchased,
    CourseNotFound,
    DomainError,
    InvalidPayload,
    ItemNotForSale,
    LessonNotFound,
    PriceChanged,
    PromoCodeNotApplicable,
    WrongCurrency,
)
from bot import keyboards
from bot.callbacks import CourseCb, ItemAction, LessonCb
from bot.delivery import deliver_paid
from bot.gateway import BotGateway
from bot.i18n import Translator
from shared.models import Course, UnmatchedPayment, UnmatchedPaymentReason, User

logger = logging.getLogger(__name__)


class PromoEntry(StatesGroup):
    waiting_for_code = State()


def refusal_text(t: Translator, error: DomainError) -> str:
    """A sentence the buyer understands for why they cannot buy (or pay) now."""
    if isinstance(error, AlreadyPurchased):
        return t.plain("error-already-owned")
    if isinstance(error, ItemNotForSale | LessonNotFound | CourseNotFound):
        return t.plain("error-not-for-sale")
    if isinstance(error, PriceChanged):
        return t.plain("error-price-changed", price=error.current)
    if isinstance(error, WrongCurrency):
        return t.plain("error-wrong-currency")
    if isinstance(error, PromoCodeNotApplicable):
        return t.plain(f"promo-{error.reason.replace('_', '-')}", code=error.code)
    if isinstance(error, InvalidPayload):
        return t.plain("error-unknown-invoice")
    return t.plain("error-generic")


async def send_invoice(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    user: User,
    t: Translator,
    *,
    lesson_id: int | None = None,
    course_id: int | None = None,
    promo_code: str | None = None,
) -> None:
    try:
        invoice = await payment_service.create_invoice(
            session, user_id=user.id, lesson_id=lesson_id, course_id=course_id, promo_code=promo_code
        )
    except DomainError as error:
        await message.answer(refusal_text(t, error), reply_markup=keyboards.back_to_menu(t), parse_mode=None)
        return
    item = invoice.item
    description = item.description or item.title
    label = t.plain("invoice-label-course") if isinstance(item, Course) else t.plain("invoice-label-lesson")
    await bot.send_invoice(
        chat_id=message.chat.id,
        title=item.title[:32],
        description=description[:255],
        payload=invoice.payload,
        currency=payment_service.STARS_CURRENCY,
        prices=[LabeledPrice(label=label, amount=invoice.amount)],
    )


async def buy_lesson(
    query: CallbackQuery, callback_data: LessonCb, bot: Bot, session: AsyncSession, user: User, t: Translator
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await send_invoice(query.message, bot, session, user, t, lesson_id=callback_data.id)


async def buy_course(
    query: CallbackQuery, callback_data: CourseCb, bot: Bot, session: AsyncSession, user: User, t: Translator
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await send_invoice(query.message, bot, session, user, t, course_id=callback_data.id)


async def ask_promo_code(
    query: CallbackQuery, callback_data: LessonCb | CourseCb, state: FSMContext, t: Translator
) -> None:
    kind = "lesson" if isinstance(callback_data, LessonCb) else "course"
    await state.set_state(PromoEntry.waiting_for_code)
    await state.update_data(kind=kind, item_id=callback_data.id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("promo-ask"))


# Commands are not promo codes: they go to their own handlers (/start also ends the promo entry).
async def apply_promo_code(
    message: Message, state: FSMContext, bot: Bot, session: AsyncSession, user: User, t: Translator
) -> None:
    data = await state.get_data()
    await state.clear()
    item = {"lesson_id": data["item_id"]} if data["kind"] == "lesson" else {"course_id": data["item_id"]}
    await send_invoice(message, bot, session, user, t, promo_code=(message.text or "").strip()[:64], **item)


async def pre_checkout(
    query: PreCheckoutQuery, session: AsyncSession, user: User, t: Translator
) -> AnswerPreCheckoutQuery:
    # Telegram cancels the payment if this is not answered within 10 seconds: no slow work here. The
    # answer is returned: in webhook mode it rides on our response to Telegram (see bot.screens.Reply).
    try:
        await payment_service.check_pre_checkout(
            session,
            user_id=user.id,
            payload=query.invoice_payload,
            currency=query.currency,
            total_amount=query.total_amount,
        )
    except DomainError as error:
        logger.info("Pre-checkout %s refused: %s", query.id, error.message)
        return query.answer(ok=False, error_message=refusal_text(t, error))
    return query.answer(ok=True)


async def successful_payment(
    message: Message, bot: Bot, session: AsyncSession, user: User, t: Translator
) -> None:
    payment = message.successful_payment
    assert payment is not None
    # The payer is the update's sender (registered by UserMiddleware), whoever the invoice was issued to.
    taken = await payment_service.take_payment(
        session,
        user_id=user.id,
        telegram_user_id=user.telegram_id,
        payload=payment.invoice_payload,
        total_amount=payment.total_amount,
        charge_id=payment.telegram_payment_charge_id,
        currency=payment.currency,
        claim_delivery=True,
    )
    if isinstance(taken, UnmatchedPayment):
        # Kept for the admin (pre-checkout refuses such payments, so Telegram should never take them).
        if taken.reason is UnmatchedPaymentReason.WRONG_CURRENCY:
            await message.answer(t("payment-wrong-currency"))
        else:
            await message.answer(t("payment-unmatched", amount=payment.total_amount))
        return
    if taken.duplicate:
        # Recorded (and committed before Telegram is called), then refunded; the job retries what fails.
        await payment_service.refund_due(session, taken.purchase.id, telegram=BotGateway(bot))
        await message.answer(t("payment-duplicate-refunded", amount=payment.total_amount))
        return
    # Again for a repeated update: a delivery that a dead process left unfinished is taken over here.
    await deliver_paid(bot, session, message.chat.id, taken.purchase, t, claimed=taken.delivery_claimed)


async def refunded_payment(message: Message, session: AsyncSession, t: Translator) -> None:
    refund = message.refunded_payment
    assert refund is not None
    purchase = await payment_service.record_refund(session, charge_id=refund.telegram_payment_charge_id)
    # A duplicate payment's refund was explained when it was paid (and took no access away).
    if purchase is not None and purchase.refund_reason is None:
        await message.answer(t("refund-received", amount=refund.total_amount))


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.callback_query.register(buy_lesson, LessonCb.filter(F.action == ItemAction.BUY))
    router.callback_query.register(buy_course, CourseCb.filter(F.action == ItemAction.BUY))
    router.callback_query.register(ask_promo_code, LessonCb.filter(F.action == ItemAction.PROMO))
    router.callback_query.register(ask_promo_code, CourseCb.filter(F.action == ItemAction.PROMO))
    router.message.register(apply_promo_code, PromoEntry.waiting_for_code, F.text, ~F.text.startswith("/"))
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, F.successful_payment)
    router.message.register(refunded_payment, F.refunded_payment)
    return router
