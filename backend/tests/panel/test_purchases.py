"""The purchases pages: the filtered list, refunds (against the Bot API double), revocations, the CSV
export, the unmatched payments, and who may do what."""

import codecs
import contextlib
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from backend.main import app
from backend.panel.pages import purchases as purchases_page
from backend.services import access_service, payment_service
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from backend.tests.panel.conftest import csrf_of, panel_login
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN, settings_env
from bot.tests.test_payments import BUYER
from shared.constants import AdminRole, PurchaseStatus
from shared.models import Purchase, UnmatchedPayment, UnmatchedPaymentReason


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/admin/students")).text)


# The list ----------------------------------------------------------------------------------------------


async def test_list_purchases_shows_items_students_and_statuses(signed_in, session):
    user = await create_user(session, first_name="<i>Kim</i>")
    lesson, course = await create_lesson(session, title="Lesson <b>A</b>"), await create_course(session)
    sold = await create_purchase(session, user, lesson, amount=120, telegram_payment_charge_id="ch-a")
    refunded = await create_purchase(session, user, course, status=PurchaseStatus.REFUNDED)

    page = await signed_in.get("/admin/purchases")

    assert page.status_code == 200
    assert f'data-testid="purchase-{sold.id}"' in page.text
    assert f'data-testid="purchase-{refunded.id}"' in page.text
    assert "&lt;i&gt;Kim&lt;/i&gt;" in page.text
    assert "Lesson &lt;b&gt;A&lt;/b&gt;" in page.text
    assert "120 ⭐" in page.text
    assert f'data-testid="refund-{sold.id}"' in page.text
    assert f'data-testid="refund-{refunded.id}"' not in page.text
    assert 'href="/admin/purchases/export.csv"' in page.text


async def test_list_purchases_filters(signed_in, session):
    ann, bob = await create_user(session), await create_user(session)
    lesson, other, course = (
        await create_lesson(session),
        await create_lesson(session),
        await create_course(session),
    )
    old = await create_purchase(session, ann, lesson, created_at=datetime(2026, 1, 10, 23, 59, tzinfo=UTC))
    new = await create_purchase(session, ann, course, created_at=datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    bobs = await create_purchase(session, bob, other, status=PurchaseStatus.PENDING)

    async def shown(**params: object) -> set[int]:
        response = await signed_in.get("/admin/purchases", params=params)
        assert response.status_code == 200, response.text
        return {p for p in (old.id, new.id, bobs.id) if f'data-testid="purchase-{p}"' in response.text}

    assert await shown() == {old.id, new.id, bobs.id}
    assert await shown(status="pending") == {bobs.id}
    assert await shown(user_id=ann.id) == {old.id, new.id}
    assert await shown(lesson_id=lesson.id) == {old.id}
    assert await shown(course_id=course.id) == {new.id}
    # The end day is included; the start day from its midnight (UTC).
    assert await shown(date_from="2026-01-10", date_to="2026-01-10") == {old.id}
    assert await shown(date_from="2026-01-11", date_to="2026-02-01") == {new.id}
    assert await shown(date_from="", status="", user_id="") == {old.id, new.id, bobs.id}


async def test_list_purchases_sorts_and_pages(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    made = [
        await create_purchase(session, user, lesson, amount=n, status=PurchaseStatus.FAILED)
        for n in range(55)
    ]

    cheapest = await signed_in.get("/admin/purchases", params={"sort": "amount"})
    second = await signed_in.get("/admin/purchases", params={"sort": "amount", "offset": 50})

    assert "1–50 of 55" in cheapest.text
    assert cheapest.text.index(f'"purchase-{made[0].id}"') < cheapest.text.index(f'"purchase-{made[1].id}"')
    assert f'"purchase-{made[50].id}"' not in cheapest.text
    assert f'"purchase-{made[54].id}"' in second.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "stolen"}, "status"),
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ({"lesson_id": "abc"}, "lesson_id"),
        ({"course_id": "0"}, "course_id"),
        ({"user_id": "99999999999999999999"}, "user_id"),
        ({"sort": "title"}, "sort"),
        ({"offset": "-5"}, "offset"),
    ],
)
async def test_list_purchases_bad_filters_are_422_with_messages(signed_in, params, field):
    response = await signed_in.get("/admin/purchases", params=params)

    assert response.status_code == 422
    assert "Please correct the fields marked below." in response.text
    if field not in ("sort", "offset", "status"):
        assert f'data-testid="error-{field}"' in response.text
        assert f'value="{params[field]}"' in response.text
    if field == "status":
        assert 'data-testid="error-status"' in response.text


