"""/start (with deep links to a lesson or course, or an admin's link to their Telegram account), the main
menu, /help, /terms, /privacy."""

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import admin_telegram_service
from backend.services.exceptions import InvalidLinkToken
from bot import keyboards
from bot.callbacks import MenuAction, MenuCb
from bot.handlers.catalog import show_course_card, show_lesson_card
from bot.i18n import Translator
from bot.screens import Reply, show
from shared.models import User


async def start_deep_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    user: User,
    t: Translator,
) -> Reply:
    await state.clear()
    kind, item_id = (command.args or "").split("_")
    if kind == "lesson":
        return await show_lesson_card(message, session, user, t, int(item_id))
    else:
        return await show_course_card(message, session, user, t, int(item_id))


async def start_admin_link(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession, t: Translator
) -> Reply:
    await state.clear()
    assert message.from_user is not None  # the filter lets only private chats through
    token = (command.args or "").removeprefix(admin_telegram_service.START_PREFIX)
    try:
        admin = await admin_telegram_service.link(session, token=token, telegram_id=message.from_user.id)
    except InvalidLinkToken:
        return message.answer(t("admin-link-invalid"))
    return message.answer(t("admin-link-done", username=admin.username))


async def start(message: Message, state: FSMContext, user: User, t: Translator) -> Reply:
    # /start is everyone's way out: a half-finished support request or promo code entry is dropped.
    await state.clear()
    return message.answer(t("welcome", name=user.first_name), reply_markup=keyboards.main_menu(t))


async def main_menu(query: CallbackQuery, user: User, t: Translator) -> Reply:
    return await show(query, t("welcome", name=user.first_name), keyboards.main_menu(t))


async def help_command(message: Message, t: Translator) -> Reply:
    return message.answer(t("help"), reply_markup=keyboards.back_to_menu(t))


async def help_button(query: CallbackQuery, t: Translator) -> Reply:
    return await show(query, t("help"), keyboards.back_to_menu(t))


async def terms(message: Message, t: Translator) -> Reply:
    return message.answer(t("terms"))


async def privacy(message: Message, t: Translator) -> Reply:
    return message.answer(t("privacy"))


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.message.register(
        start_deep_link, CommandStart(deep_link=True, magic=F.args.regexp(r"^(lesson|course)_(\d{1,9})$"))
    )
    router.message.register(
        start_admin_link,
        CommandStart(
            deep_link=True,
            magic=F.args.regexp(
                f"^{admin_telegram_service.START_PREFIX}{admin_telegram_service.TOKEN_PATTERN}$"
            ),
        ),
        F.chat.type == "private",
    )
    router.message.register(start, CommandStart())
    router.callback_query.register(main_menu, MenuCb.filter(F.action == MenuAction.MAIN))
    router.message.register(help_command, Command("help"))
    router.callback_query.register(help_button, MenuCb.filter(F.action == MenuAction.HELP))
    router.message.register(terms, Command("terms"))
    router.message.register(privacy, Command("privacy"))
    return router
