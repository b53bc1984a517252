"""The panel's audit log (owners): every admin write, newest first, with the API's filters (admin, entity,
action, dates) and paging; each record's changed values before and after."""

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.api.deps import Offset, SessionDep
from backend.panel.deps import OwnerSession
from backend.panel.forms import field_errors
from backend.panel.pages import page_router
from backend.panel.templating import render
from backend.services import admin_service, audit_service
from shared.constants import AuditAction
from shared.schemas import MAX_ID
from shared.utils import as_utc

router = page_router("/audit-log")

PAGE_SIZE = 50
# The admin filter lists the team (a store has a handful of admins).
ADMINS_LISTED = 200
FILTERS = ("admin_id", "entity", "entity_id", "action", "date_from", "date_to")


class AuditFilters(BaseModel):
    """The list's filters as the filter form sends them (empty fields: no filter), with the API's limits."""

    model_config = ConfigDict(extra="ignore")

    admin_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    entity: Annotated[str, Field(pattern="^(" + "|".join(audit_service.audited_tables()) + ")$")] | None = (
        None
    )
    entity_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    action: AuditAction | None = None
    # Whole days (UTC), both included: the form's date fields.
    date_from: date | None = None
    date_to: date | None = None


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else as_utc(datetime.combine(day, time.min))


def _day_after(day: date | None) -> datetime | None:
    # Before the next day: the last day is included. Nothing is recorded after the calendar's last day.
    return None if day is None or day == date.max else _day_start(day + timedelta(days=1))


@router.get("")
async def read_audit_log(
    request: Request, session: SessionDep, _auth: OwnerSession, offset: Offset = 0
) -> Response:
    typed = {key: request.query_params.get(key, "").strip() for key in FILTERS}
    errors: dict[str, str] = {}
    try:
        filters = AuditFilters.model_validate({key: value for key, value in typed.items() if value})
    except ValidationError as error:
        errors = field_errors(request, error)
        filters = AuditFilters()
    page = None
    if not errors:
        page = await audit_service.get_all(
            session,
            admin_id=filters.admin_id,
            entity=filters.entity,
            entity_id=filters.entity_id,
            action=filters.action,
            date_from=_day_start(filters.date_from),
            date_to=_day_after(filters.date_to),
            limit=PAGE_SIZE,
            offset=offset,
        )
    admins = await admin_service.get_all(session, limit=ADMINS_LISTED, offset=0)
    context: dict[str, Any] = {
        "page": page,
        "typed": typed,
        "errors": errors,
        "admins": admins.items,
        "entities": audit_service.audited_tables(),
        "actions": list(AuditAction),
        "offset": offset,
        "limit": PAGE_SIZE,
    }
    return render(request, "audit_log/list.html", context, status_code=422 if errors else 200)