# Refunds -------------------------------------------------------------------------------------------------


@pytest.fixture(name="double")
async def double_fixture() -> AsyncIterator[BotAPIDouble]:
    """The Bot API double, as the bot's tests use it."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        yield api


@pytest.fixture
def bot_on(double: BotAPIDouble) -> Iterator[None]:
    """Settings that turn the bot on, against the double."""
    with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=double.base_url):
        yield


@contextlib.asynccontextmanager
async def _panel_with_bot() -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan (the bot on, against the double), signed in to the panel."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        response = await panel_login(client)
        assert response.status_code == 303
        yield client


async def _paid(session, double: BotAPIDouble, charge_id: str = "stxPANEL", *, in_ledger: bool = True):
    buyer = await create_user(session, telegram_id=BUYER["id"], first_name=BUYER["first_name"])
    lesson = await create_lesson(session, price=100, text_content="Paid body")
    invoice = await payment_service.create_invoice(session, user_id=buyer.id, lesson_id=lesson.id)
    if in_ledger:
        double.record_star_payment(BUYER, 100, invoice.payload, charge_id)
    recorded = await payment_service.record_payment(
        session, user_id=buyer.id, payload=invoice.payload, total_amount=100, charge_id=charge_id
    )
    await session.commit()
    return buyer, lesson, recorded.purchase


@pytest.mark.usefixtures("bot_on")
async def test_refund_through_the_panel_removes_access(double, session):
    buyer, lesson, purchase = await _paid(session, double)
    assert await access_service.can_access_lesson(session, user_id=buyer.id, lesson=lesson)

    async with _panel_with_bot() as client:
        page = await client.get("/admin/purchases")
        assert f'data-testid="refund-{purchase.id}"' in page.text
        response = await client.post(
            f"/admin/purchases/{purchase.id}/refund",
            data={"csrf_token": csrf_of(page.text), "next": "/admin/purchases?status=completed"},
        )
        shown = await client.get(response.headers["location"])

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/purchases?status=completed"
    assert "The purchase was refunded" in shown.text
    [call] = double.calls_to("refundStarPayment")
    assert (call["user_id"], call["telegram_payment_charge_id"]) == (BUYER["id"], "stxPANEL")
    assert double.star_payments["stxPANEL"].refunded
    await session.refresh(purchase)
    assert purchase.status is PurchaseStatus.REFUNDED
    assert not await access_service.can_access_lesson(session, user_id=buyer.id, lesson=lesson)


@pytest.mark.usefixtures("bot_on")
async def test_refund_refused_by_telegram_is_shown_not_a_500(double, session):
    _, _, purchase = await _paid(session, double, in_ledger=False)

    async with _panel_with_bot() as client:
        token = await _token(client)
        response = await client.post(f"/admin/purchases/{purchase.id}/refund", data={"csrf_token": token})

    assert response.status_code == 409
    assert "Telegram does not know this charge" in response.text
    assert "The refund was not made" in response.text
    await session.refresh(purchase)
    assert purchase.status is PurchaseStatus.COMPLETED


@pytest.mark.usefixtures("bot_on")
async def test_refund_when_telegram_is_down_is_502_page(double, session):
    _, _, purchase = await _paid(session, double)
    double.fail("refundStarPayment", error_code=500)

    async with _panel_with_bot() as client:
        response = await client.post(
            f"/admin/purchases/{purchase.id}/refund", data={"csrf_token": await _token(client)}
        )

    assert response.status_code == 502
    assert "Telegram" in response.text
    await session.refresh(purchase)
    assert purchase.status is PurchaseStatus.COMPLETED


async def test_refund_with_the_bot_off_is_refused(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson, telegram_payment_charge_id="ch-off")

    response = await signed_in.post(
        f"/admin/purchases/{purchase.id}/refund", data={"csrf_token": await _token(signed_in)}
    )

    assert response.status_code == 409
    assert "TELEGRAM_BOT_TOKEN" in response.text


async def test_refund_of_a_grant_is_refused(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    token = await _token(signed_in)
    await signed_in.post(
        f"/admin/students/{user.id}/grants", data={"item": f"lesson:{lesson.id}", "csrf_token": token}
    )
    grant = await session.scalar(select(Purchase).where(Purchase.user_id == user.id))

    response = await signed_in.post(f"/admin/purchases/{grant.id}/refund", data={"csrf_token": token})

    assert response.status_code == 409
    assert "granted for free" in response.text
    await session.refresh(grant)
    assert grant.status is PurchaseStatus.COMPLETED


@pytest.mark.parametrize("action", ["refund", "revoke"])
async def test_actions_on_unknown_purchase_are_404(signed_in, action):
    response = await signed_in.post(
        f"/admin/purchases/999999/{action}", data={"csrf_token": await _token(signed_in)}
    )

    assert response.status_code == 404


async def test_revoke_of_a_sale_is_refused(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    sale = await create_purchase(session, user, lesson, telegram_payment_charge_id="ch-sale")

    response = await signed_in.post(
        f"/admin/purchases/{sale.id}/revoke", data={"csrf_token": await _token(signed_in)}
    )

    assert response.status_code == 409
    assert "not a grant" in response.text


async def test_action_redirect_stays_in_the_panel(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    token = await _token(signed_in)
    await signed_in.post(
        f"/admin/students/{user.id}/grants", data={"item": f"lesson:{lesson.id}", "csrf_token": token}
    )
    grant = await session.scalar(select(Purchase).where(Purchase.user_id == user.id))

    response = await signed_in.post(
        f"/admin/purchases/{grant.id}/revoke", data={"csrf_token": token, "next": "https://evil.example/"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/admin"


# CSV export ----------------------------------------------------------------------------------------------


def _csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.content.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_export_streams_every_row_once_in_batches(signed_in, session, monkeypatch):
    monkeypatch.setattr(purchases_page, "EXPORT_BATCH_SIZE", 4)
    user, lesson = await create_user(session), await create_lesson(session)
    # Equal dates: the keyset must still give each row once (the id breaks the tie).
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    made = [
        await create_purchase(session, user, lesson, status=PurchaseStatus.FAILED, created_at=moment)
        for _ in range(11)
    ]
    made += [await create_purchase(session, user, lesson, status=PurchaseStatus.FAILED) for _ in range(6)]

    for sort in ("-created_at", "created_at", "amount", "-id"):
        response = await signed_in.get("/admin/purchases/export.csv", params={"sort": sort})
        assert response.status_code == 200
        rows = _csv_rows(response)
        ids = [int(row["id"]) for row in rows]
        assert sorted(ids) == sorted(p.id for p in made), sort
        assert len(ids) == len(set(ids))

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="purchases-')
    assert ids == sorted(ids, reverse=True)


async def test_export_applies_the_filters_and_guards_against_formulas(signed_in, session):
    user = await create_user(session, first_name='=HYPERLINK("x")', last_name="Smith", username="user_a")
    lesson = await create_lesson(session, title="+cmd|' /C calc'!A0")
    other = await create_lesson(session, title='Plain, "quoted" title')
    wanted = await create_purchase(session, user, lesson, amount=77, payment_id="@pay-1")
    await create_purchase(session, user, other)

    response = await signed_in.get("/admin/purchases/export.csv", params={"lesson_id": lesson.id})

    [row] = _csv_rows(response)
    assert int(row["id"]) == wanted.id
    assert row["item_title"] == "'+cmd|' /C calc'!A0"
    assert row["student_name"] == '\'=HYPERLINK("x") Smith'
    assert row["payment_id"] == "'@pay-1"
    assert (row["amount"], row["status"], row["item_type"], row["telegram_id"]) == (
        "77",
        "completed",
        "lesson",
        str(user.telegram_id),
    )


async def test_export_header_only_when_nothing_matches(signed_in):
    response = await signed_in.get("/admin/purchases/export.csv", params={"status": "revoked"})

    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").splitlines() == [",".join(purchases_page.EXPORT_COLUMNS)]


async def test_export_bad_filter_is_422(signed_in):
    response = await signed_in.get("/admin/purchases/export.csv", params={"date_from": "yesterday"})

    assert response.status_code == 422


# Unmatched payments ---------------------------------------------------------------------------------------


async def _unmatched(session, charge_id: str = "ch-lost", payload: str = "<b>junk</b>") -> UnmatchedPayment:
    kept = await payment_service.record_unmatched(
        session,
        charge_id=charge_id,
        telegram_user_id=4242,
        amount=50,
        currency="XTR",
        payload=payload,
        reason=UnmatchedPaymentReason.UNREADABLE_PAYLOAD,
    )
    await session.commit()
    return kept


async def test_unmatched_payments_listed_and_resolved(signed_in, session):
    kept = await _unmatched(session)

    page = await signed_in.get("/admin/purchases/unmatched")
    assert page.status_code == 200
    assert f'data-testid="unmatched-{kept.id}"' in page.text
    assert "&lt;b&gt;junk&lt;/b&gt;" in page.text
    assert "unreadable invoice" in page.text

    empty = await signed_in.post(
        f"/admin/purchases/unmatched/{kept.id}/resolve",
        data={"csrf_token": csrf_of(page.text), "resolution": "  "},
    )
    assert empty.status_code == 422
    assert f'data-testid="error-resolution-{kept.id}"' in empty.text

    done = await signed_in.post(
        f"/admin/purchases/unmatched/{kept.id}/resolve",
        data={"csrf_token": csrf_of(page.text), "resolution": "Refunded <in> Telegram"},
    )
    assert done.status_code == 303
    await session.refresh(kept)
    assert kept.resolved_at is not None
    assert kept.resolution == "Refunded <in> Telegram"
    open_now = await signed_in.get("/admin/purchases/unmatched")
    assert f'data-testid="unmatched-{kept.id}"' not in open_now.text
    resolved = await signed_in.get("/admin/purchases/unmatched", params={"state": "resolved"})
    assert "Refunded &lt;in&gt; Telegram" in resolved.text

    again = await signed_in.post(
        f"/admin/purchases/unmatched/{kept.id}/resolve",
        data={"csrf_token": csrf_of(page.text), "resolution": "x"},
    )
    assert again.status_code == 409


async def test_unmatched_bad_filter_and_unknown_id(signed_in):
    bad = await signed_in.get("/admin/purchases/unmatched", params={"state": "lost"})
    missing = await signed_in.post(
        "/admin/purchases/unmatched/999999/resolve",
        data={"csrf_token": await _token(signed_in), "resolution": "x"},
    )

    assert bad.status_code == 422
    assert missing.status_code == 404


# Roles ---------------------------------------------------------------------------------------------------


async def test_support_reads_and_exports_but_may_not_act(signed_in_as, session):
    client = await signed_in_as(AdminRole.SUPPORT)
    user, lesson = await create_user(session), await create_lesson(session)
    sale = await create_purchase(session, user, lesson, telegram_payment_charge_id="ch-sup")
    kept = await _unmatched(session)

    listing = await client.get("/admin/purchases")
    token = csrf_of(listing.text)
    export = await client.get("/admin/purchases/export.csv")
    unmatched = await client.get("/admin/purchases/unmatched")
    refund = await client.post(f"/admin/purchases/{sale.id}/refund", data={"csrf_token": token})
    revoke = await client.post(f"/admin/purchases/{sale.id}/revoke", data={"csrf_token": token})
    resolve = await client.post(
        f"/admin/purchases/unmatched/{kept.id}/resolve", data={"csrf_token": token, "resolution": "x"}
    )

    assert listing.status_code == 200
    assert f'data-testid="purchase-{sale.id}"' in listing.text
    assert f'data-testid="refund-{sale.id}"' not in listing.text
    assert "/admin/purchases/unmatched" not in listing.text
    assert export.status_code == 200
    assert (unmatched.status_code, refund.status_code, revoke.status_code, resolve.status_code) == (
        403,
        403,
        403,
        403,
    )
    await session.refresh(sale)
    await session.refresh(kept)
    assert (sale.status, kept.resolved_at) == (PurchaseStatus.COMPLETED, None)


async def test_manager_sees_the_actions(signed_in_as, session):
    client = await signed_in_as(AdminRole.MANAGER)
    user, lesson = await create_user(session), await create_lesson(session)
    sale = await create_purchase(session, user, lesson, telegram_payment_charge_id="ch-man")

    listing = await client.get("/admin/purchases")
    unmatched = await client.get("/admin/purchases/unmatched")

    assert f'data-testid="refund-{sale.id}"' in listing.text
    assert unmatched.status_code == 200


async def test_purchases_pages_need_sign_in(client):
    for path in ("/admin/purchases", "/admin/purchases/export.csv", "/admin/purchases/unmatched"):
        response = await client.get(path)
        assert response.status_code == 303


async def test_refund_without_csrf_is_refused(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    sale = await create_purchase(session, user, lesson, telegram_payment_charge_id="ch-csrf")

    response = await signed_in.post(f"/admin/purchases/{sale.id}/refund")

    assert response.status_code == 403
