"""Users: the students who reach the store through the bot."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.common import paginate, sort_order, text_search, violates
from backend.services.exceptions import DuplicateTelegramId, UserNotFound
from shared.models import User
from shared.schemas import UserCreate, UserUpdate

SORT_COLUMNS = {"created_at": User.created_at, "first_name": User.first_name, "id": User.id}


async def get(session: AsyncSession, user_id: int) -> User:
    """The user with this id, or UserNotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


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
) -> tuple[Sequence[User], int]:
    """A page of users matching the filters (search looks in names and username)."""
    filters = []
    if is_active is not None:
        filters.append(User.is_active.is_(is_active))
    if language_code:
        filters.append(User.language_code == language_code)
    if telegram_id is not None:
        filters.append(User.telegram_id == telegram_id)
    if search:
        filters.append(text_search(search, User.first_name, User.last_name, User.username))
    return await paginate(
        session,
        User,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, User.id),
        limit=limit,
        offset=offset,
    )


async def create(session: AsyncSession, *, data: UserCreate) -> User:
    """Register a user; DuplicateTelegramId if the Telegram id is taken."""
    if await get_by_telegram_id(session, data.telegram_id) is not None:
        raise DuplicateTelegramId(data.telegram_id)
    user = User(**data.model_dump())
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        if violates(error, "telegram_id"):
            raise DuplicateTelegramId(data.telegram_id) from error
        raise
    return user


async def update(session: AsyncSession, user: User, *, data: UserUpdate) -> User:
    """Change the fields that were given."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    await session.commit()
    return user


async def register_or_update(
    session: AsyncSession,
    *,
    telegram_id: int,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
) -> User:
    """Register a Telegram user on first contact, refresh their profile on later ones."""
    user = await get_by_telegram_id(session, telegram_id)
    if user is None:
        data = UserCreate(
            telegram_id=telegram_id,
            first_name=first_name or str(telegram_id),
            last_name=last_name,
            username=username,
            language_code=language_code or "en",
        )
        try:
            return await create(session, data=data)
        except DuplicateTelegramId:
            # Two updates of a new user raced; the other one registered them.
            user = await get_by_telegram_id(session, telegram_id)
            assert user is not None
    user.first_name = first_name or user.first_name
    user.last_name = last_name
    user.username = username
    if language_code:
        user.language_code = language_code
    await session.commit()
    return user
