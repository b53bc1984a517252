"""The audit log (owners only): every admin write, newest first. Read-only: records are never changed."""

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import DEFAULT_LIMIT, IdFilter, Limit, Offset, SessionDep, require_owner
from backend.api.errors import FORBIDDEN, RULE_VIOLATION, UNAUTHORIZED
from backend.services import audit_service
from shared.constants import AuditAction
from shared.schemas import AuditLogList, AuditLogRead, UtcDateTime

router = APIRouter(
    prefix="/audit-log",
    tags=["audit log"],
    dependencies=[require_owner],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

AuditedTable = Annotated[
    str | None,
    Query(
        pattern="^(" + "|".join(audit_service.audited_tables()) + ")$",
        description="The table: " + ", ".join(audit_service.audited_tables()),
    ),
]


@router.get("/", summary="List audit records, newest first, with filters (admin, entity, action, dates)")
async def read_audit_log(
    session: SessionDep,
    admin_id: IdFilter = None,
    entity: AuditedTable = None,
    entity_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="The row's id (needs no entity)")
    ] = None,
    action: AuditAction | None = None,
    date_from: Annotated[UtcDateTime | None, Query(description="At or after (naive = UTC)")] = None,
    date_to: Annotated[UtcDateTime | None, Query(description="Before (naive = UTC)")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> AuditLogList:
    page = await audit_service.get_all(
        session,
        admin_id=admin_id,
        entity=entity,
        entity_id=entity_id,
        action=action,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
        offset=offset,
    )
    return AuditLogList(
        items=[AuditLogRead.model_validate(r) for r in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )
