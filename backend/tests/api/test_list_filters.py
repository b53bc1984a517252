"""Every query filter of every list endpoint, read from the OpenAPI document, filters what it says.

One dataset per endpoint, with rows that each filter keeps and rows it leaves out; for every filter, and a few
combinations, the exact set of ids listed and the total. test_every_filter_is_tested fails when an endpoint
documents a filter that no case here exercises (as GET /api/users/?telegram_id= was, ignored by its route).
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.main import app
from backend.tests.api import create_admin, ids
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_ticket,
    create_user,
)
from shared.constants import AdminRole, AuditAction, BroadcastStatus, PurchaseStatus, TicketStatus
from shared.models import Admin, AuditLog, Broadcast, UnmatchedPayment, UnmatchedPaymentReason

# Query parameters that page and order a listing rather than filter it.
NOT_FILTERS = {"sort", "limit", "offset"}
DAY = datetime(2025, 3, 10, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Ref:
    """A row of the endpoint's dataset, by name: its id (or another attribute) as a query value."""

    name: str
    attribute: str = "id"


@dataclass(frozen=True)
class Case:
    params: dict[str, Any]
    expected: tuple[str, ...]

    def __str__(self) -> str:
        return "&".join(f"{key}={getattr(value, 'name', value)}" for key, value in self.params.items())


@dataclass(frozen=True)
class Listing:
    """A list endpoint: whom it is read as, the rows its dataset lists unfiltered, and the filter cases."""

    path: str
    admin: bool
    unfiltered: tuple[str, ...]
    cases: tuple[Case, ...]


def expect(expected: str, **params: Any) -> Case:
    return Case(params, tuple(expected.split()))


USERS = Listing(
    "/api/users/",
    admin=True,
    unfiltered=("ann", "bob", "cid", "dee"),
    cases=(
        expect("ann dee", is_active="true"),
        expect("bob cid", is_active="false"),
        expect("ann bob cid", q="ann"),  # first name Ann, last name Hannigan, username annex
        expect("bob", q="BOBBY"),
        expect("", q="zzz"),
        expect("ann cid", language_code="ru"),
        expect("bob dee", language_code="en"),
        expect("", language_code="de"),
        expect("cid", telegram_id=Ref("cid", "telegram_id")),
        expect("", telegram_id=7_000_999),
        expect("cid", is_active="false", language_code="ru"),
        expect("", telegram_id=Ref("cid", "telegram_id"), is_active="true"),
    ),
)

PUBLIC_LESSONS = Listing(
    "/api/lessons/",
    admin=False,
    unfiltered=("knots", "sails", "intro"),
    cases=(
        # The public catalog lists active lessons whatever is_active says.
        expect("knots sails intro", is_active="false"),
        expect("intro", is_free="true"),
        expect("knots sails", is_free="false"),
        expect("sails", price_min=200),
        expect("knots intro", price_max=100),
        expect("knots sails", price_min=100, price_max=250),
        expect("knots sails", q="KNOTS"),  # a title, and a description
        expect("", q="retired"),
        expect("sails", q="knots", price_min=101),
        expect("sails", kind="video"),
        expect("knots intro", kind="text"),
    ),
)

ADMIN_LESSONS = Listing(
    "/api/lessons/",
    admin=True,
    unfiltered=("knots", "sails", "intro", "old_knots", "old_intro"),
    cases=(
        expect("knots sails intro", is_active="true"),
        expect("old_knots old_intro", is_active="false"),
        expect("intro old_intro", is_free="true"),
        expect("knots sails old_knots", is_free="false"),
        expect("sails old_knots", price_min=200),
        expect("knots intro old_intro", price_max=100),
        expect("knots sails", price_min=100, price_max=250),
        expect("knots sails old_knots", q="knots"),
        expect("old_knots", q="retired"),
        expect("old_intro", is_active="false", is_free="true"),
        expect("sails", kind="video"),
        expect("knots intro old_knots old_intro", kind="text"),
    ),
)

PUBLIC_COURSES = Listing(
    "/api/courses/",
    admin=False,
    unfiltered=("knots", "sailing", "navigation"),
    cases=(
        expect("knots sailing navigation", is_active="false"),
        # Prices filter on the effective price: sailing costs 800, 300 with its discount.
        expect("knots navigation", price_min=400),
        expect("sailing", price_max=400),
        expect("knots sailing", price_min=300, price_max=500),
        expect("knots sailing", q="Knots"),
        expect("", q="retired"),
    ),
)

