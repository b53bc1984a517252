"""Admins' own Telegram accounts (backend/services/admin_telegram_service.py)."""

import asyncio
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.services import admin_telegram_service, audit_service
from backend.services.exceptions import InvalidLinkToken, TelegramNotLinked
from shared import database
from shared.constants import AdminRole
from shared.models import Admin, AuditLog
from shared.utils import utcnow


async def add_admin(session, username: str = "ann", **fields) -> Admin:
    admin = Admin(username=username, password_hash="x", role=AdminRole.SUPPORT, **fields)
    session.add(admin)
    await session.flush()
    return admin


async def reloaded(session, admin: Admin) -> Admin:
    admin_id = admin.id
    session.expire_all()
    loaded = await session.get(Admin, admin_id)
    assert loaded is not None
    return loaded


async def test_create_link_token_stores_only_its_hash_with_an_expiry(session):
    admin = await add_admin(session)

    token = await admin_telegram_service.create_link_token(session, admin)

    stored = await reloaded(session, admin)
    assert stored.telegram_link_token_hash == hashlib.sha256(token.token.encode()).hexdigest()
    assert token.token not in stored.telegram_link_token_hash
    assert stored.telegram_link_expires_at == token.expires_at
    assert timedelta(minutes=9) < token.expires_at - utcnow() <= timedelta(minutes=10)
    assert token.start_parameter == f"admin-{token.token}"
    assert len(token.start_parameter) <= 64
    assert token.url("store_bot") == f"https://t.me/store_bot?start=admin-{token.token}"


async def test_link_sets_the_telegram_id_and_uses_the_token_up(session):
    admin = await add_admin(session)
    token = await admin_telegram_service.create_link_token(session, admin)

    linked = await admin_telegram_service.link(session, token=token.token, telegram_id=5551)

    assert linked.id == admin.id
    stored = await reloaded(session, admin)
    assert stored.telegram_id == 5551
    assert (stored.telegram_link_token_hash, stored.telegram_link_expires_at) == (None, None)
    assert stored.notify_support is False


async def test_link_token_works_once(session):
    admin = await add_admin(session)
    token = await admin_telegram_service.create_link_token(session, admin)
    await admin_telegram_service.link(session, token=token.token, telegram_id=5551)

    with pytest.raises(InvalidLinkToken):
        await admin_telegram_service.link(session, token=token.token, telegram_id=5552)

    assert (await reloaded(session, admin)).telegram_id == 5551


async def test_link_with_an_expired_token(session):
    admin = await add_admin(session)
    token = await admin_telegram_service.create_link_token(session, admin)
    admin.telegram_link_expires_at = utcnow() - timedelta(seconds=1)
    await session.flush()

    with pytest.raises(InvalidLinkToken, match="expired"):
        await admin_telegram_service.link(session, token=token.token, telegram_id=5551)

    assert (await reloaded(session, admin)).telegram_id is None


async def test_link_with_a_wrong_token(session):
    admin = await add_admin(session)
    token = await admin_telegram_service.create_link_token(session, admin)

    # Its last character changed (to "x", unless it is one: a random token ends with "x" one time in 64).
    wrong = token.token[:-1] + ("y" if token.token.endswith("x") else "x")

    with pytest.raises(InvalidLinkToken):
        await admin_telegram_service.link(session, token=wrong, telegram_id=5551)

    assert (await reloaded(session, admin)).telegram_id is None


async def test_a_new_token_replaces_the_earlier_one(session):
    admin = await add_admin(session)
    first = await admin_telegram_service.create_link_token(session, admin)
    second = await admin_telegram_service.create_link_token(session, admin)

    with pytest.raises(InvalidLinkToken):
        await admin_telegram_service.link(session, token=first.token, telegram_id=5551)
    await admin_telegram_service.link(session, token=second.token, telegram_id=5551)

    assert (await reloaded(session, admin)).telegram_id == 5551


async def test_link_of_a_deactivated_admin_is_refused(session):
    admin = await add_admin(session)
    token = await admin_telegram_service.create_link_token(session, admin)
    admin.is_active = False
    await session.flush()

    with pytest.raises(InvalidLinkToken):
        await admin_telegram_service.link(session, token=token.token, telegram_id=5551)


