"""Courses: the catalog is public (active courses and their active lessons); changes need an admin."""

from typing import Literal

from fastapi import APIRouter, status

from backend.api.deps import (
    DEFAULT_LIMIT,
    CourseDep,
    IdPath,
    Limit,
    Offset,
    OptionalAdmin,
    PriceFilter,
    Search,
    SessionDep,
    require_manager,
)
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import course_service, pricing
from shared.models import Course
from shared.schemas import (
    CourseCreate,
    CourseLessonAdd,
    CourseLessonRead,
    CourseLessonsSet,
    CourseList,
    CourseRead,
    CourseUpdate,
)

router = APIRouter(prefix="/courses", tags=["courses"], responses={**RULE_VIOLATION})
admin_only = {"dependencies": [require_manager], "responses": {**UNAUTHORIZED, **FORBIDDEN, **NOT_FOUND}}

CourseSort = Literal["created_at", "-created_at", "price", "-price", "title", "-title", "id", "-id"]


def course_read(course: Course, *, public: bool) -> CourseRead:
    """A course with its ordered lessons; the public sees only the active ones."""
    lessons = [
        CourseLessonRead(
            position=position,
            id=lesson.id,
            title=lesson.title,
            price=lesson.price,
            is_free=lesson.is_free,
            is_active=lesson.is_active,
        )
        for position, lesson in course_service.ordered_lessons(course, active_only=public)
    ]
    return CourseRead(
        id=course.id,
        title=course.title,
        description=course.description,
        total_price=course.total_price,
        discount_price=course.discount_price,
        effective_price=pricing.course_price(course),
        lessons_price=course_service.lessons_price(course, active_only=public),
        is_active=course.is_active,
        lessons=lessons,
        created_at=course.created_at,
        updated_at=course.updated_at,
    )


@router.get(
    "/", summary="List courses with their lessons (anonymous: active ones)", responses={**UNAUTHORIZED}
)
async def read_courses(
    session: SessionDep,
    admin: OptionalAdmin,
    is_active: bool | None = None,
    price_min: PriceFilter = None,
    price_max: PriceFilter = None,
    q: Search = None,
    sort: CourseSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CourseList:
    page = await course_service.get_all(
        session,
        is_active=is_active if admin else True,
        price_min=price_min,
        price_max=price_max,
        search=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    items = [course_read(course, public=admin is None) for course in page.items]
    return CourseList(items=items, total=page.total, total_exact=page.total_exact, limit=limit, offset=offset)


@router.get(
    "/{course_id}", summary="A course with its ordered lessons", responses={**UNAUTHORIZED, **NOT_FOUND}
)
async def read_course(session: SessionDep, admin: OptionalAdmin, course_id: IdPath) -> CourseRead:
    course = await course_service.get(session, course_id, active_only=admin is None)
    return course_read(course, public=admin is None)


@router.post(
    "/",
    summary="Create a course, optionally with its ordered lesson_ids",
    status_code=status.HTTP_201_CREATED,
    **admin_only,
)
async def create_course(session: SessionDep, data: CourseCreate) -> CourseRead:
    return course_read(await course_service.create(session, data=data), public=False)


@router.put("/{course_id}", summary="Update a course (only the fields given)", **admin_only)
async def update_course(session: SessionDep, course: CourseDep, data: CourseUpdate) -> CourseRead:
    return course_read(await course_service.update(session, course, data=data), public=False)


@router.delete(
    "/{course_id}",
    summary="Delete a course nobody bought (409 otherwise: deactivate it instead)",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
)
async def delete_course(session: SessionDep, course: CourseDep) -> None:
    await course_service.delete(session, course)


@router.put(
    "/{course_id}/lessons", summary="Replace the course's lessons with this ordered list", **admin_only
)
async def set_course_lessons(session: SessionDep, course: CourseDep, data: CourseLessonsSet) -> CourseRead:
    return course_read(
        await course_service.set_lessons(session, course, lesson_ids=data.lesson_ids), public=False
    )


@router.post("/{course_id}/lessons", summary="Insert a lesson into the course at a position", **admin_only)
async def add_course_lesson(session: SessionDep, course: CourseDep, data: CourseLessonAdd) -> CourseRead:
    updated = await course_service.add_lesson(
        session, course, lesson_id=data.lesson_id, position=data.position
    )
    return course_read(updated, public=False)


@router.delete("/{course_id}/lessons/{lesson_id}", summary="Take a lesson out of the course", **admin_only)
async def remove_course_lesson(session: SessionDep, course: CourseDep, lesson_id: IdPath) -> CourseRead:
    return course_read(await course_service.remove_lesson(session, course, lesson_id=lesson_id), public=False)
