"""The dashboard: its figures for a known history on every period, roles, bad periods, the bot's Star
balance (against the Bot API double, Telegram failing, the bot off)."""

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from backend.main import app
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from bot.gateway import BotGateway
from bot.tests.bot_api_double import BotAPIDouble
from shared.constants import AdminRole, PurchaseStatus
from shared.utils import utcnow

BOT_ID = 7000000002
BOT_TOKEN = f"{BOT_ID}:TEST-token-abcdefghijklmnopqrstuvwxyz012345"
FIGURE = re.compile(r'data-testid="(dashboard-[a-z-]+)">([^<]*)<')


def figures(html: str) -> dict[str, str]:
    return dict(FIGURE.findall(html))


@pytest.fixture
async def history(session) -> dict:
    """Four students (one joined 400 days ago), sales on days 1, 10 (refunded), 40 (a course with a promo
    code) and 100 (a free grant) before today, a pending and a failed purchase."""
    now = utcnow()
    ago = lambda days: now - timedelta(days=days)  # noqa: E731
    first, second = await create_lesson(session, price=100), await create_lesson(session, price=50)
    course = await create_course(session, [first, second], total_price=300, title="<b>Course</b>")
    promo = await create_promo_code(session, code="SPRING")
    anna = await create_user(session, created_at=ago(2))
    boris = await create_user(session, created_at=ago(40))
    chen = await create_user(session, created_at=ago(200))
    await create_user(session, created_at=ago(400))
    await create_purchase(session, anna, first, amount=100, created_at=ago(1))
    await create_purchase(
        session, anna, second, amount=50, status=PurchaseStatus.REFUNDED, created_at=ago(10)
    )
    await create_purchase(session, boris, course, amount=300, promo_code_id=promo.id, created_at=ago(40))
    await create_purchase(session, boris, first, amount=0, created_at=ago(100))
    await create_purchase(session, chen, second, status=PurchaseStatus.PENDING, created_at=ago(3))
    await create_purchase(session, chen, first, status=PurchaseStatus.FAILED, created_at=ago(3))
    return {"first": first, "second": second, "course": course, "promo": promo}


EXPECTED = {
    7: {
        "sales": "1",
        "refunds": "0",
        "revenue": "100",
        "net-revenue": "100",
        "new-students": "1",
        "new-buyers": "0",
    },
    30: {
        "sales": "2",
        "refunds": "1",
        "revenue": "150",
        "net-revenue": "100",
        "new-students": "1",
        "new-buyers": "1",
    },
    90: {
        "sales": "3",
        "refunds": "1",
        "revenue": "450",
        "net-revenue": "400",
        "new-students": "2",
        "new-buyers": "2",
    },
    365: {
        "sales": "3",
        "refunds": "1",
        "revenue": "450",
        "net-revenue": "400",
        "new-students": "3",
        "new-buyers": "2",
    },
}


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("period", [7, 30, 90, 365])
async def test_dashboard_figures_for_each_period(signed_in: httpx.AsyncClient, period: int):
    page = await signed_in.get("/admin", params={"period": period})
    partial = await signed_in.get("/admin/dashboard/totals", params={"period": period})

    assert page.status_code == partial.status_code == 200
    expected = {f"dashboard-{name}": value for name, value in EXPECTED[period].items()}
    expected |= {"dashboard-conversion": "50.0 %", "dashboard-per-paying-student": "200"}
    assert figures(page.text) == figures(partial.text) == expected
    assert "2 of 4 students" in page.text
    assert f'aria-current="page">{period} days<' in page.text
    by_day = page.text.split('data-testid="by-day"')[1].split("</table>")[0]
    assert by_day.count("<tr>") - 1 == period  # a row a day, the header row aside


async def test_dashboard_top_items_and_promo_codes(signed_in: httpx.AsyncClient, history: dict):
    page = await signed_in.get("/admin", params={"period": 90})

    top = page.text.split('data-testid="top-items"')[1].split("</table>")[0]
    titles = re.findall(r"</small> ([^<]+)</th>", top)
    assert titles == ["&lt;b&gt;Course&lt;/b&gt;", history["first"].title, history["second"].title]
    codes = page.text.split('data-testid="top-promo-codes"')[1].split("</table>")[0]
    assert re.findall(r'<th scope="row">([^<]+)</th>\s*<td>(\d+)</td>\s*<td>(\d+)</td>', codes) == [
        ("SPRING", "1", "300")
    ]
    assert "<b>Course</b>" not in page.text


