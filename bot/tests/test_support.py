import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from backend.main import app
from backend.services.jobs import NOTIFY_ADMINS
from backend.tests.factories import create_course, create_lesson, create_purchase, create_ticket, create_user
from bot.tests.bot_api_double import user
from bot.tests.helpers import (
    buttons,
    db_scalar,
    db_scalars,
    press,
    run_jobs,
    send,
    settle,
    to_chat,
    wait_until,
)
from conftest import ADMIN_PASSWORD
from shared.constants import PurchaseStatus, SupportMessageAuthor, TicketStatus
from shared.models import SupportMessage, SupportTicket, User
from shared.utils import utcnow


@pytest.mark.usefixtures("polling_bot")
async def test_support_message_becomes_a_ticket(telegram):
    person = user(100, "Ann")

    [ask] = await send(telegram, person, "/support")
    [created] = await send(telegram, person, "The video does not play\nOn my phone, since yesterday.")

    assert ask["text"] == "Write your question in one message and we will answer here."
    [ticket] = await db_scalars(select(SupportTicket))
    assert created["text"] == (
        f"Thank you! Your request #{ticket.id} has been received. We will answer in this chat."
    )
    assert buttons(created) == [("« Menu", "m:main")]
    assert ticket.subject == "The video does not play"
    assert ticket.message == "The video does not play\nOn my phone, since yesterday."
    assert ticket.status is TicketStatus.OPEN
    assert ticket.purchase_id is None
    assert ticket.user_id is not None


@pytest.mark.usefixtures("polling_bot")
async def test_support_from_the_menu_button_in_russian(telegram):
    person = user(101, language_code="ru")
    await send(telegram, person, "/start")

    [ask] = await press(telegram, person, "m:support", method="sendMessage")
    [created] = await send(telegram, person, "Вопрос")

    [ticket] = await db_scalars(select(SupportTicket))
    assert ask["text"] == "Напишите вопрос одним сообщением — мы ответим здесь."
    assert created["text"] == f"Спасибо! Обращение №{ticket.id} принято. Ответим в этом чате."


@pytest.mark.usefixtures("polling_bot")
async def test_support_waits_for_a_text_message(telegram):
    person = user(102)
    await send(telegram, person, "/support")
    telegram.push_update(
        {
            "message": {
                "message_id": 9001,
                "from": person,
                "chat": {"id": 102, "type": "private", "first_name": "Test"},
                "date": int(time.time()),
                "location": {"latitude": 59.93, "longitude": 30.33},
            }
        }
    )
    [not_text] = await telegram.wait_for("sendMessage", lambda c: "a photo or a document" in c["text"])

    [created] = await send(telegram, person, "Here it is in words")

    assert not_text["text"] == "Please write your question as text, a photo or a document."
    assert "has been received" in created["text"]
    [ticket] = await db_scalars(select(SupportTicket))
    assert ticket.message == "Here it is in words"


@pytest.mark.usefixtures("polling_bot")
async def test_paysupport_without_purchases(telegram, session):
    buyer = await create_user(session, telegram_id=103)
    await create_purchase(session, buyer, await create_lesson(session), status=PurchaseStatus.PENDING)

    [reply] = await send(telegram, user(103), "/paysupport")

    assert reply["text"] == "You have no purchases yet. For other questions use /support."


@pytest.mark.usefixtures("polling_bot")
async def test_paysupport_ticket_about_a_purchase(telegram, session):
    buyer = await create_user(session, telegram_id=104)
    lesson = await create_lesson(session, title="Knots")
    course = await create_course(session, [], title="Sailing")
    bought = await create_purchase(session, buyer, lesson, amount=120)
    refunded = await create_purchase(session, buyer, course, amount=400, status=PurchaseStatus.REFUNDED)
    await create_purchase(session, buyer, await create_lesson(session), status=PurchaseStatus.PENDING)
    person = user(104)

    [choose] = await send(telegram, person, "/paysupport")
    [ask] = await press(telegram, person, f"ps:{bought.id}", method="sendMessage")
    [created] = await send(telegram, person, "I was charged twice")

    assert choose["text"] == "Which purchase is your question about?"
    assert sorted(buttons(choose)[:2]) == sorted(
        [
            (f"#{bought.id} Knots · 120 ⭐", f"ps:{bought.id}"),
            (f"#{refunded.id} Sailing · 400 ⭐", f"ps:{refunded.id}"),
        ]
    )
    assert buttons(choose)[2:] == [("« Menu", "m:main")]
    assert ask["text"] == "Write your question in one message and we will answer here."
    [ticket] = await db_scalars(select(SupportTicket))
    assert ticket.purchase_id == bought.id
    assert ticket.subject == f"Payment question about purchase #{bought.id}"
    assert ticket.message == "I was charged twice"
    assert f"#{ticket.id}" in created["text"]


