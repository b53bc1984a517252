"""/api/support-tickets: opening, answering, closing, deleting and listing students' tickets."""

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
from backend.tests.factories import create_support_message, create_ticket, create_user
from shared.constants import SupportMessageAuthor, TicketStatus
from shared.models import SupportMessage, SupportTicket
from shared.utils import utcnow

TICKET_FIELDS = {
    "id",
    "user_id",
    "subject",
    "message",
    "status",
    "admin_response",
    "purchase_id",
    "response_sent_at",
    "response_undeliverable_at",
    "created_at",
    "updated_at",
}


# Create --------------------------------------------------------------------------------------------------


async def test_create_ticket(client, admin_headers, session):
    user = await create_user(session)
    payload = {"user_id": user.id, "subject": "  Video ", "message": "It does not play"}
    response = await client.post("/api/support-tickets/", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == TICKET_FIELDS
    assert (body["user_id"], body["subject"], body["message"], body["status"], body["admin_response"]) == (
        user.id,
        "Video",
        "It does not play",
        "open",
        None,
    )
    stored = await fresh(session, SupportTicket, body["id"])
    assert (stored.user_id, stored.subject, stored.status) == (user.id, "Video", TicketStatus.OPEN)


async def test_create_ticket_unknown_user(client, admin_headers, session):
    response = await client.post(
        "/api/support-tickets/",
        json={"user_id": 999999, "subject": "S", "message": "M"},
        headers=admin_headers,
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "User 999999 not found"}
    assert await count(session, SupportTicket) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "s" * 256}, "subject"),
        ({"message": ""}, "message"),
        ({"message": "m" * 10_001}, "message"),
        ({"message": "a\x00b"}, "message"),
        ({"user_id": "1"}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"status": "closed"}, "status"),
        ({"admin_response": "hi"}, "admin_response"),
    ],
)
async def test_create_ticket_invalid_field(client, admin_headers, session, changes, field):
    user = await create_user(session)
    payload = {"user_id": user.id, "subject": "S", "message": "M"} | changes
    response = await client.post("/api/support-tickets/", json=payload, headers=admin_headers)
    assert_invalid(response, "body", field)
    assert await count(session, SupportTicket) == 0


async def test_create_ticket_blank_subject(client, admin_headers, session):
    user = await create_user(session)
    response = await client.post(
        "/api/support-tickets/",
        json={"user_id": user.id, "subject": "  ", "message": "M"},
        headers=admin_headers,
    )
    assert_invalid(response, "body", "subject")
    assert await count(session, SupportTicket) == 0


# Read and list -------------------------------------------------------------------------------------------


async def test_read_ticket(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), subject="Refund")
    response = await client.get(f"/api/support-tickets/{ticket.id}", headers=admin_headers)
    assert response.status_code == 200
    assert set(response.json()) == TICKET_FIELDS
    assert (response.json()["subject"], response.json()["status"]) == ("Refund", "open")


async def test_read_ticket_not_found(client, admin_headers):
    response = await client.get("/api/support-tickets/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Support ticket 999999 not found"}


@pytest.fixture
async def tickets(session) -> dict:
    ann, bob = await create_user(session), await create_user(session)
    now = utcnow()
    return {
        "ann": ann,
        "bob": bob,
        "t1": await create_ticket(
            session, ann, subject="Payment", message="Stars gone", created_at=now - timedelta(hours=3)
        ),
        "t2": await create_ticket(
            session,
            ann,
            subject="Video",
            message="Black screen",
            status=TicketStatus.CLOSED,
            created_at=now - timedelta(hours=2),
        ),
        "t3": await create_ticket(
            session,
            bob,
            subject="Question",
            message="payment methods?",
            status=TicketStatus.ANSWERED,
            created_at=now - timedelta(hours=1),
        ),
    }


def ticket_ids(tickets: dict, *names: str) -> list[int]:
    return [tickets[name].id for name in names]


