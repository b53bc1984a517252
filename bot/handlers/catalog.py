"""The catalog: pages of lessons and courses, edited in place, and the item cards."""

import functools
from collections.abc import Sequence
from typing import Any

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import access_service, course_service, lesson_service, pricing
from backend.services.exceptions import CourseNotFound, LessonNotFound
from bot import keyboards, texts
from bot.callbacks import CourseCb, CoursesPageCb, ItemAction, LessonCb, LessonsPageCb, MenuAction, MenuCb
from bot.i18n import Translator
from bot.screens import Reply, show
from shared.models import User


async def _page(get_all: Any, session: AsyncSession, page: int) -> tuple[Sequence[Any], int, int]:
    """The active items of a catalog page, their total, and the page shown.

    A page past the end (the catalog shrank under an old keyboard, or crafted data) shows the last one.
    """
    page = max(page, 0)
    # Past backend.services.common.TOTAL_COUNT_LIMIT items the total is a lower bound; no school's catalog
    # comes near it, and the next page's button is there as long as more items are.
    items, total, _ = await get_all(
        session, is_active=True, sort="id", limit=keyboards.PAGE_SIZE, offset=page * keyboards.PAGE_SIZE
    )
    last = texts.pages(total, keyboards.PAGE_SIZE) - 1
    if total and page > last:
        page = last
        # Past backend.services.common.TOTAL_COUNT_LIMIT items the total is a lower bound; no school's catalog
    # comes near it, and the next page's button is there as long as more items are.
    items, total, _ = await get_all(
        session, is_active=True, sort="id", limit=keyboards.PAGE_SIZE, offset=page * keyboards.PAGE_SIZE
    )
    return items, total, page


async def show_lessons_page(
    target: Message | CallbackQuery, session: AsyncSession, user: User, t: Translator, page: int
) -> Reply:
    # The public listing: what the page shows needs no lesson content.
    lessons, total, page = await _page(functools.partial(lesson_service.get_all, public=True), session, page)
    owned = await access_service.accessible_lesson_ids(session, user_id=user.id)
    count = texts.pages(total, keyboards.PAGE_SIZE)
    text = t("lessons-title", page=page + 1, pages=count) if total else t("lessons-empty")
    return await show(target, text, keyboards.lessons_page(t, lessons, page, count, owned))


async def show_courses_page(
    target: Message | CallbackQuery, session: AsyncSession, t: Translator, page: int
) -> Reply:
    courses, total, page = await _page(course_service.get_all, session, page)
    prices = {course.id: pricing.course_price(course) for course in courses}
    count = texts.pages(total, keyboards.PAGE_SIZE)
    text = t("courses-title", page=page + 1, pages=count) if total else t("courses-empty")
    return await show(target, text, keyboards.courses_page(t, courses, prices, page, count))


async def show_lesson_card(
    target: Message | CallbackQuery, session: AsyncSession, user: User, t: Translator, lesson_id: int
) -> Reply:
    try:
        lesson, has_access = await access_service.lesson_for(session, user_id=user.id, lesson_id=lesson_id)
    except LessonNotFound:
        return await show(target, t("item-not-found"), keyboards.back_to_menu(t))
    text = texts.lesson_card(t, lesson, has_access=has_access)
    return await show(target, text, keyboards.lesson_card(t, lesson, has_access=has_access))


async def show_course_card(
    target: Message | CallbackQuery, session: AsyncSession, user: User, t: Translator, course_id: int
) -> Reply:
    try:
        course, owned = await access_service.course_for(session, user_id=user.id, course_id=course_id)
    except CourseNotFound:
        return await show(target, t("item-not-found"), keyboards.back_to_menu(t))
    lessons = [lesson for _, lesson in course_service.ordered_lessons(course, active_only=not owned)]
    price = pricing.course_price(course)
    text = texts.course_card(
        t,
        course,
        lessons,
        price=price,
        lessons_price=course_service.lessons_price(course, active_only=True),
        owned=owned,
    )
    return await show(target, text, keyboards.course_card(t, course, price, lessons, owned=owned))


async def lessons_menu(query: CallbackQuery, session: AsyncSession, user: User, t: Translator) -> Reply:
    return await show_lessons_page(query, session, user, t, 0)


async def lessons_page(
    query: CallbackQuery, callback_data: LessonsPageCb, session: AsyncSession, user: User, t: Translator
) -> Reply:
    return await show_lessons_page(query, session, user, t, callback_data.page)


async def courses_menu(query: CallbackQuery, session: AsyncSession, t: Translator) -> Reply:
    return await show_courses_page(query, session, t, 0)


async def courses_page(
    query: CallbackQuery, callback_data: CoursesPageCb, session: AsyncSession, t: Translator
) -> Reply:
    return await show_courses_page(query, session, t, callback_data.page)


async def lesson_card(
    query: CallbackQuery, callback_data: LessonCb, session: AsyncSession, user: User, t: Translator
) -> Reply:
    return await show_lesson_card(query, session, user, t, callback_data.id)


async def course_card(
    query: CallbackQuery, callback_data: CourseCb, session: AsyncSession, user: User, t: Translator
) -> Reply:
    return await show_course_card(query, session, user, t, callback_data.id)


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.callback_query.register(lessons_menu, MenuCb.filter(F.action == MenuAction.LESSONS))
    router.callback_query.register(lessons_page, LessonsPageCb.filter())
    router.callback_query.register(courses_menu, MenuCb.filter(F.action == MenuAction.COURSES))
    router.callback_query.register(courses_page, CoursesPageCb.filter())
    router.callback_query.register(lesson_card, LessonCb.filter(F.action == ItemAction.SHOW))
    router.callback_query.register(course_card, CourseCb.filter(F.action == ItemAction.SHOW))
    return router