ADMIN_COURSES = Listing(
    "/api/courses/",
    admin=True,
    unfiltered=("knots", "sailing", "navigation", "old"),
    cases=(
        expect("knots sailing navigation", is_active="true"),
        expect("old", is_active="false"),
        expect("knots navigation", price_min=400),
        expect("sailing old", price_max=400),
        expect("knots sailing", price_min=300, price_max=500),
        expect("knots sailing", q="knots"),
        expect("old", q="RETIRED"),
        expect("old", is_active="false", price_max=200),
    ),
)

PURCHASES = Listing(
    "/api/purchases/",
    admin=True,
    unfiltered=("p1", "p2", "p3", "p4", "p5"),
    cases=(
        expect("p1 p2", user_id=Ref("ann")),
        expect("p3 p4 p5", user_id=Ref("bob")),
        expect("", user_id=Ref("cid")),
        expect("p1 p3", lesson_id=Ref("knots")),
        expect("p5", lesson_id=Ref("sails")),
        expect("p2", course_id=Ref("course")),
        expect("p4", course_id=Ref("other_course")),
        expect("p1 p4", status="completed"),
        expect("p2", status="pending"),
        expect("p3", status="refunded"),
        expect("p5", status="failed"),
        # From is inclusive, to exclusive; a date alone is its midnight, UTC.
        expect("p3 p4 p5", created_from=(DAY + timedelta(days=2)).isoformat()),
        expect("p1 p2", created_to=(DAY + timedelta(days=2)).isoformat()),
        expect("p2 p3", created_from=(DAY + timedelta(days=1)).isoformat(), created_to="2025-03-13"),
        expect("p3", created_from="2025-03-12T15:00:00+03:00", created_to="2025-03-12T15:00:01+03:00"),
        expect("p4", user_id=Ref("bob"), status="completed"),
        expect("p1", user_id=Ref("ann"), lesson_id=Ref("knots")),
        expect("p2 p4", promo_code_id=Ref("spring")),
        expect("", promo_code_id=Ref("unused")),
        expect("p4", promo_code_id=Ref("spring"), status="completed"),
    ),
)

PROMO_CODES = Listing(
    "/api/promo-codes/",
    admin=True,
    unfiltered=("spring10", "spring20", "winter"),
    cases=(
        expect("spring10 winter", is_active="true"),
        expect("spring20", is_active="false"),
        expect("spring10 spring20", q="spring"),
        expect("winter", q="ter"),
        expect("", q="autumn"),
        expect("spring10", q="SPRING", is_active="true"),
    ),
)

TICKETS = Listing(
    "/api/support-tickets/",
    admin=True,
    unfiltered=("t1", "t2", "t3", "t4"),
    cases=(
        expect("t1 t2", user_id=Ref("ann")),
        expect("t3 t4", user_id=Ref("bob")),
        expect("", user_id=Ref("cid")),
        expect("t1 t4", status="open"),
        expect("t3", status="in_progress"),
        expect("t2", status="closed"),
        expect("t1 t3", q="PAYMENT"),  # a subject, and a message
        expect("t2", q="screen"),
        expect("", q="refund"),
        expect("t4", user_id=Ref("bob"), status="open"),
    ),
)

UNMATCHED = Listing(
    "/api/unmatched-payments/",
    admin=True,
    unfiltered=("u1", "u2", "u3", "u4"),
    cases=(
        expect("u1 u4", reason="unknown_item"),
        expect("u2", reason="wrong_currency"),
        expect("", reason="not_recorded"),
        expect("u4", resolved="true"),
        expect("u1 u2 u3", resolved="false"),
        expect("u1 u2", telegram_user_id="7100001"),
        expect("", telegram_user_id="7100009"),
        expect("u1", reason="unknown_item", resolved="false"),
    ),
)

ADMINS = Listing(
    "/api/admins/",
    admin=True,
    unfiltered=("owner", "ann", "bob", "cid"),
    cases=(
        expect("owner", role="owner"),
        expect("ann bob", role="manager"),
        expect("cid", role="support"),
        expect("owner ann cid", is_active="true"),
        expect("bob", is_active="false"),
        expect("ann", role="manager", is_active="true"),
    ),
)

