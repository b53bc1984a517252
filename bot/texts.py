"""Building the texts of cards and lists from catalog rows (every phrase comes from the catalogs)."""

import html
import math

from bot.i18n import Translator
from shared.models import Course, Lesson


def pages(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def lesson_card(t: Translator, lesson: Lesson, *, has_access: bool) -> str:
    lines = [f"<b>{html.escape(lesson.title)}</b>"]
    if lesson.description:
        lines.append(html.escape(lesson.description))
    kinds = [t("lesson-kind-video")] if lesson.video_path else []
    if lesson.text_content:
        kinds.append(t("lesson-kind-text"))
    if kinds:
        lines.append(", ".join(kinds))
    if lesson.is_free:
        lines.append(t("price-free"))
    elif has_access:
        lines.append(t("lesson-owned"))
    else:
        lines.append(t("price", price=lesson.price))
    return "\n\n".join(lines)


def course_card(
    t: Translator, course: Course, lessons: list[Lesson], *, price: int, lessons_price: int, owned: bool
) -> str:
    lines = [f"<b>{html.escape(course.title)}</b>"]
    if course.description:
        lines.append(html.escape(course.description))
    listing = "\n".join(f"{n}. {html.escape(lesson.title)}" for n, lesson in enumerate(lessons, start=1))
    lines.append(t("course-lessons", count=len(lessons)) + ("\n" + listing if listing else ""))
    if owned:
        lines.append(t("course-owned"))
    else:
        if course.discount_price is not None:
            lines.append(t("price-discounted", old=course.total_price, price=price))
        else:
            lines.append(t("price", price=price))
        if lessons_price > price:
            lines.append(t("course-saving", saving=lessons_price - price, separately=lessons_price))
    return "\n\n".join(lines)
