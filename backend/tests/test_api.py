"""Cross-cutting API behaviour: who may call what, strict input on every endpoint, error formats, and
concurrent requests (each request has its own database session and connection, as in production)."""

import asyncio
import json
from dataclasses import dataclass

import pytest

from backend.tests.api import (  # noqa: F401 (lenient_client_fixture, quick_tokens: fixtures)
    ADMIN_OPERATIONS,
    PUBLIC_OPERATIONS,
    assert_invalid,
    bearer,
    concrete,
    count,
    error_locs,
    fresh,
    lenient_client_fixture,
    quick_tokens,
)
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_ticket,
    create_user,
)
from shared.constants import PurchaseStatus
from shared.models import Course, Lesson, PromoCode, Purchase, SupportTicket, User

ID_OPERATIONS = [(method, path) for method, path in PUBLIC_OPERATIONS + ADMIN_OPERATIONS if "{" in path]


@dataclass
class Records:
    user: int
    lesson: int
    course: int
    promo: int
    ticket: int

    def path(self, template: str) -> str:
        return (
            template.replace("{user_id}", str(self.user))
            .replace("{course_id}", str(self.course))
            .replace("{lesson_id}", str(self.lesson))
            .replace("{promo_code_id}", str(self.promo))
            .replace("{ticket_id}", str(self.ticket))
        )


@pytest.fixture
async def records(session) -> Records:
    user = await create_user(session)
    lesson = await create_lesson(session)
    course = await create_course(session)
    promo = await create_promo_code(session, code="ANY10")
    ticket = await create_ticket(session, user)
    return Records(user=user.id, lesson=lesson.id, course=course.id, promo=promo.id, ticket=ticket.id)


# Every endpoint with a JSON body: a valid body, and the string field to spoil (None: it has none).
BODY_ENDPOINTS = {
    ("POST", "/auth/login"): (lambda _: {"username": "admin", "password": "x"}, "username"),
    ("POST", "/auth/refresh"): (lambda _: {"refresh_token": "x"}, "refresh_token"),
    ("POST", "/api/users/"): (lambda _: {"telegram_id": 99, "first_name": "A"}, "first_name"),
    ("PUT", "/api/users/{user_id}"): (lambda _: {"first_name": "A"}, "first_name"),
    ("POST", "/api/lessons/"): (lambda _: {"title": "T", "price": 5}, "title"),
    ("PUT", "/api/lessons/{lesson_id}"): (lambda _: {"title": "T"}, "title"),
    ("POST", "/api/courses/"): (lambda _: {"title": "C", "total_price": 5}, "title"),
    ("PUT", "/api/courses/{course_id}"): (lambda _: {"title": "C"}, "title"),
    ("PUT", "/api/courses/{course_id}/lessons"): (lambda _: {"lesson_ids": []}, None),
    ("POST", "/api/courses/{course_id}/lessons"): (lambda r: {"lesson_id": r.lesson, "position": 0}, None),
    ("POST", "/api/purchases/"): (lambda r: {"user_id": r.user, "lesson_id": r.lesson}, "payment_id"),
    ("POST", "/api/purchases/create"): (lambda r: {"user_id": r.user, "lesson_id": r.lesson}, "payment_id"),
    ("POST", "/api/promo-codes/"): (lambda _: {"code": "NEW10", "discount_percent": 10}, "code"),
    ("POST", "/api/promo-codes/validate"): (lambda r: {"code": "ANY10", "lesson_id": r.lesson}, "code"),
    ("PUT", "/api/promo-codes/{promo_code_id}"): (lambda _: {"max_uses": 5}, "code"),
    ("POST", "/api/support-tickets/"): (
        lambda r: {"user_id": r.user, "subject": "S", "message": "M"},
        "subject",
    ),
    ("PUT", "/api/support-tickets/{ticket_id}"): (lambda _: {"admin_response": "Done"}, "admin_response"),
    # Last: the grant gives the user the lesson that the purchases above buy.
    ("POST", "/api/users/{user_id}/grants"): (lambda r: {"lesson_id": r.lesson}, None),
}
TEXT_FIELD_ENDPOINTS = [key for key, (_, field) in BODY_ENDPOINTS.items() if field is not None]
ADMIN_BODY_ENDPOINTS = [key for key in BODY_ENDPOINTS if not key[1].startswith("/auth/")]


