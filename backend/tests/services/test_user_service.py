"""Users (backend/services/user_service.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from backend.services import user_service
from backend.services.exceptions import DuplicateTelegramId, UserNotFound
from backend.tests.conftest import is_postgres, statements_sent
from backend.tests.factories import create_user
from shared import database
from shared.models import User
from shared.schemas import UserCreate, UserUpdate


async def names(session, **filters) -> list[str]:
    users, _, _ = await user_service.get_all(session, sort="id", limit=100, offset=0, **filters)
    return [user.first_name for user in users]


async def test_create_user(session):
    user = await user_service.create(
        session, data=UserCreate(telegram_id=77, first_name="Ann", username="ann", language_code="de")
    )
    session.expunge_all()

    loaded = await session.get(User, user.id)
    assert loaded is not None
    assert (loaded.telegram_id, loaded.first_name, loaded.username, loaded.language_code) == (
        77,
        "Ann",
        "ann",
        "de",
    )
    assert loaded.is_active is True


async def test_create_user_duplicate_telegram_id(session):
    await create_user(session, telegram_id=77)

    with pytest.raises(DuplicateTelegramId, match="77"):
        await user_service.create(session, data=UserCreate(telegram_id=77, first_name="Again"))

    assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_get_user(session):
    user = await create_user(session)

    assert (await user_service.get(session, user.id)).id == user.id


async def test_get_user_not_found(session):
    with pytest.raises(UserNotFound, match="User 12345 not found"):
        await user_service.get(session, 12345)


async def test_get_by_telegram_id(session):
    user = await create_user(session, telegram_id=2**63 - 1)

    found = await user_service.get_by_telegram_id(session, 2**63 - 1)

    assert found is not None
    assert found.id == user.id
    assert await user_service.get_by_telegram_id(session, 5) is None


async def test_get_all_users_filters_active(session):
    await create_user(session, first_name="On")
    await create_user(session, first_name="Off", is_active=False)

    assert await names(session, is_active=True) == ["On"]
    assert await names(session, is_active=False) == ["Off"]
    assert await names(session) == ["On", "Off"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("alice", ["Alice"]),
        ("ALI", ["Alice"]),
        ("smith", ["Bob"]),
        ("CAROL_X", ["Carol"]),
        ("  bob  ", ["Bob"]),
        ("o", ["Bob", "Carol"]),
        ("nobody", []),
    ],
)
async def test_get_all_users_search_names_case_insensitive(session, search, expected):
    await create_user(session, first_name="Alice", last_name=None, username="al")
    await create_user(session, first_name="Bob", last_name="Smith", username=None)
    await create_user(session, first_name="Carol", last_name="Z", username="carol_x")

    assert await names(session, search=search) == expected


@pytest.mark.parametrize(("search", "expected"), [("%", ["Percent"]), ("_", ["Under"]), ("\\", ["Slash"])])
async def test_get_all_users_search_wildcards_literal(session, search, expected):
    await create_user(session, first_name="Percent", username="100%")
    await create_user(session, first_name="Under", username="a_b")
    await create_user(session, first_name="Slash", username="back\\slash")
    await create_user(session, first_name="Plain", username="plain")

    assert await names(session, search=search) == expected


async def test_get_all_users_filters_language(session):
    await create_user(session, first_name="En")
    await create_user(session, first_name="Ru", language_code="ru")

    assert await names(session, language_code="ru") == ["Ru"]


async def test_get_all_users_filters_telegram_id(session):
    await create_user(session, first_name="Wanted", telegram_id=2**40)
    await create_user(session, first_name="Other", telegram_id=2**40 + 1)

    assert await names(session, telegram_id=2**40) == ["Wanted"]
    assert await names(session, telegram_id=7) == []


async def test_get_all_users_pages_with_total(session):
    for n in range(5):
        await create_user(session, first_name=f"U{n}")

    page, total, _ = await user_service.get_all(session, sort="id", limit=2, offset=2)
    beyond, beyond_total, _ = await user_service.get_all(session, sort="id", limit=2, offset=10)

    assert [u.first_name for u in page] == ["U2", "U3"]
    assert total == 5
    assert (list(beyond), beyond_total) == ([], 5)


async def test_get_all_users_default_sort_newest_first(session):
    base = datetime(2030, 1, 1, tzinfo=UTC)
    await create_user(session, first_name="Old", created_at=base)
    await create_user(session, first_name="New", created_at=base + timedelta(hours=1))
    await create_user(session, first_name="Mid", created_at=base + timedelta(minutes=1))

    users, _, _ = await user_service.get_all(session, limit=10, offset=0)

    assert [u.first_name for u in users] == ["New", "Mid", "Old"]


async def test_get_all_users_sort_by_first_name(session):
    for name in ["b", "c", "a"]:
        await create_user(session, first_name=name)

    users, _, _ = await user_service.get_all(session, sort="-first_name", limit=10, offset=0)

    assert [u.first_name for u in users] == ["c", "b", "a"]


async def test_update_user_changes_only_given_fields(session):
    user = await create_user(session, first_name="Ann", last_name="Lee", username="ann", language_code="en")

    await user_service.update(session, user, data=UserUpdate(last_name=None, language_code="fr"))
    session.expunge_all()

    loaded = await session.get(User, user.id)
    assert loaded is not None
    assert (loaded.first_name, loaded.last_name, loaded.username, loaded.language_code) == (
        "Ann",
        None,
        "ann",
        "fr",
    )


async def test_update_user_deactivate(session):
    user = await create_user(session)

    await user_service.update(session, user, data=UserUpdate(is_active=False))

    assert await session.scalar(select(User.is_active).where(User.id == user.id)) is False


async def test_register_or_update_creates_new_user(session):
    user = await user_service.register_or_update(
        session, telegram_id=900, first_name="Ivan", last_name="P", username="ivan", language_code="ru"
    )
    session.expunge_all()

    loaded = await session.get(User, user.id)
    assert loaded is not None
    assert (loaded.telegram_id, loaded.first_name, loaded.last_name) == (900, "Ivan", "P")
    assert (loaded.username, loaded.language_code) == ("ivan", "ru")


async def test_register_or_update_new_user_defaults(session):
    user = await user_service.register_or_update(session, telegram_id=901, first_name="")

    assert (user.first_name, user.language_code, user.username) == ("901", "en", None)


async def test_register_or_update_refreshes_profile(session):
    first = await user_service.register_or_update(
        session, telegram_id=900, first_name="Ivan", last_name="P", username="ivan", language_code="ru"
    )

    again = await user_service.register_or_update(
        session, telegram_id=900, first_name="Ivan II", last_name=None, username="ivan2", language_code="en"
    )
    session.expunge_all()

    loaded = await session.get(User, first.id)
    assert again.id == first.id
    assert loaded is not None
    assert (loaded.first_name, loaded.last_name, loaded.username, loaded.language_code) == (
        "Ivan II",
        None,
        "ivan2",
        "en",
    )
    assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_register_or_update_keeps_language_and_name_when_missing(session):
    user = await create_user(session, telegram_id=902, first_name="Kept", language_code="uk")

    await user_service.register_or_update(session, telegram_id=902, first_name="", language_code=None)

    row = (await session.execute(select(User.first_name, User.language_code).where(User.id == user.id))).one()
    assert tuple(row) == ("Kept", "uk")


# lock ----------------------------------------------------------------------------------------------------


@contextmanager
def user_locks_sent() -> Iterator[list[str]]:
    """The statements of user_service.lock sent inside the block."""
    with statements_sent() as sent:
        yield sent
    sent[:] = [statement for statement in sent if statement.startswith("SELECT users.id \nFROM users")]


async def test_lock_says_whether_the_user_exists(session):
    user = await create_user(session)

    assert await user_service.lock(session, user.id) is True
    assert await user_service.lock(session, user.id + 1000) is False


async def test_lock_is_one_statement_per_user_and_transaction(session):
    first, second = await create_user(session), await create_user(session)
    await session.commit()

    with user_locks_sent() as sent:
        await user_service.lock(session, first.id)
        await user_service.lock(session, first.id)
        await user_service.lock(session, second.id)
        assert len(sent) == 2
        await session.commit()
        await user_service.lock(session, first.id)
        assert len(sent) == 3
    # PostgreSQL locks the row; SQLite's writers take turns (FOR UPDATE is not rendered there).
    assert all(("FOR UPDATE" in statement) == is_postgres() for statement in sent)


async def test_lock_in_a_savepoint_rolled_back_is_taken_again(session):
    user = await create_user(session)
    await session.commit()

    with user_locks_sent() as sent:
        savepoint = await session.begin_nested()
        await user_service.lock(session, user.id)
        await savepoint.rollback()
        await user_service.lock(session, user.id)
    assert len(sent) == 2


@pytest.mark.skipif(not is_postgres(), reason="row locks are PostgreSQL's; SQLite's writers take turns")
async def test_lock_holds_the_row_until_the_transaction_ends(session):
    user = await create_user(session)
    await session.commit()
    await user_service.lock(session, user.id)

    async with database.session_scope() as other:
        with pytest.raises(DBAPIError):
            await other.execute(select(User.id).where(User.id == user.id).with_for_update(nowait=True))
    await session.commit()
    async with database.session_scope() as other:
        assert await other.scalar(select(User.id).where(User.id == user.id).with_for_update(nowait=True))
