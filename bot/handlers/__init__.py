"""The bot's routers, in the order they are tried (catch-alls last)."""

from aiogram import Router

from bot.handlers import catalog, chat_member, errors, fallback, library, payments, start, support


def create_routers() -> list[Router]:
    """New routers for one dispatcher (aiogram lets a router belong to one only)."""
    return [
        module.create_router()
        for module in (errors, chat_member, start, payments, catalog, library, support, fallback)
    ]
