"""Inline keyboards, one function per screen."""

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

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
)
from bot.i18n import Translator
from shared.models import Course, Lesson, Purchase

PAGE_SIZE = 5


def main_menu(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t.plain("menu-lessons"), callback_data=MenuCb(action=MenuAction.LESSONS))
    builder.button(text=t.plain("menu-courses"), callback_data=MenuCb(action=MenuAction.COURSES))
    builder.button(text=t.plain("menu-library"), callback_data=MenuCb(action=MenuAction.LIBRARY))
    builder.button(text=t.plain("menu-support"), callback_data=MenuCb(action=MenuAction.SUPPORT))
    builder.button(text=t.plain("menu-help"), callback_data=MenuCb(action=MenuAction.HELP))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def back_to_menu(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t.plain("button-menu"), callback_data=MenuCb(action=MenuAction.MAIN))
    return builder.as_markup()


def _pager(builder: InlineKeyboardBuilder, t: Translator, page: int, pages: int, make_cb: type) -> int:
    buttons = 0
    if page > 0:
        builder.button(text=t.plain("button-previous"), callback_data=make_cb(page=page - 1))
        buttons += 1
    if page + 1 < pages:
        builder.button(text=t.plain("button-next"), callback_data=make_cb(page=page + 1))
        buttons += 1
    return buttons


def lessons_page(
    t: Translator, lessons: Sequence[Lesson], page: int, pages: int, owned: set[int]
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for lesson in lessons:
        if lesson.is_free:
            label = t.plain("lesson-button-free", title=lesson.title)
        elif lesson.id in owned:
            label = t.plain("lesson-button-owned", title=lesson.title)
        else:
            label = t.plain("lesson-button-paid", title=lesson.title, price=lesson.price)
        builder.button(text=label, callback_data=LessonCb(id=lesson.id, action=ItemAction.SHOW))
    nav = _pager(builder, t, page, pages, LessonsPageCb)
    builder.button(text=t.plain("button-menu"), callback_data=MenuCb(action=MenuAction.MAIN))
    builder.adjust(*([1] * len(lessons)), *([nav] if nav else []), 1)
    return builder.as_markup()


def courses_page(
    t: Translator, courses: Sequence[Course], prices: dict[int, int], page: int, pages: int
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for course in courses:
        builder.button(
            text=t.plain("course-button", title=course.title, price=prices[course.id]),
            callback_data=CourseCb(id=course.id, action=ItemAction.SHOW),
        )
    nav = _pager(builder, t, page, pages, CoursesPageCb)
    builder.button(text=t.plain("button-menu"), callback_data=MenuCb(action=MenuAction.MAIN))
    builder.adjust(*([1] * len(courses)), *([nav] if nav else []), 1)
    return builder.as_markup()


def lesson_card(t: Translator, lesson: Lesson, *, has_access: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if has_access:
        builder.button(
            text=t.plain("button-open"), callback_data=LessonCb(id=lesson.id, action=ItemAction.OPEN)
        )
    else:
        builder.button(
            text=t.plain("button-buy", price=lesson.price),
            callback_data=LessonCb(id=lesson.id, action=ItemAction.BUY),
        )
        builder.button(
            text=t.plain("button-promo"), callback_data=LessonCb(id=lesson.id, action=ItemAction.PROMO)
        )
    builder.button(text=t.plain("button-catalog"), callback_data=MenuCb(action=MenuAction.LESSONS))
    builder.adjust(1)
    return builder.as_markup()


def course_card(
    t: Translator, course: Course, price: int, lessons: Sequence[Lesson], *, owned: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if owned:
        for lesson in lessons:
            builder.button(text=lesson.title, callback_data=LessonCb(id=lesson.id, action=ItemAction.OPEN))
    else:
        builder.button(
            text=t.plain("button-buy", price=price),
            callback_data=CourseCb(id=course.id, action=ItemAction.BUY),
        )
        builder.button(
            text=t.plain("button-promo"), callback_data=CourseCb(id=course.id, action=ItemAction.PROMO)
        )
    builder.button(text=t.plain("button-courses"), callback_data=MenuCb(action=MenuAction.COURSES))
    builder.adjust(1)
    return builder.as_markup()


def library_page(t: Translator, lessons: Sequence[Lesson], page: int, pages: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for lesson in lessons:
        builder.button(text=lesson.title, callback_data=LessonCb(id=lesson.id, action=ItemAction.OPEN))
    nav = _pager(builder, t, page, pages, LibraryPageCb)
    builder.button(text=t.plain("button-menu"), callback_data=MenuCb(action=MenuAction.MAIN))
    builder.adjust(*([1] * len(lessons)), *([nav] if nav else []), 1)
    return builder.as_markup()


def open_lessons(t: Translator, lessons: Sequence[Lesson]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for lesson in lessons:
        builder.button(text=lesson.title, callback_data=LessonCb(id=lesson.id, action=ItemAction.OPEN))
    builder.button(text=t.plain("button-menu"), callback_data=MenuCb(action=MenuAction.MAIN))
    builder.adjust(1)
    return builder.as_markup()


def paysupport_purchases(t: Translator, purchases: Sequence[tuple[Purchase, str]]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for purchase, title in purchases:
        builder.button(
            text=t.plain("paysupport-purchase-button", id=purchase.id, title=title, amount=purchase.amount),
            callback_data=PaySupportCb(purchase_id=purchase.id),
        )
    builder.button(text=t.plain("button-menu"), callback_data=MenuCb(action=MenuAction.MAIN))
    builder.adjust(1)
    return builder.as_markup()
