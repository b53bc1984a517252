import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from backend.main import app
from backend.tests.factories import create_course, create_lesson, create_purchase, create_ticket, create_user
from bot.tests.bot_api_double import user
from bot.tests.helpers import buttons, db_scalar, db_scalars, press, run_jobs, send, settle
from conftest import ADMIN_PASSWORD
from shared.constants import PurchaseStatus, TicketStatus
from shared.models import SupportTicket


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
    [not_text] = await telegram.wait_for("sendMessage", lambda c: "text message" in c["text"])

    [created] = await send(telegram, person, "Here it is in words")

    assert not_text["text"] == "Please write your question as a text message."
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


async def test_admin_answer_reaches_the_user(telegram, api, session):
    author = await create_user(session, telegram_id=107)
    ticket = await create_ticket(session, author)

    body = await _answer(api, ticket.id, admin_response="Reinstall the app <please>")

    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "107")
    assert sent["text"] == f"Answer to your request #{ticket.id}:\n\nReinstall the app <please>"
    assert sent.ok
    assert body["response_sent_at"] is not None
    assert body["status"] == "answered"
    stored = await db_scalar(select(SupportTicket).where(SupportTicket.id == ticket.id))
    assert stored.response_sent_at is not None


async def test_long_answer_reaches_the_user_in_parts(telegram, api, session):
    author = await create_user(session, telegram_id=113)
    ticket = await create_ticket(session, author)
    # Nearly the longest answer allowed (10,000 characters): three messages of Telegram's at most 4,096.
    answer = " ".join(f"word{number}" for number in range(1500))[:9_990].strip()

    body = await _answer(api, ticket.id, admin_response=answer)

    sent = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "113", count=3)
    assert all(call.ok for call in sent)
    assert all(len(call["text"]) <= 4096 for call in sent)
    received = " ".join(call["text"] for call in sent)
    assert received == f"Answer to your request #{ticket.id}:\n\n{answer}"
    assert body["response_sent_at"] is not None


async def test_admin_answer_in_the_users_language(telegram, api, session):
    author = await create_user(session, telegram_id=108, language_code="ru")
    ticket = await create_ticket(session, author)

    await _answer(api, ticket.id, admin_response="Готово")

    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "108")
    assert sent["text"] == f"Ответ на обращение №{ticket.id}:\n\nГотово"


async def test_admin_answer_to_a_user_who_blocked_the_bot(telegram, api, session):
    author = await create_user(session, telegram_id=109)
    ticket = await create_ticket(session, author)
    telegram.block(109)

    body = await _answer(api, ticket.id, admin_response="Hello?")

    [refused] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "109")
    assert refused.error == "Forbidden: bot was blocked by the user"
    assert body["response_sent_at"] is None
    assert body["response_undeliverable_at"] is not None
    assert body["admin_response"] == "Hello?"
    stored = await db_scalar(select(SupportTicket).where(SupportTicket.id == ticket.id))
    assert stored.response_sent_at is None
    assert stored.response_undeliverable_at is not None


async def test_undeliverable_answer_is_not_retried_and_does_not_hold_up_others(
    telegram, api, bot, bot_settings, session
):
    blocked_author, other_author = await create_user(session, telegram_id=112), await create_user(session)
    blocked = await create_ticket(session, blocked_author)
    telegram.block(112)
    await _answer(api, blocked.id, admin_response="Hello?")
    # Tickets answered while the bot was down wait for the job, after the refused one in id order.
    waiting = [await create_ticket(session, other_author, admin_response=f"Answer {i}") for i in range(3)]

    await run_jobs(bot, bot_settings, reconcile=False)
    await run_jobs(bot, bot_settings, reconcile=False)

    to_blocked = [c for c in telegram.calls_to("sendMessage") if str(c["chat_id"]) == "112"]
    assert len(to_blocked) == 1  # the API's one try, not one per round of the job
    delivered = {c["text"] for c in telegram.sent_messages(other_author.telegram_id)}
    assert delivered == {f"Answer to your request #{t.id}:\n\nAnswer {i}" for i, t in enumerate(waiting)}


async def test_a_new_answer_is_tried_again_after_the_user_unblocks_the_bot(telegram, api, session):
    author = await create_user(session, telegram_id=113)
    ticket = await create_ticket(session, author)
    telegram.block(113)
    await _answer(api, ticket.id, admin_response="Hello?")
    telegram.unblock(113)

    body = await _answer(api, ticket.id, admin_response="Hello again")

    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "113" and c.ok)
    assert sent["text"].endswith("Hello again")
    assert body["response_sent_at"] is not None
    assert body["response_undeliverable_at"] is None


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
