"""The bot's routers, in the order they are tried (catch-alls last)."""

from aiogram import Router

from bot.handlers import catalog, errors, fallback, library, payments, start, support


def get_routers() -> list[Router]:
    return [
        errors.router,
        start.router,
        payments.router,
        catalog.router,
        library.router,
        support.router,
        fallback.router,
    ]
