"""Users: the students who reach the store through the bot."""

from sqlalchemy import or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.common import PageResult, dialect_insert, paginate, sort_order, text_search
from backend.services.exceptions import DuplicateTelegramId, UserNotFound
from shared.constants import DEFAULT_LANGUAGE_CODE, MAX_TELEGRAM_ID, NAME_MAX_LENGTH, USERNAME_MAX_LENGTH
from shared.database import writes
from shared.models import User
from shared.schemas import LANGUAGE_CODE_PATTERN, UserCreate, UserUpdate
from shared.utils import utcnow

SORT_COLUMNS = {"created_at": User.created_at, "first_name": User.first_name, "id": User.id}


async def get(session: AsyncSession, user_id: int) -> User:
    """The user with this id, or UserNotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def lock(session: AsyncSession, user_id: int) -> bool:
    """Lock the user's row until the transaction ends (PostgreSQL: FOR UPDATE; SQLite's writers already
    take turns): it serialises that user's purchases, so that two of them changed at once cannot both pass
    a check of what the user has. Whether the user exists.

    One statement per user and transaction: a payment's record and its rollup both need the lock."""
    if user_id not in _locks_held(session):
        found = await session.scalar(select(User.id).where(User.id == user_id).with_for_update())
        # Looked up again: the statement began the transaction if none was open.
        _locks_held(session)[user_id] = found is not None
    return _locks_held(session)[user_id]


def _locks_held(session: AsyncSession) -> dict[int, bool]:
    """The users whose rows the session's innermost running transaction has locked (a savepoint rolled back
    gives up the locks taken in it)."""
    transaction = session.sync_session.get_nested_transaction() or session.sync_session.get_transaction()
    held = session.info.get(_LOCKED_USERS)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED_USERS] = (transaction, {})
    return held[1]


# session.info: (the transaction, {user id: exists}) of the users whose rows that transaction has locked.
_LOCKED_USERS = "locked_users"


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> User | None:
    """The user with this Telegram id, if registered."""
    return await session.scalar(select(User).where(User.telegram_id == telegram_id))


async def get_all(
    session: AsyncSession,
    *,
    is_active: bool | None = None,
    search: str | None = None,
    language_code: str | None = None,
    telegram_id: int | None = None,
    sort: str = "-created_at",
    limit: int,
    offset: int,
) -> PageResult[User]:
    """A page of users matching the filters (search looks in names and username, "@name" in the username,
    and a number is also looked up as a Telegram id)."""
    filters = []
    if is_active is not None:
        filters.append(User.is_active == is_active)
    if language_code:
        filters.append(User.language_code == language_code)
    if telegram_id is not None:
        filters.append(User.telegram_id == telegram_id)
    if search and search.strip():
        term = search.strip()
        if term.startswith("@") and len(term) > 1:
            filters.append(text_search(term[1:], User.username))
        else:
            condition = text_search(term, User.first_name, User.last_name, User.username)
            if term.isdecimal() and term.isascii() and int(term) <= MAX_TELEGRAM_ID:
                condition = or_(condition, User.telegram_id == int(term))
            filters.append(condition)
    return await paginate(
        session,
        User,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, User.id),
        limit=limit,
        offset=offset,
    )


@writes
async def create(session: AsyncSession, *, data: UserCreate) -> User:
    """Register a user; DuplicateTelegramId if the Telegram id is taken."""
    # One statement, on both databases: the unique index, not a lookup, refuses a taken Telegram id, and a
    # registration racing this one leaves nothing to undo.
    user = await session.scalar(
        dialect_insert(session)(User)
        .values(**data.model_dump())
        .on_conflict_do_nothing(index_elements=[User.telegram_id])
        .returning(User)
    )
    if user is None:
        raise DuplicateTelegramId(data.telegram_id)
    return user


@writes
async def update(session: AsyncSession, user: User, *, data: UserUpdate) -> User:
    """Change the fields that were given."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    await session.flush()
    return user


async def register_or_update(
    session: AsyncSession,
    *,
    telegram_id: int,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    in_private_chat: bool = True,
) -> User:
    """Register a Telegram user on first contact, refresh their profile on later ones. Something they did in
    their private chat with the bot means they no longer block it (not what they do elsewhere: a group).

    Writes only when something changed, so a returning user costs one read.
    """
    user = await get_by_telegram_id(session, telegram_id)
    profile = {
        "first_name": (first_name or "").strip()[:NAME_MAX_LENGTH]
        or (user.first_name if user else str(telegram_id)),
        "last_name": (last_name or "").strip()[:NAME_MAX_LENGTH] or None,
        "username": (username or "").strip()[:USERNAME_MAX_LENGTH] or None,
        "language_code": _language(language_code, user.language_code if user else DEFAULT_LANGUAGE_CODE),
    }
    if user is None:
        try:
            return await create(session, data=UserCreate(telegram_id=telegram_id, **profile))
        except DuplicateTelegramId:
            # Two updates of a new user raced; the other one registered them.
            user = await get_by_telegram_id(session, telegram_id)
            assert user is not None
    unblocked = in_private_chat and user.bot_blocked_at is not None
    if any(getattr(user, field) != value for field, value in profile.items()) or unblocked:
        await _refresh_profile(session, user, {**profile, **({"bot_blocked_at": None} if unblocked else {})})
    return user


@writes
async def mark_bot_blocked(session: AsyncSession, user_id: int) -> None:
    """Record that Telegram refused a message to the user for good: they blocked the bot."""
    await session.execute(
        sql_update(User)
        .where(User.id == user_id, User.bot_blocked_at.is_(None))
        .values(bot_blocked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@writes
async def clear_bot_blocked(session: AsyncSession, user_id: int) -> None:
    """Record that the user unblocked the bot (Telegram's my_chat_member update says so)."""
    await session.execute(
        sql_update(User)
        .where(User.id == user_id, User.bot_blocked_at.is_not(None))
        .values(bot_blocked_at=None)
        .execution_options(synchronize_session=False)
    )


def _language(code: str | None, current: str) -> str:
    code = (code or "").strip()
    return code if LANGUAGE_CODE_PATTERN.fullmatch(code) else current


@writes
async def _refresh_profile(session: AsyncSession, user: User, profile: dict[str, object]) -> None:
    for field, value in profile.items():
        setattr(user, field, value)
    await session.flush()
