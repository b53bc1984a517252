"""The audit log: every admin write, whichever edge made it, recorded in the same transaction.

An edge that acts for an admin (the API's admin dependency, the panel's) names the admin on its unit of
work with `set_actor`. From then on, every flush of that session records one AuditLog row per created,
changed or deleted row of the audited tables, with the changed columns' values before and after; so do the
services' UPDATE and DELETE statements (conditional updates, bulk deletes), and INSERTs that return their
rows. Nothing has to remember to log: a service written tomorrow is audited too. Units of work without an
actor (the bot, the jobs, startup) record nothing.

Append-only: flushes and statements that would change or delete an AuditLog row are refused.
"""

import enum
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, event, insert, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session, UOWTransaction

from backend.services.common import PageResult, paginate
from backend.services.exceptions import AuditLogIsAppendOnly
from shared.constants import AUDIT_VALUE_MAX_LENGTH, AuditAction
from shared.models import (
    Admin,
    AuditLog,
    Base,
    Broadcast,
    Course,
    CourseLesson,
    Lesson,
    PromoCode,
    Purchase,
    SupportTicket,
    UnmatchedPayment,
    User,
)

logger = logging.getLogger(__name__)

AUDITED: tuple[type[Base], ...] = (
    Lesson,
    Course,
    CourseLesson,
    PromoCode,
    Purchase,
    User,
    Admin,
    SupportTicket,
    UnmatchedPayment,
    Broadcast,
)
# Bookkeeping that every write touches: it says nothing the record's own time does not.
SKIPPED_COLUMNS = frozenset({"created_at", "updated_at"})
SECRET_COLUMNS = frozenset({"password_hash"})
SECRET_CHANGED = "***changed***"  # noqa: S105 (what the log shows instead of a secret)
_ACTOR = "audit_actor"


def set_actor(session: AsyncSession | Session, admin: Admin) -> None:
    """Name the admin on whose behalf this unit of work writes: its writes are audited from now on."""
    session.info[_ACTOR] = (admin.id, admin.username)


def actor(session: AsyncSession | Session) -> tuple[int, str] | None:
    """The (id, username) of the admin this unit of work writes for, if any."""
    return session.info.get(_ACTOR)


def _pair(column: str, before: Any, after: Any) -> list[Any]:
    """[before, after] of a column, JSON-storable and bounded; a secret only says that it changed."""
    if column in SECRET_COLUMNS:
        return [None, SECRET_CHANGED if after is not None else None]
    return [_value(before), _value(after)]


def _value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) > AUDIT_VALUE_MAX_LENGTH:
        return value[:AUDIT_VALUE_MAX_LENGTH] + "…"
    return value


def _entity_id(mapper: Mapper[Any], values: dict[str, Any]) -> str:
    return "/".join(
        str(values.get(mapper.get_property_by_column(column).key)) for column in mapper.primary_key
    )


def _columns(mapper: Mapper[Any]) -> list[str]:
    return [attr.key for attr in mapper.column_attrs if attr.key not in SKIPPED_COLUMNS]


def _entry(
    who: tuple[int, str], action: AuditAction, mapper: Mapper[Any], entity_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "admin_id": who[0],
        "admin_username": who[1],
        "action": action,
        "entity": mapper.local_table.name,  # type: ignore[attr-defined]
        "entity_id": entity_id,
        "changes": changes,
    }


def _audited(instance: object) -> bool:
    return isinstance(instance, AUDITED)


def _created(who: tuple[int, str], state: InstanceState[Any]) -> dict[str, Any]:
    values = state.dict
    changes = {
        key: _pair(key, None, values[key]) for key in _columns(state.mapper) if values.get(key) is not None
    }
    return _entry(who, AuditAction.CREATE, state.mapper, _entity_id(state.mapper, values), changes)


def _deleted(who: tuple[int, str], state: InstanceState[Any]) -> dict[str, Any]:
    values = state.dict
    changes = {key: _pair(key, values[key], None) for key in _columns(state.mapper) if key in values}
    return _entry(who, AuditAction.DELETE, state.mapper, _entity_id(state.mapper, values), changes)


def _updated(who: tuple[int, str], state: InstanceState[Any]) -> dict[str, Any] | None:
    changes = {}
    for key in _columns(state.mapper):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        # The value before is unknown only if it was never loaded (the row was changed without reading it).
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        changes[key] = _pair(key, before, after)
    if not changes:
        return None
    return _entry(who, AuditAction.UPDATE, state.mapper, _entity_id(state.mapper, state.dict), changes)


