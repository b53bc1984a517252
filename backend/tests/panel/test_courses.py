"""The panel's courses pages: list, form, deletion, the lessons in order, roles and bad input."""

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from backend.tests.panel.conftest import csrf_of
from backend.tests.panel.test_pages import assert_no_inline_code
from shared.constants import AdminRole
from shared.models import Course, CourseLesson

SignInAs = Callable[[AdminRole], Awaitable[httpx.AsyncClient]]


async def token(client: httpx.AsyncClient, path: str = "/admin/courses/new") -> str:
    return csrf_of((await client.get(path)).text)


async def stored_order(session: AsyncSession, course_id: int) -> list[int]:
    rows = await session.scalars(
        select(CourseLesson.lesson_id)
        .where(CourseLesson.course_id == course_id)
        .order_by(CourseLesson.position)
    )
    return list(rows)


async def stored_course(session: AsyncSession, course_id: int) -> Course | None:
    return await session.scalar(
        select(Course).where(Course.id == course_id).execution_options(populate_existing=True)
    )


def titles_in_order(html: str) -> list[str]:
    return re.findall(r'data-testid="lesson-title">([^<]*)</a>', html)


async def test_list_courses_search_filter_sort(signed_in: httpx.AsyncClient, session: AsyncSession):
    await create_course(session, title="Python basics", total_price=300)
    await create_course(session, title="Python advanced", total_price=900, is_active=False)
    await create_course(session, title="Cooking", total_price=100)

    page = await signed_in.get("/admin/courses")
    assert page.status_code == 200
    assert_no_inline_code(page.text)
    assert page.text.count('data-testid="course-row"') == 3

    found = await signed_in.get("/admin/courses", params={"q": "python", "is_active": "true"})
    assert "Python basics" in found.text
    assert "Python advanced" not in found.text
    assert "Cooking" not in found.text

    by_price = await signed_in.get("/admin/courses", params={"sort": "-price"})
    assert by_price.text.index("Python advanced") < by_price.text.index("Python basics")
    assert by_price.text.index("Python basics") < by_price.text.index("Cooking")


async def test_list_courses_pages(signed_in: httpx.AsyncClient, session: AsyncSession):
    for n in range(51):
        await create_course(session, title=f"Course number {n:02d}")
    first = await signed_in.get("/admin/courses", params={"sort": "title"})
    assert first.text.count('data-testid="course-row"') == 50
    assert "1–50 of 51" in first.text
    second = await signed_in.get("/admin/courses", params={"sort": "title", "offset": 50})
    assert second.text.count('data-testid="course-row"') == 1
    assert "Course number 50" in second.text


@pytest.mark.parametrize(
    "params", [{"sort": "nonsense"}, {"offset": "-1"}, {"is_active": "maybe"}, {"offset": "x"}]
)
async def test_list_courses_bad_query_is_422(signed_in: httpx.AsyncClient, params: dict[str, str]):
    response = await signed_in.get("/admin/courses", params=params)
    assert response.status_code == 422
    assert "Invalid input" in response.text


async def test_create_course(signed_in: httpx.AsyncClient, session: AsyncSession):
    response = await signed_in.post(
        "/admin/courses/new",
        data={
            "csrf_token": await token(signed_in),
            "title": "  Guitar  ",
            "description": "Chords",
            "total_price": "300",
            "discount_price": "",
            "is_active": "true",
        },
    )
    assert response.status_code == 303
    course = await session.scalar(select(Course).where(Course.title == "Guitar"))
    assert course is not None
    assert (course.total_price, course.discount_price, course.is_active) == (300, None, True)
    assert response.headers["location"] == f"/admin/courses/{course.id}/lessons"
    page = await signed_in.get(response.headers["location"])
    assert "The course is created" in page.text


async def test_create_course_unticked_box_is_inactive(signed_in: httpx.AsyncClient, session: AsyncSession):
    form = {"csrf_token": await token(signed_in), "title": "Hidden", "total_price": "5"}
    assert (await signed_in.post("/admin/courses/new", data=form)).status_code == 303
    course = await session.scalar(select(Course).where(Course.title == "Hidden"))
    assert course is not None
    assert course.is_active is False


async def test_create_course_bad_input_keeps_values(signed_in: httpx.AsyncClient, session: AsyncSession):
    response = await signed_in.post(
        "/admin/courses/new",
        data={
            "csrf_token": await token(signed_in),
            "title": "",
            "description": "<b>kept</b>",
            "total_price": "ten",
            "discount_price": "0",
        },
    )
    assert response.status_code == 422
    assert 'data-testid="error-title"' in response.text
    assert "This field is required." in response.text or "at least 1" in response.text
    assert re.search(r'data-testid="error-total_price">Enter a whole number', response.text)
    assert 'data-testid="error-discount_price"' in response.text
    assert 'value="ten"' in response.text
    assert "&lt;b&gt;kept&lt;/b&gt;" in response.text
    assert await session.scalar(select(Course.id)) is None


