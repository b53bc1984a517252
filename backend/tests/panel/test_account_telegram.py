"""The account page's Telegram section: linking the admin's own account through the bot, the support
notifications opt-in, unlinking."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.main import app
from backend.services import admin_telegram_service
from backend.tests.factories import create_user
from backend.tests.panel.conftest import csrf_of
from bot.app import create_bot
from bot.gateway import BotGateway
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN, settings_env
from shared.constants import AdminRole
from shared.models import Admin, AuditLog

LINK = re.compile(r'href="https://t\.me/lesson_store_test_bot\?start=admin-([A-Za-z0-9_-]+)"')


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    """The Bot API double, and the app's way to Telegram (as its lifespan wires it) pointed at it."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=api.base_url) as settings:
            bot = create_bot(settings)
            app.state.telegram = BotGateway(bot)
            try:
                yield api
            finally:
                app.state.telegram = None
                await bot.session.close()


async def stored(session: AsyncSession, username: str = "admin") -> Admin:
    session.expire_all()
    admin = await session.scalar(select(Admin).where(Admin.username == username))
    assert admin is not None
    return admin


async def link_page(client: httpx.AsyncClient) -> httpx.Response:
    token = csrf_of((await client.get("/admin/account")).text)
    return await client.post("/admin/account/telegram/link", data={"csrf_token": token})


async def linked(session: AsyncSession, telegram_id: int = 4242, **fields: object) -> Admin:
    admin = await stored(session)
    admin.telegram_id = telegram_id
    for name, value in fields.items():
        setattr(admin, name, value)
    await session.commit()
    return admin


@pytest.mark.usefixtures("telegram")
async def test_account_page_offers_to_link_telegram(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin/account")

    assert page.status_code == 200
    assert 'data-testid="link-telegram"' in page.text
    assert "Link my Telegram" in page.text
    assert 'data-testid="telegram-link"' not in page.text


@pytest.mark.usefixtures("telegram")
async def test_link_telegram_shows_a_one_time_deep_link(signed_in: httpx.AsyncClient, session: AsyncSession):
    response = await link_page(signed_in)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    match = LINK.search(response.text)
    assert match is not None, response.text
    assert "within 10 minutes" in response.text
    admin = await stored(session)
    assert admin.telegram_link_token_hash is not None
    assert match.group(1) not in admin.telegram_link_token_hash
    # The link is what the bot takes: it links the account that opens it.
    async with AsyncSession(session.bind) as other:
        await admin_telegram_service.link(other, token=match.group(1), telegram_id=4242)
        await other.commit()
    assert (await stored(session)).telegram_id == 4242


@pytest.mark.usefixtures("telegram")
async def test_linked_account_is_shown_with_the_notifications_and_unlink(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    await create_user(session, telegram_id=4242, first_name="Ann", username="ann_tg")
    await linked(session)

    page = await signed_in.get("/admin/account")

    assert "Linked to the Telegram account Ann (@ann_tg)." in page.text
    assert "Notify me in Telegram about new support tickets and messages" in page.text
    assert 'name="notify_support" type="checkbox" value="true">' in page.text
    assert 'data-testid="unlink-telegram"' in page.text
    assert 'data-testid="link-telegram"' not in page.text


async def test_account_page_says_when_the_bot_is_off(signed_in: httpx.AsyncClient, session: AsyncSession):
    page = await signed_in.get("/admin/account")
    response = await link_page(signed_in)

    assert 'data-testid="telegram-bot-off"' in page.text
    assert 'data-testid="link-telegram"' not in page.text
    assert response.status_code == 409
    assert "The Telegram bot is off" in response.text
    assert (await stored(session)).telegram_link_token_hash is None


@pytest.mark.usefixtures("telegram")
async def test_turn_support_notifications_on_and_off(signed_in: httpx.AsyncClient, session: AsyncSession):
    await linked(session)
    token = csrf_of((await signed_in.get("/admin/account")).text)

    on = await signed_in.post(
        "/admin/account/telegram/notify", data={"csrf_token": token, "notify_support": "true"}
    )

    assert on.status_code == 303
    assert (await stored(session)).notify_support is True
    page = await signed_in.get("/admin/account")
    assert "You will be notified in Telegram" in page.text
    assert 'name="notify_support" type="checkbox" value="true" checked>' in page.text

    off = await signed_in.post("/admin/account/telegram/notify", data={"csrf_token": token})

    assert off.status_code == 303
    assert (await stored(session)).notify_support is False
    entries = (await session.scalars(select(AuditLog).where(AuditLog.entity == "admins"))).all()
    assert [entry.changes.get("notify_support") for entry in entries][-2:] == [[False, True], [True, False]]


@pytest.mark.usefixtures("telegram")
async def test_notifications_need_a_linked_account(signed_in: httpx.AsyncClient, session: AsyncSession):
    token = csrf_of((await signed_in.get("/admin/account")).text)

    response = await signed_in.post(
        "/admin/account/telegram/notify", data={"csrf_token": token, "notify_support": "true"}
    )

    assert response.status_code == 409
    assert "Link your Telegram account first." in response.text
    assert (await stored(session)).notify_support is False


@pytest.mark.usefixtures("telegram")
async def test_unlink_telegram(signed_in: httpx.AsyncClient, session: AsyncSession):
    await linked(session, notify_support=True)
    token = csrf_of((await signed_in.get("/admin/account")).text)

    response = await signed_in.post("/admin/account/telegram/unlink", data={"csrf_token": token})

    assert response.status_code == 303
    admin = await stored(session)
    assert (admin.telegram_id, admin.notify_support) == (None, False)
    page = await signed_in.get("/admin/account")
    assert "Your Telegram account was unlinked." in page.text
    assert 'data-testid="link-telegram"' in page.text


@pytest.mark.usefixtures("telegram")
async def test_telegram_forms_need_the_csrf_token(signed_in: httpx.AsyncClient, session: AsyncSession):
    await linked(session)

    response = await signed_in.post("/admin/account/telegram/unlink", data={})

    assert response.status_code == 403
    assert (await stored(session)).telegram_id == 4242


@pytest.mark.parametrize("role", [AdminRole.MANAGER, AdminRole.SUPPORT])
@pytest.mark.usefixtures("telegram")
async def test_every_role_links_their_telegram(signed_in_as, role: AdminRole):
    client = await signed_in_as(role)

    response = await link_page(client)

    assert response.status_code == 200
    assert LINK.search(response.text) is not None


async def test_link_without_the_bots_address_shows_the_start_command(
    signed_in: httpx.AsyncClient, telegram: BotAPIDouble
):
    telegram.fail("getMe", error_code=500, times=None)

    response = await link_page(signed_in)

    assert response.status_code == 200
    assert LINK.search(response.text) is None
    command = re.search(
        r'data-testid="telegram-start-command">/start admin-([A-Za-z0-9_-]+)</code>', response.text
    )
    assert command is not None, response.text
    assert "Send the bot this command" in response.text
