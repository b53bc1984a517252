"""The ceiling for bot.bench: a bare aiogram dispatcher with one handler that echoes text."""

from aiogram import Dispatcher, Router
from aiogram.types import Message


def create_echo_dispatcher() -> Dispatcher:
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher
