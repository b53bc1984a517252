"""Figures for the panel's dashboard."""

from dataclasses import dataclass

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from shared.constants import PurchaseStatus
from shared.models import Course, Lesson, Purchase, User


@dataclass(frozen=True, slots=True)
class StoreTotals:
    lessons: int
    active_lessons: int
    courses: int
    students: int
    completed_purchases: int
    stars_earned: int


async def store_totals(session: AsyncSession) -> StoreTotals:
    """The store's totals at this moment, in one statement (one snapshot)."""
    completed = Purchase.status == PurchaseStatus.COMPLETED
    row = (
        await session.execute(
            select(
                select(func.count()).select_from(Lesson).scalar_subquery(),
                select(func.count()).select_from(Lesson).where(Lesson.is_active == true()).scalar_subquery(),
                select(func.count()).select_from(Course).scalar_subquery(),
                select(func.count()).select_from(User).scalar_subquery(),
                select(func.count()).select_from(Purchase).where(completed).scalar_subquery(),
                select(func.coalesce(func.sum(Purchase.amount), 0)).where(completed).scalar_subquery(),
            )
        )
    ).one()
    return StoreTotals(*(int(value) for value in row))
