"""/api/unmatched-payments: payments Telegram took that match no purchase, listed for the admin and marked
resolved once settled."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.services import payment_service
from backend.tests.api import assert_invalid, assert_page, fresh, ids
from shared.models import UnmatchedPayment, UnmatchedPaymentReason
from shared.utils import utcnow

UNMATCHED_FIELDS = {
    "id",
    "telegram_payment_charge_id",
    "telegram_user_id",
    "amount",
    "currency",
    "payload",
    "reason",
    "resolved_at",
    "resolution",
    "created_at",
    "updated_at",
}


async def keep(session, charge_id: str, reason: UnmatchedPaymentReason, **fields) -> UnmatchedPayment:
    """An unmatched payment, as the bot or reconciliation keeps it (committed: the test is the edge)."""
    values = {"telegram_user_id": 42, "amount": 100, "currency": "XTR", "payload": "v0:legacy"} | fields
    unmatched = await payment_service.record_unmatched(session, charge_id=charge_id, reason=reason, **values)
    await session.commit()
    return unmatched


async def test_read_unmatched_payments_newest_first(client, admin_headers, session):
    older = await keep(session, "stxOLD", UnmatchedPaymentReason.UNREADABLE_PAYLOAD)
    newer = await keep(session, "stxNEW", UnmatchedPaymentReason.WRONG_CURRENCY, currency="USD", amount=499)
    await session.execute(
        update(UnmatchedPayment)
        .where(UnmatchedPayment.id == older.id)
        .values(created_at=utcnow() - timedelta(hours=1))
    )
    await session.commit()

    response = await client.get("/api/unmatched-payments/", headers=admin_headers)

    assert_page(response, total=2)
    assert ids(response) == [newer.id, older.id]
    first = response.json()["items"][0]
    assert set(first) == UNMATCHED_FIELDS
    assert (first["telegram_payment_charge_id"], first["reason"], first["amount"], first["currency"]) == (
        "stxNEW",
        "wrong_currency",
        499,
        "USD",
    )
    assert (first["resolved_at"], first["resolution"]) == (None, None)


async def test_read_unmatched_payments_filters(client, admin_headers, session):
    unreadable = await keep(session, "stxA", UnmatchedPaymentReason.UNREADABLE_PAYLOAD)
    unknown = await keep(session, "stxB", UnmatchedPaymentReason.UNKNOWN_ITEM, telegram_user_id=43)
    settled = await keep(session, "stxC", UnmatchedPaymentReason.UNKNOWN_ITEM)
    await payment_service.resolve_unmatched(session, settled, resolution="Refunded")
    await session.commit()

    async def listed(**params) -> list[int]:
        response = await client.get("/api/unmatched-payments/", params=params, headers=admin_headers)
        assert response.status_code == 200, response.text
        return ids(response)

    assert await listed(reason="unknown_item", sort="id") == [unknown.id, settled.id]
    assert await listed(resolved="false", sort="id") == [unreadable.id, unknown.id]
    assert await listed(resolved="true") == [settled.id]
    assert await listed(telegram_user_id=43) == [unknown.id]
    assert await listed(limit=1, offset=1, sort="-id") == [unknown.id]


async def test_read_unmatched_payments_unknown_reason(client, admin_headers):
    response = await client.get("/api/unmatched-payments/?reason=lost", headers=admin_headers)
    assert_invalid(response, "query", "reason")


async def test_read_unmatched_payment(client, admin_headers, session):
    unmatched = await keep(session, "stxONE", UnmatchedPaymentReason.NOT_RECORDED, payload="v1:5:l7")

    response = await client.get(f"/api/unmatched-payments/{unmatched.id}", headers=admin_headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["reason"], body["payload"], body["telegram_user_id"]) == (
        unmatched.id,
        "not_recorded",
        "v1:5:l7",
        42,
    )


async def test_read_unmatched_payment_not_found(client, admin_headers):
    response = await client.get("/api/unmatched-payments/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "Unmatched payment 999999 not found"


async def test_resolve_unmatched_payment(client, admin_headers, session):
    unmatched = await keep(session, "stxFIX", UnmatchedPaymentReason.UNKNOWN_ITEM)

    response = await client.post(
        f"/api/unmatched-payments/{unmatched.id}/resolve",
        json={"resolution": "  Refunded through @BotFather  "},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["resolution"] == "Refunded through @BotFather"
    stored = await fresh(session, UnmatchedPayment, unmatched.id)
    assert stored.resolution == "Refunded through @BotFather"
    assert stored.resolved_at is not None


async def test_resolve_unmatched_payment_twice_is_conflict(client, admin_headers, session):
    unmatched = await keep(session, "stxTWICE", UnmatchedPaymentReason.UNKNOWN_ITEM)
    path = f"/api/unmatched-payments/{unmatched.id}/resolve"
    assert (await client.post(path, json={"resolution": "Done"}, headers=admin_headers)).status_code == 200

    response = await client.post(path, json={"resolution": "Done again"}, headers=admin_headers)

    assert response.status_code == 409
    assert response.json()["detail"] == f"Unmatched payment {unmatched.id} is already resolved"
    assert (await fresh(session, UnmatchedPayment, unmatched.id)).resolution == "Done"


@pytest.mark.parametrize("body", [{}, {"resolution": "   "}, {"resolution": "ok", "extra": 1}])
async def test_resolve_unmatched_payment_needs_a_note(client, admin_headers, session, body):
    unmatched = await keep(session, "stxNOTE", UnmatchedPaymentReason.UNKNOWN_ITEM)

    response = await client.post(
        f"/api/unmatched-payments/{unmatched.id}/resolve", json=body, headers=admin_headers
    )

    assert response.status_code == 422, response.text
    assert (await fresh(session, UnmatchedPayment, unmatched.id)).resolved_at is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/unmatched-payments/"),
        ("GET", "/api/unmatched-payments/1"),
        ("POST", "/api/unmatched-payments/1/resolve"),
    ],
)
async def test_unmatched_payments_need_admin(client, method, path):
    response = await client.request(method, path, json={"resolution": "x"})
    assert response.status_code == 401