@pytest.mark.usefixtures("polling_bot")
async def test_paysupport_about_someone_elses_purchase_opens_no_ticket(telegram, session):
    other = await create_user(session, telegram_id=105)
    purchase = await create_purchase(session, other, await create_lesson(session))
    person = user(106)
    await send(telegram, person, "/start")

    await press(telegram, person, f"ps:{purchase.id}", method="sendMessage")
    [reply] = await send(telegram, person, "Refund me")

    assert reply["text"] == "Sorry, something went wrong on our side. Please try again in a minute."
    assert await db_scalars(select(SupportTicket)) == []


# Answers from the admin API ---------------------------------------------------------------------------


@pytest.fixture
async def api(bot_settings) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ARG001 (starts the API with the bot on)
    """The real API with its lifespan (which gives it the bot), logged in as the admin."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert response.status_code == 200, response.text
            client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            yield client


async def _answer(api: httpx.AsyncClient, ticket_id: int, **changes: object) -> dict:
    response = await api.put(f"/api/support-tickets/{ticket_id}", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


async def _stored(ticket_id: int) -> SupportTicket:
    return await db_scalar(
        select(SupportTicket)
        .where(SupportTicket.id == ticket_id)
        .options(selectinload(SupportTicket.messages))
    )


async def _answer_settled(ticket_id: int) -> SupportTicket:
    """The ticket once the job kicked for its latest answer has delivered it or given up for good."""

    async def settled() -> bool:
        ticket = await _stored(ticket_id)
        return ticket.response_sent_at is not None or ticket.response_undeliverable_at is not None

    await wait_until(settled)
    return await _stored(ticket_id)


async def test_admin_answer_reaches_the_user(telegram, api, session):
    author = await create_user(session, telegram_id=107)
    ticket = await create_ticket(session, author)

    body = await _answer(api, ticket.id, admin_response="Reinstall the app <please>")

    assert body["status"] == "answered"
    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "107")
    assert sent["text"] == f"Answer to your request #{ticket.id}:\n\nReinstall the app <please>"
    assert sent.ok
    assert buttons(sent) == [
        ("↩️ Reply", f"tk:{ticket.id}:reply"),
        ("✅ Close the request", f"tk:{ticket.id}:close"),
    ]
    stored = await _answer_settled(ticket.id)
    assert stored.response_sent_at is not None
    assert stored.messages[-1].telegram_message_id == sent.result["message_id"]


async def test_answer_through_the_messages_route_reaches_the_user(telegram, api, session):
    author = await create_user(session, telegram_id=114)
    ticket = await create_ticket(session, author)

    response = await api.post(f"/api/support-tickets/{ticket.id}/messages", json={"text": "On it"})

    assert response.status_code == 201, response.text
    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "114")
    assert sent["text"].endswith("On it")
    assert (await _answer_settled(ticket.id)).response_sent_at is not None


async def test_long_answer_reaches_the_user_in_parts(telegram, api, session):
    author = await create_user(session, telegram_id=113)
    ticket = await create_ticket(session, author)
    # Nearly the longest answer allowed (10,000 characters): three messages of Telegram's at most 4,096.
    answer = " ".join(f"word{number}" for number in range(1500))[:9_990].strip()

    await _answer(api, ticket.id, admin_response=answer)

    sent = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "113", count=3)
    assert all(call.ok for call in sent)
    assert all(len(call["text"]) <= 4096 for call in sent)
    received = " ".join(call["text"] for call in sent)
    assert received == f"Answer to your request #{ticket.id}:\n\n{answer}"
    # The buttons go under the last part only.
    assert [bool(buttons(call)) for call in sent] == [False, False, True]
    assert (await _answer_settled(ticket.id)).response_sent_at is not None


async def test_long_answer_cut_off_by_a_failed_part_goes_on_from_that_part(
    telegram, api, bot, bot_settings, session
):
    author = await create_user(session, telegram_id=115)
    ticket = await create_ticket(session, author)
    answer = " ".join(f"word{number}" for number in range(1500))[:9_990].strip()
    telegram.fail("sendMessage", error_code=500, after=1, when=lambda p: str(p.get("chat_id")) == "115")

    await _answer(api, ticket.id, admin_response=answer)

    async def given_back_after_one_part() -> bool:
        message = await db_scalar(
            select(SupportMessage).where(SupportMessage.author == SupportMessageAuthor.ADMIN)
        )
        return (message.parts_sent, message.sending_until) == (1, None)

    await wait_until(given_back_after_one_part)
    await run_jobs(bot, bot_settings, reconcile=False)
    # Sent by this sweep, or by the API's own periodic one if that claimed the message first.
    stored = await _answer_settled(ticket.id)

    calls = [call for call in telegram.calls_to("sendMessage") if str(call["chat_id"]) == "115"]
    assert [call.ok for call in calls] == [True, False, True, True]
    delivered = [call for call in calls if call.ok]
    # Each part once, in order; the first is not sent again.
    assert " ".join(call["text"] for call in delivered) == f"Answer to your request #{ticket.id}:\n\n{answer}"
    assert [bool(buttons(call)) for call in delivered] == [False, False, True]
    assert stored.response_sent_at is not None
    assert stored.messages[-1].telegram_message_id == delivered[-1].result["message_id"]


async def test_admin_answer_in_the_users_language(telegram, api, session):
    author = await create_user(session, telegram_id=108, language_code="ru")
    ticket = await create_ticket(session, author)

    await _answer(api, ticket.id, admin_response="Готово")

    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "108")
    assert sent["text"] == f"Ответ на обращение №{ticket.id}:\n\nГотово"
    assert [text for text, _ in buttons(sent)] == ["↩️ Ответить", "✅ Закрыть обращение"]


async def test_admin_answer_to_a_user_who_blocked_the_bot(telegram, api, session):
    author = await create_user(session, telegram_id=109)
    ticket = await create_ticket(session, author)
    telegram.block(109)

    body = await _answer(api, ticket.id, admin_response="Hello?")

    [refused] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "109")
    assert refused.error == "Forbidden: bot was blocked by the user"
    assert body["admin_response"] == "Hello?"
    stored = await _answer_settled(ticket.id)
    assert stored.response_sent_at is None
    assert stored.response_undeliverable_at is not None
    blocked = await db_scalar(select(User.bot_blocked_at).where(User.id == author.id))
    assert blocked is not None


async def test_undeliverable_answer_is_not_retried_and_does_not_hold_up_others(
    telegram, api, bot, bot_settings, session
):
    blocked_author, other_author = await create_user(session, telegram_id=112), await create_user(session)
    blocked = await create_ticket(session, blocked_author)
    telegram.block(112)
    await _answer(api, blocked.id, admin_response="Hello?")
    await _answer_settled(blocked.id)
    # Tickets answered while the bot was down wait for the sweep, after the refused one in id order.
    waiting = [await create_ticket(session, other_author, admin_response=f"Answer {i}") for i in range(3)]
    await session.execute(update(SupportMessage).values(created_at=utcnow() - timedelta(minutes=5)))
    await session.commit()

    await run_jobs(bot, bot_settings, reconcile=False)
    await run_jobs(bot, bot_settings, reconcile=False)
    # Sent by these sweeps, or by the API's own periodic one where that claimed a message first.
    for ticket in waiting:
        await _answer_settled(ticket.id)

    to_blocked = [c for c in telegram.calls_to("sendMessage") if str(c["chat_id"]) == "112"]
    assert len(to_blocked) == 1  # the kicked job's one try, not one per round of the sweep
    delivered = {c["text"] for c in telegram.sent_messages(other_author.telegram_id)}
    assert delivered == {f"Answer to your request #{t.id}:\n\nAnswer {i}" for i, t in enumerate(waiting)}


async def test_a_new_answer_is_tried_again_after_the_user_unblocks_the_bot(telegram, api, session):
    author = await create_user(session, telegram_id=113)
    ticket = await create_ticket(session, author)
    telegram.block(113)
    await _answer(api, ticket.id, admin_response="Hello?")
    await _answer_settled(ticket.id)
    telegram.unblock(113)

    await _answer(api, ticket.id, admin_response="Hello again")

    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "113" and c.ok)
    assert sent["text"].endswith("Hello again")
    stored = await _answer_settled(ticket.id)
    assert stored.response_sent_at is not None
    assert stored.response_undeliverable_at is None


async def test_ticket_update_without_an_answer_sends_nothing(telegram, api, session):
    author = await create_user(session, telegram_id=110)
    ticket = await create_ticket(session, author)

    body = await _answer(api, ticket.id, status="closed")
    await settle()

    assert body["status"] == "closed"
    assert telegram.calls_to("sendMessage") == []


async def test_admin_answer_with_the_bot_off_is_kept_for_later(session):
    author = await create_user(session, telegram_id=111)
    ticket = await create_ticket(session, author)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            login = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            response = await client.put(
                f"/api/support-tickets/{ticket.id}", json={"admin_response": "Later"}, headers=headers
            )

    assert response.status_code == 200, response.text
    assert response.json()["response_sent_at"] is None
    assert response.json()["admin_response"] == "Later"
    [waiting] = await db_scalars(
        select(SupportMessage).where(SupportMessage.author == SupportMessageAuthor.ADMIN)
    )
    assert (waiting.delivered_at, waiting.undeliverable_at) == (None, None)


# The conversation in the bot -----------------------------------------------------------------------------


def photo_update(telegram, person: dict, caption: str | None = None) -> dict:
    update = telegram.message_update(person, "")
    message = update["message"]
    del message["text"]
    message["photo"] = [
        {"file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 90},
        {"file_id": "AgAD-large", "file_unique_id": "s2", "width": 1280, "height": 1280},
    ]
    if caption is not None:
        message["caption"] = caption
    return update


def document_update(telegram, person: dict) -> dict:
    update = telegram.message_update(person, "")
    message = update["message"]
    del message["text"]
    message["document"] = {"file_id": "BQAD-doc", "file_unique_id": "d1", "file_name": "receipt.pdf"}
    return update


async def _messages(ticket_id: int) -> list[SupportMessage]:
    return await db_scalars(
        select(SupportMessage).where(SupportMessage.ticket_id == ticket_id).order_by(SupportMessage.id)
    )


@pytest.mark.usefixtures("polling_bot")
async def test_further_messages_go_into_the_open_ticket(telegram, session):
    author = await create_user(session, telegram_id=120)
    ticket = await create_ticket(
        session, author, admin_response="Which device?", status=TicketStatus.ANSWERED
    )
    person = user(120)

    [added] = await send(telegram, person, "My phone, an old one")

    assert added["text"] == f"Added to your request #{ticket.id}. We will answer in this chat."
    assert [(m.author, m.text) for m in await _messages(ticket.id)] == [
        (SupportMessageAuthor.STUDENT, "It does not open"),
        (SupportMessageAuthor.ADMIN, "Which device?"),
        (SupportMessageAuthor.STUDENT, "My phone, an old one"),
    ]
    assert (await _stored(ticket.id)).status is TicketStatus.OPEN
    assert len(await db_scalars(select(SupportTicket))) == 1


@pytest.mark.usefixtures("polling_bot")
async def test_photos_and_documents_are_kept_as_file_ids(telegram, session):
    author = await create_user(session, telegram_id=121)
    ticket = await create_ticket(session, author)
    person = user(121)

    telegram.push_update(photo_update(telegram, person, caption="The error"))
    await telegram.wait_for("sendMessage", to_chat(121))
    telegram.push_update(document_update(telegram, person))
    await telegram.wait_for("sendMessage", to_chat(121), count=2)

    photo, document = (await _messages(ticket.id))[1:]
    assert (photo.text, photo.attachments) == (
        "The error",
        [{"kind": "photo", "file_id": "AgAD-large", "file_name": None}],
    )
    assert (document.text, document.attachments) == (
        "",
        [{"kind": "document", "file_id": "BQAD-doc", "file_name": "receipt.pdf"}],
    )


@pytest.mark.usefixtures("polling_bot")
async def test_plain_message_without_a_ticket_gets_the_fallback(telegram, session):
    author = await create_user(session, telegram_id=122)
    await create_ticket(session, author, status=TicketStatus.CLOSED)

    [reply] = await send(telegram, user(122), "hello?")

    assert reply["text"] == "I did not understand that. Choose from the menu, or write to /support."
    assert len(await db_scalars(select(SupportMessage))) == 1


@pytest.mark.usefixtures("polling_bot")
async def test_commands_still_work_with_an_open_ticket(telegram, session):
    author = await create_user(session, telegram_id=123)
    ticket = await create_ticket(session, author)

    [menu] = await send(telegram, user(123), "/start")

    assert "Added to your request" not in menu["text"]
    assert len(await _messages(ticket.id)) == 1


@pytest.mark.usefixtures("polling_bot")
async def test_support_with_an_open_ticket_says_so(telegram, session):
    author = await create_user(session, telegram_id=124)
    ticket = await create_ticket(session, author)
    person = user(124)

    [reply] = await send(telegram, person, "/support")
    [added] = await send(telegram, person, "One more detail")

    assert reply["text"].startswith(f"Your request #{ticket.id} is open: just write here")
    assert ("✅ Close the request", f"tk:{ticket.id}:close") in buttons(reply)
    assert added["text"].startswith(f"Added to your request #{ticket.id}")
    assert len(await db_scalars(select(SupportTicket))) == 1


@pytest.mark.usefixtures("polling_bot")
async def test_reply_button_reopens_a_closed_ticket(telegram, session):
    author = await create_user(session, telegram_id=125)
    ticket = await create_ticket(session, author, admin_response="Done", status=TicketStatus.CLOSED)
    person = user(125)

    [ask] = await press(telegram, person, f"tk:{ticket.id}:reply", method="sendMessage")
    telegram.push_update(photo_update(telegram, person, caption="It is back"))
    [added] = await telegram.wait_for("sendMessage", lambda c: "Added to your request" in c["text"])

    assert ask["text"] == f"Write your message for request #{ticket.id}: text, a photo or a document."
    assert f"#{ticket.id}" in added["text"]
    stored = await _stored(ticket.id)
    assert stored.status is TicketStatus.OPEN
    assert stored.messages[-1].text == "It is back"
    assert stored.messages[-1].attachments[0]["file_id"] == "AgAD-large"


@pytest.mark.usefixtures("polling_bot")
async def test_close_button_closes_the_ticket(telegram, session):
    author = await create_user(session, telegram_id=126)
    ticket = await create_ticket(session, author, admin_response="Fixed", status=TicketStatus.ANSWERED)
    person = user(126)

    [closed] = await press(telegram, person, f"tk:{ticket.id}:close", method="sendMessage")
    [fallback] = await send(telegram, person, "thanks")

    assert closed["text"].startswith(f"Request #{ticket.id} is closed.")
    assert (await _stored(ticket.id)).status is TicketStatus.CLOSED
    # Closed: a plain message no longer goes into it.
    assert "did not understand" in fallback["text"]


@pytest.mark.usefixtures("polling_bot")
async def test_buttons_of_someone_elses_ticket_do_nothing(telegram, session):
    owner = await create_user(session, telegram_id=127)
    ticket = await create_ticket(session, owner, status=TicketStatus.ANSWERED)
    await create_user(session, telegram_id=128)

    [alert] = await press(telegram, user(128), f"tk:{ticket.id}:close", method="answerCallbackQuery")

    assert alert["text"] == "This request no longer exists. Write /support to start a new one."
    assert (await _stored(ticket.id)).status is TicketStatus.ANSWERED


@pytest.mark.usefixtures("polling_bot")
async def test_new_ticket_from_a_photo_with_a_caption(telegram):
    person = user(129)
    await send(telegram, person, "/support")

    telegram.push_update(photo_update(telegram, person, caption="Broken screen\nsee photo"))
    [created] = await telegram.wait_for("sendMessage", lambda c: "has been received" in c["text"])

    [ticket] = await db_scalars(select(SupportTicket))
    assert ticket.subject == "Broken screen"
    [first] = await _messages(ticket.id)
    assert first.attachments == [{"kind": "photo", "file_id": "AgAD-large", "file_name": None}]
    assert f"#{ticket.id}" in created["text"]


class RecordedJobs:
    """The job queue as the handlers see it (backend.services.jobs.JobQueue), keeping what was kicked: the
    admins' notification job is not part of this work (it is the admin-linking work's)."""

    def __init__(self) -> None:
        self.kicked: list[tuple[str, dict]] = []

    async def kick(self, name: str, **kwargs: object) -> None:
        self.kicked.append((name, kwargs))


@pytest.mark.usefixtures("polling_bot")
async def test_student_messages_kick_the_admins_notification(telegram, dispatcher):
    jobs = RecordedJobs()
    dispatcher["jobs"] = jobs
    person = user(130)
    await send(telegram, person, "/support")
    await send(telegram, person, "First question")
    await send(telegram, person, "And a detail")

    [ticket] = await db_scalars(select(SupportTicket))
    first, detail = await _messages(ticket.id)
    assert jobs.kicked == [
        (NOTIFY_ADMINS, {"support_message_id": first.id}),
        (NOTIFY_ADMINS, {"support_message_id": detail.id}),
    ]
