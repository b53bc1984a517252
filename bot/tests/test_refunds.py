"""Refunds: by the admin through the API (refundStarPayment), and made elsewhere (a refunded_payment
message from Telegram). Either way the purchase is marked refunded and its access removed."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from backend.main import app
from backend.services import payment_service
from backend.tests.factories import create_lesson, create_purchase, create_user
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import settings_env
from bot.tests.test_payments import BUYER, after, locked, open_lesson, purchases, to
from conftest import ADMIN_PASSWORD
from shared.constants import AuditAction, PurchaseStatus
from shared.models import AuditLog


@contextlib.asynccontextmanager
async def admin_client() -> AsyncIterator[httpx.AsyncClient]:
    """The real API with its lifespan (which gives it the bot, if on), logged in as the admin."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        response = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


@pytest.fixture
async def api(bot_settings) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ARG001 (starts the API with the bot on)
    async with admin_client() as client:
        yield client


async def paid_lesson(session, telegram: BotAPIDouble, charge_id: str = "stxPAID", *, in_ledger: bool = True):
    """A lesson BUYER paid for (and Telegram's ledger has the charge, unless not `in_ledger`)."""
    buyer = await create_user(session, telegram_id=BUYER["id"], first_name=BUYER["first_name"])
    lesson = await create_lesson(session, price=100, text_content="Paid body")
    invoice = await payment_service.create_invoice(session, user_id=buyer.id, lesson_id=lesson.id)
    if in_ledger:
        telegram.record_star_payment(BUYER, 100, invoice.payload, charge_id)
    recorded = await payment_service.record_payment(
        session, user_id=buyer.id, payload=invoice.payload, total_amount=100, charge_id=charge_id
    )
    await session.commit()
    return lesson, recorded.purchase


@pytest.mark.usefixtures("polling_bot")
async def test_refund_through_api(telegram, api, session):
    lesson, purchase = await paid_lesson(session, telegram)
    assert not locked(await open_lesson(telegram, BUYER, lesson.id))

    response = await api.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "refunded"
    [call] = telegram.calls_to("refundStarPayment")
    assert (call["user_id"], call["telegram_payment_charge_id"]) == (BUYER["id"], "stxPAID")
    assert telegram.star_payments["stxPAID"].refunded
    [stored] = await purchases()
    assert stored.status is PurchaseStatus.REFUNDED
    assert locked(await open_lesson(telegram, BUYER, lesson.id))


async def test_refund_twice_is_conflict(telegram, api, session):
    _, purchase = await paid_lesson(session, telegram)
    assert (await api.post(f"/api/purchases/{purchase.id}/refund")).status_code == 200

    response = await api.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 409
    assert response.json()["detail"] == f"Purchase {purchase.id} is already refunded"
    assert len(telegram.calls_to("refundStarPayment")) == 1


async def test_refund_already_refunded_at_telegram(telegram, api, session):
    _, purchase = await paid_lesson(session, telegram)
    telegram.refunded_payment_update(BUYER, "", 100, "stxPAID")  # refunded elsewhere; we missed it

    response = await api.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 409
    assert response.json()["detail"] == "Telegram says this charge was already refunded"
    [stored] = await purchases()
    assert stored.status is PurchaseStatus.REFUNDED


async def test_refund_charge_unknown_to_telegram(telegram, api, session):
    _, purchase = await paid_lesson(session, telegram, in_ledger=False)

    response = await api.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 409
    assert response.json()["detail"] == "Telegram does not know this charge"
    [stored] = await purchases()
    assert stored.status is PurchaseStatus.COMPLETED


async def test_refund_when_telegram_fails(telegram, api, session):
    _, purchase = await paid_lesson(session, telegram)
    telegram.fail("refundStarPayment", error_code=500)

    response = await api.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 502
    assert "Telegram" in response.json()["detail"]
    [stored] = await purchases()
    assert stored.status is PurchaseStatus.COMPLETED


