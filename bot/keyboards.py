"""Inline keyboards, one function per screen.

Built as plain rows of buttons rather than with aiogram's InlineKeyboardBuilder, which copies and
re-validates every button (profiled at several percent of the bot's CPU); the menus that are the same for
everyone are built once per language.
"""

from collections.abc import Sequence
from functools import lru_cache

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import (
    CourseCb,
    CoursesPageCb,
    ItemAction,
    LessonCb,
    LessonsPageCb,
    LibraryPageCb,
    MenuAction,
    MenuCb,
    PaySupportCb,
    TicketAction,
    TicketCb,
)
from bot.i18n import LANGUAGES, Translator
from shared.models import Course, Lesson, Purchase

PAGE_SIZE = 5

Button = tuple[str, CallbackData]


def _markup(*rows: Sequence[Button]) -> InlineKeyboardMarkup:
    """A keyboard of the given rows (empty rows are left out)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data.pack()) for text, data in row]
            for row in rows
            if row
        ]
    )


def _column(buttons: Sequence[Button]) -> list[list[Button]]:
    return [[button] for button in buttons]


@lru_cache(maxsize=len(LANGUAGES))
def main_menu(t: Translator) -> InlineKeyboardMarkup:
    return _markup(
        [
            (t.plain("menu-lessons"), MenuCb(action=MenuAction.LESSONS)),
            (t.plain("menu-courses"), MenuCb(action=MenuAction.COURSES)),
        ],
        [
            (t.plain("menu-library"), MenuCb(action=MenuAction.LIBRARY)),
            (t.plain("menu-support"), MenuCb(action=MenuAction.SUPPORT)),
        ],
        [(t.plain("menu-help"), MenuCb(action=MenuAction.HELP))],
    )


@lru_cache(maxsize=len(LANGUAGES))
def back_to_menu(t: Translator) -> InlineKeyboardMarkup:
    return _markup([_menu_button(t)])


def _menu_button(t: Translator) -> Button:
    return (t.plain("button-menu"), MenuCb(action=MenuAction.MAIN))


def _pager(t: Translator, page: int, pages: int, make_cb: type) -> list[Button]:
    """Previous and next page buttons, where there is such a page."""
    row: list[Button] = []
    if page > 0:
        row.append((t.plain("button-previous"), make_cb(page=page - 1)))
    if page + 1 < pages:
        row.append((t.plain("button-next"), make_cb(page=page + 1)))
    return row


def _lesson_label(t: Translator, lesson: Lesson, owned: set[int]) -> str:
    if lesson.is_free:
        return t.plain("lesson-button-free", title=lesson.title)
    if lesson.id in owned:
        return t.plain("lesson-button-owned", title=lesson.title)
    return t.plain("lesson-button-paid", title=lesson.title, price=lesson.price)


def _open_buttons(lessons: Sequence[Lesson]) -> list[Button]:
    return [(lesson.title, LessonCb(id=lesson.id, action=ItemAction.OPEN)) for lesson in lessons]


def lessons_page(
    t: Translator, lessons: Sequence[Lesson], page: int, pages: int, owned: set[int]
) -> InlineKeyboardMarkup:
    items = [
        (_lesson_label(t, lesson, owned), LessonCb(id=lesson.id, action=ItemAction.SHOW))
        for lesson in lessons
    ]
    return _markup(*_column(items), _pager(t, page, pages, LessonsPageCb), [_menu_button(t)])


def courses_page(
    t: Translator, courses: Sequence[Course], prices: dict[int, int], page: int, pages: int
) -> InlineKeyboardMarkup:
    items = [
        (
            t.plain("course-button", title=course.title, price=prices[course.id]),
            CourseCb(id=course.id, action=ItemAction.SHOW),
        )
        for course in courses
    ]
    return _markup(*_column(items), _pager(t, page, pages, CoursesPageCb), [_menu_button(t)])


def lesson_card(t: Translator, lesson: Lesson, *, has_access: bool) -> InlineKeyboardMarkup:
    buttons: list[Button]
    if has_access:
        buttons = [(t.plain("button-open"), LessonCb(id=lesson.id, action=ItemAction.OPEN))]
    else:
        buttons = [
            (t.plain("button-buy", price=lesson.price), LessonCb(id=lesson.id, action=ItemAction.BUY)),
            (t.plain("button-promo"), LessonCb(id=lesson.id, action=ItemAction.PROMO)),
        ]
    buttons.append((t.plain("button-catalog"), MenuCb(action=MenuAction.LESSONS)))
    return _markup(*_column(buttons))


def course_card(
    t: Translator, course: Course, price: int, lessons: Sequence[Lesson], *, owned: bool
) -> InlineKeyboardMarkup:
    buttons: list[Button]
    if owned:
        buttons = _open_buttons(lessons)
    else:
        buttons = [
            (t.plain("button-buy", price=price), CourseCb(id=course.id, action=ItemAction.BUY)),
            (t.plain("button-promo"), CourseCb(id=course.id, action=ItemAction.PROMO)),
        ]
    buttons.append((t.plain("button-courses"), MenuCb(action=MenuAction.COURSES)))
    return _markup(*_column(buttons))


def library_page(t: Translator, lessons: Sequence[Lesson], page: int, pages: int) -> InlineKeyboardMarkup:
    return _markup(*_column(_open_buttons(lessons)), _pager(t, page, pages, LibraryPageCb), [_menu_button(t)])


def open_lessons(t: Translator, lessons: Sequence[Lesson]) -> InlineKeyboardMarkup:
    return _markup(*_column([*_open_buttons(lessons), _menu_button(t)]))


def paysupport_purchases(t: Translator, purchases: Sequence[tuple[Purchase, str]]) -> InlineKeyboardMarkup:
    buttons: list[Button] = [
        (
            t.plain("paysupport-purchase-button", id=purchase.id, title=title, amount=purchase.amount),
            PaySupportCb(purchase_id=purchase.id),
        )
        for purchase, title in purchases
    ]
    return _markup(*_column([*buttons, _menu_button(t)]))


def ticket_answer(t: Translator, ticket_id: int) -> InlineKeyboardMarkup:
    return _markup(
        [
            (t.plain("support-reply-button"), TicketCb(id=ticket_id, action=TicketAction.REPLY)),
            (t.plain("support-close-button"), TicketCb(id=ticket_id, action=TicketAction.CLOSE)),
        ]
    )


def ticket_open(t: Translator, ticket_id: int) -> InlineKeyboardMarkup:
    """Under the reminder that a ticket is open: close it (to start another with /support)."""
    return _markup(
        [(t.plain("support-close-button"), TicketCb(id=ticket_id, action=TicketAction.CLOSE))],
        [_menu_button(t)],
    )
