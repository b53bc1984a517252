"""Broadcasts: messages to chosen audiences of students, sent at Telegram's rate by the jobs."""

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, status
from starlette.datastructures import UploadFile
from starlette.types import Message

from backend.api.deps import (
    DEFAULT_LIMIT,
    BroadcastDep,
    CurrentAdmin,
    JobsDep,
    Limit,
    Offset,
    SessionDep,
    TelegramDep,
    require_manager,
)
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, TELEGRAM, UNAUTHORIZED
from backend.services import broadcast_service, media_service
from backend.services.exceptions import BotNotConfigured, MediaTooLarge, RuleViolation
from backend.services.jobs import SEND_BROADCAST, JobQueue
from backend.services.telegram import Telegram
from shared import database
from shared.constants import BroadcastMediaKind, BroadcastStatus, RecipientStatus
from shared.models import Broadcast
from shared.schemas import (
    AudienceCount,
    BroadcastAudience,
    BroadcastCreate,
    BroadcastList,
    BroadcastRead,
    BroadcastRecipientList,
    BroadcastRecipientRead,
    BroadcastTestSent,
    BroadcastUpdate,
    ErrorResponse,
)

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/broadcasts",
    tags=["broadcasts"],
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

TOO_LARGE = {413: {"model": ErrorResponse, "description": "The photo (10 MB) or video is too large"}}
UNSUPPORTED = {
    415: {"model": ErrorResponse, "description": "Not a JPEG/PNG/WebP photo or MP4/MOV/WebM/MKV video"}
}
# Room for the multipart framing around the file.
FORM_OVERHEAD_BYTES = 64 * 1024


def _read(broadcast: Broadcast) -> BroadcastRead:
    return broadcast_service.describe(broadcast)


async def _send(jobs: JobQueue | None, broadcast: Broadcast) -> None:
    if jobs is None:
        logger.warning("No job queue: broadcast %s waits for the next broadcasts.tick", broadcast.id)
        return
    await jobs.kick(SEND_BROADCAST, broadcast_id=broadcast.id)


def _bot_on(telegram: Telegram | None) -> None:
    if telegram is None:
        raise BotNotConfigured()


@router.post(
    "/audience", summary="How many students an audience reaches now, and the plan of sending to them"
)
async def count_audience(
    session: SessionDep, audience: BroadcastAudience, paid: bool = False
) -> AudienceCount:
    count = await broadcast_service.count_audience(session, audience)
    planned = broadcast_service.plan(count, paid=paid)
    return AudienceCount(
        count=count, duration_seconds=planned.duration_seconds, cost_stars=planned.cost_stars
    )


@router.post(
    "/",
    summary="Create a broadcast (a draft, or scheduled with scheduled_at); total is its recipient count",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND},
)
async def create_broadcast(
    session: SessionDep, current: CurrentAdmin, data: BroadcastCreate
) -> BroadcastRead:
    return _read(await broadcast_service.create(session, data, admin_id=current.admin.id))