async def test_refund_of_unpaid_or_manual_purchases_is_conflict(telegram, api, session):
    buyer = await create_user(session)
    pending = await create_purchase(session, buyer, await create_lesson(session), PurchaseStatus.PENDING)
    manual = await create_purchase(session, buyer, await create_lesson(session))  # no Telegram charge

    unpaid = await api.post(f"/api/purchases/{pending.id}/refund")
    no_charge = await api.post(f"/api/purchases/{manual.id}/refund")

    assert unpaid.status_code == no_charge.status_code == 409
    assert unpaid.json()["detail"] == f"Purchase {pending.id} is pending: nothing to refund"
    assert "not paid through Telegram" in no_charge.json()["detail"]
    assert telegram.calls_to("refundStarPayment") == []


async def test_refund_needs_admin(telegram, api, session):
    _, purchase = await paid_lesson(session, telegram)

    response = await api.post(f"/api/purchases/{purchase.id}/refund", headers={"Authorization": ""})

    assert response.status_code == 401
    assert (await api.post("/api/purchases/2000000000/refund")).status_code == 404
    assert telegram.calls_to("refundStarPayment") == []


async def test_refund_with_bot_off_is_unavailable(telegram, session):
    _, purchase = await paid_lesson(session, telegram)

    with settings_env(TELEGRAM_BOT_TOKEN="your-bot-token"):
        async with admin_client() as client:
            response = await client.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 409
    assert "TELEGRAM_BOT_TOKEN" in response.json()["detail"]
    [stored] = await purchases()
    assert stored.status is PurchaseStatus.COMPLETED


@pytest.mark.usefixtures("polling_bot")
async def test_refunded_payment_message_removes_access(telegram, session):
    lesson, purchase = await paid_lesson(session, telegram)
    payload = f"v1:{purchase.id}:l{lesson.id}"

    told = await after(
        telegram, "sendMessage", telegram.refunded_payment_update(BUYER, payload, 100, "stxPAID"), to(BUYER)
    )

    assert told["text"] == "↩️ 100 Stars were refunded to you. The access this purchase gave has been removed."
    [stored] = await purchases()
    assert stored.status is PurchaseStatus.REFUNDED
    assert locked(await open_lesson(telegram, BUYER, lesson.id))


@pytest.mark.usefixtures("polling_bot")
async def test_refunded_payment_message_for_unknown_charge_changes_nothing(telegram, session):
    await paid_lesson(session, telegram)

    telegram.push_update(telegram.refunded_payment_update(BUYER, "v1:1:l1", 5, "stxSOMETHING-ELSE"))
    await after(telegram, "sendMessage", telegram.message_update(BUYER, "/help"), to(BUYER))
    await asyncio.sleep(0.3)  # updates are handled concurrently: let the refund's finish

    [stored] = await purchases()
    assert stored.status is PurchaseStatus.COMPLETED
    assert not [c for c in telegram.sent_messages() if "refunded" in str(c.get("text"))]


@pytest.mark.usefixtures("polling_bot")
async def test_refund_through_api_is_audited_and_bot_writes_are_not(telegram, api, session):
    # The payment came through the bot (no admin): nothing recorded. The refund is the admin's: recorded.
    _lesson, purchase = await paid_lesson(session, telegram)
    assert await audit_records(session) == []

    response = await api.post(f"/api/purchases/{purchase.id}/refund")

    assert response.status_code == 200, response.text
    [record] = await audit_records(session)
    assert (record.admin_username, record.action, record.entity) == ("admin", AuditAction.UPDATE, "purchases")
    assert record.entity_id == str(purchase.id)
    assert record.changes == {"status": ["completed", "refunded"]}


async def audit_records(session) -> list[AuditLog]:
    await session.commit()
    return list((await session.scalars(select(AuditLog).order_by(AuditLog.id))).all())