async def send(client, method: str, path: str, records: Records, headers: dict, **kwargs):
    return await client.request(method, records.path(path), headers=headers, **kwargs)


# Authentication required ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
async def test_admin_operation_without_token(client, method, path):
    response = await client.request(method, concrete(path), json={})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
async def test_admin_operation_with_garbage_token(client, method, path):
    response = await client.request(method, concrete(path), json={}, headers=bearer("garbage"))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ADMIN_BODY_ENDPOINTS)
async def test_admin_operation_without_token_changes_nothing(client, session, records, method, path):
    body = BODY_ENDPOINTS[(method, path)][0](records)
    before = {
        model: await count(session, model)
        for model in (User, Lesson, Course, Purchase, PromoCode, SupportTicket)
    }
    response = await send(client, method, path, records, {}, json=body)
    assert response.status_code == 401
    after = {model: await count(session, model) for model in before}
    assert after == before
    assert (await fresh(session, User, records.user)).first_name != "A"
    assert (await fresh(session, Lesson, records.lesson)).title != "T"


@pytest.mark.parametrize(
    "path",
    ["/health", "/api/lessons/", "/api/courses/", "/api/lessons/{lesson_id}", "/api/courses/{course_id}"],
)
async def test_public_operation_without_token(client, records, path):
    response = await client.get(records.path(path))
    assert response.status_code == 200, response.text


async def test_valid_bodies_are_valid(client, admin_headers, records):
    # Guards the table the strict-input tests below spoil: each body on its own is accepted.
    for (method, path), (build, _) in BODY_ENDPOINTS.items():
        response = await send(client, method, path, records, admin_headers, json=build(records))
        if path.startswith("/auth/"):
            assert response.status_code == 401, (method, path, response.text)
        else:
            assert response.is_success, (method, path, response.text)


