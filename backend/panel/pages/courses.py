"""The panel's courses pages: the list, the form, deletion (or deactivation of a bought course), and the
course's lessons in order (drag and drop, or move up/down buttons that work without a mouse or scripts)."""

from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import IdPath, Offset, Search, SessionDep
from backend.panel.deps import ManagerSession
from backend.panel.forms import YesNoFilter, field_errors, posted, yes_no
from backend.panel.pages import page_router
from backend.panel.routes import ShowPage
from backend.panel.templating import redirect, render
from backend.services import course_service, lesson_service, pricing
from backend.services.exceptions import (
    ConflictError,
    ItemInUse,
    LessonNotFound,
    NotFoundError,
    RuleViolation,
)
from shared.models import Course
from shared.schemas import CourseCreate, CourseLessonAdd, CourseLessonsSet, CourseUpdate

router = page_router("/courses")

LIST_PATH = "/admin/courses"
PAGE_SIZE = 50
CourseSort = Literal["created_at", "-created_at", "price", "-price", "title", "-title", "id", "-id"]
FIELDS = ("title", "description", "total_price", "discount_price", "is_active")
# How many lessons the "add a lesson" choice offers at once; a search narrows it.
LESSON_CHOICES = 50


async def get_course(session: SessionDep, course_id: IdPath) -> Course:
    return await course_service.get(session, course_id)


CourseDep = Annotated[Course, Depends(get_course)]


def _course_url(course: Course, page: str = "") -> str:
    return f"{LIST_PATH}/{course.id}{page}"


def _prices(course: Course) -> dict[str, int]:
    """The figures the bot shows a student: the course's price, its lessons on sale bought one by one, the
    saving."""
    return {
        "price": pricing.course_price(course),
        "lessons_price": course_service.lessons_price(course, active_only=True),
        "saving": course_service.saving(course),
    }


def _form_values(course: Course | None) -> dict[str, Any]:
    if course is None:
        return {"title": "", "description": "", "total_price": "", "discount_price": "", "is_active": True}
    return {field: getattr(course, field) for field in FIELDS}


async def _posted_course(request: Request) -> dict[str, Any]:
    """The course form as typed (to show again) and as the schema reads it (a box left unticked is false,
    an empty discount none)."""
    values = await posted(request, optional=("discount_price",))
    values.pop("csrf_token", None)
    values["is_active"] = values.get("is_active") == "true"
    return values


def _render_form(
    request: Request,
    course: Course | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    status_code: int = 200,
    in_use: bool = False,
) -> Response:
    return render(
        request,
        "courses/form.html",
        {
            "course": course,
            "values": _form_values(None) | values,
            "errors": errors or {},
            "in_use": in_use,
            "prices": _prices(course) if course is not None else None,
        },
        status_code=status_code,
    )


@router.get("")
async def read_courses(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    q: Search = None,
    is_active: YesNoFilter = "",
    sort: CourseSort = "-created_at",
    offset: Offset = 0,
) -> Response:
    page = await course_service.get_all(
        session, is_active=yes_no(is_active), search=q, sort=sort, limit=PAGE_SIZE, offset=offset
    )
    rows = [(course, _prices(course)) for course in page.items]
    return render(
        request,
        "courses/list.html",
        {
            "page": page,
            "rows": rows,
            "q": q or "",
            "is_active": is_active,
            "sort": sort,
            "offset": offset,
            "limit": PAGE_SIZE,
        },
    )


@router.get("/new")
async def new_course(request: Request, _auth: ManagerSession) -> Response:
    return _render_form(request, None, _form_values(None))


@router.post("/new")
async def create_course(request: Request, session: SessionDep, _auth: ManagerSession) -> Response:
    values = await _posted_course(request)
    try:
        data = CourseCreate.model_validate(values, strict=False)
    except ValidationError as error:
        errors = field_errors(request, error)
        if "__all__" in errors:  # the rule across the two prices: shown beside the discount
            errors.setdefault("discount_price", errors.pop("__all__"))
        return _render_form(request, None, values, errors, status_code=422)
    course = await course_service.create(session, data=data)
    return redirect(_course_url(course, "/lessons"), flash="flash-course-created")


@router.get("/{course_id}")
async def edit_course(request: Request, _auth: ManagerSession, course: CourseDep) -> Response:
    return _render_form(request, course, _form_values(course))


@router.post("/{course_id}")
async def update_course(
    request: Request, session: SessionDep, _auth: ManagerSession, course: CourseDep
) -> Response:
    values = await _posted_course(request)
    try:
        data = CourseUpdate.model_validate(values, strict=False)
    except ValidationError as error:
        return _render_form(request, course, values, field_errors(request, error), status_code=422)
    try:
        course = await course_service.update(session, course, data=data)
    except RuleViolation as error:  # the discount must stay below the price
        raise ShowPage(
            _render_form(request, course, values, {"discount_price": error.message}, status_code=422)
        ) from error
    return redirect(_course_url(course), flash="flash-course-saved")


@router.post("/{course_id}/delete")
async def delete_course(
    request: Request, session: SessionDep, _auth: ManagerSession, course: CourseDep
) -> Response:
    try:
        await course_service.delete(session, course)
    except ItemInUse as error:
        # Bought: purchase history refers to it. The page explains and offers deactivation instead.
        raise ShowPage(
            _render_form(request, course, _form_values(course), status_code=409, in_use=True)
        ) from error
    return redirect(LIST_PATH, flash="flash-course-deleted")


