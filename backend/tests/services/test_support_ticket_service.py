"""Support tickets (backend/services/support_ticket_service.py)."""

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from backend.services import support_ticket_service
from backend.services.exceptions import RecipientBlocked, TelegramUnavailable, TicketNotFound, UserNotFound
from backend.tests.factories import create_ticket, create_user
from shared.constants import AttachmentKind, SupportMessageAuthor, TicketStatus
from shared.database import session_scope
from shared.models import Admin, SupportMessage, SupportTicket, User
from shared.schemas import SupportAttachment, SupportTicketCreate, SupportTicketUpdate
from shared.utils import utcnow


async def stored(session, ticket_id: int) -> SupportTicket:
    statement = (
        select(SupportTicket)
        .where(SupportTicket.id == ticket_id)
        .options(selectinload(SupportTicket.messages))
    )
    return (await session.scalars(statement.execution_options(populate_existing=True))).one()


def conversation(ticket: SupportTicket) -> list[tuple[SupportMessageAuthor, str]]:
    return [(m.author, m.text) for m in ticket.messages]


class FakeTelegram:
    """Telegram as the services see it (the Telegram protocol), answering as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[dict] = []

    async def send_ticket_answer(self, **fields) -> None:
        self.sent.append(fields)
        if self.error is not None:
            raise self.error
        await fields["part_sent"](1, 4242)


async def test_create_ticket_opens_it_with_its_first_message(session):
    user = await create_user(session)
    photo = SupportAttachment(kind=AttachmentKind.PHOTO, file_id="AgAD-photo")

    ticket = await support_ticket_service.create(
        session,
        data=SupportTicketCreate(user_id=user.id, subject=" Payment ", message="Stars gone"),
        attachments=[photo],
    )

    loaded = await stored(session, ticket.id)
    assert (loaded.user_id, loaded.subject, loaded.message) == (user.id, "Payment", "Stars gone")
    assert (loaded.status, loaded.admin_response) == (TicketStatus.OPEN, None)
    assert conversation(loaded) == [(SupportMessageAuthor.STUDENT, "Stars gone")]
    assert loaded.messages[0].attachments == [{"kind": "photo", "file_id": "AgAD-photo", "file_name": None}]


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


async def test_add_answer_makes_the_ticket_answered(session):
    admin = await session.scalar(select(Admin).limit(1))  # the configured admin, made at startup
    ticket = await create_ticket(session, await create_user(session))

    message = await support_ticket_service.add_answer(session, ticket, text="Refunded", admin_id=admin.id)
    await session.commit()

    loaded = await stored(session, ticket.id)
    assert loaded.status is TicketStatus.ANSWERED
    assert conversation(loaded) == [
        (SupportMessageAuthor.STUDENT, "It does not open"),
        (SupportMessageAuthor.ADMIN, "Refunded"),
    ]
    assert (message.admin_id, message.delivered_at, message.undeliverable_at) == (admin.id, None, None)
    assert loaded.admin_response == "Refunded"


@pytest.mark.parametrize("status", [TicketStatus.OPEN, TicketStatus.ANSWERED, TicketStatus.CLOSED])
async def test_add_student_message_opens_the_ticket(session, status):
    ticket = await create_ticket(session, await create_user(session), admin_response="Hi", status=status)
    before = ticket.updated_at
    document = SupportAttachment(kind=AttachmentKind.DOCUMENT, file_id="BQAD-doc", file_name="receipt.pdf")

    await support_ticket_service.add_student_message(
        session, ticket, text="Still broken", attachments=[document]
    )
    await session.commit()

    loaded = await stored(session, ticket.id)
    assert loaded.status is TicketStatus.OPEN
    assert conversation(loaded)[-1] == (SupportMessageAuthor.STUDENT, "Still broken")
    assert loaded.messages[-1].attachments == [
        {"kind": "document", "file_id": "BQAD-doc", "file_name": "receipt.pdf"}
    ]
    assert loaded.updated_at >= before


async def test_close_and_reopen_ticket(session):
    ticket = await create_ticket(session, await create_user(session), status=TicketStatus.ANSWERED)

    await support_ticket_service.close(session, ticket)
    assert (await stored(session, ticket.id)).status is TicketStatus.CLOSED
    await support_ticket_service.reopen(session, ticket)
    assert (await stored(session, ticket.id)).status is TicketStatus.OPEN


async def test_active_ticket_is_the_latest_open_or_answered_one(session):
    user, other = await create_user(session), await create_user(session)
    await create_ticket(session, user, status=TicketStatus.OPEN)
    answered = await create_ticket(session, user, status=TicketStatus.ANSWERED)
    await create_ticket(session, user, status=TicketStatus.CLOSED)
    await create_ticket(session, other, status=TicketStatus.CLOSED)

    assert (await support_ticket_service.active_ticket(session, user.id)).id == answered.id
    assert await support_ticket_service.active_ticket(session, other.id) is None


async def test_get_of_user_refuses_another_users_ticket(session):
    owner, stranger = await create_user(session), await create_user(session)
    ticket = await create_ticket(session, owner)

    assert (await support_ticket_service.get_of_user(session, ticket.id, owner.id)).id == ticket.id
    with pytest.raises(TicketNotFound):
        await support_ticket_service.get_of_user(session, ticket.id, stranger.id)


async def test_update_with_admin_response_adds_an_admin_message(session):
    ticket = await support_ticket_service.get(
        session, (await create_ticket(session, await create_user(session))).id
    )

    await support_ticket_service.update(
        session, ticket, data=SupportTicketUpdate(admin_response="Done", status=TicketStatus.CLOSED)
    )
    await session.commit()

    loaded = await stored(session, ticket.id)
    assert loaded.status is TicketStatus.CLOSED
    assert conversation(loaded)[-1] == (SupportMessageAuthor.ADMIN, "Done")


async def test_messages_in_order(session):
    ticket = await create_ticket(session, await create_user(session), admin_response="First answer")
    await support_ticket_service.add_student_message(session, ticket, text="Thanks, and one more thing")
    await session.commit()

    messages = await support_ticket_service.messages(session, ticket)

    assert [(m.author, m.text) for m in messages] == [
        (SupportMessageAuthor.STUDENT, "It does not open"),
        (SupportMessageAuthor.ADMIN, "First answer"),
        (SupportMessageAuthor.STUDENT, "Thanks, and one more thing"),
    ]
    assert [
        m.text for m in await support_ticket_service.messages(session, ticket, after_id=messages[1].id)
    ] == ["Thanks, and one more thing"]


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


async def test_messages_to_deliver_leaves_out_sent_undeliverable_and_student_ones(session):
    user = await create_user(session)
    to_send = await create_ticket(session, user, admin_response="Try again")
    await create_ticket(session, user, admin_response="Done", response_sent_at=utcnow())
    await create_ticket(session, user, admin_response="Hello?", response_undeliverable_at=utcnow())

    waiting = await support_ticket_service.messages_to_deliver(session)

    assert [(m.ticket_id, m.text) for m in waiting] == [(to_send.id, "Try again")]


async def test_deliver_sends_once_when_two_runs_meet():
    """The job kicked for an answer and the sweep may take the same message at once: one sends it."""
    async with session_scope() as session:
        await create_ticket(session, await create_user(session), admin_response="Once")
    release = asyncio.Event()

    class SlowTelegram(FakeTelegram):
        async def send_ticket_answer(self, **fields) -> None:
            await release.wait()
            await super().send_ticket_answer(**fields)

    telegram = SlowTelegram()

    async def run() -> bool:
        async with session_scope() as session:
            [message] = await support_ticket_service.messages_to_deliver(session) or [None]
            if message is None:
                return False
            return await support_ticket_service.deliver(session, message, telegram=telegram)

    first = asyncio.create_task(run())
    # The first run holds the claim (committed) while Telegram has not answered: the sweep skips it.
    while True:
        async with session_scope() as session:
            if not await support_ticket_service.messages_to_deliver(session):
                break
        await asyncio.sleep(0.01)
    second = await run()
    release.set()
    assert (await first, second) == (True, False)
    assert len(telegram.sent) == 1


async def test_deliver_marks_the_message_delivered(session):
    user = await create_user(session, language_code="ru")
    ticket = await create_ticket(session, user, admin_response="Answer")
    [message] = await support_ticket_service.messages_to_deliver(session)
    telegram = FakeTelegram()

    assert await support_ticket_service.deliver(session, message, telegram=telegram) is True
    # A second run (the sweep after the kicked job) finds it done and sends nothing.
    assert await support_ticket_service.deliver(session, message, telegram=telegram) is True
    await session.commit()

    [fields] = telegram.sent
    assert {name: value for name, value in fields.items() if name != "part_sent"} == {
        "telegram_user_id": user.telegram_id,
        "language_code": "ru",
        "ticket_id": ticket.id,
        "answer": "Answer",
        "parts_sent": 0,
    }
    loaded = await session.get(SupportMessage, message.id, populate_existing=True)
    assert loaded.delivered_at is not None
    assert (loaded.telegram_message_id, loaded.parts_sent) == (4242, 1)


async def test_deliver_after_a_failed_part_sends_only_the_parts_after_those_sent(session):
    await create_ticket(session, await create_user(session), admin_response="A long answer")
    await session.commit()

    class ThreePartsTelegram(FakeTelegram):
        """Sends an answer as three parts (message ids 100 + part); part 2 fails the first time."""

        def __init__(self) -> None:
            super().__init__()
            self.parts: list[int] = []

        async def send_ticket_answer(self, **fields) -> None:
            self.sent.append(fields)
            for number in range(fields["parts_sent"] + 1, 4):
                if number == 2 and len(self.sent) == 1:
                    raise TelegramUnavailable("Internal Server Error")
                self.parts.append(number)
                await fields["part_sent"](number, 100 + number)

    telegram = ThreePartsTelegram()

    async def run() -> bool:
        async with session_scope() as session:
            [message] = await support_ticket_service.messages_to_deliver(session)
            return await support_ticket_service.deliver(session, message, telegram=telegram)

    assert await run() is False
    # The sweep's retry goes on after the part that reached the student.
    assert await run() is True
    assert [fields["parts_sent"] for fields in telegram.sent] == [0, 1]
    assert telegram.parts == [1, 2, 3]
    message = await session.scalar(
        select(SupportMessage)
        .where(SupportMessage.author == SupportMessageAuthor.ADMIN)
        .execution_options(populate_existing=True)
    )
    assert message is not None
    assert (message.parts_sent, message.telegram_message_id) == (3, 103)
    assert message.delivered_at is not None


async def test_deliver_to_a_blocked_student_marks_it_undeliverable(session):
    user = await create_user(session)
    await create_ticket(session, user, admin_response="Hello?")
    [message] = await support_ticket_service.messages_to_deliver(session)

    delivered = await support_ticket_service.deliver(
        session, message, telegram=FakeTelegram(RecipientBlocked())
    )
    await session.commit()

    assert delivered is False
    assert message.undeliverable_at is not None
    assert message.delivered_at is None
    assert (await session.get(User, user.id, populate_existing=True)).bot_blocked_at is not None
    assert await support_ticket_service.messages_to_deliver(session) == []


async def test_deliver_when_telegram_is_unreachable_leaves_it_for_later(session):
    await create_ticket(session, await create_user(session), admin_response="Hello?")
    [message] = await support_ticket_service.messages_to_deliver(session)

    delivered = await support_ticket_service.deliver(
        session, message, telegram=FakeTelegram(TelegramUnavailable("timeout"))
    )

    assert delivered is False
    assert [m.id for m in await support_ticket_service.messages_to_deliver(session)] == [message.id]