async def test_read_tickets_newest_first(client, admin_headers, tickets):
    response = await client.get("/api/support-tickets/", headers=admin_headers)
    assert_page(response, total=3)
    assert ids(response) == ticket_ids(tickets, "t3", "t2", "t1")
    oldest_first = await client.get(
        "/api/support-tickets/", params={"sort": "created_at"}, headers=admin_headers
    )
    assert ids(oldest_first) == ticket_ids(tickets, "t1", "t2", "t3")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, ["t1"]),
        ({"status": "closed"}, ["t2"]),
        ({"status": "answered"}, ["t3"]),
        ({"user_id": "ann"}, ["t2", "t1"]),
        ({"user_id": "bob", "status": "open"}, []),
        ({"q": "PAYMENT"}, ["t3", "t1"]),
        ({"q": "screen"}, ["t2"]),
    ],
)
async def test_read_tickets_filter(client, admin_headers, tickets, params, expected):
    query = {key: tickets[value].id if key == "user_id" else value for key, value in params.items()}
    response = await client.get("/api/support-tickets/", params=query, headers=admin_headers)
    assert ids(response) == ticket_ids(tickets, *expected)
    assert response.json()["total"] == len(expected)


async def test_read_tickets_pagination(client, admin_headers, tickets):
    response = await client.get(
        "/api/support-tickets/", params={"limit": 2, "offset": 1}, headers=admin_headers
    )
    assert_page(response, total=3, limit=2, offset=1)
    assert ids(response) == ticket_ids(tickets, "t2", "t1")
    beyond = await client.get("/api/support-tickets/", params={"offset": 99}, headers=admin_headers)
    assert beyond.json() == {"items": [], "total": 3, "total_exact": True, "limit": 20, "offset": 99}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"status": "resolved"}, ["query", "status"]),
        ({"user_id": -1}, ["query", "user_id"]),
        ({"sort": "subject"}, ["query", "sort"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"q": "\x00"}, ["query", "q"]),
    ],
)
async def test_read_tickets_invalid_query(client, admin_headers, params, loc):
    assert_invalid(await client.get("/api/support-tickets/", params=params, headers=admin_headers), *loc)


# Update --------------------------------------------------------------------------------------------------


async def test_update_ticket_answer_adds_an_admin_message(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session))
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={"admin_response": "Try again now"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["admin_response"], response.json()["status"]) == ("Try again now", "answered")
    assert response.json()["response_sent_at"] is None
    messages = await client.get(f"/api/support-tickets/{ticket.id}/messages", headers=admin_headers)
    assert [(m["author"], m["text"]) for m in messages.json()["items"]] == [
        ("student", "It does not open"),
        ("admin", "Try again now"),
    ]
    assert (await fresh(session, SupportTicket, ticket.id)).status is TicketStatus.ANSWERED


async def test_update_ticket_answer_and_close(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session))
    response = await client.put(
        f"/api/support-tickets/{ticket.id}",
        json={"admin_response": "Fixed", "status": "closed"},
        headers=admin_headers,
    )
    assert (response.json()["admin_response"], response.json()["status"]) == ("Fixed", "closed")


async def test_update_ticket_close(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), status=TicketStatus.ANSWERED)
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={"status": "closed"}, headers=admin_headers
    )
    assert response.json()["status"] == "closed"
    assert (await fresh(session, SupportTicket, ticket.id)).status == TicketStatus.CLOSED


async def test_update_ticket_answer_on_closed_keeps_status(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), status=TicketStatus.CLOSED)
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={"admin_response": "One more note"}, headers=admin_headers
    )
    assert response.json()["status"] == "closed"


async def test_update_ticket_empty_answer_refused(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session))
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={"admin_response": "  "}, headers=admin_headers
    )
    assert_invalid(response, "body", "admin_response")
    assert await count(session, SupportMessage) == 1


async def test_update_ticket_null_answer_refused(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), admin_response="Old answer")
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={"admin_response": None}, headers=admin_headers
    )
    assert_rule_violation(response, "admin_response may not be null")


async def test_update_ticket_reopen(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), status=TicketStatus.CLOSED)
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={"status": "open"}, headers=admin_headers
    )
    assert response.json()["status"] == "open"