@router.post("/{course_id}/deactivate")
async def deactivate_course(session: SessionDep, _auth: ManagerSession, course: CourseDep) -> Response:
    await course_service.update(session, course, data=CourseUpdate(is_active=False))
    return redirect(_course_url(course), flash="flash-course-deactivated")


# The course's lessons ----------------------------------------------------------------------------------


async def _lesson_choices(session: SessionDep, course: Course, search: str | None) -> list[tuple[int, str]]:
    """Lessons that could be added, as (id, label): a page of the lessons matching the search, less those
    in the course."""
    page = await lesson_service.get_all(session, search=search, sort="title", limit=LESSON_CHOICES, offset=0)
    taken = {lesson.id for _, lesson in course_service.ordered_lessons(course)}
    return [(lesson.id, f"{lesson.title} (#{lesson.id})") for lesson in page.items if lesson.id not in taken]


async def _render_lessons(
    request: Request,
    session: SessionDep,
    course: Course,
    *,
    lesson_q: str | None = None,
    add_error: str | None = None,
    chosen: str = "",
    moved: tuple[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "courses/lessons.html",
        {
            "course": course,
            "lessons": course_service.ordered_lessons(course),
            "prices": _prices(course),
            "choices": await _lesson_choices(session, course, lesson_q),
            "lesson_q": lesson_q or "",
            "add_error": add_error,
            "chosen": chosen,
            "moved": moved,
            "notice": None,
        },
        status_code=status_code,
    )


def _render_lesson_list(request: Request, course: Course, *, notice: str | None = None) -> Response:
    """The ordered list alone, for HTMX to swap in after a drag."""
    return render(
        request,
        "courses/_lessons.html",
        {
            "course": course,
            "lessons": course_service.ordered_lessons(course),
            "notice": notice,
            "moved": None,
        },
    )


@router.get("/{course_id}/lessons")
async def read_course_lessons(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    course: CourseDep,
    lesson_q: Search = None,
    moved: Annotated[int | None, Query(ge=1)] = None,
    direction: Literal["up", "down"] = "up",
) -> Response:
    return await _render_lessons(
        request, session, course, lesson_q=lesson_q, moved=(moved, direction) if moved else None
    )


@router.post("/{course_id}/lessons")
async def add_course_lesson(
    request: Request, session: SessionDep, _auth: ManagerSession, course: CourseDep
) -> Response:
    chosen = str((await posted(request)).get("lesson_id") or "")
    try:
        data = CourseLessonAdd.model_validate({"lesson_id": chosen} if chosen else {}, strict=False)
        course = await course_service.add_lesson(session, course, lesson_id=data.lesson_id)
    except ValidationError as error:
        message = field_errors(request, error).get("lesson_id", "")
        raise ShowPage(
            await _render_lessons(request, session, course, add_error=message, chosen=chosen, status_code=422)
        ) from error
    except (LessonNotFound, RuleViolation) as error:
        raise ShowPage(
            await _render_lessons(
                request, session, course, add_error=error.message, chosen=chosen, status_code=422
            )
        ) from error
    return redirect(_course_url(course, "/lessons"), flash="flash-course-lesson-added")


@router.post("/{course_id}/lessons/order")
async def reorder_course_lessons(
    request: Request, session: SessionDep, _auth: ManagerSession, course: CourseDep
) -> Response:
    form = await request.form()
    try:
        data = CourseLessonsSet.model_validate({"lesson_ids": form.getlist("lesson_ids")}, strict=False)
        course = await course_service.reorder(session, course, lesson_ids=data.lesson_ids)
    except (ValidationError, ConflictError) as error:
        # A page opened before the course changed: show the order as it is now, and say so.
        course = await course_service.get(session, course.id)
        raise ShowPage(_render_lesson_list(request, course, notice="course-lessons-changed")) from error
    if request.headers.get("hx-request"):
        return _render_lesson_list(request, course, notice="course-lessons-order-saved")
    return redirect(_course_url(course, "/lessons"), flash="flash-course-lessons-ordered")


@router.post("/{course_id}/lessons/{lesson_id}/move")
async def move_course_lesson(
    session: SessionDep,
    _auth: ManagerSession,
    course: CourseDep,
    lesson_id: IdPath,
    direction: Annotated[Literal["up", "down"], Form()],
) -> Response:
    ids = [lesson.id for _, lesson in course_service.ordered_lessons(course)]
    if lesson_id not in ids:
        raise NotFoundError(f"Lesson {lesson_id} is not in course {course.id}")
    position = ids.index(lesson_id) + (-1 if direction == "up" else 1)
    course = await course_service.move_lesson(session, course, lesson_id=lesson_id, position=max(position, 0))
    # Back to the same button, so that a keyboard user can press it again.
    return redirect(
        f"{_course_url(course, '/lessons')}?moved={lesson_id}&direction={direction}",
        flash="flash-course-lesson-moved",
    )


@router.post("/{course_id}/lessons/{lesson_id}/remove")
async def remove_course_lesson(
    session: SessionDep, _auth: ManagerSession, course: CourseDep, lesson_id: IdPath
) -> Response:
    course = await course_service.remove_lesson(session, course, lesson_id=lesson_id)
    return redirect(_course_url(course, "/lessons"), flash="flash-course-lesson-removed")