def _write(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    if entries:
        # A Core INSERT on the flush's own connection: the records commit or roll back with the writes.
        session.connection().execute(insert(AuditLog), list(entries))


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_the_log(session: Session, _context: UOWTransaction, _instances: object) -> None:
    for instance in session.deleted:
        if isinstance(instance, AuditLog):
            raise AuditLogIsAppendOnly()
    for instance in session.dirty:
        if isinstance(instance, AuditLog) and session.is_modified(instance):
            raise AuditLogIsAppendOnly()


@event.listens_for(Session, "after_flush")
def _record_flush(session: Session, _context: UOWTransaction) -> None:
    # After the flush, so that new rows have their ids; the session still lists what it flushed and each
    # attribute still has its history.
    who = actor(session)
    if who is None:
        return
    entries = [_created(who, inspect(obj)) for obj in session.new if _audited(obj)]
    for obj in session.dirty:
        if _audited(obj) and session.is_modified(obj, include_collections=False):
            entry = _updated(who, inspect(obj))
            if entry is not None:
                entries.append(entry)
    entries.extend(_deleted(who, inspect(obj)) for obj in session.deleted if _audited(obj))
    _write(session, entries)


def _pk_match(table: Table, keys: Iterable[tuple[Any, ...]]) -> ColumnElement[bool]:
    columns = list(table.primary_key.columns)
    keys = list(keys)
    if len(columns) == 1:
        return columns[0].in_([key[0] for key in keys])
    return or_(
        *(and_(*(column == value for column, value in zip(columns, key, strict=True))) for key in keys)
    )


def _rows(
    session: Session, table: Table, where: ColumnElement[bool] | None
) -> dict[tuple[Any, ...], dict[str, Any]]:
    statement = select(*table.columns)
    if where is not None:
        statement = statement.where(where)
    pk = [column.name for column in table.primary_key.columns]
    rows = session.connection().execute(statement).mappings().all()
    return {tuple(row[name] for name in pk): dict(row) for row in rows}


@event.listens_for(Session, "do_orm_execute")
def _record_statement(state: ORMExecuteState) -> Any:
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    mapper = state.bind_mapper
    if mapper is None:
        return None
    if mapper.class_ is AuditLog and not state.is_insert:
        raise AuditLogIsAppendOnly()
    who = actor(state.session)
    if who is None or not issubclass(mapper.class_, AUDITED):
        return None
    if state.is_insert:
        return _record_insert(state, mapper, who)
    table: Table = mapper.local_table  # type: ignore[assignment]
    where = state.statement.whereclause  # type: ignore[attr-defined]
    if where is None and isinstance(state.parameters, list):
        # An UPDATE by primary keys given as a list of rows: no service makes one; say so if one appears.
        logger.warning("Audit log: a bulk UPDATE of %s by primary keys is not recorded", table.name)
        return None
    # Read the rows the statement is about before and after it runs, and record what it changed. Only admin
    # writes pay for this, and the services' statements touch a row or a few.
    before = _rows(state.session, table, where)
    result = state.invoke_statement()
    if not before:
        return result
    after = _rows(state.session, table, _pk_match(table, before))
    columns = {column.name: mapper.get_property_by_column(column).key for column in table.columns}
    entries = []
    for key, old in before.items():
        new = after.get(key)
        entity_id = "/".join(str(part) for part in key)
        if new is None:
            changes = {
                attr: _pair(attr, old[name], None)
                for name, attr in columns.items()
                if attr not in SKIPPED_COLUMNS
            }
            entries.append(_entry(who, AuditAction.DELETE, mapper, entity_id, changes))
            continue
        changes = {
            attr: _pair(attr, old[name], new[name])
            for name, attr in columns.items()
            if attr not in SKIPPED_COLUMNS and old[name] != new[name]
        }
        if changes:
            entries.append(_entry(who, AuditAction.UPDATE, mapper, entity_id, changes))
    _write(state.session, entries)
    return result


def _record_insert(state: ORMExecuteState, mapper: Mapper[Any], who: tuple[int, str]) -> Any:
    # Only an INSERT that returns its rows as objects says which rows it made (users_service.create's
    # INSERT ... ON CONFLICT DO NOTHING RETURNING); the services have no other.
    result = state.invoke_statement()
    if not getattr(result, "returns_rows", True):  # a CursorResult of an INSERT without RETURNING
        return result
    frozen = result.freeze()
    entries = [
        _created(who, inspect(row[0])) for row in frozen().all() if row and isinstance(row[0], mapper.class_)
    ]
    _write(state.session, entries)
    return frozen()


async def get_all(
    session: AsyncSession,
    *,
    admin_id: int | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    action: AuditAction | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    limit: int,
    offset: int,
) -> PageResult[AuditLog]:
    """A page of audit records matching the filters, newest first (date_from inclusive, date_to not)."""
    filters = []
    if admin_id is not None:
        filters.append(AuditLog.admin_id == admin_id)
    if entity is not None:
        filters.append(AuditLog.entity == entity)
    if entity_id is not None:
        filters.append(AuditLog.entity_id == entity_id)
    if action is not None:
        filters.append(AuditLog.action == action)
    if date_from is not None:
        filters.append(AuditLog.created_at >= date_from)
    if date_to is not None:
        filters.append(AuditLog.created_at < date_to)
    return await paginate(
        session,
        AuditLog,
        filters=filters,
        order_by=[AuditLog.created_at.desc(), AuditLog.id.desc()],
        limit=limit,
        offset=offset,
    )


def audited_tables() -> list[str]:
    """The names of the audited tables (the values of the entity filter)."""
    return sorted(model.__table__.name for model in AUDITED)  # type: ignore[attr-defined]