@router.get("/", summary="List broadcasts, newest first")
async def read_broadcasts(
    session: SessionDep,
    status: BroadcastStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> BroadcastList:
    page = await broadcast_service.get_all(session, status=status, limit=limit, offset=offset)
    return BroadcastList(
        items=[_read(broadcast) for broadcast in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.get("/{broadcast_id}", summary="A broadcast and its progress", responses={**NOT_FOUND})
async def read_broadcast(broadcast: BroadcastDep) -> BroadcastRead:
    return _read(broadcast)


@router.patch(
    "/{broadcast_id}",
    summary="Change a draft or scheduled broadcast (only the fields given)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def update_broadcast(
    session: SessionDep, broadcast: BroadcastDep, data: BroadcastUpdate
) -> BroadcastRead:
    return _read(await broadcast_service.update(session, broadcast, data))


@router.post(
    "/{broadcast_id}/start",
    summary="Start sending a draft or scheduled broadcast now (409 when the bot is off)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def start_broadcast(
    session: SessionDep, broadcast: BroadcastDep, telegram: TelegramDep, jobs: JobsDep
) -> BroadcastRead:
    _bot_on(telegram)
    broadcast = await broadcast_service.start(session, broadcast)
    await _send(jobs, broadcast)
    return _read(broadcast)


@router.post(
    "/{broadcast_id}/pause",
    summary="Pause a sending broadcast (within a second)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def pause_broadcast(session: SessionDep, broadcast: BroadcastDep) -> BroadcastRead:
    return _read(await broadcast_service.pause(session, broadcast))


@router.post(
    "/{broadcast_id}/resume",
    summary="Resume a paused broadcast (409 when the bot is off)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def resume_broadcast(
    session: SessionDep, broadcast: BroadcastDep, telegram: TelegramDep, jobs: JobsDep
) -> BroadcastRead:
    _bot_on(telegram)
    broadcast = await broadcast_service.resume(session, broadcast)
    await _send(jobs, broadcast)
    return _read(broadcast)


@router.post(
    "/{broadcast_id}/cancel",
    summary="Cancel a broadcast that has not finished: nobody else gets it",
    responses={**NOT_FOUND, **CONFLICT},
)
async def cancel_broadcast(session: SessionDep, broadcast: BroadcastDep) -> BroadcastRead:
    return _read(await broadcast_service.cancel(session, broadcast))


@router.post(
    "/{broadcast_id}/test",
    summary="Send the broadcast to your own linked Telegram chat only (409: bot off, or no linked chat)",
    responses={**NOT_FOUND, **CONFLICT, **TELEGRAM},
)
async def send_test_broadcast(
    broadcast: BroadcastDep, current: CurrentAdmin, telegram: TelegramDep
) -> BroadcastTestSent:
    # Admin.telegram_id is the admin's linked chat (set when they link their account in the panel).
    chat_id = current.admin.telegram_id
    message_id = await broadcast_service.send_test(broadcast, telegram=telegram, chat_id=chat_id)
    return BroadcastTestSent(chat_id=chat_id or 0, message_id=message_id)


@router.get(
    "/{broadcast_id}/recipients",
    summary="The per-student log: sent (with the message id), failed (with the error), blocked, pending",
    responses={**NOT_FOUND},
)
async def read_recipients(
    session: SessionDep,
    broadcast: BroadcastDep,
    status: RecipientStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> BroadcastRecipientList:
    page = await broadcast_service.recipients(session, broadcast, status=status, limit=limit, offset=offset)
    return BroadcastRecipientList(
        items=[BroadcastRecipientRead.model_validate(row) for row in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(media_service.WRITE_SIZE):
        yield chunk


def _limited(request: Request, limit: int) -> Request:
    """The request, reading at most `limit` bytes of body (MediaTooLarge past it)."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise MediaTooLarge(limit - FORM_OVERHEAD_BYTES, "file")
        return message

    return Request(request.scope, receive)


@router.put(
    "/{broadcast_id}/media",
    summary="Give a draft or scheduled broadcast a photo or a video (multipart: a file field named photo or "
    "video); its text becomes the caption (1024 characters at most)",
    responses={**NOT_FOUND, **CONFLICT, **TOO_LARGE, **UNSUPPORTED},
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "photo": {"type": "string", "format": "binary"},
                            "video": {"type": "string", "format": "binary"},
                        },
                    }
                }
            }
        }
    },
)
async def upload_media(request: Request, session: SessionDep, broadcast: BroadcastDep) -> BroadcastRead:
    broadcast_service.check_editable(broadcast, "changed")
    # Nothing of the unit of work may stay open while the file arrives (it may take minutes).
    await database.commit_now(session)
    limit = media_service.broadcast_media_limit("video") + FORM_OVERHEAD_BYTES
    form = await _limited(request, limit).form(max_files=1, max_fields=1)
    try:
        files = [(key, value) for key, value in form.multi_items() if isinstance(value, UploadFile)]
        if len(files) != 1 or files[0][0] not in ("photo", "video"):
            raise RuleViolation("Upload one file, in a form field named photo or video")
        kind, upload = BroadcastMediaKind(files[0][0]), files[0][1]
        path = await media_service.save_broadcast_media(
            _chunks(upload), broadcast_id=broadcast.id, kind=kind.value, content_type=upload.content_type
        )
    finally:
        await form.close()
    try:
        replaced = await broadcast_service.set_media(session, broadcast, kind, path)
        await database.commit_now(session)
    except BaseException:
        media_service.remove_broadcast_media(path)
        raise
    media_service.remove_broadcast_media(replaced)
    return _read(broadcast)


@router.delete(
    "/{broadcast_id}/media",
    summary="Take a draft's or scheduled broadcast's photo or video off",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_media(session: SessionDep, broadcast: BroadcastDep) -> BroadcastRead:
    removed = await broadcast_service.clear_media(session, broadcast)
    await database.commit_now(session)
    media_service.remove_broadcast_media(removed)
    return _read(broadcast)
