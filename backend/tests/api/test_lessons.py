"""/api/lessons: the public catalog (active lessons, never paid content) and the admin's CRUD."""

from datetime import timedelta

import pytest

from backend.tests.api import (
    assert_invalid,
    assert_page,
    assert_rule_violation,
    count,
    fresh,
    ids,
)
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.models import CourseLesson, Lesson, Purchase
from shared.utils import utcnow

CONTENT_FIELDS = {"video_path", "text_content"}
PUBLIC_FIELDS = {
    "id",
    "title",
    "description",
    "price",
    "is_free",
    "is_active",
    "has_video",
    "has_text",
    "created_at",
    "updated_at",
}


async def make_catalog(session) -> dict[str, Lesson]:
    """An active paid, an active free and an inactive lesson, all with content."""
    now = utcnow()
    return {
        "paid": await create_lesson(
            session,
            title="Paid",
            price=50,
            video_path="videos/paid.mp4",
            text_content="paid secret",
            created_at=now - timedelta(minutes=3),
        ),
        "free": await create_lesson(
            session,
            title="Free",
            price=0,
            is_free=True,
            video_path="videos/free.mp4",
            text_content="free text",
            created_at=now - timedelta(minutes=2),
        ),
        "inactive": await create_lesson(
            session,
            title="Hidden",
            price=70,
            is_active=False,
            text_content="hidden secret",
            created_at=now - timedelta(minutes=1),
        ),
    }


# The public catalog --------------------------------------------------------------------------------------


async def test_read_lessons_anonymous_only_active_without_content(client, session):
    lessons = await make_catalog(session)
    response = await client.get("/api/lessons/")
    assert_page(response, total=2)
    assert ids(response) == [lessons["free"].id, lessons["paid"].id]
    for item in response.json()["items"]:
        assert set(item) == PUBLIC_FIELDS
        assert not CONTENT_FIELDS & set(item)
    assert "secret" not in response.text
    assert "free text" not in response.text
    assert "videos/" not in response.text
    paid = next(item for item in response.json()["items"] if item["id"] == lessons["paid"].id)
    assert (paid["has_video"], paid["has_text"], paid["price"]) == (True, True, 50)


async def test_read_lessons_anonymous_inactive_filter_ignored(client, session):
    lessons = await make_catalog(session)
    response = await client.get("/api/lessons/", params={"is_active": "false"})
    assert response.status_code == 200
    assert set(ids(response)) == {lessons["paid"].id, lessons["free"].id}
    assert response.json()["total"] == 2