async def test_dashboard_chart_data_per_day(signed_in: httpx.AsyncClient, history: dict):  # noqa: ARG001
    page = await signed_in.get("/admin", params={"period": 7})

    chart = re.search(r"data-chart='([^']*)'", page.text)
    assert chart is not None
    data = httpx.Response(200, text=chart.group(1).replace("&#34;", '"')).json()
    assert len(data["labels"]) == 7
    assert data["labels"][-1] == utcnow().date().isoformat()
    assert data["datasets"][0]["data"] == [0, 0, 0, 0, 0, 100, 0]


async def test_dashboard_of_an_empty_store(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin")

    assert page.status_code == 200
    assert figures(page.text)["dashboard-conversion"] == "—"
    assert "No sales in this period." in page.text


@pytest.mark.parametrize("period", ["5", "0", "-7", "abc", "99999999999999999999", "7.5"])
async def test_dashboard_bad_period_is_422(signed_in: httpx.AsyncClient, period: str):
    for path in ("/admin", "/admin/dashboard/totals"):
        response = await signed_in.get(path, params={"period": period})
        assert response.status_code == 422
        assert "Traceback" not in response.text


@pytest.mark.usefixtures("history")
async def test_dashboard_for_support_shows_students_not_money(signed_in_as):
    client = await signed_in_as(AdminRole.SUPPORT)

    page = await client.get("/admin")
    partial = await client.get("/admin/dashboard/totals", params={"period": 365})
    balance = await client.get("/admin/dashboard/star-balance")

    assert page.status_code == partial.status_code == 200
    assert set(figures(partial.text)) == {
        "dashboard-new-students",
        "dashboard-new-buyers",
        "dashboard-conversion",
    }
    assert "revenue-chart" not in page.text
    assert "star-balance" not in page.text
    assert balance.status_code == 403


@pytest.mark.usefixtures("history")
async def test_dashboard_for_manager_shows_money(signed_in_as):
    client = await signed_in_as(AdminRole.MANAGER)

    page = await client.get("/admin", params={"period": 90})

    assert figures(page.text)["dashboard-net-revenue"] == "400"
    assert "revenue-chart" in page.text


async def test_dashboard_needs_a_session(client: httpx.AsyncClient):
    for path in ("/admin", "/admin/dashboard/totals", "/admin/dashboard/star-balance"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login")


# ------------------------------------------------------------------------------------------- Star balance


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    """The Bot API double, wired as the app's Telegram (as backend.main does when the bot is on)."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        bot = Bot(BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        app.state.telegram = BotGateway(bot)
        try:
            yield api
        finally:
            app.state.telegram = None
            await bot.session.close()


async def test_star_balance_from_telegram(signed_in: httpx.AsyncClient, telegram: BotAPIDouble):
    telegram.record_star_payment(555, 1500, "v1:1:l1")
    telegram.record_star_payment(556, 250, "v1:2:l1")

    page = await signed_in.get("/admin")
    balance = await signed_in.get("/admin/dashboard/star-balance")

    assert 'hx-get="/admin/dashboard/star-balance"' in page.text
    assert balance.status_code == 200
    assert re.search(r'data-testid="star-balance">1,750<', balance.text)
    assert [call.method for call in telegram.calls if call.method == "getMyStarBalance"] == [
        "getMyStarBalance"
    ]


async def test_star_balance_in_russian(signed_in: httpx.AsyncClient, telegram: BotAPIDouble):
    telegram.star_balance = 1234567

    balance = await signed_in.get("/admin/dashboard/star-balance", headers={"Accept-Language": "ru"})

    assert "1\u00a0234\u00a0567" in balance.text
    assert "Баланс звёзд бота" in balance.text


async def test_star_balance_when_telegram_fails(signed_in: httpx.AsyncClient, telegram: BotAPIDouble):
    telegram.fail("getMyStarBalance", error_code=500, description="Internal Server Error", times=None)

    balance = await signed_in.get("/admin/dashboard/star-balance")

    assert balance.status_code == 200
    assert 'data-testid="star-balance-unavailable"' in balance.text


async def test_star_balance_with_the_bot_off(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin")
    balance = await signed_in.get("/admin/dashboard/star-balance")

    assert 'id="star-balance"' not in page.text
    assert balance.status_code == 200
    assert 'data-testid="star-balance-off"' in balance.text
