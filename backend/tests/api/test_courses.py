"""/api/courses: the public catalog (active courses, their active lessons in order), CRUD and the
management of a course's ordered lessons."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.tests.api import (
    assert_invalid,
    assert_page,
    assert_rule_violation,
    count,
    fresh,
    ids,
)
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.models import Course, CourseLesson, Lesson
from shared.utils import utcnow

COURSE_FIELDS = {
    "id",
    "title",
    "description",
    "total_price",
    "discount_price",
    "effective_price",
    "lessons_price",
    "lesson_count",
    "is_active",
    "lessons",
    "created_at",
    "updated_at",
}
COURSE_LESSON_FIELDS = {"position", "id", "title", "price", "is_free", "is_active"}


def lesson_ids(course_body: dict) -> list[int]:
    return [lesson["id"] for lesson in course_body["lessons"]]


async def stored_order(session, course_id: int) -> list[int]:
    """The course's lesson ids by position, as stored now."""
    await session.commit()
    rows = await session.scalars(
        select(CourseLesson.lesson_id)
        .where(CourseLesson.course_id == course_id)
        .order_by(CourseLesson.position)
    )
    return list(rows)


# The public catalog --------------------------------------------------------------------------------------


async def test_read_courses_anonymous_only_active(client, session):
    active = await create_course(session, title="On sale")
    await create_course(session, title="Withdrawn", is_active=False)
    response = await client.get("/api/courses/")
    assert_page(response, total=1)
    assert ids(response) == [active.id]
    hidden = await client.get("/api/courses/", params={"is_active": "false"})
    assert ids(hidden) == [active.id]


async def test_read_courses_anonymous_only_active_lessons_in_order(client, session):
    first = await create_lesson(session, title="First", price=30, text_content="secret one")
    hidden = await create_lesson(session, title="Hidden", price=40, is_active=False)
    third = await create_lesson(session, title="Third", price=0, is_free=True)
    course = await create_course(session, lessons=[first, hidden, third], total_price=60)
    for response in (await client.get("/api/courses/"), await client.get(f"/api/courses/{course.id}")):
        assert response.status_code == 200
        body = response.json()["items"][0] if "items" in response.json() else response.json()
        assert set(body) == COURSE_FIELDS
        assert lesson_ids(body) == [first.id, third.id]
        assert [lesson["position"] for lesson in body["lessons"]] == [0, 2]
        assert body["lesson_count"] == 2
        assert all(set(lesson) == COURSE_LESSON_FIELDS for lesson in body["lessons"])
        assert "secret" not in response.text


async def test_read_course_admin_sees_inactive_lessons(client, admin_headers, session):
    first = await create_lesson(session)
    hidden = await create_lesson(session, is_active=False)
    course = await create_course(session, lessons=[first, hidden])
    body = (await client.get(f"/api/courses/{course.id}", headers=admin_headers)).json()
    assert lesson_ids(body) == [first.id, hidden.id]
    assert body["lesson_count"] == 2
    assert body["lessons"][1]["is_active"] is False


async def test_read_course_prices(client, session):
    paid = await create_lesson(session, price=30)
    other = await create_lesson(session, price=45)
    free = await create_lesson(session, price=0, is_free=True)
    course = await create_course(session, lessons=[paid, other, free], total_price=70, discount_price=50)
    body = (await client.get(f"/api/courses/{course.id}")).json()
    assert (body["total_price"], body["discount_price"], body["effective_price"]) == (70, 50, 50)
    assert body["lessons_price"] == 75
    assert body["lesson_count"] == 3


async def test_read_course_without_discount(client, session):
    course = await create_course(session, total_price=70)
    body = (await client.get(f"/api/courses/{course.id}")).json()
    assert (body["discount_price"], body["effective_price"], body["lessons_price"], body["lessons"]) == (
        None,
        70,
        0,
        [],
    )