# Strict input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
async def test_unknown_body_field(client, admin_headers, records, method, path):
    body = BODY_ENDPOINTS[(method, path)][0](records) | {"surprise": 1}
    response = await send(client, method, path, records, admin_headers, json=body)
    assert_invalid(response, "body", "surprise")
    assert response.json()["detail"][0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
async def test_malformed_json_body(client, admin_headers, records, method, path):
    headers = admin_headers | {"Content-Type": "application/json"}
    response = await send(client, method, path, records, headers, content=b'{"title": "T",')
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("raw", [b"[]", b'["title"]', b'"title"', b"5", b"true", b"null"])
@pytest.mark.parametrize(("method", "path"), [("POST", "/api/lessons/"), ("PUT", "/api/users/{user_id}")])
async def test_non_object_json_body(client, admin_headers, records, session, method, path, raw):
    headers = admin_headers | {"Content-Type": "application/json"}
    response = await send(client, method, path, records, headers, content=raw)
    assert response.status_code == 422, response.text
    assert ["body"] in error_locs(response)
    assert await count(session, Lesson) == 1


async def test_form_body_on_json_endpoint(client, admin_headers, session):
    response = await client.post("/api/lessons/", data={"title": "T", "price": "5"}, headers=admin_headers)
    assert response.status_code == 422
    assert await count(session, Lesson) == 0


@pytest.mark.parametrize(("method", "path"), TEXT_FIELD_ENDPOINTS)
async def test_nul_byte_in_body(client, admin_headers, records, method, path):
    build, field = BODY_ENDPOINTS[(method, path)]
    response = await send(
        client, method, path, records, admin_headers, json=build(records) | {field: "a\x00b"}
    )
    assert_invalid(response, "body", field)


@pytest.mark.parametrize(("method", "path"), TEXT_FIELD_ENDPOINTS)
async def test_lone_surrogate_in_body(lenient_client, admin_headers, records, method, path):
    build, field = BODY_ENDPOINTS[(method, path)]
    body = build(records) | {field: "SURROGATE"}
    raw = json.dumps(body).replace("SURROGATE", "\\ud800").encode()
    headers = admin_headers | {"Content-Type": "application/json"}
    response = await send(lenient_client, method, path, records, headers, content=raw)
    assert_invalid(response, "body", field)


async def test_lone_surrogate_in_body_stores_nothing(lenient_client, admin_headers, session):
    # Whatever the status, the invalid text never reaches the database.
    headers = admin_headers | {"Content-Type": "application/json"}
    response = await lenient_client.post(
        "/api/lessons/", content=b'{"title": "\\ud800", "price": 5}', headers=headers
    )
    assert response.status_code >= 400
    assert await count(session, Lesson) == 0


@pytest.mark.parametrize("path", ["/api/lessons/", "/api/courses/"])
@pytest.mark.parametrize("raw_q", ["%00", "a%00b", "%ED%A0%80", "%FF"])
async def test_unstorable_search_text(client, path, raw_q):
    response = await client.get(f"{path}?q={raw_q}")
    if "%00" in raw_q:
        assert_invalid(response, "query", "q")
    else:
        # Invalid UTF-8 in a URL is decoded with replacement characters: a harmless search.
        assert response.status_code == 200
        assert response.json()["total"] == 0


@pytest.mark.parametrize(("method", "path"), ID_OPERATIONS)
@pytest.mark.parametrize("bad_id", [str(2**64), "99999999999", str(2**31), "0", "abc"])
async def test_malformed_path_id(client, admin_headers, method, path, bad_id):
    response = await client.request(
        method, concrete(path).replace("/1", f"/{bad_id}"), json={}, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    names = {loc[1] for loc in error_locs(response) if loc[0] == "path"}
    assert names == {name.strip("{}") for name in path.split("/") if name.startswith("{")}


@pytest.mark.parametrize(("method", "path"), ID_OPERATIONS)
async def test_unknown_path_id(client, admin_headers, records, method, path):
    body = BODY_ENDPOINTS.get((method, path), (lambda _: None, None))[0](records)
    # In /courses/{course_id}/lessons/{lesson_id} the course is the unknown one.
    nested = path.startswith("/api/courses/{course_id}/lessons/")
    unknown = path.replace("{lesson_id}", str(records.lesson)) if nested else path
    response = await client.request(method, concrete(unknown, 999999), json=body, headers=admin_headers)
    assert response.status_code == 404, response.text
    assert response.json()["detail"].endswith("999999 not found")


async def test_largest_path_id_not_found(client, admin_headers):
    response = await client.get(f"/api/users/{2**31 - 1}", headers=admin_headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/users/",
        "/api/lessons/",
        "/api/courses/",
        "/api/purchases/",
        "/api/promo-codes/",
        "/api/support-tickets/",
    ],
)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**64}, "offset"),
        ({"sort": "nonsense"}, "sort"),
        ({"sort": "-"}, "sort"),
    ],
)
async def test_list_invalid_paging(client, admin_headers, path, params, field):
    assert_invalid(await client.get(path, params=params, headers=admin_headers), "query", field)


@pytest.mark.parametrize(
    "path",
    [
        "/api/users/",
        "/api/lessons/",
        "/api/courses/",
        "/api/purchases/",
        "/api/promo-codes/",
        "/api/support-tickets/",
    ],
)
@pytest.mark.usefixtures("records")
async def test_list_offset_beyond_total(client, admin_headers, path):
    total = (await client.get(path, headers=admin_headers)).json()["total"]
    response = await client.get(path, params={"offset": total + 5, "limit": 100}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json() == {
        "items": [],
        "total": total,
        "total_exact": True,
        "limit": 100,
        "offset": total + 5,
    }


# Error format --------------------------------------------------------------------------------------------


async def test_unknown_route(client):
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_method_not_allowed(client, admin_headers):
    response = await client.patch("/api/lessons/1", json={}, headers=admin_headers)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


# Concurrency ---------------------------------------------------------------------------------------------
# These use lenient_client: a 500 comes back as a response, so gather() always waits for every request.


async def test_create_users_concurrently(lenient_client, admin_headers, session):
    responses = await asyncio.gather(
        *(
            lenient_client.post(
                "/api/users/", json={"telegram_id": 5000 + n, "first_name": f"U{n}"}, headers=admin_headers
            )
            for n in range(20)
        )
    )
    assert [response.status_code for response in responses] == [201] * 20, [r.text for r in responses]
    assert len({response.json()["id"] for response in responses}) == 20
    assert await count(session, User) == 20


async def test_create_users_same_telegram_id_concurrently(lenient_client, admin_headers, session):
    responses = await asyncio.gather(
        *(
            lenient_client.post(
                "/api/users/", json={"telegram_id": 4242, "first_name": f"U{n}"}, headers=admin_headers
            )
            for n in range(5)
        )
    )
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409, 409]
    assert await count(session, User) == 1


