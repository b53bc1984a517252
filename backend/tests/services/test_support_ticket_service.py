"""Support tickets (backend/services/support_ticket_service.py)."""

import pytest
from sqlalchemy import func, select

from backend.services import support_ticket_service
from backend.services.exceptions import TicketNotFound, UserNotFound
from backend.tests.factories import create_ticket, create_user
from shared.constants import TicketStatus
from shared.models import SupportTicket
from shared.schemas import SupportTicketCreate, SupportTicketUpdate


async def stored(session, ticket_id: int) -> SupportTicket:
    statement = select(SupportTicket).where(SupportTicket.id == ticket_id)
    return (await session.scalars(statement.execution_options(populate_existing=True))).one()


async def test_create_ticket_opens_it(session):
    user = await create_user(session)

    ticket = await support_ticket_service.create(
        session, data=SupportTicketCreate(user_id=user.id, subject=" Payment ", message="Stars gone")
    )

    loaded = await stored(session, ticket.id)
    assert (loaded.user_id, loaded.subject, loaded.message) == (user.id, "Payment", "Stars gone")
    assert (loaded.status, loaded.admin_response) == (TicketStatus.OPEN, None)


async def test_create_ticket_unknown_user(session):
    with pytest.raises(UserNotFound):
        await support_ticket_service.create(
            session, data=SupportTicketCreate(user_id=9090, subject="s", message="m")
        )

    assert await session.scalar(select(func.count()).select_from(SupportTicket)) == 0


async def test_get_ticket(session):
    ticket = await create_ticket(session, await create_user(session))

    assert (await support_ticket_service.get(session, ticket.id)).id == ticket.id
    with pytest.raises(TicketNotFound, match="Support ticket 999 not found"):
        await support_ticket_service.get(session, 999)


async def test_update_ticket_answer_moves_open_to_in_progress(session):
    ticket = await create_ticket(session, await create_user(session))

    await support_ticket_service.update(session, ticket, data=SupportTicketUpdate(admin_response="Refunded"))

    loaded = await stored(session, ticket.id)
    assert (loaded.status, loaded.admin_response) == (TicketStatus.IN_PROGRESS, "Refunded")


async def test_update_ticket_answer_with_explicit_status(session):
    ticket = await create_ticket(session, await create_user(session))

    await support_ticket_service.update(
        session, ticket, data=SupportTicketUpdate(admin_response="Done", status=TicketStatus.CLOSED)
    )

    assert (await stored(session, ticket.id)).status is TicketStatus.CLOSED


async def test_update_ticket_answer_keeps_closed_status(session):
    ticket = await create_ticket(session, await create_user(session), status=TicketStatus.CLOSED)

    await support_ticket_service.update(session, ticket, data=SupportTicketUpdate(admin_response="Late note"))

    assert (await stored(session, ticket.id)).status is TicketStatus.CLOSED


async def test_update_ticket_empty_answer_keeps_open(session):
    ticket = await create_ticket(session, await create_user(session))

    await support_ticket_service.update(session, ticket, data=SupportTicketUpdate(admin_response=None))

    loaded = await stored(session, ticket.id)
    assert (loaded.status, loaded.admin_response) == (TicketStatus.OPEN, None)


async def test_update_ticket_status_only(session):
    ticket = await create_ticket(session, await create_user(session))

    await support_ticket_service.update(session, ticket, data=SupportTicketUpdate(status=TicketStatus.CLOSED))

    loaded = await stored(session, ticket.id)
    assert (loaded.status, loaded.subject) == (TicketStatus.CLOSED, "Help")


async def test_get_all_tickets_filters(session):
    alice, bob = await create_user(session), await create_user(session)
    t1 = await create_ticket(session, alice, subject="Refund please")
    t2 = await create_ticket(
        session, alice, subject="Video", message="won't play", status=TicketStatus.CLOSED
    )
    t3 = await create_ticket(session, bob, subject="Hello", message="refund for lesson 3")

    async def ids(**filters) -> list[int]:
        tickets, total, _ = await support_ticket_service.get_all(
            session, sort="id", limit=10, offset=0, **filters
        )
        assert total == len(tickets)
        return [t.id for t in tickets]

    assert await ids(user_id=alice.id) == [t1.id, t2.id]
    assert await ids(status=TicketStatus.OPEN) == [t1.id, t3.id]
    assert await ids(search="REFUND") == [t1.id, t3.id]
    assert await ids(user_id=bob.id, status=TicketStatus.CLOSED) == []
    assert await ids() == [t1.id, t2.id, t3.id]


async def test_get_all_tickets_newest_first_by_default(session):
    user = await create_user(session)
    first = await create_ticket(session, user)
    second = await create_ticket(session, user)
    second.created_at = first.created_at  # a tie: the id decides
    await session.commit()

    tickets, _, _ = await support_ticket_service.get_all(session, limit=10, offset=0)

    assert [t.id for t in tickets] == [second.id, first.id]


async def test_delete_ticket(session):
    user = await create_user(session)
    ticket, kept = await create_ticket(session, user), await create_ticket(session, user)

    await support_ticket_service.delete(session, ticket)

    remaining = (await session.scalars(select(SupportTicket.id))).all()
    assert remaining == [kept.id]


async def test_answers_to_send_leaves_out_sent_and_undeliverable_ones(session):
    user = await create_user(session)
    to_send = await create_ticket(session, user, admin_response="Try again")
    sent = await create_ticket(session, user, admin_response="Done")
    refused = await create_ticket(session, user, admin_response="Hello?")
    await create_ticket(session, user)  # not answered
    await support_ticket_service.mark_answer_sent(session, sent)
    await support_ticket_service.mark_answer_undeliverable(session, refused)

    assert [t.id for t in await support_ticket_service.answers_to_send(session)] == [to_send.id]


async def test_a_new_answer_is_to_be_sent_again(session):
    ticket = await create_ticket(session, await create_user(session), admin_response="Hello?")
    await support_ticket_service.mark_answer_undeliverable(session, ticket)

    await support_ticket_service.update(session, ticket, data=SupportTicketUpdate(admin_response="Again"))

    assert ticket.response_undeliverable_at is None
    assert [t.id for t in await support_ticket_service.answers_to_send(session)] == [ticket.id]