async def test_create_course_discount_not_below_price(signed_in: httpx.AsyncClient):
    response = await signed_in.post(
        "/admin/courses/new",
        data={
            "csrf_token": await token(signed_in),
            "title": "A",
            "total_price": "100",
            "discount_price": "100",
        },
    )
    assert response.status_code == 422
    assert re.search(r'data-testid="error-discount_price">discount_price must be lower', response.text)
    assert 'value="100"' in response.text


async def test_edit_course(signed_in: httpx.AsyncClient, session: AsyncSession):
    course = await create_course(session, title="Old <title>", total_price=500)
    page = await signed_in.get(f"/admin/courses/{course.id}")
    assert page.status_code == 200
    assert "Old &lt;title&gt;" in page.text
    assert "Old <title>" not in page.text
    response = await signed_in.post(
        f"/admin/courses/{course.id}",
        data={
            "csrf_token": csrf_of(page.text),
            "title": "New",
            "description": "",
            "total_price": "400",
            "discount_price": "350",
        },
    )
    assert response.status_code == 303
    stored = await stored_course(session, course.id)
    assert stored is not None
    assert (stored.title, stored.total_price, stored.discount_price, stored.is_active) == (
        "New",
        400,
        350,
        False,
    )


async def test_edit_course_discount_rule_beside_field(signed_in: httpx.AsyncClient, session: AsyncSession):
    course = await create_course(session, total_price=500)
    response = await signed_in.post(
        f"/admin/courses/{course.id}",
        data={
            "csrf_token": await token(signed_in),
            "title": "Kept title",
            "total_price": "100",
            "discount_price": "200",
            "is_active": "true",
        },
    )
    assert response.status_code == 422
    assert 'data-testid="error-discount_price"' in response.text
    assert 'value="Kept title"' in response.text
    stored = await stored_course(session, course.id)
    assert stored is not None
    assert stored.total_price == 500


