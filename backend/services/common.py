"""Helpers shared by the services: pagination and text search."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.base import ExecutableOption

from shared.inline_reads import InlineReader
from shared.models import Base
from shared.utils import escape_like

ModelT = TypeVar("ModelT", bound=Base)
PAGE_LIMIT = "page_limit"
PAGE_OFFSET = "page_offset"
PAGE_TOTAL = "page_total"


@dataclass(frozen=True)
class PageQuery:
    """The statements of one listing, with the page's limit and offset (and any filter values named with
    bindparam) left as parameters: built once, they can run for every request (see page_query)."""

    page: Select[Any]
    page_with_total: Select[Any]
    count: Select[Any]


def page_query(
    model: type[Base],
    *,
    filters: Iterable[ColumnElement[bool]] = (),
    order_by: Sequence[Any],
    options: Sequence[ExecutableOption] = (),
    columns: Sequence[Any] = (),
) -> PageQuery:
    """The statements behind paginate. Build them once for a listing's common shapes (and keep them): an
    ORM statement costs more to build than a page of a few rows costs to read.

    columns: select these instead of the model's instances (for read_page_inline)."""
    filters = list(filters)
    page = (
        select(*columns or (model,))
        .where(*filters)
        .order_by(*order_by)
        .limit(bindparam(PAGE_LIMIT))
        .offset(bindparam(PAGE_OFFSET))
        .options(*options)
    )
    # The count rides along with the page as an uncorrelated scalar subquery: one statement, evaluated once
    # and from the same index as a count of its own (a count(*) OVER () window would read every matching
    # row). A page past the end has no row to carry it, so only then is it counted separately.
    count = select(func.count()).select_from(model).where(*filters)
    return PageQuery(page, page.add_columns(count.scalar_subquery().correlate(None).label(PAGE_TOTAL)), count)


async def run_page(
    session: AsyncSession,
    query: PageQuery,
    *,
    limit: int,
    offset: int,
    params: Mapping[str, Any] | None = None,
    total: int | None = None,
) -> tuple[Sequence[Any], int]:
    """One page of the query's rows, and how many match in all (unless given)."""
    values = {**(params or {}), PAGE_LIMIT: limit, PAGE_OFFSET: offset}
    if total is not None:
        return (await session.scalars(query.page, values)).all(), total
    rows = (await session.execute(query.page_with_total, values)).all()
    if rows:
        return [row[0] for row in rows], rows[0][1]
    if offset == 0:
        return [], 0
    return [], (await session.execute(query.count, params)).scalar_one()


def read_page_inline(
    reader: InlineReader,
    query: PageQuery,
    *,
    limit: int,
    offset: int,
    params: Mapping[str, Any] | None = None,
    total: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """run_page on an InlineReader: the page's rows as dicts, and how many match in all (unless given)."""
    values = {**(params or {}), PAGE_LIMIT: limit, PAGE_OFFSET: offset}
    if total is not None:
        return reader.all(query.page, values), total
    rows = reader.all(query.page_with_total, values)
    if rows:
        counted = rows[0][PAGE_TOTAL]
        for row in rows:
            del row[PAGE_TOTAL]
        return rows, counted
    if offset == 0:
        return [], 0
    (count,) = reader.all(query.count, params)[0].values()
    return [], count


async def paginate(
    session: AsyncSession,
    model: type[ModelT],
    *,
    filters: Iterable[ColumnElement[bool]] = (),
    order_by: Sequence[Any],
    limit: int,
    offset: int,
    options: Sequence[ExecutableOption] = (),
    total: int | None = None,
) -> tuple[Sequence[ModelT], int]:
    """One page of the model's rows that match the filters, and how many match in all (unless given)."""
    query = page_query(model, filters=filters, order_by=order_by, options=options)
    return await run_page(session, query, limit=limit, offset=offset, total=total)


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