async def test_read_course_anonymous_inactive_not_found(client, admin_headers, session):
    course = await create_course(session, is_active=False)
    response = await client.get(f"/api/courses/{course.id}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Course {course.id} not found"}
    admin = await client.get(f"/api/courses/{course.id}", headers=admin_headers)
    assert admin.status_code == 200
    assert admin.json()["is_active"] is False


async def test_read_course_not_found(client):
    response = await client.get("/api/courses/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Course 999999 not found"}


async def test_read_courses_admin_filter_is_active(client, admin_headers, session):
    active = await create_course(session)
    inactive = await create_course(session, is_active=False)
    everything = await client.get("/api/courses/", headers=admin_headers)
    assert set(ids(everything)) == {active.id, inactive.id}
    only_inactive = await client.get("/api/courses/", params={"is_active": "false"}, headers=admin_headers)
    assert ids(only_inactive) == [inactive.id]


async def test_read_courses_filter_effective_price(client, session):
    discounted = await create_course(session, total_price=100, discount_price=40)
    plain = await create_course(session, total_price=60)
    response = await client.get("/api/courses/", params={"price_max": 50})
    assert ids(response) == [discounted.id]
    assert ids(await client.get("/api/courses/", params={"price_min": 50})) == [plain.id]


async def test_read_courses_search(client, session):
    python = await create_course(session, title="Python", description="snakes")
    await create_course(session, title="Go", description="gophers")
    described = await create_course(session, title="Misc", description="some PYTHON too")
    response = await client.get("/api/courses/", params={"q": "python"})
    assert set(ids(response)) == {python.id, described.id}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("price", ["b", "a"]), ("-price", ["a", "b"]), ("title", ["a", "b"]), ("created_at", ["b", "a"])],
)
async def test_read_courses_sort(client, session, sort, expected):
    now = utcnow()
    await create_course(session, title="a", total_price=90, created_at=now)
    await create_course(session, title="b", total_price=20, created_at=now - timedelta(hours=1))
    response = await client.get("/api/courses/", params={"sort": sort})
    assert [item["title"] for item in response.json()["items"]] == expected


async def test_read_courses_pagination(client, session):
    courses = [await create_course(session) for _ in range(3)]
    response = await client.get("/api/courses/", params={"sort": "id", "limit": 2, "offset": 1})
    assert_page(response, total=3, limit=2, offset=1)
    assert ids(response) == [course.id for course in courses[1:]]
    beyond = await client.get("/api/courses/", params={"offset": 3})
    assert beyond.json() == {"items": [], "total": 3, "total_exact": True, "limit": 20, "offset": 3}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"sort": "discount_price"}, ["query", "sort"]),
        ({"price_min": -5}, ["query", "price_min"]),
        ({"q": "\x00"}, ["query", "q"]),
    ],
)
async def test_read_courses_invalid_query(client, params, loc):
    assert_invalid(await client.get("/api/courses/", params=params), *loc)


# Create --------------------------------------------------------------------------------------------------


