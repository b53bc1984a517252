"""The demo data: months of history, counted by the dashboard's rollup as real purchases are; once only."""

from sqlalchemy import func, select

from backend.seed import seed
from backend.services import stats_service
from shared.constants import PurchaseStatus
from shared.database import session_scope
from shared.models import Purchase, SupportTicket, User


async def test_seed_makes_months_of_history_the_rollup_counts(session):
    assert await seed(session)
    await session.commit()
    assert not await seed(session)

    async with session_scope() as other:
        assert await stats_service.stored(other) == await stats_service.recount(other)
        statuses = dict(
            (await other.execute(select(Purchase.status, func.count()).group_by(Purchase.status))).all()
        )
        students = await other.scalar(select(func.count()).select_from(User))
        tickets = await other.scalar(select(func.count()).select_from(SupportTicket))
        first = await other.scalar(select(func.min(Purchase.created_at)))
        dashboard = await stats_service.dashboard(other, period=90)
    assert students > 100
    assert tickets > 5
    assert statuses[PurchaseStatus.COMPLETED] > 100
    assert statuses[PurchaseStatus.REFUNDED] > 0
    assert statuses[PurchaseStatus.FAILED] > 0
    assert (dashboard.last_day - first.date()).days > 90
    assert dashboard.totals.sales > 50
    assert dashboard.top_items
    assert dashboard.top_promo_codes
