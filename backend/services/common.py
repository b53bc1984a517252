"""Helpers shared by the services: pagination and text search."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.base import ExecutableOption

from shared.models import Base
from shared.utils import escape_like

ModelT = TypeVar("ModelT", bound=Base)


# A list's total is counted up to this many rows past the page's offset, no further: a count of every
# matching row costs as much as the table is long, so a page of a table with millions of purchases would
# take as long as a scan of it. Past the limit the total is a lower bound (as trackers show "10,000+").
TOTAL_COUNT_LIMIT = 10_000


class PageResult(NamedTuple, Generic[ModelT]):
    """One page of rows, and how many rows match: exactly, or (total_exact false) at least `total`."""

    items: Sequence[ModelT]
    total: int
    total_exact: bool


async def paginate(
    session: AsyncSession,
    model: type[ModelT],
    *,
    filters: Iterable[ColumnElement[bool]] = (),
    order_by: Sequence[Any],
    limit: int,
    offset: int,
    options: Sequence[ExecutableOption] = (),
) -> PageResult[ModelT]:
    """One page of the model's rows that match the filters, and how many match (see TOTAL_COUNT_LIMIT)."""
    filters = list(filters)
    counted_up_to = offset + TOTAL_COUNT_LIMIT
    # One row past the limit tells "exactly counted_up_to" from "more".
    matching = select(literal(1)).select_from(model).where(*filters).limit(counted_up_to + 1).subquery()
    count = select(func.count()).select_from(matching)
    # The total rides along with the page as an uncorrelated scalar subquery: one statement, and the page
    # and its total come from the same snapshot. A page past the end has no row to carry it.
    page = (
        select(model, count.scalar_subquery().label("total"))
        .where(*filters)
        .order_by(*order_by)
        .limit(limit)
        .offset(offset)
        .options(*options)
    )
    rows = (await session.execute(page)).all()
    if rows:
        items, total = [row[0] for row in rows], rows[0][1]
    else:
        items, total = [], (await session.scalar(count) or 0) if offset else 0
    return PageResult(items, min(total, counted_up_to), total <= counted_up_to)


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """The session's database's own INSERT construct, which has ON CONFLICT (upserts); both databases
    spell it the same."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def text_search(query: str, *columns: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """A case-insensitive substring match on any of the columns."""
    pattern = f"%{escape_like(query.strip())}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def sort_order(sort: str, columns: dict[str, InstrumentedAttribute[Any]], tiebreaker: Any) -> list[Any]:
    """ORDER BY for a sort key such as "price" or "-created_at", with a unique tiebreaker for stable pages."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    return [column.desc() if descending else column.asc(), tiebreaker.desc() if descending else tiebreaker]


def violates(error: IntegrityError, *names: str) -> bool:
    """Whether the database refused the write because of a constraint on one of these columns/names."""
    text = str(error.orig).lower()
    return any(name.lower() in text for name in names)