AUDIT_LOG = Listing(
    "/api/audit-log/",
    admin=True,
    unfiltered=("a1", "a2", "a3", "a4"),
    cases=(
        expect("a1 a2", admin_id=Ref("owner")),
        expect("a3", admin_id=Ref("ann")),
        expect("a1 a3", entity="lessons"),
        expect("a2", entity="purchases"),
        expect("a1 a4", entity_id="7"),
        expect("", entity_id="999"),
        expect("a1 a4", action="create"),
        expect("a2", action="update"),
        expect("a3", action="delete"),
        # From is inclusive, to exclusive.
        expect("a3 a4", date_from=(DAY + timedelta(days=2)).isoformat()),
        expect("a1 a2", date_to=(DAY + timedelta(days=2)).isoformat()),
        expect("a1", entity="lessons", entity_id="7"),
    ),
)

BROADCASTS = Listing(
    "/api/broadcasts/",
    admin=True,
    unfiltered=("b1", "b2", "b3", "b4"),
    cases=(
        expect("b1 b4", status="draft"),
        expect("b2", status="sending"),
        expect("", status="paused"),
        expect("b3", status="done"),
    ),
)

LISTINGS = {
    "admins": ADMINS,
    "broadcasts": BROADCASTS,
    "audit_log": AUDIT_LOG,
    "unmatched_payments": UNMATCHED,
    "users": USERS,
    "public_lessons": PUBLIC_LESSONS,
    "admin_lessons": ADMIN_LESSONS,
    "public_courses": PUBLIC_COURSES,
    "admin_courses": ADMIN_COURSES,
    "purchases": PURCHASES,
    "promo_codes": PROMO_CODES,
    "support_tickets": TICKETS,
}
# The list endpoints of the API; test_every_list_endpoint_is_here checks it against the OpenAPI document.
# A broadcast's recipient log is filtered by status in backend/tests/api/test_broadcasts.py.
LIST_PATHS = {listing.path for listing in LISTINGS.values()} | {
    "/api/users/{user_id}/purchases",
    "/api/broadcasts/{broadcast_id}/recipients",
}


async def users(session) -> dict[str, Any]:
    return {
        "ann": await create_user(
            session, first_name="Ann", username="a_user", language_code="ru", telegram_id=7_000_001
        ),
        "bob": await create_user(
            session,
            first_name="Bob",
            last_name="Hannigan",
            username="bobby",
            language_code="en",
            is_active=False,
            telegram_id=7_000_002,
        ),
        "cid": await create_user(
            session,
            first_name="Cid",
            username="annex",
            language_code="ru",
            is_active=False,
            telegram_id=7_000_003,
        ),
        "dee": await create_user(
            session, first_name="Dee", username=None, language_code="en", telegram_id=7_000_004
        ),
    }


async def lessons(session) -> dict[str, Any]:
    return {
        "knots": await create_lesson(session, title="Knots", description="Tie them", price=100),
        "sails": await create_lesson(
            session, title="Sails", description="Trim them, then knots", price=250, video_path="v/sails.mp4"
        ),
        "intro": await create_lesson(session, title="Intro", description="Start here", price=0, is_free=True),
        "old_knots": await create_lesson(
            session, title="Old knots", description="Retired", price=500, is_active=False
        ),
        "old_intro": await create_lesson(
            session, title="Old intro", description="Gone", price=0, is_free=True, is_active=False
        ),
    }


async def courses(session) -> dict[str, Any]:
    return {
        "knots": await create_course(
            session, title="Knots course", description="Every knot", total_price=500
        ),
        "sailing": await create_course(
            session, title="Sailing", description="Wind, sails and knots", total_price=800, discount_price=300
        ),
        "navigation": await create_course(
            session, title="Navigation", description="Stars", total_price=1000, discount_price=900
        ),
        "old": await create_course(
            session, title="Old course", description="Retired", total_price=200, is_active=False
        ),
    }