async def test_relink_moves_the_telegram_account_to_another_admin(session):
    ann = await add_admin(session, "ann", telegram_id=5551, notify_support=True)
    bob = await add_admin(session, "bob")
    token = await admin_telegram_service.create_link_token(session, bob)

    await admin_telegram_service.link(session, token=token.token, telegram_id=5551)

    bob_id = bob.id
    ann = await reloaded(session, ann)
    assert (ann.telegram_id, ann.notify_support) == (None, False)
    assert (await session.get(Admin, bob_id)).telegram_id == 5551


async def test_relink_replaces_the_admins_earlier_account(session):
    ann = await add_admin(session, "ann", telegram_id=5551, notify_support=True)
    token = await admin_telegram_service.create_link_token(session, ann)

    await admin_telegram_service.link(session, token=token.token, telegram_id=5552)

    ann = await reloaded(session, ann)
    assert (ann.telegram_id, ann.notify_support) == (5552, True)


async def test_link_is_in_the_audit_log_as_the_admins_own_change(session):
    admin = await add_admin(session)
    token = await admin_telegram_service.create_link_token(session, admin)

    await admin_telegram_service.link(session, token=token.token, telegram_id=5551)

    assert audit_service.actor(session) == (admin.id, "ann")
    entries = (await session.scalars(select(AuditLog).where(AuditLog.entity == "admins"))).all()
    assert [entry.admin_id for entry in entries] == [admin.id] * len(entries)
    changes = {column: pair for entry in entries for column, pair in entry.changes.items()}
    assert changes["telegram_id"] == [None, 5551]
    assert token.token not in str(changes)
    assert hashlib.sha256(token.token.encode()).hexdigest() not in str(changes)


async def test_unlink_forgets_the_account_and_the_notifications(session):
    admin = await add_admin(session, telegram_id=5551, notify_support=True)

    await admin_telegram_service.unlink(session, admin)

    stored = await reloaded(session, admin)
    assert (stored.telegram_id, stored.notify_support) == (None, False)


async def test_set_notify_support(session):
    admin = await add_admin(session, telegram_id=5551)

    await admin_telegram_service.set_notify_support(session, admin, enabled=True)
    assert (await reloaded(session, admin)).notify_support is True

    admin = await reloaded(session, admin)
    await admin_telegram_service.set_notify_support(session, admin, enabled=False)
    assert (await reloaded(session, admin)).notify_support is False


async def test_set_notify_support_without_a_linked_account(session):
    admin = await add_admin(session)

    with pytest.raises(TelegramNotLinked):
        await admin_telegram_service.set_notify_support(session, admin, enabled=True)


async def test_one_token_used_twice_at_once_links_one_account():
    async with database.session_scope() as session:
        admin = await add_admin(session)
        token = (await admin_telegram_service.create_link_token(session, admin)).token

    async def use(telegram_id: int) -> bool:
        try:
            async with database.session_scope() as session:
                await admin_telegram_service.link(session, token=token, telegram_id=telegram_id)
        except InvalidLinkToken:
            return False
        return True

    results = await asyncio.gather(use(5551), use(5552))

    assert sorted(results) == [False, True]
    async with database.session_scope() as session:
        stored = await session.scalar(select(Admin).where(Admin.username == "ann"))
        assert stored.telegram_id == (5551 if results[0] else 5552)


async def test_two_admins_linking_one_account_at_once_both_succeed_and_one_keeps_it():
    async with database.session_scope() as session:
        tokens = {
            name: (
                await admin_telegram_service.create_link_token(session, await add_admin(session, name))
            ).token
            for name in ("ann", "bob")
        }

    async def use(token: str) -> None:
        async with database.session_scope() as session:
            await admin_telegram_service.link(session, token=token, telegram_id=5551)

    # As if applied one after the other: the account moves to whichever came last, no error.
    await asyncio.gather(*(use(token) for token in tokens.values()))

    async with database.session_scope() as session:
        linked = (await session.scalars(select(Admin.username).where(Admin.telegram_id == 5551))).all()
    assert len(linked) == 1
    assert linked[0] in tokens