async def test_create_purchases_limited_promo_code_concurrently(lenient_client, admin_headers, session):
    lesson = await create_lesson(session, price=100)
    promo = await create_promo_code(session, code="THREE", discount_percent=50, max_uses=3)
    users = [await create_user(session) for _ in range(10)]
    responses = await asyncio.gather(
        *(
            lenient_client.post(
                "/api/purchases/",
                json={"user_id": user.id, "lesson_id": lesson.id, "promo_code": "THREE"},
                headers=admin_headers,
            )
            for user in users
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [422] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 422:
            assert response.json() == {"detail": "Promo code THREE has no uses left"}
        else:
            assert response.json()["amount"] == 50
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 3
    assert await count(session, Purchase) == 3


async def test_create_promo_codes_same_code_concurrently(lenient_client, admin_headers, session):
    responses = await asyncio.gather(
        *(
            lenient_client.post(
                "/api/promo-codes/", json={"code": "RACE", "discount_percent": 5}, headers=admin_headers
            )
            for _ in range(5)
        )
    )
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409, 409]
    assert await count(session, PromoCode) == 1


async def test_create_completed_purchases_same_lesson_concurrently(lenient_client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    payload = {"user_id": user.id, "lesson_id": lesson.id, "status": PurchaseStatus.COMPLETED.value}
    responses = await asyncio.gather(
        *(lenient_client.post("/api/purchases/", json=payload, headers=admin_headers) for _ in range(5))
    )
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409, 409]
    assert await count(session, Purchase) == 1


async def test_set_course_lessons_concurrently(lenient_client, admin_headers, session):
    # Admins reorder the same course at once: each request wins or gets a clean 409, never a 500,
    # and the stored order is one of the requested ones, whole.
    lessons = [await create_lesson(session) for _ in range(4)]
    course = await create_course(session, lessons=lessons)
    orders = [[lesson.id for lesson in reversed(lessons)], [lesson.id for lesson in lessons[1:]]]
    statuses = set()
    for _ in range(3):
        responses = await asyncio.gather(
            *(
                lenient_client.put(
                    f"/api/courses/{course.id}/lessons",
                    json={"lesson_ids": orders[n % 2]},
                    headers=admin_headers,
                )
                for n in range(12)
            )
        )
        statuses |= {response.status_code for response in responses}
        for response in responses:
            if response.status_code == 409:
                assert "conflicts with data stored meanwhile" in response.json()["detail"]
    assert statuses <= {200, 409}
    assert 200 in statuses
    final = (await lenient_client.get(f"/api/courses/{course.id}", headers=admin_headers)).json()
    assert [lesson["id"] for lesson in final["lessons"]] in orders
    assert [lesson["position"] for lesson in final["lessons"]] == list(range(len(final["lessons"])))


async def test_update_and_read_concurrently(lenient_client, admin_headers, session):
    lesson = await create_lesson(session, price=10)
    requests = [
        lenient_client.put(f"/api/lessons/{lesson.id}", json={"price": 10 + n}, headers=admin_headers)
        for n in range(1, 6)
    ] + [lenient_client.get(f"/api/lessons/{lesson.id}") for _ in range(5)]
    responses = await asyncio.gather(*requests)
    assert all(response.status_code == 200 for response in responses)
    assert (await fresh(session, Lesson, lesson.id)).price in range(11, 16)