async def purchases(session) -> dict[str, Any]:
    ann, bob, cid = await create_user(session), await create_user(session), await create_user(session)
    knots, sails = await create_lesson(session), await create_lesson(session)
    course, other_course = await create_course(session), await create_course(session)
    rows = {"ann": ann, "bob": bob, "cid": cid, "knots": knots, "sails": sails, "course": course}
    rows["other_course"] = other_course
    rows["spring"], rows["unused"] = await create_promo_code(session), await create_promo_code(session)
    promo_of = {"p2": rows["spring"].id, "p4": rows["spring"].id}
    purchases = [
        ("p1", ann, knots, PurchaseStatus.COMPLETED),
        ("p2", ann, course, PurchaseStatus.PENDING),
        ("p3", bob, knots, PurchaseStatus.REFUNDED),
        ("p4", bob, other_course, PurchaseStatus.COMPLETED),
        ("p5", bob, sails, PurchaseStatus.FAILED),
    ]
    for day, (name, user, item, status) in enumerate(purchases):
        rows[name] = await create_purchase(
            session,
            user,
            item,
            status,
            created_at=DAY + timedelta(days=day),
            promo_code_id=promo_of.get(name),
        )
    return rows


async def promo_codes(session) -> dict[str, Any]:
    return {
        "spring10": await create_promo_code(session, code="SPRING10"),
        "spring20": await create_promo_code(session, code="SPRING20", is_active=False),
        "winter": await create_promo_code(session, code="WINTER"),
    }


async def support_tickets(session) -> dict[str, Any]:
    ann, bob, cid = await create_user(session), await create_user(session), await create_user(session)
    return {
        "ann": ann,
        "bob": bob,
        "cid": cid,
        "t1": await create_ticket(session, ann, subject="Payment", message="Stars gone"),
        "t2": await create_ticket(
            session, ann, subject="Video", message="Black screen", status=TicketStatus.CLOSED
        ),
        "t3": await create_ticket(
            session, bob, subject="Question", message="Payment methods?", status=TicketStatus.IN_PROGRESS
        ),
        "t4": await create_ticket(session, bob, subject="Access", message="Where is my lesson?"),
    }


async def unmatched_payments(session) -> dict[str, Any]:
    rows = {
        name: UnmatchedPayment(
            telegram_payment_charge_id=f"charge-{name}",
            telegram_user_id=telegram_user_id,
            amount=10,
            currency=currency,
            payload="v1:x",
            reason=reason,
            resolved_at=resolved_at,
        )
        for name, telegram_user_id, currency, reason, resolved_at in (
            ("u1", 7_100_001, "XTR", UnmatchedPaymentReason.UNKNOWN_ITEM, None),
            ("u2", 7_100_001, "USD", UnmatchedPaymentReason.WRONG_CURRENCY, None),
            ("u3", 7_100_002, "XTR", UnmatchedPaymentReason.UNREADABLE_PAYLOAD, None),
            ("u4", 7_100_003, "XTR", UnmatchedPaymentReason.UNKNOWN_ITEM, DAY),
        )
    }
    session.add_all(rows.values())
    await session.commit()
    return rows


async def admins(session) -> dict[str, Any]:
    return {
        "owner": await session.scalar(select(Admin).where(Admin.username == "admin")),
        "ann": await create_admin("ann", AdminRole.MANAGER),
        "bob": await create_admin("bob", AdminRole.MANAGER, is_active=False),
        "cid": await create_admin("cid", AdminRole.SUPPORT),
    }


async def audit_log(session) -> dict[str, Any]:
    rows = await admins(session)
    for name, who, action, entity, entity_id, day in (
        ("a1", rows["owner"], AuditAction.CREATE, "lessons", "7", 0),
        ("a2", rows["owner"], AuditAction.UPDATE, "purchases", "3", 1),
        ("a3", rows["ann"], AuditAction.DELETE, "lessons", "8", 2),
        ("a4", None, AuditAction.CREATE, "courses", "7", 3),  # by an admin whose account is gone
    ):
        rows[name] = AuditLog(
            admin_id=who.id if who else None,
            admin_username=who.username if who else "gone",
            action=action,
            entity=entity,
            entity_id=entity_id,
            changes={},
            created_at=DAY + timedelta(days=day),
        )
        session.add(rows[name])
    await session.commit()
    return rows


async def broadcasts(session) -> dict[str, Any]:
    rows = {
        name: Broadcast(text="Hi", audience={"kind": "all"}, status=status)
        for name, status in (
            ("b1", BroadcastStatus.DRAFT),
            ("b2", BroadcastStatus.SENDING),
            ("b3", BroadcastStatus.DONE),
            ("b4", BroadcastStatus.DRAFT),
        )
    }
    session.add_all(rows.values())
    await session.commit()
    return rows