async def test_create_course(client, admin_headers, session):
    lessons = [await create_lesson(session, price=price) for price in (10, 20, 30)]
    payload = {
        "title": "Bundle",
        "description": "All of it",
        "total_price": 50,
        "discount_price": 45,
        "lesson_ids": [lessons[2].id, lessons[0].id, lessons[1].id],
    }
    response = await client.post("/api/courses/", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == COURSE_FIELDS
    assert (body["title"], body["total_price"], body["discount_price"], body["effective_price"]) == (
        "Bundle",
        50,
        45,
        45,
    )
    assert lesson_ids(body) == payload["lesson_ids"]
    assert [lesson["position"] for lesson in body["lessons"]] == [0, 1, 2]
    assert (body["lessons_price"], body["lesson_count"], body["is_active"]) == (60, 3, True)
    assert await stored_order(session, body["id"]) == payload["lesson_ids"]


async def test_create_course_without_lessons(client, admin_headers, session):
    response = await client.post(
        "/api/courses/", json={"title": "Empty", "total_price": 5}, headers=admin_headers
    )
    assert response.status_code == 201
    assert (response.json()["lessons"], response.json()["discount_price"]) == ([], None)
    assert await count(session, Course) == 1


async def test_create_course_unknown_lesson(client, admin_headers, session):
    lesson = await create_lesson(session)
    response = await client.post(
        "/api/courses/",
        json={"title": "C", "total_price": 5, "lesson_ids": [lesson.id, 999999]},
        headers=admin_headers,
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Lesson 999999 not found"}
    assert await count(session, Course) == 0


async def test_create_course_repeated_lesson(client, admin_headers, session):
    lesson = await create_lesson(session)
    response = await client.post(
        "/api/courses/",
        json={"title": "C", "total_price": 5, "lesson_ids": [lesson.id, lesson.id]},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "lesson_ids must not repeat a lesson"}
    assert await count(session, Course) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total_price": 0}, "total_price"),
        ({"total_price": "10"}, "total_price"),
        ({"total_price": 10.0}, "total_price"),
        ({"total_price": 1_000_001}, "total_price"),
        ({"discount_price": 0}, "discount_price"),
        ({"discount_price": False}, "discount_price"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"lesson_ids": [0]}, "lesson_ids"),
        ({"lesson_ids": "1,2"}, "lesson_ids"),
        ({"lesson_ids": ["1"]}, "lesson_ids"),
        ({"lessons": []}, "lessons"),
    ],
)
async def test_create_course_invalid_field(client, admin_headers, session, changes, field):
    response = await client.post(
        "/api/courses/", json={"title": "C", "total_price": 10} | changes, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert any(loc[:2] == ["body", field] for loc in (e["loc"] for e in response.json()["detail"])), (
        response.text
    )
    assert await count(session, Course) == 0


@pytest.mark.parametrize("discount_price", [10, 11])
async def test_create_course_discount_not_below_total(client, admin_headers, session, discount_price):
    response = await client.post(
        "/api/courses/",
        json={"title": "C", "total_price": 10, "discount_price": discount_price},
        headers=admin_headers,
    )
    assert_rule_violation(response, "discount_price must be lower than total_price")
    assert await count(session, Course) == 0


# Update --------------------------------------------------------------------------------------------------


async def test_update_course_partial(client, admin_headers, session):
    lesson = await create_lesson(session)
    course = await create_course(session, lessons=[lesson], title="Old", total_price=100, discount_price=80)
    response = await client.put(f"/api/courses/{course.id}", json={"title": "New"}, headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["total_price"], body["discount_price"], lesson_ids(body)) == (
        "New",
        100,
        80,
        [lesson.id],
    )
    assert (await fresh(session, Course, course.id)).title == "New"


async def test_update_course_clear_discount(client, admin_headers, session):
    course = await create_course(session, total_price=100, discount_price=80)
    response = await client.put(
        f"/api/courses/{course.id}", json={"discount_price": None}, headers=admin_headers
    )
    assert (response.json()["discount_price"], response.json()["effective_price"]) == (None, 100)
    assert (await fresh(session, Course, course.id)).discount_price is None


@pytest.mark.parametrize(
    "payload", [{"discount_price": 100}, {"total_price": 80}, {"total_price": 50, "discount_price": 60}]
)
async def test_update_course_discount_not_below_total(client, admin_headers, session, payload):
    course = await create_course(session, total_price=100, discount_price=80)
    response = await client.put(f"/api/courses/{course.id}", json=payload, headers=admin_headers)
    assert response.status_code == 422
    assert response.json() == {"detail": "discount_price must be lower than total_price"}
    stored = await fresh(session, Course, course.id)
    assert (stored.total_price, stored.discount_price) == (100, 80)


async def test_update_course_deactivate(client, admin_headers, session):
    course = await create_course(session)
    response = await client.put(f"/api/courses/{course.id}", json={"is_active": False}, headers=admin_headers)
    assert response.json()["is_active"] is False
    assert (await client.get(f"/api/courses/{course.id}")).status_code == 404


@pytest.mark.parametrize("field", ["title", "total_price", "is_active", "description"])
async def test_update_course_null_required_field(client, admin_headers, session, field):
    course = await create_course(session, title="Kept")
    response = await client.put(f"/api/courses/{course.id}", json={field: None}, headers=admin_headers)
    assert_rule_violation(response, f"{field} may not be null")
    assert (await fresh(session, Course, course.id)).title == "Kept"


async def test_update_course_lesson_ids_not_accepted(client, admin_headers, session):
    course = await create_course(session)
    response = await client.put(f"/api/courses/{course.id}", json={"lesson_ids": []}, headers=admin_headers)
    assert_invalid(response, "body", "lesson_ids")


async def test_update_course_not_found(client, admin_headers):
    response = await client.put("/api/courses/999999", json={"title": "X"}, headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Course 999999 not found"}


# Delete --------------------------------------------------------------------------------------------------


async def test_delete_course(client, admin_headers, session):
    lesson = await create_lesson(session)
    course = await create_course(session, lessons=[lesson])
    response = await client.delete(f"/api/courses/{course.id}", headers=admin_headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/courses/{course.id}", headers=admin_headers)).status_code == 404
    assert await fresh(session, Course, course.id) is None
    # Its lessons stay in the catalog; only the links go.
    assert await fresh(session, Lesson, lesson.id) is not None
    assert await count(session, CourseLesson) == 0


async def test_delete_course_with_purchase(client, admin_headers, session):
    user = await create_user(session)
    course = await create_course(session, lessons=[await create_lesson(session)])
    purchase = await create_purchase(session, user, course)
    response = await client.delete(f"/api/courses/{course.id}", headers=admin_headers)
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Course {course.id} has purchases; deactivate it with is_active=false instead"
    }
    kept = await client.get(f"/api/purchases/{purchase.id}", headers=admin_headers)
    assert kept.status_code == 200
    assert kept.json()["course_id"] == course.id
    assert await fresh(session, Course, course.id) is not None
    assert await count(session, CourseLesson) == 1


async def test_delete_course_not_found(client, admin_headers):
    response = await client.delete("/api/courses/999999", headers=admin_headers)
    assert response.status_code == 404


# The course's lessons ------------------------------------------------------------------------------------


async def test_set_course_lessons_reorders(client, admin_headers, session):
    a, b, c = [await create_lesson(session) for _ in range(3)]
    course = await create_course(session, lessons=[a, b])
    response = await client.put(
        f"/api/courses/{course.id}/lessons", json={"lesson_ids": [c.id, a.id, b.id]}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert lesson_ids(response.json()) == [c.id, a.id, b.id]
    assert [lesson["position"] for lesson in response.json()["lessons"]] == [0, 1, 2]
    assert await stored_order(session, course.id) == [c.id, a.id, b.id]
    swapped = await client.put(
        f"/api/courses/{course.id}/lessons", json={"lesson_ids": [b.id, a.id]}, headers=admin_headers
    )
    assert lesson_ids(swapped.json()) == [b.id, a.id]
    assert await stored_order(session, course.id) == [b.id, a.id]


async def test_set_course_lessons_empty(client, admin_headers, session):
    course = await create_course(session, lessons=[await create_lesson(session)])
    response = await client.put(
        f"/api/courses/{course.id}/lessons", json={"lesson_ids": []}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.json()["lessons"] == []
    assert await stored_order(session, course.id) == []


async def test_set_course_lessons_unknown_lesson(client, admin_headers, session):
    a = await create_lesson(session)
    course = await create_course(session, lessons=[a])
    response = await client.put(
        f"/api/courses/{course.id}/lessons", json={"lesson_ids": [999999]}, headers=admin_headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Lesson 999999 not found"}
    assert await stored_order(session, course.id) == [a.id]


async def test_set_course_lessons_repeated(client, admin_headers, session):
    a = await create_lesson(session)
    course = await create_course(session, lessons=[a])
    response = await client.put(
        f"/api/courses/{course.id}/lessons", json={"lesson_ids": [a.id, a.id]}, headers=admin_headers
    )
    assert response.status_code == 422
    assert await stored_order(session, course.id) == [a.id]


@pytest.mark.parametrize("body", [{}, {"lesson_ids": None}, {"lesson_ids": [1], "position": 0}])
async def test_set_course_lessons_invalid_body(client, admin_headers, session, body):
    course = await create_course(session)
    assert (
        await client.put(f"/api/courses/{course.id}/lessons", json=body, headers=admin_headers)
    ).status_code == 422


async def test_set_course_lessons_course_not_found(client, admin_headers):
    response = await client.put("/api/courses/999999/lessons", json={"lesson_ids": []}, headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Course 999999 not found"}


async def test_add_course_lesson_appends(client, admin_headers, session):
    a, b = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, lessons=[a])
    response = await client.post(
        f"/api/courses/{course.id}/lessons", json={"lesson_id": b.id}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert lesson_ids(response.json()) == [a.id, b.id]
    assert await stored_order(session, course.id) == [a.id, b.id]


@pytest.mark.parametrize(("position", "expected"), [(0, "xab"), (1, "axb"), (2, "abx"), (1000, "abx")])
async def test_add_course_lesson_at_position(client, admin_headers, session, position, expected):
    lessons = {name: await create_lesson(session, title=name) for name in "abx"}
    course = await create_course(session, lessons=[lessons["a"], lessons["b"]])
    response = await client.post(
        f"/api/courses/{course.id}/lessons",
        json={"lesson_id": lessons["x"].id, "position": position},
        headers=admin_headers,
    )
    assert response.status_code == 200
    assert [lesson["title"] for lesson in response.json()["lessons"]] == list(expected)
    assert [lesson["position"] for lesson in response.json()["lessons"]] == [0, 1, 2]
    assert await stored_order(session, course.id) == [lessons[name].id for name in expected]


async def test_add_course_lesson_already_in_course(client, admin_headers, session):
    a = await create_lesson(session)
    course = await create_course(session, lessons=[a])
    response = await client.post(
        f"/api/courses/{course.id}/lessons", json={"lesson_id": a.id}, headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json() == {"detail": f"Lesson {a.id} is already in course {course.id}"}


async def test_add_course_lesson_unknown_lesson(client, admin_headers, session):
    course = await create_course(session)
    response = await client.post(
        f"/api/courses/{course.id}/lessons", json={"lesson_id": 999999}, headers=admin_headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Lesson 999999 not found"}
    assert await count(session, CourseLesson) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lesson_id": 1, "position": -1}, "position"),
        ({"lesson_id": 1, "position": 1001}, "position"),
        ({"lesson_id": "1"}, "lesson_id"),
        ({}, "lesson_id"),
        ({"lesson_id": 1, "position": "0"}, "position"),
    ],
)
async def test_add_course_lesson_invalid_body(client, admin_headers, session, body, field):
    course = await create_course(session)
    response = await client.post(f"/api/courses/{course.id}/lessons", json=body, headers=admin_headers)
    assert_invalid(response, "body", field)


async def test_remove_course_lesson(client, admin_headers, session):
    a, b, c = [await create_lesson(session) for _ in range(3)]
    course = await create_course(session, lessons=[a, b, c])
    response = await client.delete(f"/api/courses/{course.id}/lessons/{b.id}", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert lesson_ids(response.json()) == [a.id, c.id]
    assert [lesson["position"] for lesson in response.json()["lessons"]] == [0, 1]
    assert await stored_order(session, course.id) == [a.id, c.id]
    # The lesson itself stays in the catalog.
    assert await fresh(session, Lesson, b.id) is not None


async def test_remove_course_lesson_not_in_course(client, admin_headers, session):
    a, other = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, lessons=[a])
    response = await client.delete(f"/api/courses/{course.id}/lessons/{other.id}", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": f"Lesson {other.id} is not in course {course.id}"}
    assert await stored_order(session, course.id) == [a.id]


async def test_remove_course_lesson_course_not_found(client, admin_headers, session):
    lesson = await create_lesson(session)
    response = await client.delete(f"/api/courses/999999/lessons/{lesson.id}", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Course 999999 not found"}
