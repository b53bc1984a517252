"""Buying through the bot, end to end: card, invoice, pre-checkout, payment, delivery (polling bot and the
Bot API double, on the real database)."""

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from bot.callbacks import CourseCb, ItemAction, LessonCb
from bot.tests.bot_api_double import BotAPIDouble, Call, user
from shared.constants import PurchaseStatus
from shared.database import session_scope
from shared.models import Lesson, PromoCode, Purchase, UnmatchedPayment, UnmatchedPaymentReason, User

# Every test here feeds updates to the real bot, long polling the Bot API double.
pytestmark = pytest.mark.usefixtures("polling_bot")

BUYER = user(42, "Ann", language_code="en")
OTHER = user(43, "Bob", language_code="en")

# ---------------------------------------------------------------------------------------------- helpers
# (also used by test_exactly_once, test_refunds and test_reconcile)


def to(person: dict[str, Any]):
    """Predicate: a call addressed to this person's private chat."""
    return lambda call: str(call.get("chat_id")) == str(person["id"])


async def after(
    telegram: BotAPIDouble,
    method: str | tuple[str, ...],
    update: dict[str, Any],
    predicate=None,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Call:
    """Push an update and return the first new call of `method` (matching `predicate`) that follows."""
    methods = (method,) if isinstance(method, str) else method
    seen = {id(call) for call in telegram.calls}
    telegram.push_update(update)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for call in telegram.calls:
            if id(call) not in seen and call.method in methods and (predicate is None or predicate(call)):
                return call
        if asyncio.get_running_loop().time() > deadline:
            # wait_for's report lists every call made
            await telegram.wait_for(methods[0], lambda _c: False, timeout=0)
        await asyncio.sleep(0.01)


def buttons(call: Call) -> dict[str, str]:
    """The inline buttons of a sent or edited message: text -> callback data."""
    rows = (call.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button.get("callback_data") for row in rows for button in row}


async def show_card(telegram: BotAPIDouble, person: dict[str, Any], item: Any) -> Call:
    cb = LessonCb if isinstance(item, Lesson) else CourseCb
    data = cb(id=item.id, action=ItemAction.SHOW).pack()
    # The card replaces the message under the button, or comes as a new one.
    update = telegram.callback_update(person, data)
    return await after(telegram, ("editMessageText", "sendMessage"), update, to(person))


async def buy(telegram: BotAPIDouble, person: dict[str, Any], item: Any) -> Call:
    """Open the item's card and press its Buy button; the invoice the bot sends."""
    card = await show_card(telegram, person, item)
    [data] = [data for text, data in buttons(card).items() if text.startswith("Buy")]
    return await after(telegram, "sendInvoice", telegram.callback_update(person, data), to(person))


def amount(invoice: Call) -> int:
    [price] = invoice["prices"]
    return price["amount"]


async def pre_checkout(
    telegram: BotAPIDouble, person: dict[str, Any], payload: str, total: int, currency: str = "XTR"
) -> Call:
    update = telegram.pre_checkout_update(person, payload, total, currency)
    query_id = update["pre_checkout_query"]["id"]
    return await after(
        telegram, "answerPreCheckoutQuery", update, lambda c: str(c["pre_checkout_query_id"]) == query_id
    )


async def pay(
    telegram: BotAPIDouble, person: dict[str, Any], invoice: Call, charge_id: str | None = None
) -> dict[str, Any]:
    """Pre-checkout (must be accepted) then the successful_payment update; the update pushed."""
    answer = await pre_checkout(telegram, person, invoice["payload"], amount(invoice))
    assert answer["ok"] is True, answer.params
    update = telegram.successful_payment_update(person, invoice["payload"], amount(invoice), charge_id)
    telegram.push_update(update)
    return update


def thanks(person: dict[str, Any]):
    return lambda c: to(person)(c) and "Payment received" in str(c.get("text"))


async def purchases(**filters: Any) -> list[Purchase]:
    """Purchases as stored now (a fresh session: nothing cached)."""
    async with session_scope() as session:
        statement = select(Purchase).filter_by(**filters).order_by(Purchase.id)
        return list((await session.scalars(statement)).all())


async def unmatched_payments() -> list[UnmatchedPayment]:
    async with session_scope() as session:
        return list((await session.scalars(select(UnmatchedPayment).order_by(UnmatchedPayment.id))).all())


async def user_id(person: dict[str, Any]) -> int:
    async with session_scope() as session:
        return await session.scalar(select(User.id).where(User.telegram_id == person["id"]))


async def open_lesson(telegram: BotAPIDouble, person: dict[str, Any], lesson_id: int) -> Call:
    """Press a lesson's Open button; the callback answer (an alert when locked)."""
    update = telegram.callback_update(person, LessonCb(id=lesson_id, action=ItemAction.OPEN).pack())
    query_id = update["callback_query"]["id"]
    return await after(
        telegram, "answerCallbackQuery", update, lambda c: str(c["callback_query_id"]) == query_id
    )


def locked(answer: Call) -> bool:
    return "paid" in str(answer.get("text")) and answer.get("show_alert") is True


# ---------------------------------------------------------------------------------------------- tests


async def test_buy_lesson_sends_stars_invoice(telegram, session):
    lesson = await create_lesson(session, title="Scales", description="Major and minor", price=150)

    invoice = await buy(telegram, BUYER, lesson)

    assert invoice["currency"] == "XTR"
    assert len(invoice["prices"]) == 1
    assert amount(invoice) == 150
    assert invoice["title"] == "Scales"
    assert invoice.get("provider_token") in (None, "")
    [pending] = await purchases()
    assert pending.status is PurchaseStatus.PENDING
    assert invoice["payload"] == f"v1:{pending.id}:l{lesson.id}"
    assert len(invoice["payload"].encode()) <= 128


async def test_buy_again_reuses_the_pending_purchase(telegram, session):
    lesson = await create_lesson(session, price=150)

    first = await buy(telegram, BUYER, lesson)
    second = await buy(telegram, BUYER, lesson)

    assert first["payload"] == second["payload"]
    assert len(await purchases()) == 1


async def test_pre_checkout_valid_is_accepted(telegram, session):
    lesson = await create_lesson(session, price=150)
    invoice = await buy(telegram, BUYER, lesson)

    pushed_at = time.time()
    answer = await pre_checkout(telegram, BUYER, invoice["payload"], 150)

    assert answer["ok"] is True
    # Telegram allows 10 seconds, polling included; we answer at once.
    assert answer.at - pushed_at < 3


async def test_pre_checkout_lower_amount_is_refused(telegram, session):
    lesson = await create_lesson(session, price=150)
    invoice = await buy(telegram, BUYER, lesson)

    answer = await pre_checkout(telegram, BUYER, invoice["payload"], 1)

    assert answer["ok"] is False
    assert (
        answer["error_message"] == "The price has changed: it is now 150 Stars. Please open the card again."
    )


async def test_pre_checkout_wrong_currency_is_refused(telegram, session):
    lesson = await create_lesson(session, price=150)
    invoice = await buy(telegram, BUYER, lesson)

    answer = await pre_checkout(telegram, BUYER, invoice["payload"], 150, currency="USD")

    assert answer["ok"] is False
    assert answer["error_message"] == "Payments are accepted in Telegram Stars only."


async def test_pre_checkout_already_owned_is_refused(telegram, session):
    lesson = await create_lesson(session, price=150)
    invoice = await buy(telegram, BUYER, lesson)
    buyer = await session.get(User, await user_id(BUYER))
    await create_purchase(session, buyer, lesson)

    answer = await pre_checkout(telegram, BUYER, invoice["payload"], 150)

    assert answer["ok"] is False
    assert answer["error_message"] == "You already have this. Open it from “My lessons”."


async def test_pre_checkout_item_deactivated_is_refused(telegram, session):
    lesson = await create_lesson(session, price=150)
    invoice = await buy(telegram, BUYER, lesson)
    lesson.is_active = False
    await session.commit()

    answer = await pre_checkout(telegram, BUYER, invoice["payload"], 150)

    assert answer["ok"] is False
    assert answer["error_message"] == "This item is no longer on sale."


async def test_pre_checkout_unknown_payload_is_refused(telegram):
    answer = await pre_checkout(telegram, BUYER, "free-lessons-please", 1)

    assert answer["ok"] is False
    assert answer["error_message"] == "This invoice is not valid any more. Please open the card again."


async def test_pay_lesson_completes_and_delivers(telegram, session):
    lesson = await create_lesson(session, title="Scales", price=150, text_content="Play C major.")
    invoice = await buy(telegram, BUYER, lesson)

    await pay(telegram, BUYER, invoice, charge_id="stxPAID1")

    # One message: the thanks, then the lesson (its title in bold), protected.
    [content] = await telegram.wait_for("sendMessage", thanks(BUYER))
    assert content["text"] == (
        "✅ Payment received, thank you! This lesson stays in 📂 My lessons.\n\nScales\n\nPlay C major."
    )
    assert [e["type"] for e in content["entities"]] == ["bold"]
    assert content["protect_content"] is True
    [purchase] = await purchases()
    assert purchase.status is PurchaseStatus.COMPLETED
    assert purchase.telegram_payment_charge_id == "stxPAID1"
    assert purchase.amount == 150
    assert [c["text"] for c in telegram.sent_messages(42) if c.at >= content.at] == [content["text"]]
    assert not locked(await open_lesson(telegram, BUYER, lesson.id))


async def test_promo_code_discounts_the_invoice_and_counts_once(telegram, session):
    lesson = await create_lesson(session, price=200)
    promo = await create_promo_code(session, code="HALF", discount_percent=50, max_uses=10)
    card = await show_card(telegram, BUYER, lesson)
    ask = await after(
        telegram,
        "sendMessage",
        telegram.callback_update(BUYER, buttons(card)["🏷 I have a promo code"]),
        to(BUYER),
    )
    assert "promo code" in ask["text"]

    invoice = await after(telegram, "sendInvoice", telegram.message_update(BUYER, " half "), to(BUYER))

    assert amount(invoice) == 100
    assert invoice["payload"].endswith(f":p{promo.id}")
    await pay(telegram, BUYER, invoice)
    await telegram.wait_for("sendMessage", thanks(BUYER))
    [purchase] = await purchases()
    assert (purchase.status, purchase.amount, purchase.promo_code_id) == (
        PurchaseStatus.COMPLETED,
        100,
        promo.id,
    )
    await session.refresh(promo)
    assert promo.current_uses == 1


async def test_unknown_promo_code_is_explained(telegram, session):
    lesson = await create_lesson(session, price=200)
    card = await show_card(telegram, BUYER, lesson)
    await after(
        telegram,
        "sendMessage",
        telegram.callback_update(BUYER, buttons(card)["🏷 I have a promo code"]),
        to(BUYER),
    )

    answer = await after(telegram, "sendMessage", telegram.message_update(BUYER, "NOPE"), to(BUYER))

    assert answer["text"] == "Promo code NOPE does not exist."
    assert telegram.calls_to("sendInvoice") == []


async def test_command_during_promo_entry_is_not_a_code(telegram, session):
    lesson = await create_lesson(session, price=200)
    card = await show_card(telegram, BUYER, lesson)
    await after(
        telegram,
        "sendMessage",
        telegram.callback_update(BUYER, buttons(card)["🏷 I have a promo code"]),
        to(BUYER),
    )

    answer = await after(telegram, "sendMessage", telegram.message_update(BUYER, "/mylessons"), to(BUYER))

    assert "Promo code" not in answer["text"]


async def test_forwarded_promo_invoice_needs_a_use_left(telegram, session):
    lesson = await create_lesson(session, price=200)
    await create_promo_code(session, code="ONCE", discount_percent=50, max_uses=1)
    card = await show_card(telegram, BUYER, lesson)
    await after(
        telegram,
        "sendMessage",
        telegram.callback_update(BUYER, buttons(card)["🏷 I have a promo code"]),
        to(BUYER),
    )
    invoice = await after(telegram, "sendInvoice", telegram.message_update(BUYER, "ONCE"), to(BUYER))

    # Bob pays the invoice Ann forwarded him: Ann's reservation does not cover him.
    answer = await pre_checkout(telegram, OTHER, invoice["payload"], amount(invoice))

    assert answer["ok"] is False
    assert answer["error_message"] == "Promo code ONCE has been used up."
    assert (await pre_checkout(telegram, BUYER, invoice["payload"], amount(invoice)))["ok"] is True


async def test_pay_course_opens_all_its_lessons(telegram, session):
    lessons = [
        await create_lesson(session, title=f"Part {n}", price=100, text_content=f"Body {n}")
        for n in (1, 2, 3)
    ]
    course = await create_course(session, lessons, title="Guitar", total_price=250)
    invoice = await buy(telegram, BUYER, course)
    assert amount(invoice) == 250
    assert invoice["payload"].split(":")[2] == f"c{course.id}"

    await pay(telegram, BUYER, invoice)

    [message] = await telegram.wait_for("sendMessage", thanks(BUYER))
    assert "Guitar" in message["text"]
    opens = {text: data for text, data in buttons(message).items() if data.startswith("l:")}
    assert opens == {
        lesson.title: LessonCb(id=lesson.id, action=ItemAction.OPEN).pack() for lesson in lessons
    }
    for lesson in lessons:
        assert not locked(await open_lesson(telegram, BUYER, lesson.id))
        await telegram.wait_for(
            "sendMessage", lambda c, n=lesson.title[-1]: c["text"] == f"Part {n}\n\nBody {n}"
        )
    [purchase] = await purchases()
    assert (purchase.status, purchase.course_id) == (PurchaseStatus.COMPLETED, course.id)


async def test_nobody_opens_paid_content_without_paying(telegram, session):
    lesson = await create_lesson(session, price=100, text_content="Secret")
    invoice = await buy(telegram, BUYER, lesson)

    # A deep link, a crafted Open button, an unpaid invoice, a refused pre-checkout: still locked.
    card = await after(
        telegram, "sendMessage", telegram.message_update(BUYER, f"/start lesson_{lesson.id}"), to(BUYER)
    )
    assert [text for text in buttons(card) if text.startswith("Buy")]
    assert locked(await open_lesson(telegram, BUYER, lesson.id))
    await pre_checkout(telegram, BUYER, invoice["payload"], 1)
    assert locked(await open_lesson(telegram, OTHER, lesson.id))
    assert not [c for c in telegram.sent_messages() if "Secret" in str(c.get("text"))]
    assert [p.status for p in await purchases()] == [PurchaseStatus.PENDING]


async def test_paid_user_is_never_left_without_access(telegram, session):
    """Whatever happened between pre-checkout and payment, a payment gives access."""
    expired = await create_lesson(session, price=100, text_content="Expired body")
    removed = await create_lesson(session, price=100, text_content="Removed body")
    expired_invoice = await buy(telegram, BUYER, expired)
    removed_invoice = await buy(telegram, BUYER, removed)
    assert (await pre_checkout(telegram, BUYER, removed_invoice["payload"], 100))["ok"] is True
    # The invoice's pending purchase expired; the other item left the catalog after pre-checkout.
    async with session_scope() as other:
        expiring = await other.get(Purchase, int(expired_invoice["payload"].split(":")[1]))
        expiring.status = PurchaseStatus.FAILED
        (await other.get(Lesson, removed.id)).is_active = False
        await other.commit()

    await pay(telegram, BUYER, expired_invoice)
    telegram.push_update(telegram.successful_payment_update(BUYER, removed_invoice["payload"], 100))
    # ... and one paid from a payload whose purchase row we do not have at all.
    orphan = await create_lesson(session, price=70, text_content="Orphan body")
    telegram.push_update(telegram.successful_payment_update(BUYER, f"v1:2000000004:l{orphan.id}", 70))

    for body in ("Expired body", "Removed body", "Orphan body"):
        await telegram.wait_for("sendMessage", lambda c, b=body: c["text"].endswith(f"\n\n{b}"))
    assert [p.status for p in await purchases()] == [PurchaseStatus.COMPLETED] * 3
    for lesson in (expired, removed, orphan):
        assert not locked(await open_lesson(telegram, BUYER, lesson.id))


async def test_invoice_paid_by_two_users_is_two_purchases(telegram, session):
    lesson = await create_lesson(session, price=100)
    invoice = await buy(telegram, BUYER, lesson)

    await pay(telegram, BUYER, invoice, charge_id="stxANN")
    await telegram.wait_for("sendMessage", thanks(BUYER))
    await pay(telegram, OTHER, invoice, charge_id="stxBOB")
    await telegram.wait_for("sendMessage", thanks(OTHER))

    stored = await purchases(status=PurchaseStatus.COMPLETED)
    assert {(p.user_id, p.telegram_payment_charge_id) for p in stored} == {
        (await user_id(BUYER), "stxANN"),
        (await user_id(OTHER), "stxBOB"),
    }


async def test_promo_uses_counted_for_each_payment(telegram, session):
    lesson = await create_lesson(session, price=100)
    promo = await create_promo_code(session, code="TEN", discount_percent=10)
    card = await show_card(telegram, BUYER, lesson)
    await after(
        telegram,
        "sendMessage",
        telegram.callback_update(BUYER, buttons(card)["🏷 I have a promo code"]),
        to(BUYER),
    )
    invoice = await after(telegram, "sendInvoice", telegram.message_update(BUYER, "TEN"), to(BUYER))

    await pay(telegram, BUYER, invoice)
    await pay(telegram, OTHER, invoice)
    await telegram.wait_for("sendMessage", thanks(OTHER))
    await telegram.wait_for("sendMessage", thanks(BUYER))

    async with session_scope() as other:
        assert (await other.get(PromoCode, promo.id)).current_uses == 2


async def test_refused_for_someone_else_does_not_touch_their_purchase(telegram, session):
    lesson = await create_lesson(session, price=100)
    invoice = await buy(telegram, BUYER, lesson)
    bob = await create_user(session, telegram_id=OTHER["id"], first_name="Bob")
    await create_purchase(session, bob, lesson)

    # Bob already owns it: paying Ann's forwarded invoice is refused; Ann's stays payable.
    assert (await pre_checkout(telegram, OTHER, invoice["payload"], 100))["ok"] is False
    assert (await pre_checkout(telegram, BUYER, invoice["payload"], 100))["ok"] is True


async def test_lesson_paid_twice_second_payment_is_refunded(telegram, session):
    lesson = await create_lesson(session, price=100, text_content="Scales body")
    # Two invoices opened, and both paid (each accepted at pre-checkout before either payment arrived).
    invoices = [await buy(telegram, BUYER, lesson), await buy(telegram, BUYER, lesson)]
    for invoice in invoices:
        assert (await pre_checkout(telegram, BUYER, invoice["payload"], 100))["ok"] is True

    telegram.push_update(telegram.successful_payment_update(BUYER, invoices[0]["payload"], 100, "stxFIRST"))
    await telegram.wait_for("sendMessage", thanks(BUYER))
    second = telegram.successful_payment_update(BUYER, invoices[1]["payload"], 100, "stxSECOND")
    explanation = await after(telegram, "sendMessage", second, to(BUYER))

    assert explanation["text"] == (
        "↩️ You already had this, so this second payment of 100 ⭐ goes back to you. "
        "Your access stays as it was."
    )
    [refund] = telegram.calls_to("refundStarPayment")
    assert (refund["user_id"], refund["telegram_payment_charge_id"], refund.ok) == (42, "stxSECOND", True)
    assert telegram.star_payments["stxSECOND"].refunded
    assert not telegram.star_payments["stxFIRST"].refunded
    stored = {p.telegram_payment_charge_id: p for p in await purchases()}
    assert (stored["stxFIRST"].status, stored["stxFIRST"].refund_reason) == (PurchaseStatus.COMPLETED, None)
    assert (stored["stxSECOND"].status, stored["stxSECOND"].refund_reason) == (
        PurchaseStatus.REFUNDED,
        "duplicate_payment",
    )
    # Delivered once; the first purchase still opens the lesson.
    assert len([c for c in telegram.sent_messages() if str(c.get("text")).endswith("Scales body")]) == 1
    assert not locked(await open_lesson(telegram, BUYER, lesson.id))


async def test_lesson_of_an_owned_course_paid_is_refunded_in_russian(telegram, session):
    lesson = await create_lesson(session, price=100)
    course = await create_course(session, [lesson], total_price=150)
    ivan = user(44, "Иван", language_code="ru")
    buyer = await create_user(session, telegram_id=ivan["id"], first_name="Иван", language_code="ru")
    await create_purchase(session, buyer, course, telegram_payment_charge_id="stxCOURSE")

    payment = telegram.successful_payment_update(ivan, f"v1:2000000006:l{lesson.id}", 100, "stxLESSON")
    explanation = await after(telegram, "sendMessage", payment, to(ivan))

    assert explanation["text"] == (
        "↩️ Это у вас уже есть, поэтому повторная оплата (100 ⭐) вернётся вам. Доступ остаётся прежним."
    )
    assert [c["telegram_payment_charge_id"] for c in telegram.calls_to("refundStarPayment")] == ["stxLESSON"]
    [refunded] = await purchases(status=PurchaseStatus.REFUNDED)
    assert (refunded.lesson_id, refunded.refund_reason) == (lesson.id, "duplicate_payment")
    assert not locked(await open_lesson(telegram, ivan, lesson.id))


async def test_course_paid_after_some_of_its_lessons_is_not_refunded(telegram, session):
    lessons = [await create_lesson(session, title=f"Part {n}", price=100) for n in (1, 2)]
    course = await create_course(session, lessons, title="Guitar", total_price=150)
    buyer = await create_user(session, telegram_id=BUYER["id"], first_name="Ann")
    await create_purchase(session, buyer, lessons[0])
    invoice = await buy(telegram, BUYER, course)

    await pay(telegram, BUYER, invoice, charge_id="stxCOURSE")

    await telegram.wait_for("sendMessage", thanks(BUYER))
    assert telegram.calls_to("refundStarPayment") == []
    [course_purchase] = await purchases(course_id=course.id)
    assert (course_purchase.status, course_purchase.refund_reason) == (PurchaseStatus.COMPLETED, None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("v0:legacy", UnmatchedPaymentReason.UNREADABLE_PAYLOAD),
        ("v1:2000000007:l2000000007", UnmatchedPaymentReason.UNKNOWN_ITEM),
    ],
)
async def test_payment_that_matches_no_purchase_is_kept_and_explained(telegram, payload, reason):
    # Pre-checkout refuses such payloads; if Telegram ever charges one, the admin gets it to settle.
    answer = await after(
        telegram, "sendMessage", telegram.successful_payment_update(BUYER, payload, 100, "stxODD"), to(BUYER)
    )

    assert answer["text"] == (
        "We received your payment of 100 ⭐ but could not match it to a lesson or course. It is recorded, "
        "and support will sort it out: you will get access or your Stars back. Questions: /support."
    )
    assert await purchases() == []
    [kept] = await unmatched_payments()
    assert (
        kept.telegram_payment_charge_id,
        kept.reason,
        kept.telegram_user_id,
        kept.amount,
        kept.payload,
    ) == (
        "stxODD",
        reason,
        BUYER["id"],
        100,
        payload,
    )


async def test_payment_in_another_currency_opens_nothing(telegram, session):
    lesson = await create_lesson(session, price=100, text_content="Secret")
    invoice = await buy(telegram, BUYER, lesson)

    payment = telegram.successful_payment_update(BUYER, invoice["payload"], 100, "stxUSD", currency="USD")
    answer = await after(telegram, "sendMessage", payment, to(BUYER))

    assert answer["text"] == (
        "This payment was not made in Telegram Stars, so it opens nothing. It is recorded, "
        "and support will sort it out. Questions: /support."
    )
    [kept] = await unmatched_payments()
    assert (kept.telegram_payment_charge_id, kept.reason, kept.currency) == (
        "stxUSD",
        UnmatchedPaymentReason.WRONG_CURRENCY,
        "USD",
    )
    assert [p.status for p in await purchases()] == [PurchaseStatus.PENDING]
    assert locked(await open_lesson(telegram, BUYER, lesson.id))
    assert not [c for c in telegram.sent_messages() if "Secret" in str(c.get("text"))]