async def test_course_page_shows_price_beside_its_lessons(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    lessons = [await create_lesson(session, price=price) for price in (100, 150)]
    lessons.append(await create_lesson(session, price=999, is_active=False))
    course = await create_course(session, lessons, total_price=300, discount_price=200)
    for path in (f"/admin/courses/{course.id}", f"/admin/courses/{course.id}/lessons"):
        page = (await signed_in.get(path)).text
        assert re.search(r'data-testid="course-price">200 ⭐', page)
        assert re.search(r'data-testid="course-lessons-price">250 ⭐', page)
        assert re.search(r'data-testid="course-saving">50 ⭐', page)


async def test_course_without_saving_is_pointed_out(signed_in: httpx.AsyncClient, session: AsyncSession):
    course = await create_course(session, [await create_lesson(session, price=50)], total_price=80)
    page = (await signed_in.get(f"/admin/courses/{course.id}")).text
    assert re.search(r'data-testid="course-saving">0 ⭐', page)
    assert 'data-testid="no-saving"' in page


async def test_delete_course(signed_in: httpx.AsyncClient, session: AsyncSession):
    course = await create_course(session)
    page = await signed_in.get(f"/admin/courses/{course.id}")
    assert 'data-confirm="Delete the course' in page.text
    response = await signed_in.post(
        f"/admin/courses/{course.id}/delete", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/courses"
    assert await stored_course(session, course.id) is None


async def test_delete_bought_course_offers_deactivation(signed_in: httpx.AsyncClient, session: AsyncSession):
    course = await create_course(session)
    await create_purchase(session, await create_user(session), course)
    response = await signed_in.post(
        f"/admin/courses/{course.id}/delete", data={"csrf_token": await token(signed_in)}
    )
    assert response.status_code == 409
    assert "This course cannot be deleted." in response.text
    assert f'action="/admin/courses/{course.id}/deactivate"' in response.text
    assert await stored_course(session, course.id) is not None

    deactivated = await signed_in.post(
        f"/admin/courses/{course.id}/deactivate", data={"csrf_token": csrf_of(response.text)}
    )
    assert deactivated.status_code == 303
    stored = await stored_course(session, course.id)
    assert stored is not None
    assert stored.is_active is False
    again = await signed_in.post(
        f"/admin/courses/{course.id}/delete", data={"csrf_token": csrf_of(response.text)}
    )
    assert "It is already inactive" in again.text


async def test_reorder_lessons_by_drag(signed_in: httpx.AsyncClient, session: AsyncSession):
    a, b, c = [await create_lesson(session, title=f"L-{name}") for name in "abc"]
    course = await create_course(session, [a, b, c])
    page = await signed_in.get(f"/admin/courses/{course.id}/lessons")
    assert titles_in_order(page.text) == ["L-a", "L-b", "L-c"]
    # What htmx sends after a drag: the ids in their new order, the token as a header.
    response = await signed_in.post(
        f"/admin/courses/{course.id}/lessons/order",
        data={"lesson_ids": [str(c.id), str(a.id), str(b.id)]},
        headers={"X-CSRF-Token": csrf_of(page.text), "HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="course-lessons"')
    assert "<html" not in response.text
    assert titles_in_order(response.text) == ["L-c", "L-a", "L-b"]
    assert "The new order is saved." in response.text
    assert await stored_order(session, course.id) == [c.id, a.id, b.id]


async def test_reorder_lessons_stale_list_refused(signed_in: httpx.AsyncClient, session: AsyncSession):
    a, b, other = [await create_lesson(session, title=f"L-{name}") for name in "abx"]
    course = await create_course(session, [a, b])
    headers = {"X-CSRF-Token": await token(signed_in), "HX-Request": "true"}
    for ids in ([b.id], [b.id, a.id, other.id], ["x"], []):
        response = await signed_in.post(
            f"/admin/courses/{course.id}/lessons/order",
            data={"lesson_ids": [str(i) for i in ids]},
            headers=headers,
        )
        assert response.status_code == 200
        assert "were changed meanwhile" in response.text
        assert titles_in_order(response.text) == ["L-a", "L-b"]
    assert await stored_order(session, course.id) == [a.id, b.id]


@pytest.mark.parametrize(
    ("name", "direction", "expected"), [("b", "up", "bac"), ("b", "down", "acb"), ("a", "up", "abc")]
)
async def test_move_lesson_with_buttons(
    signed_in: httpx.AsyncClient, session: AsyncSession, name: str, direction: str, expected: str
):
    lessons = {n: await create_lesson(session, title=f"L-{n}") for n in "abc"}
    course = await create_course(session, list(lessons.values()))
    moved = lessons[name]
    response = await signed_in.post(
        f"/admin/courses/{course.id}/lessons/{moved.id}/move",
        data={"csrf_token": await token(signed_in), "direction": direction},
    )
    assert response.status_code == 303
    assert await stored_order(session, course.id) == [lessons[n].id for n in expected]
    page = await signed_in.get(response.headers["location"])
    assert titles_in_order(page.text) == [f"L-{n}" for n in expected]
    # The keyboard stays on the moved lesson's button.
    focused = re.search(r'<li id="lesson-(\d+)"(?:(?!</li>).)*autofocus', page.text, re.S)
    assert focused is not None
    assert int(focused.group(1)) == moved.id


async def test_move_lesson_bad_input(signed_in: httpx.AsyncClient, session: AsyncSession):
    a, outside = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [a])
    csrf = await token(signed_in)
    bad_direction = await signed_in.post(
        f"/admin/courses/{course.id}/lessons/{a.id}/move", data={"csrf_token": csrf, "direction": "sideways"}
    )
    assert bad_direction.status_code == 422
    not_in_course = await signed_in.post(
        f"/admin/courses/{course.id}/lessons/{outside.id}/move", data={"csrf_token": csrf, "direction": "up"}
    )
    assert not_in_course.status_code == 404


async def test_add_lesson(signed_in: httpx.AsyncClient, session: AsyncSession):
    inside = await create_lesson(session, title="Inside")
    extra = await create_lesson(session, title="Extra <lesson>")
    course = await create_course(session, [inside])
    page = await signed_in.get(f"/admin/courses/{course.id}/lessons")
    choices = page.text[page.text.index('id="lesson_id"') :]
    assert f'value="{extra.id}"' in choices
    assert f'value="{inside.id}"' not in choices
    assert "Extra &lt;lesson&gt;" in choices
    response = await signed_in.post(
        f"/admin/courses/{course.id}/lessons",
        data={"csrf_token": csrf_of(page.text), "lesson_id": str(extra.id)},
    )
    assert response.status_code == 303
    assert await stored_order(session, course.id) == [inside.id, extra.id]


async def test_add_lesson_search(signed_in: httpx.AsyncClient, session: AsyncSession):
    await create_lesson(session, title="Scales")
    await create_lesson(session, title="Chords")
    course = await create_course(session)
    page = await signed_in.get(f"/admin/courses/{course.id}/lessons", params={"lesson_q": "chor"})
    choices = page.text[page.text.index('id="lesson_id"') :]
    assert "Chords" in choices
    assert "Scales" not in choices


@pytest.mark.parametrize(
    ("value", "message"), [("", "This field is required."), ("abc", "Enter a whole number.")]
)
async def test_add_lesson_bad_input_beside_field(
    signed_in: httpx.AsyncClient, session: AsyncSession, value: str, message: str
):
    course = await create_course(session)
    await create_lesson(session)
    response = await signed_in.post(
        f"/admin/courses/{course.id}/lessons", data={"csrf_token": await token(signed_in), "lesson_id": value}
    )
    assert response.status_code == 422
    assert re.search(rf'data-testid="error-lesson_id">{re.escape(message)}', response.text)


async def test_add_lesson_unknown_or_present_beside_field(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    inside = await create_lesson(session)
    course = await create_course(session, [inside])
    csrf = await token(signed_in)
    for lesson_id in ("99999", str(inside.id)):
        response = await signed_in.post(
            f"/admin/courses/{course.id}/lessons", data={"csrf_token": csrf, "lesson_id": lesson_id}
        )
        assert response.status_code == 422
        assert 'data-testid="error-lesson_id"' in response.text
    assert await stored_order(session, course.id) == [inside.id]


async def test_remove_lesson(signed_in: httpx.AsyncClient, session: AsyncSession):
    a, b = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [a, b])
    page = await signed_in.get(f"/admin/courses/{course.id}/lessons")
    assert 'data-confirm="Remove the lesson' in page.text
    response = await signed_in.post(
        f"/admin/courses/{course.id}/lessons/{a.id}/remove", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert await stored_order(session, course.id) == [b.id]
    missing = await signed_in.post(
        f"/admin/courses/{course.id}/lessons/{a.id}/remove", data={"csrf_token": csrf_of(page.text)}
    )
    assert missing.status_code == 404


ROUTES = [
    ("GET", "/admin/courses"),
    ("GET", "/admin/courses/new"),
    ("POST", "/admin/courses/new"),
    ("GET", "/admin/courses/{id}"),
    ("POST", "/admin/courses/{id}"),
    ("POST", "/admin/courses/{id}/delete"),
    ("POST", "/admin/courses/{id}/deactivate"),
    ("GET", "/admin/courses/{id}/lessons"),
    ("POST", "/admin/courses/{id}/lessons"),
    ("POST", "/admin/courses/{id}/lessons/order"),
    ("POST", "/admin/courses/{id}/lessons/{lesson}/move"),
    ("POST", "/admin/courses/{id}/lessons/{lesson}/remove"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_support_cannot_use_courses(
    signed_in_as: SignInAs, session: AsyncSession, method: str, path: str
):
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    client = await signed_in_as(AdminRole.SUPPORT)
    url = path.format(id=course.id, lesson=lesson.id)
    csrf = csrf_of((await client.get("/admin")).text)
    data = {
        "csrf_token": csrf,
        "title": "X",
        "total_price": "1",
        "direction": "up",
        "lesson_id": str(lesson.id),
    }
    response = await client.request(method, url, data=data if method == "POST" else None)
    assert response.status_code == 403
    stored = await stored_course(session, course.id)
    assert stored is not None
    assert stored.title == course.title
    assert await stored_order(session, course.id) == [lesson.id]


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]])
async def test_unknown_course_is_404(signed_in: httpx.AsyncClient, method: str, path: str):
    csrf = await token(signed_in)
    for course_id in ("99999", "abc", "0"):
        url = path.format(id=course_id, lesson=1)
        response = await signed_in.request(
            method, url, data={"csrf_token": csrf} if method == "POST" else None
        )
        assert response.status_code == 404, (url, response.status_code)
        assert "Page not found" in response.text


async def test_manager_may_use_courses(signed_in_as: SignInAs, session: AsyncSession):
    client = await signed_in_as(AdminRole.MANAGER)
    course = await create_course(session)
    assert (await client.get("/admin/courses")).status_code == 200
    assert (await client.get(f"/admin/courses/{course.id}/lessons")).status_code == 200


async def test_post_without_csrf_is_refused(signed_in: httpx.AsyncClient, session: AsyncSession):
    course = await create_course(session)
    response = await signed_in.post(f"/admin/courses/{course.id}/delete")
    assert response.status_code == 403
    assert await stored_course(session, course.id) is not None
