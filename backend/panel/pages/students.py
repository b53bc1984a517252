"""The panel's students pages: the list with search, a student's profile (purchases, tickets), grants."""

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import IdPath, Offset, Search, SessionDep
from backend.api.users import UserSort
from backend.panel.deps import MANAGER, ManagerSession, StaffSession
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import (
    course_service,
    lesson_service,
    purchase_service,
    support_ticket_service,
    user_service,
)
from backend.services.exceptions import AlreadyPurchased, CourseNotFound, LessonNotFound
from shared.models import User
from shared.schemas import GrantCreate

router = page_router("/students")

LIMIT = 50
# The lessons and courses offered in the grant form (by title); a store with more finds them by id.
GRANT_CHOICES_LIMIT = 500
PROFILE_PURCHASES = 50
PROFILE_TICKETS = 20


@router.get("")
async def list_students(
    request: Request,
    session: SessionDep,
    _auth: StaffSession,
    q: Search = None,
    sort: UserSort = "-created_at",
    offset: Offset = 0,
) -> Response:
    page = await user_service.get_all(session, search=q, sort=sort, limit=LIMIT, offset=offset)
    return render(
        request,
        "students/list.html",
        {"page": page, "q": q or "", "sort": sort, "offset": offset, "limit": LIMIT},
    )


async def _grant_choices(session: SessionDep) -> dict[str, list[tuple[str, str]]]:
    lessons = await lesson_service.get_all(session, sort="title", limit=GRANT_CHOICES_LIMIT, offset=0)
    courses = await course_service.get_all(session, sort="title", limit=GRANT_CHOICES_LIMIT, offset=0)
    return {
        "lessons": [(f"lesson:{lesson.id}", f"{lesson.title} (#{lesson.id})") for lesson in lessons.items],
        "courses": [(f"course:{course.id}", f"{course.title} (#{course.id})") for course in courses.items],
    }


async def _profile(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    offset: int = 0,
    grant: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    purchases = await purchase_service.get_all(
        session, user_id=user.id, with_items=True, limit=PROFILE_PURCHASES, offset=offset
    )
    tickets = await support_ticket_service.get_all(session, user_id=user.id, limit=PROFILE_TICKETS, offset=0)
    panel_user = request.state.panel_user
    context = {
        "student": user,
        "purchases": purchases,
        "tickets": tickets,
        "offset": offset,
        "limit": PROFILE_PURCHASES,
        "manager": panel_user.may(MANAGER),
        "grant": grant or {"value": "", "error": None},
        "choices": await _grant_choices(session) if panel_user.may(MANAGER) else None,
        "here": str(request.url.path),
    }
    return render(request, "students/profile.html", context, status_code=status_code)


@router.get("/{user_id}")
async def read_student(
    request: Request,
    session: SessionDep,
    _auth: StaffSession,
    user_id: IdPath,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    user = await user_service.get(session, user_id)
    return await _profile(request, session, user, offset=offset)


def _grant_data(item: str) -> dict[str, int | str]:
    """The posted choice "lesson:3" / "course:5" as GrantCreate's fields (ids as numbers: its ids are
    strict, as JSON's)."""
    kind, _, item_id = item.partition(":")
    if kind in ("lesson", "course") and item_id:
        return {
            f"{kind}_id": int(item_id)
            if item_id.isdecimal() and item_id.isascii() and len(item_id) <= 18
            else item_id
        }
    return {}


@router.post("/{user_id}/grants")
async def grant_item(
    request: Request, session: SessionDep, auth: ManagerSession, user_id: IdPath
) -> Response:
    user = await user_service.get(session, user_id)
    form = await posted(request)
    item = str(form.get("item") or "")
    try:
        data = GrantCreate.model_validate(_grant_data(item))
    except ValidationError as error:
        message = next(iter(field_errors(request, error).values()))
        return await _profile(
            request, session, user, grant={"value": item, "error": message}, status_code=422
        )
    try:
        await purchase_service.grant(session, user_id=user.id, data=data, admin_id=auth.admin.id)
    except (LessonNotFound, CourseNotFound, AlreadyPurchased) as error:
        owned = isinstance(error, AlreadyPurchased)
        t = panel_translator(language_of(request)).plain
        message = t("students-grant-owned") if owned else t("students-grant-unknown")
        grant = {"value": item, "error": message}
        return await _profile(request, session, user, grant=grant, status_code=409 if owned else 422)
    return redirect(f"/admin/students/{user.id}", flash="flash-students-granted")
