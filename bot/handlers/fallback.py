"""Catch-alls, tried after every other router: no message or button press is left without an answer."""

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.i18n import Translator
from bot.screens import Reply


async def unknown_message(message: Message, t: Translator) -> Reply:
    return message.answer(t("fallback-message"), reply_markup=keyboards.main_menu(t))


async def unknown_button(query: CallbackQuery, t: Translator) -> Reply:
    # A keyboard from an older version of the bot, or crafted data: Telegram shows a spinner until answered.
    return query.answer(t.plain("button-outdated"), show_alert=True)


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.message.register(unknown_message)
    router.callback_query.register(unknown_button)
    return router
