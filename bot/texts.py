"""Building the texts of cards and lists from catalog rows (every phrase comes from the catalogs)."""

import html
import math

from bot.i18n import Translator
from shared.models import Course, Lesson

# A card is one message (at most 4096 characters) while a description may hold 10,000 and a course any
# number of lessons: cards show the start of the description and of the lesson list.
DESCRIPTION_PREVIEW = 1000
LISTING_PREVIEW = 2000


def pages(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def _preview(text: str, limit: int = DESCRIPTION_PREVIEW) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _listing(lessons: list[Lesson]) -> str:
    lines: list[str] = []
    length = 0
    for number, lesson in enumerate(lessons, start=1):
        line = f"{number}. {_preview(lesson.title, 100)}"
        if length + len(line) > LISTING_PREVIEW:
            lines.append("…")
            break
        lines.append(html.escape(line))
        length += len(line) + 1
    return "\n".join(lines)


def lesson_card(t: Translator, lesson: Lesson, *, has_access: bool) -> str:
    lines = [f"<b>{html.escape(lesson.title)}</b>"]
    if lesson.description:
        lines.append(html.escape(_preview(lesson.description)))
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
        lines.append(html.escape(_preview(course.description)))
    listing = _listing(lessons)
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
