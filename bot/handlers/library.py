"""My lessons: everything the user can open, and opening a lesson (only with access)."""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import access_service, lesson_service
from backend.services.exceptions import LessonNotFound
from bot import keyboards, texts
from bot.callbacks import ItemAction, LessonCb, LibraryPageCb, MenuAction, MenuCb
from bot.delivery import send_lesson
from bot.handlers.catalog import show_lesson_card
from bot.i18n import Translator
from bot.screens import Reply, show
from shared.models import User


async def show_library(
    target: Message | CallbackQuery, session: AsyncSession, user: User, t: Translator, page: int
) -> Reply:
    lessons = await access_service.library(session, user_id=user.id)
    count = texts.pages(len(lessons), keyboards.PAGE_SIZE)
    page = min(max(page, 0), count - 1)
    shown = lessons[page * keyboards.PAGE_SIZE : (page + 1) * keyboards.PAGE_SIZE]
    text = t("library-title", count=len(lessons)) if lessons else t("library-empty")
    return await show(target, text, keyboards.library_page(t, shown, page, count))


async def library_command(message: Message, session: AsyncSession, user: User, t: Translator) -> Reply:
    return await show_library(message, session, user, t, 0)


async def library_menu(query: CallbackQuery, session: AsyncSession, user: User, t: Translator) -> Reply:
    return await show_library(query, session, user, t, 0)


async def library_page(
    query: CallbackQuery, callback_data: LibraryPageCb, session: AsyncSession, user: User, t: Translator
) -> Reply:
    return await show_library(query, session, user, t, callback_data.page)


async def open_lesson(
    query: CallbackQuery, callback_data: LessonCb, bot: Bot, session: AsyncSession, user: User, t: Translator
) -> Reply:
    # The button may be old or crafted: access is checked here, every time.
    try:
        lesson = await lesson_service.get(session, callback_data.id)
    except LessonNotFound:
        return query.answer(t.plain("item-not-found"), show_alert=True)
    if not await access_service.can_access_lesson(session, user_id=user.id, lesson=lesson):
        await query.answer(t.plain("lesson-locked"), show_alert=True)
        if isinstance(query.message, Message):
            return await show_lesson_card(query.message, session, user, t, lesson.id)
        return None
    await query.answer()
    await send_lesson(bot, session, user.telegram_id, lesson, t)
    return None


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.message.register(library_command, Command("mylessons"))
    router.callback_query.register(library_menu, MenuCb.filter(F.action == MenuAction.LIBRARY))
    router.callback_query.register(library_page, LibraryPageCb.filter())
    router.callback_query.register(open_lesson, LessonCb.filter(F.action == ItemAction.OPEN))
    return router