DATASETS = {
    "admins": admins,
    "broadcasts": broadcasts,
    "audit_log": audit_log,
    "unmatched_payments": unmatched_payments,
    "users": users,
    "public_lessons": lessons,
    "admin_lessons": lessons,
    "public_courses": courses,
    "admin_courses": courses,
    "purchases": purchases,
    "promo_codes": promo_codes,
    "support_tickets": support_tickets,
}


def query(rows: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {
        key: getattr(rows[value.name], value.attribute) if isinstance(value, Ref) else value
        for key, value in params.items()
    }


async def listed(
    client: httpx.AsyncClient, listing: Listing, params: dict[str, Any], headers: dict[str, str]
) -> tuple[list[int], int]:
    """The ids listed (in id order) and the total."""
    response = await client.get(listing.path, params=params, headers=headers if listing.admin else {})
    assert response.status_code == 200, response.text
    return sorted(ids(response)), response.json()["total"]


def expected_ids(rows: dict[str, Any], names: tuple[str, ...]) -> list[int]:
    return sorted(rows[name].id for name in names)


@pytest.mark.parametrize(
    ("name", "case"),
    [(name, case) for name, listing in LISTINGS.items() for case in listing.cases],
    ids=[f"{name}-{case}" for name, listing in LISTINGS.items() for case in listing.cases],
)
async def test_read_list_filtered(client, admin_headers, session, name, case):
    listing = LISTINGS[name]
    rows = await DATASETS[name](session)
    found, total = await listed(client, listing, query(rows, case.params), admin_headers)
    assert found == expected_ids(rows, case.expected)
    assert total == len(case.expected)


@pytest.mark.parametrize("name", LISTINGS)
async def test_read_list_unfiltered(client, admin_headers, session, name):
    # The baseline of the cases: what each dataset lists without a filter.
    listing = LISTINGS[name]
    rows = await DATASETS[name](session)
    found, total = await listed(client, listing, {}, admin_headers)
    assert found == expected_ids(rows, listing.unfiltered)
    assert total == len(listing.unfiltered)


async def test_read_user_purchases_only_that_users(client, admin_headers, session):
    # The path's user id is this listing's one filter.
    rows = await purchases(session)
    for user, expected in [("ann", ("p1", "p2")), ("bob", ("p3", "p4", "p5")), ("cid", ())]:
        response = await client.get(f"/api/users/{rows[user].id}/purchases", headers=admin_headers)
        assert response.status_code == 200
        assert sorted(ids(response)) == expected_ids(rows, expected), user
        assert response.json()["total"] == len(expected)


@pytest.fixture(scope="module")
async def openapi() -> dict:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.get("/openapi.json")).json()


def documented_filters(openapi: dict, path: str) -> set[str]:
    parameters = openapi["paths"][path]["get"].get("parameters", [])
    return {p["name"] for p in parameters if p["in"] == "query"} - NOT_FILTERS


def answers_a_page(openapi: dict, operation: dict) -> bool:
    """Whether the operation's answer is a page of items with a total."""
    refs = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(operation["responses"]["200"]))
    schemas = openapi["components"]["schemas"]
    return any({"items", "total"} <= set(schemas[ref].get("properties", {})) for ref in refs)


async def test_every_list_endpoint_is_here(openapi):
    pages = {
        path
        for path, item in openapi["paths"].items()
        if "get" in item and answers_a_page(openapi, item["get"])
    }
    assert pages == LIST_PATHS


@pytest.mark.parametrize("name", LISTINGS)
async def test_every_filter_is_tested(openapi, name):
    listing = LISTINGS[name]
    documented = documented_filters(openapi, listing.path)
    assert {key for case in listing.cases for key in case.params} == documented
    for key in documented:
        alone = [case for case in listing.cases if set(case.params) == {key}]
        # Each filter alone, keeping some rows and leaving out others (unless it is ignored, as is_active
        # is for the public).
        assert any(0 < len(case.expected) < len(listing.unfiltered) for case in alone) or (
            not listing.admin and key == "is_active"
        ), key


async def test_user_purchases_has_no_query_filter(openapi):
    assert documented_filters(openapi, "/api/users/{user_id}/purchases") == set()
