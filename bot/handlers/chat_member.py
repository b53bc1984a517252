"""my_chat_member: Telegram tells the bot when a student blocks it (its status in their private chat becomes
"kicked") and when they unblock it ("member"), so broadcasts and answers skip them before a send fails."""

from aiogram import F, Router
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import user_service
from shared.models import User


async def bot_blocked(_event: ChatMemberUpdated, session: AsyncSession, user: User) -> None:
    await user_service.mark_bot_blocked(session, user.id)


async def bot_unblocked(_event: ChatMemberUpdated, session: AsyncSession, user: User) -> None:
    await user_service.clear_bot_blocked(session, user.id)


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    # Groups and channels the bot is added to are not students' chats.
    router.my_chat_member.filter(F.chat.type == "private")
    router.my_chat_member.register(bot_blocked, ChatMemberUpdatedFilter(member_status_changed=KICKED))
    router.my_chat_member.register(bot_unblocked, ChatMemberUpdatedFilter(member_status_changed=MEMBER))
    return router