@pytest.mark.parametrize("kind", ["paid", "free"])
async def test_read_lesson_anonymous_without_content(client, session, kind):
    lesson = (await make_catalog(session))[kind]
    response = await client.get(f"/api/lessons/{lesson.id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert lesson.text_content not in response.text
    assert (body["id"], body["title"], body["has_video"], body["has_text"]) == (
        lesson.id,
        lesson.title,
        True,
        True,
    )


async def test_read_lesson_anonymous_inactive_not_found(client, session):
    lesson = (await make_catalog(session))["inactive"]
    response = await client.get(f"/api/lessons/{lesson.id}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Lesson {lesson.id} not found"}


async def test_read_lesson_not_found(client):
    response = await client.get("/api/lessons/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Lesson 999999 not found"}


async def test_read_lessons_admin_sees_all_with_content(client, admin_headers, session):
    lessons = await make_catalog(session)
    response = await client.get("/api/lessons/", headers=admin_headers)
    assert_page(response, total=3)
    items = {item["id"]: item for item in response.json()["items"]}
    assert set(items) == {lesson.id for lesson in lessons.values()}
    assert set(items[lessons["paid"].id]) == PUBLIC_FIELDS | CONTENT_FIELDS
    assert items[lessons["paid"].id]["text_content"] == "paid secret"
    assert items[lessons["paid"].id]["video_path"] == "videos/paid.mp4"
    assert items[lessons["inactive"].id]["is_active"] is False


async def test_read_lessons_admin_filter_is_active(client, admin_headers, session):
    lessons = await make_catalog(session)
    inactive = await client.get("/api/lessons/", params={"is_active": "false"}, headers=admin_headers)
    assert ids(inactive) == [lessons["inactive"].id]
    active = await client.get("/api/lessons/", params={"is_active": "true"}, headers=admin_headers)
    assert set(ids(active)) == {lessons["paid"].id, lessons["free"].id}


async def test_read_lesson_admin_inactive_with_content(client, admin_headers, session):
    lesson = (await make_catalog(session))["inactive"]
    response = await client.get(f"/api/lessons/{lesson.id}", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["text_content"] == "hidden secret"
    assert response.json()["video_path"] is None
    assert response.json()["has_video"] is False


# Filters, sorting, paging --------------------------------------------------------------------------------


async def test_read_lessons_filter_is_free(client, session):
    lessons = await make_catalog(session)
    assert ids(await client.get("/api/lessons/", params={"is_free": "true"})) == [lessons["free"].id]
    assert ids(await client.get("/api/lessons/", params={"is_free": "false"})) == [lessons["paid"].id]


async def test_read_lessons_filter_price_range(client, session):
    cheap = await create_lesson(session, price=10)
    middle = await create_lesson(session, price=50)
    dear = await create_lesson(session, price=90)
    response = await client.get("/api/lessons/", params={"price_min": 10, "price_max": 50, "sort": "price"})
    assert ids(response) == [cheap.id, middle.id]
    assert ids(await client.get("/api/lessons/", params={"price_min": 51})) == [dear.id]
    assert ids(await client.get("/api/lessons/", params={"price_min": 60, "price_max": 40})) == []


@pytest.mark.parametrize(
    ("q", "expected"),
    [("python", {"Python basics", "Advanced"}), ("BASICS", {"Python basics"}), ("50%", {"Sale"})],
)
async def test_read_lessons_search(client, session, q, expected):
    await create_lesson(session, title="Python basics", description="start here")
    await create_lesson(session, title="Advanced", description="more PYTHON")
    await create_lesson(session, title="Sale", description="now 50% off")
    await create_lesson(session, title="Other", description="500 things")
    response = await client.get("/api/lessons/", params={"q": q})
    assert {item["title"] for item in response.json()["items"]} == expected
    assert response.json()["total"] == len(expected)


@pytest.mark.parametrize("q", ["привет", "ПРИВЕТ", "über"])
async def test_read_lessons_search_non_ascii_ignores_case(client, session, q):
    lesson = await create_lesson(session, title="Привет, мир", description="Über alles")
    response = await client.get("/api/lessons/", params={"q": q})
    assert ids(response) == [lesson.id]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", ["b", "c", "a"]),
        ("-price", ["a", "c", "b"]),
        ("title", ["a", "b", "c"]),
        ("-title", ["c", "b", "a"]),
        ("created_at", ["c", "a", "b"]),
        ("-created_at", ["b", "a", "c"]),
    ],
)
async def test_read_lessons_sort(client, session, sort, expected):
    now = utcnow()
    await create_lesson(session, title="a", price=30, created_at=now - timedelta(hours=2))
    await create_lesson(session, title="b", price=10, created_at=now - timedelta(hours=1))
    await create_lesson(session, title="c", price=20, created_at=now - timedelta(hours=3))
    response = await client.get("/api/lessons/", params={"sort": sort})
    assert [item["title"] for item in response.json()["items"]] == expected


async def test_read_lessons_default_sort_newest_first(client, session):
    now = utcnow()
    old = await create_lesson(session, created_at=now - timedelta(days=1))
    new = await create_lesson(session, created_at=now)
    assert ids(await client.get("/api/lessons/")) == [new.id, old.id]


async def test_read_lessons_sort_ties_stable(client, session):
    lessons = [await create_lesson(session, price=10) for _ in range(4)]
    pages = [
        ids(await client.get("/api/lessons/", params={"sort": "price", "limit": 2, "offset": offset}))
        for offset in (0, 2)
    ]
    assert pages[0] + pages[1] == [lesson.id for lesson in lessons]


async def test_read_lessons_pagination(client, session):
    lessons = [await create_lesson(session) for _ in range(5)]
    response = await client.get("/api/lessons/", params={"sort": "id", "limit": 2, "offset": 2})
    assert_page(response, total=5, limit=2, offset=2)
    assert ids(response) == [lesson.id for lesson in lessons[2:4]]
    beyond = await client.get("/api/lessons/", params={"offset": 5})
    assert beyond.json() == {"items": [], "total": 5, "total_exact": True, "limit": 20, "offset": 5}
    largest = await client.get("/api/lessons/", params={"limit": 100})
    assert_page(largest, total=5, limit=100)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"offset": 1_000_001}, ["query", "offset"]),
        ({"sort": "video_path"}, ["query", "sort"]),
        ({"sort": "price,title"}, ["query", "sort"]),
        ({"price_min": -1}, ["query", "price_min"]),
        ({"price_max": 1_000_001}, ["query", "price_max"]),
        ({"price_min": "abc"}, ["query", "price_min"]),
        ({"is_free": "sometimes"}, ["query", "is_free"]),
        ({"q": "a\x00b"}, ["query", "q"]),
        ({"q": "x" * 101}, ["query", "q"]),
    ],
)
async def test_read_lessons_invalid_query(client, params, loc):
    assert_invalid(await client.get("/api/lessons/", params=params), *loc)


# Create --------------------------------------------------------------------------------------------------


async def test_create_lesson(client, admin_headers, session):
    payload = {
        "title": "Intro",
        "description": "First steps",
        "price": 25,
        "video_path": "videos/intro.mp4",
        "text_content": "Hello",
    }
    response = await client.post("/api/lessons/", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {key: body[key] for key in payload} == payload
    assert (body["is_active"], body["is_free"], body["has_video"], body["has_text"]) == (
        True,
        False,
        True,
        True,
    )
    stored = await fresh(session, Lesson, body["id"])
    assert (stored.title, stored.price, stored.video_path, stored.text_content) == (
        "Intro",
        25,
        "videos/intro.mp4",
        "Hello",
    )


async def test_create_lesson_defaults(client, admin_headers):
    response = await client.post("/api/lessons/", json={"title": "T", "price": 1}, headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert (
        body["description"],
        body["video_path"],
        body["text_content"],
        body["has_video"],
        body["has_text"],
    ) == (
        "",
        None,
        None,
        False,
        False,
    )


async def test_create_lesson_free_with_zero_price(client, admin_headers):
    response = await client.post(
        "/api/lessons/", json={"title": "Gift", "is_free": True, "price": 0}, headers=admin_headers
    )
    assert response.status_code == 201
    assert (response.json()["is_free"], response.json()["price"]) == (True, 0)


@pytest.mark.parametrize("price", [1, 1_000_000])
async def test_create_lesson_price_bounds(client, admin_headers, price):
    response = await client.post("/api/lessons/", json={"title": "T", "price": price}, headers=admin_headers)
    assert response.status_code == 201
    assert response.json()["price"] == price


@pytest.mark.parametrize("price", ["abc", "5", True, 1.5, 5.0, -1, 1_000_001, None, [5], {"stars": 5}])
async def test_create_lesson_invalid_price(client, admin_headers, session, price):
    response = await client.post("/api/lessons/", json={"title": "T", "price": price}, headers=admin_headers)
    assert_invalid(response, "body", "price")
    assert await count(session, Lesson) == 0


async def test_create_lesson_paid_with_zero_price(client, admin_headers, session):
    response = await client.post("/api/lessons/", json={"title": "T", "price": 0}, headers=admin_headers)
    assert_rule_violation(response, "price must be at least 1 Star")
    assert await count(session, Lesson) == 0


async def test_create_lesson_paid_without_price(client, admin_headers):
    response = await client.post("/api/lessons/", json={"title": "T"}, headers=admin_headers)
    assert_rule_violation(response, "price")


async def test_create_lesson_paid_with_zero_price_names_field(client, admin_headers):
    response = await client.post("/api/lessons/", json={"title": "T", "price": 0}, headers=admin_headers)
    assert_invalid(response, "body", "price")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 5}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"description": "d" * 10_001}, "description"),
        ({"video_path": ""}, "video_path"),
        ({"video_path": "v" * 1001}, "video_path"),
        ({"text_content": "a\x00"}, "text_content"),
        ({"is_free": "true"}, "is_free"),
        ({"is_active": 0}, "is_active"),
        ({"has_video": True}, "has_video"),
        ({"id": 7}, "id"),
    ],
)
async def test_create_lesson_invalid_field(client, admin_headers, session, changes, field):
    response = await client.post(
        "/api/lessons/", json={"title": "T", "price": 5} | changes, headers=admin_headers
    )
    assert_invalid(response, "body", field)
    assert await count(session, Lesson) == 0


async def test_create_lesson_missing_title(client, admin_headers):
    assert_invalid(
        await client.post("/api/lessons/", json={"price": 5}, headers=admin_headers), "body", "title"
    )


async def test_create_lesson_longest_title(client, admin_headers):
    response = await client.post(
        "/api/lessons/", json={"title": "x" * 200, "price": 5}, headers=admin_headers
    )
    assert response.status_code == 201
    assert response.json()["title"] == "x" * 200


async def test_create_lesson_strips_title(client, admin_headers):
    response = await client.post(
        "/api/lessons/", json={"title": "  Intro  ", "price": 5}, headers=admin_headers
    )
    assert response.json()["title"] == "Intro"


async def test_create_lesson_blank_title(client, admin_headers, session):
    response = await client.post("/api/lessons/", json={"title": "   ", "price": 5}, headers=admin_headers)
    assert_invalid(response, "body", "title")
    assert await count(session, Lesson) == 0


# Update --------------------------------------------------------------------------------------------------


async def test_update_lesson_partial(client, admin_headers, session):
    lesson = await create_lesson(session, title="Old", price=40, text_content="Body", description="D")
    response = await client.put(f"/api/lessons/{lesson.id}", json={"title": "New"}, headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["price"], body["text_content"], body["description"]) == (
        "New",
        40,
        "Body",
        "D",
    )
    stored = await fresh(session, Lesson, lesson.id)
    assert (stored.title, stored.price, stored.text_content) == ("New", 40, "Body")


async def test_update_lesson_price_and_deactivate(client, admin_headers, session):
    lesson = await create_lesson(session, price=40)
    response = await client.put(
        f"/api/lessons/{lesson.id}", json={"price": 99, "is_active": False}, headers=admin_headers
    )
    assert (response.json()["price"], response.json()["is_active"]) == (99, False)
    stored = await fresh(session, Lesson, lesson.id)
    assert (stored.price, stored.is_active) == (99, False)
    # Gone from the public catalog, still there for the admin.
    assert (await client.get(f"/api/lessons/{lesson.id}")).status_code == 404
    assert (await client.get(f"/api/lessons/{lesson.id}", headers=admin_headers)).status_code == 200


async def test_update_lesson_clear_content(client, admin_headers, session):
    lesson = await create_lesson(session, video_path="v.mp4", text_content="T")
    response = await client.put(
        f"/api/lessons/{lesson.id}", json={"video_path": None, "text_content": None}, headers=admin_headers
    )
    assert response.status_code == 200
    assert (response.json()["has_video"], response.json()["has_text"]) == (False, False)
    stored = await fresh(session, Lesson, lesson.id)
    assert (stored.video_path, stored.text_content) == (None, None)


async def test_update_lesson_zero_price_on_paid_lesson(client, admin_headers, session):
    lesson = await create_lesson(session, price=40)
    response = await client.put(f"/api/lessons/{lesson.id}", json={"price": 0}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json() == {"detail": "price must be at least 1 Star unless is_free is true"}
    assert (await fresh(session, Lesson, lesson.id)).price == 40


async def test_update_lesson_make_free(client, admin_headers, session):
    lesson = await create_lesson(session, price=40)
    response = await client.put(
        f"/api/lessons/{lesson.id}", json={"is_free": True, "price": 0}, headers=admin_headers
    )
    assert response.status_code == 200
    stored = await fresh(session, Lesson, lesson.id)
    assert (stored.is_free, stored.price) == (True, 0)


async def test_update_lesson_free_to_paid_needs_price(client, admin_headers, session):
    lesson = await create_lesson(session, price=0, is_free=True)
    response = await client.put(f"/api/lessons/{lesson.id}", json={"is_free": False}, headers=admin_headers)
    assert_rule_violation(response, "price must be at least 1 Star")
    assert (await fresh(session, Lesson, lesson.id)).is_free is True


@pytest.mark.parametrize("field", ["title", "description", "price", "is_active", "is_free"])
async def test_update_lesson_null_required_field(client, admin_headers, session, field):
    lesson = await create_lesson(session, title="Kept")
    response = await client.put(f"/api/lessons/{lesson.id}", json={field: None}, headers=admin_headers)
    assert_rule_violation(response, f"{field} may not be null")
    assert (await fresh(session, Lesson, lesson.id)).title == "Kept"


async def test_update_lesson_null_title_names_field(client, admin_headers, session):
    lesson = await create_lesson(session)
    response = await client.put(f"/api/lessons/{lesson.id}", json={"title": None}, headers=admin_headers)
    assert_invalid(response, "body", "title")


@pytest.mark.parametrize("price", ["7", 7.5, True, -3, 1_000_001])
async def test_update_lesson_invalid_price(client, admin_headers, session, price):
    lesson = await create_lesson(session, price=40)
    response = await client.put(f"/api/lessons/{lesson.id}", json={"price": price}, headers=admin_headers)
    assert_invalid(response, "body", "price")
    assert (await fresh(session, Lesson, lesson.id)).price == 40


async def test_update_lesson_not_found(client, admin_headers):
    response = await client.put("/api/lessons/999999", json={"title": "X"}, headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Lesson 999999 not found"}


# Delete --------------------------------------------------------------------------------------------------


async def test_delete_lesson(client, admin_headers, session):
    lesson = await create_lesson(session)
    response = await client.delete(f"/api/lessons/{lesson.id}", headers=admin_headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/lessons/{lesson.id}", headers=admin_headers)).status_code == 404
    assert await fresh(session, Lesson, lesson.id) is None
    assert (await client.delete(f"/api/lessons/{lesson.id}", headers=admin_headers)).status_code == 404


async def test_delete_lesson_in_course_without_purchases(client, admin_headers, session):
    lesson, kept = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, lessons=[lesson, kept])
    assert (await client.delete(f"/api/lessons/{lesson.id}", headers=admin_headers)).status_code == 204
    detail = await client.get(f"/api/courses/{course.id}", headers=admin_headers)
    assert [item["id"] for item in detail.json()["lessons"]] == [kept.id]
    assert await count(session, CourseLesson) == 1


async def test_delete_lesson_with_purchase(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson)
    response = await client.delete(f"/api/lessons/{lesson.id}", headers=admin_headers)
    assert response.status_code == 409
    assert "has purchases" in response.json()["detail"]
    assert "is_active=false" in response.json()["detail"]
    kept = await client.get(f"/api/purchases/{purchase.id}", headers=admin_headers)
    assert kept.status_code == 200
    assert kept.json()["lesson_id"] == lesson.id
    assert await fresh(session, Lesson, lesson.id) is not None


async def test_delete_lesson_with_failed_purchase(client, admin_headers, session):
    # Any purchase row is history: even a failed one keeps the lesson.
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, status="failed")
    assert (await client.delete(f"/api/lessons/{lesson.id}", headers=admin_headers)).status_code == 409


async def test_delete_lesson_in_purchased_course(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, lessons=[lesson])
    purchase = await create_purchase(session, user, course)
    response = await client.delete(f"/api/lessons/{lesson.id}", headers=admin_headers)
    assert response.status_code == 409
    assert "through a course" in response.json()["detail"]
    assert (await client.get(f"/api/purchases/{purchase.id}", headers=admin_headers)).status_code == 200
    assert await count(session, Purchase) == 1
    assert await count(session, CourseLesson) == 1


async def test_delete_lesson_not_found(client, admin_headers):
    response = await client.delete("/api/lessons/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Lesson 999999 not found"}


@pytest.mark.parametrize("public", [False, True])
async def test_read_lessons_by_kind(client, session, admin_headers, public):
    video = await create_lesson(session, video_path="videos/a.mp4", text_content="Also text")
    text = await create_lesson(session, video_path=None, text_content="Only text")
    empty_path = await create_lesson(session, video_path="", text_content=None)
    await session.commit()
    headers = {} if public else admin_headers

    videos = await client.get("/api/lessons/", params={"kind": "video"}, headers=headers)
    texts = await client.get("/api/lessons/", params={"kind": "text"}, headers=headers)

    assert ids(videos) == [video.id]
    assert sorted(ids(texts)) == sorted([text.id, empty_path.id])
    assert_invalid(
        await client.get("/api/lessons/", params={"kind": "audio"}, headers=headers), "query", "kind"
    )
