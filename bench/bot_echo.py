"""The ceiling for bench.bot_bench: a bare aiogram bot that echoes text, served as a webhook.

As aiogram's own webhook example does it (aiohttp with SimpleRequestHandler), with two choices that make it
comparable with the real bot: each update is handled before the webhook request is answered (as
backend/api/telegram.py does), and the event loop is uvloop's (as uvicorn's).

Run by bench.bot_bench:  python -m bench.bot_echo --port 8701
(TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL and WEBHOOK_SECRET from the environment).
"""

import argparse
import os

import uvloop
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

WEBHOOK_PATH = "/webhook"


def create_echo_dispatcher() -> Dispatcher:
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    api = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], session=AiohttpSession(api=api))
    dispatcher = create_echo_dispatcher()
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher,
        bot=bot,
        handle_in_background=False,
        secret_token=os.environ["WEBHOOK_SECRET"],
    ).register(app, path=WEBHOOK_PATH)
    setup_application(app, dispatcher, bot=bot)
    web.run_app(
        app, host="127.0.0.1", port=args.port, print=None, access_log=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
