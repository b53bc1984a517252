"""Typed callback data: what each inline button asks for (Telegram allows 64 bytes)."""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class MenuAction(StrEnum):
    MAIN = "main"
    LESSONS = "lessons"
    COURSES = "courses"
    LIBRARY = "library"
    SUPPORT = "support"
    HELP = "help"


class ItemAction(StrEnum):
    SHOW = "show"
    BUY = "buy"
    PROMO = "promo"
    OPEN = "open"


class MenuCb(CallbackData, prefix="m"):
    action: MenuAction


class LessonsPageCb(CallbackData, prefix="lp"):
    page: int


class CoursesPageCb(CallbackData, prefix="cp"):
    page: int


class LibraryPageCb(CallbackData, prefix="lib"):
    page: int


class LessonCb(CallbackData, prefix="l"):
    id: int
    action: ItemAction


class CourseCb(CallbackData, prefix="c"):
    id: int
    action: ItemAction


class PaySupportCb(CallbackData, prefix="ps"):
    purchase_id: int


class TicketAction(StrEnum):
    REPLY = "reply"
    CLOSE = "close"


class TicketCb(CallbackData, prefix="tk"):
    """The buttons under an admin's answer: reply to the ticket (reopening it if closed), or close it."""

    id: int
    action: TicketAction
