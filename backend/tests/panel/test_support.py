"""The panel's support pages: tickets by status, a ticket, answering (delivered by the bot), closing."""

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.main import app
from backend.tests.factories import (
    create_lesson,
    create_purchase,
    create_support_message,
    create_ticket,
    create_user,
)
from backend.tests.panel.conftest import csrf_of
from bot.app import create_bot
from bot.gateway import BotGateway
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN, settings_env
from bot.tests.helpers import wait_until
from shared.constants import AdminRole, SupportMessageAuthor, TicketStatus
from shared.models import Admin, AuditLog, Purchase, SupportTicket
from shared.utils import utcnow
from worker import engine as job_engine


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    """The Bot API double, and the app's way to Telegram (as its lifespan wires it) pointed at it."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=api.base_url) as settings:
            bot = create_bot(settings)
            app.state.telegram = BotGateway(bot)
            try:
                async with job_engine.running(settings, bot=bot, host=False) as engine:
                    app.state.jobs = engine.jobs
                    yield api
            finally:
                app.state.telegram = app.state.jobs = None
                await bot.session.close()


async def stored(session: AsyncSession, ticket_id: int) -> SupportTicket:
    session.expire_all()
    ticket = await session.scalar(
        select(SupportTicket)
        .where(SupportTicket.id == ticket_id)
        .options(selectinload(SupportTicket.messages))
    )
    assert ticket is not None
    return ticket


async def test_list_shows_open_tickets_newest_first(signed_in: httpx.AsyncClient, session: AsyncSession):
    author = await create_user(session, first_name="Ann")
    older = await create_ticket(session, author, subject="Older question")
    newer = await create_ticket(session, author, subject="Newer question")
    await create_ticket(session, author, subject="Closed one", status=TicketStatus.CLOSED)
    await session.commit()

    page = await signed_in.get("/admin/support")

    assert page.status_code == 200
    assert page.text.index("Newer question") < page.text.index("Older question")
    assert "Closed one" not in page.text
    assert f'href="/admin/support/{newer.id}"' in page.text
    assert f'href="/admin/students/{author.id}"' in page.text
    assert f'href="/admin/support/{older.id}"' in page.text


async def test_list_by_status_search_and_paging(signed_in: httpx.AsyncClient, session: AsyncSession):
    author = await create_user(session)
    await create_ticket(session, author, subject="Refund please", status=TicketStatus.CLOSED)
    await create_ticket(session, author, subject="Video broken", status=TicketStatus.ANSWERED)
    await session.commit()

    closed = await signed_in.get("/admin/support", params={"status": "closed"})
    assert "Refund please" in closed.text
    assert "Video broken" not in closed.text
    every = await signed_in.get("/admin/support", params={"status": "all", "q": "video"})
    assert "Video broken" in every.text
    assert "Refund please" not in every.text
    far = await signed_in.get("/admin/support", params={"status": "all", "offset": 50})
    assert far.status_code == 200
    assert "No tickets here." in far.text


@pytest.mark.parametrize(
    "params", [{"status": "lost"}, {"offset": "-1"}, {"offset": "many"}, {"sort": "subject"}]
)
async def test_list_bad_filters_are_422(signed_in: httpx.AsyncClient, params: dict[str, str]):
    response = await signed_in.get("/admin/support", params=params)
    assert response.status_code == 422
    assert "Invalid input" in response.text


async def test_ticket_page_escapes_the_students_text(signed_in: httpx.AsyncClient, session: AsyncSession):
    author = await create_user(session, first_name="<b>Eve</b>")
    ticket = await create_ticket(
        session, author, subject="<script>alert(1)</script>", message="Help <img src=x onerror=alert(1)>"
    )
    await session.commit()

    page = await signed_in.get(f"/admin/support/{ticket.id}")

    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Help &lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page.text
    assert f'href="/admin/students/{author.id}"' in page.text


@pytest.mark.parametrize("path", ["/admin/support/999999", "/admin/support/abc", "/admin/support/0"])
async def test_missing_ticket_is_404(signed_in: httpx.AsyncClient, path: str):
    response = await signed_in.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.text


async def answer_delivered(session: AsyncSession, ticket_id: int) -> bool:
    saved = await stored(session, ticket_id)
    return saved.response_sent_at is not None or saved.response_undeliverable_at is not None


async def test_answer_reaches_the_student(
    signed_in: httpx.AsyncClient, session: AsyncSession, telegram: BotAPIDouble
):
    author = await create_user(session, telegram_id=5550001)
    ticket = await create_ticket(session, author)
    await session.commit()
    page = await signed_in.get(f"/admin/support/{ticket.id}")

    response = await signed_in.post(
        f"/admin/support/{ticket.id}/answer",
        data={"text": "Reinstall the app <please>", "csrf_token": csrf_of(page.text)},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/support/{ticket.id}"
    shown = await signed_in.get(response.headers["location"])
    assert "The answer is saved and on its way to the student." in shown.text
    # The job kicked for the answer sends it at once, with the buttons to reply and to close.
    [sent] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "5550001")
    assert sent["text"] == f"Answer to your request #{ticket.id}:\n\nReinstall the app <please>"
    assert [b["text"] for row in sent["reply_markup"]["inline_keyboard"] for b in row] == [
        "↩️ Reply",
        "✅ Close the request",
    ]
    await wait_until(lambda: answer_delivered(session, ticket.id))
    saved = await stored(session, ticket.id)
    assert (saved.admin_response, saved.status) == ("Reinstall the app <please>", TicketStatus.ANSWERED)
    assert saved.messages[-1].telegram_message_id is not None
    conversation = await signed_in.get(f"/admin/support/{ticket.id}/messages")
    assert "Reinstall the app &lt;please&gt;" in conversation.text
    assert "Delivered" in conversation.text
    # Recorded in the audit log under the signed-in admin.
    entries = (await session.scalars(select(AuditLog).where(AuditLog.entity == "support_messages"))).all()
    assert {entry.admin_username for entry in entries} == {"admin"}


async def test_answer_to_a_student_who_blocked_the_bot(
    signed_in: httpx.AsyncClient, session: AsyncSession, telegram: BotAPIDouble
):
    author = await create_user(session, telegram_id=5550002)
    ticket = await create_ticket(session, author)
    await session.commit()
    telegram.block(5550002)
    page = await signed_in.get(f"/admin/support/{ticket.id}")

    await signed_in.post(
        f"/admin/support/{ticket.id}/answer", data={"text": "Hello?", "csrf_token": csrf_of(page.text)}
    )

    await wait_until(lambda: answer_delivered(session, ticket.id))
    saved = await stored(session, ticket.id)
    assert saved.response_undeliverable_at is not None
    assert saved.response_sent_at is None
    shown = await signed_in.get(f"/admin/support/{ticket.id}")
    assert "Not delivered: the student blocked the bot" in shown.text


async def test_answer_with_the_bot_off_waits(signed_in: httpx.AsyncClient, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    page = await signed_in.get(f"/admin/support/{ticket.id}")

    response = await signed_in.post(
        f"/admin/support/{ticket.id}/answer",
        data={"text": "Soon", "close": "true", "csrf_token": csrf_of(page.text)},
        follow_redirects=True,
    )

    assert "the bot sends it as soon as it can reach Telegram" in response.text
    assert "Waiting to be sent" in response.text
    saved = await stored(session, ticket.id)
    assert (saved.admin_response, saved.status, saved.response_sent_at) == ("Soon", TicketStatus.CLOSED, None)


async def test_conversation_shows_every_message_with_attachments(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    author = await create_user(session, first_name="Ann")
    ticket = await create_ticket(
        session, author, message="The video is black", admin_response="Which device?"
    )
    await create_support_message(
        session,
        ticket,
        author=SupportMessageAuthor.STUDENT,
        text="This one",
        attachments=[
            {"kind": "photo", "file_id": "AgAD-shot", "file_name": None},
            {"kind": "document", "file_id": "BQAD-log", "file_name": "log.txt"},
        ],
    )

    page = await signed_in.get(f"/admin/support/{ticket.id}")
    partial = await signed_in.get(f"/admin/support/{ticket.id}/messages", headers={"HX-Request": "true"})

    assert page.status_code == partial.status_code == 200
    for html in (page.text, partial.text):
        assert html.index("The video is black") < html.index("Which device?") < html.index("This one")
        assert "log.txt" in html
        assert "AgAD-shot" in html
        assert ">Photo<" in html
        assert ">Document<" in html
    # The page polls the conversation; the partial is the conversation alone (it polls on, being swapped in).
    assert f'hx-get="/admin/support/{ticket.id}/messages"' in page.text
    assert 'hx-trigger="every 3s"' in partial.text
    assert "<html" not in partial.text
    assert "support-answer" not in partial.text
    assert 'name="text"' not in partial.text


async def test_each_answer_shows_who_wrote_it(signed_in: httpx.AsyncClient, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session), message="Hello")
    colleague = Admin(username="maria", password_hash="x", role=AdminRole.SUPPORT)
    session.add(colleague)
    await session.flush()
    await create_support_message(
        session, ticket, author=SupportMessageAuthor.ADMIN, text="Hi!", admin_id=colleague.id
    )
    await create_support_message(
        session, ticket, author=SupportMessageAuthor.ADMIN, text="By a removed account"
    )

    page = await signed_in.get(f"/admin/support/{ticket.id}")
    russian = await signed_in.get(f"/admin/support/{ticket.id}/messages", headers={"Accept-Language": "ru"})

    assert page.status_code == russian.status_code == 200
    assert "maria answered" in page.text
    assert "Our answer" in page.text
    assert "Ответ: maria" in russian.text


async def test_ticket_page_shows_its_purchase_with_the_refund_button(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    author = await create_user(session)
    purchase = await create_purchase(
        session, author, await create_lesson(session, title="Chords"), telegram_payment_charge_id="charge-1"
    )
    ticket = await create_ticket(session, author, purchase_id=purchase.id)

    page = await signed_in.get(f"/admin/support/{ticket.id}")

    assert f"#{purchase.id}" in page.text
    assert "Chords" in page.text
    assert f'action="/admin/purchases/{purchase.id}/refund"' in page.text
    assert f'name="next" value="/admin/support/{ticket.id}"' in page.text


async def test_support_role_sees_the_purchase_without_the_refund_button(signed_in_as, session: AsyncSession):
    author = await create_user(session)
    purchase = await create_purchase(
        session, author, await create_lesson(session), telegram_payment_charge_id="c-2"
    )
    ticket = await create_ticket(session, author, purchase_id=purchase.id)
    client = await signed_in_as(AdminRole.SUPPORT)

    page = await client.get(f"/admin/support/{ticket.id}")

    assert 'data-testid="ticket-purchase"' in page.text
    assert "/refund" not in page.text
    assert await session.get(Purchase, purchase.id) is not None


async def test_list_shows_status_and_last_activity_first(signed_in: httpx.AsyncClient, session: AsyncSession):
    author = await create_user(session)
    busy = await create_ticket(session, author, subject="Busy one", status=TicketStatus.ANSWERED)
    quiet = await create_ticket(session, author, subject="Quiet one")
    # The older ticket had the latest message.
    quiet.updated_at, busy.updated_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(minutes=1)
    await session.commit()

    page = await signed_in.get("/admin/support", params={"status": "all"})

    assert page.text.index("Busy one") < page.text.index("Quiet one")
    assert "Answered" in page.text
    assert "Last activity" in page.text


@pytest.mark.parametrize(
    ("answer", "message"),
    [("   ", "This field is required."), ("x" * 10_001, "Enter at most 10,000 characters.")],
)
async def test_answer_invalid_keeps_what_was_typed(
    signed_in: httpx.AsyncClient, session: AsyncSession, answer: str, message: str
):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    page = await signed_in.get(f"/admin/support/{ticket.id}")

    response = await signed_in.post(
        f"/admin/support/{ticket.id}/answer",
        data={"text": answer, "csrf_token": csrf_of(page.text)},
    )

    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    if answer.strip():
        assert answer in response.text
    assert (await stored(session, ticket.id)).admin_response is None


async def test_close_and_reopen(signed_in: httpx.AsyncClient, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    page = await signed_in.get(f"/admin/support/{ticket.id}")
    assert 'data-confirm="Close ticket #' in page.text
    token = csrf_of(page.text)

    closed = await signed_in.post(
        f"/admin/support/{ticket.id}/status", data={"status": "closed", "csrf_token": token}
    )
    assert closed.status_code == 303
    assert (await stored(session, ticket.id)).status is TicketStatus.CLOSED
    reopened = await signed_in.post(
        f"/admin/support/{ticket.id}/status",
        data={"status": "open", "csrf_token": token},
        follow_redirects=True,
    )
    assert "The ticket is reopened." in reopened.text
    assert (await stored(session, ticket.id)).status is TicketStatus.OPEN


async def test_status_bad_value_is_422(signed_in: httpx.AsyncClient, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    page = await signed_in.get(f"/admin/support/{ticket.id}")
    response = await signed_in.post(
        f"/admin/support/{ticket.id}/status", data={"status": "gone", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 422
    assert (await stored(session, ticket.id)).status is TicketStatus.OPEN


async def test_post_to_missing_ticket_is_404(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin/support")
    token = csrf_of(page.text)
    for action in ("answer", "status"):
        response = await signed_in.post(
            f"/admin/support/999999/{action}", data={"status": "closed", "csrf_token": token}
        )
        assert response.status_code == 404


async def test_post_without_csrf_is_refused(signed_in: httpx.AsyncClient, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    response = await signed_in.post(f"/admin/support/{ticket.id}/status", data={"status": "closed"})
    assert response.status_code == 403
    assert (await stored(session, ticket.id)).status is TicketStatus.OPEN


async def test_support_role_may_answer(signed_in_as, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    client = await signed_in_as(AdminRole.SUPPORT)
    page = await client.get(f"/admin/support/{ticket.id}")
    assert page.status_code == 200
    response = await client.post(
        f"/admin/support/{ticket.id}/status", data={"status": "closed", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303


async def test_manager_is_refused_every_support_route(signed_in_as, session: AsyncSession):
    ticket = await create_ticket(session, await create_user(session))
    await session.commit()
    client = await signed_in_as(AdminRole.MANAGER)
    token = csrf_of((await client.get("/admin")).text)
    for path in ("/admin/support", f"/admin/support/{ticket.id}", f"/admin/support/{ticket.id}/messages"):
        assert (await client.get(path)).status_code == 403
    for action, data in (("answer", {"text": "Hi"}), ("status", {"status": "closed"})):
        response = await client.post(
            f"/admin/support/{ticket.id}/{action}", data={**data, "csrf_token": token}
        )
        assert response.status_code == 403
    saved = await stored(session, ticket.id)
    assert (saved.status, saved.admin_response) == (TicketStatus.OPEN, None)


async def test_signed_out_goes_to_login(client: httpx.AsyncClient):
    response = await client.get("/admin/support")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")