@pytest.mark.parametrize("field", ["status", "subject", "message"])
async def test_update_ticket_null_required_field(client, admin_headers, session, field):
    ticket = await create_ticket(session, await create_user(session), subject="Kept")
    response = await client.put(
        f"/api/support-tickets/{ticket.id}", json={field: None}, headers=admin_headers
    )
    assert_rule_violation(response, f"{field} may not be null")
    assert (await fresh(session, SupportTicket, ticket.id)).subject == "Kept"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "resolved"}, "status"),
        ({"user_id": 2}, "user_id"),
        ({"admin_response": "x" * 10_001}, "admin_response"),
    ],
)
async def test_update_ticket_invalid_field(client, admin_headers, session, payload, field):
    ticket = await create_ticket(session, await create_user(session))
    response = await client.put(f"/api/support-tickets/{ticket.id}", json=payload, headers=admin_headers)
    assert_invalid(response, "body", field)
    assert (await fresh(session, SupportTicket, ticket.id)).status == TicketStatus.OPEN


async def test_update_ticket_not_found(client, admin_headers):
    response = await client.put(
        "/api/support-tickets/999999", json={"status": "closed"}, headers=admin_headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Support ticket 999999 not found"}


# Delete --------------------------------------------------------------------------------------------------


async def test_delete_ticket(client, admin_headers, session):
    user = await create_user(session)
    ticket, other = await create_ticket(session, user), await create_ticket(session, user)
    response = await client.delete(f"/api/support-tickets/{ticket.id}", headers=admin_headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/support-tickets/{ticket.id}", headers=admin_headers)).status_code == 404
    assert await fresh(session, SupportTicket, ticket.id) is None
    assert await fresh(session, SupportTicket, other.id) is not None


async def test_delete_ticket_not_found(client, admin_headers):
    response = await client.delete("/api/support-tickets/999999", headers=admin_headers)
    assert response.status_code == 404


# Messages ------------------------------------------------------------------------------------------------

MESSAGE_FIELDS = {
    "id",
    "ticket_id",
    "author",
    "admin_id",
    "text",
    "attachments",
    "created_at",
    "delivered_at",
    "undeliverable_at",
    "telegram_message_id",
}


async def test_create_ticket_message_answers_the_ticket(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session))

    response = await client.post(
        f"/api/support-tickets/{ticket.id}/messages",
        json={"text": " Reinstall the app "},
        headers=admin_headers,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == MESSAGE_FIELDS
    assert (body["ticket_id"], body["author"], body["text"], body["attachments"]) == (
        ticket.id,
        "admin",
        "Reinstall the app",
        [],
    )
    assert body["admin_id"] is not None
    assert (body["delivered_at"], body["undeliverable_at"]) == (None, None)
    assert (await fresh(session, SupportTicket, ticket.id)).status is TicketStatus.ANSWERED


async def test_read_ticket_messages_with_attachments(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), admin_response="Send a screenshot")
    await create_support_message(
        session,
        ticket,
        author=SupportMessageAuthor.STUDENT,
        text="Here",
        attachments=[{"kind": "photo", "file_id": "AgAD-1", "file_name": None}],
    )

    response = await client.get(f"/api/support-tickets/{ticket.id}/messages", headers=admin_headers)

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(m["author"], m["text"]) for m in items] == [
        ("student", "It does not open"),
        ("admin", "Send a screenshot"),
        ("student", "Here"),
    ]
    assert items[2]["attachments"] == [{"kind": "photo", "file_id": "AgAD-1", "file_name": None}]


@pytest.mark.parametrize(
    ("payload", "field"), [({"text": ""}, "text"), ({"text": "x" * 10_001}, "text"), ({}, "text")]
)
async def test_create_ticket_message_invalid(client, admin_headers, session, payload, field):
    ticket = await create_ticket(session, await create_user(session))
    response = await client.post(
        f"/api/support-tickets/{ticket.id}/messages", json=payload, headers=admin_headers
    )
    assert_invalid(response, "body", field)
    assert await count(session, SupportMessage) == 1


async def test_ticket_messages_of_an_unknown_ticket(client, admin_headers):
    read = await client.get("/api/support-tickets/999999/messages", headers=admin_headers)
    write = await client.post(
        "/api/support-tickets/999999/messages", json={"text": "Hi"}, headers=admin_headers
    )
    assert (read.status_code, write.status_code) == (404, 404)
    assert write.json() == {"detail": "Support ticket 999999 not found"}


async def test_delete_ticket_deletes_its_messages(client, admin_headers, session):
    ticket = await create_ticket(session, await create_user(session), admin_response="Answer")
    response = await client.delete(f"/api/support-tickets/{ticket.id}", headers=admin_headers)
    assert response.status_code == 204
    assert await count(session, SupportMessage) == 0
