"""The panel's broadcasts pages (owners and managers): the list, the composer (a preview as Telegram shows it,
the live recipient count and the duration/cost planner, buttons, audience, schedule, media), the broadcast's
page with its live progress, pause/resume/cancel and the recipient log, the test-send to one's own chat."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from backend.api.deps import IdPath, Offset, SessionDep, TelegramDep, get_jobs
from backend.panel import security
from backend.panel.deps import ManagerSession
from backend.panel.forms import field_errors
from backend.panel.pages import page_router
from backend.panel.telegram_html import preview_html
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import broadcast_service, course_service, lesson_service, media_service
from backend.services.exceptions import (
    BotNotConfigured,
    BroadcastStateConflict,
    CourseNotFound,
    LessonNotFound,
    MessageRefused,
    NotAVideo,
    RecipientBlocked,
    RuleViolation,
    TelegramNotLinked,
    TelegramUnavailable,
    UnsupportedMedia,
    VideoRefused,
    VideoTooLarge,
)
from backend.services.jobs import SEND_BROADCAST
from backend.services.telegram import Telegram
from shared import database
from shared.config import get_settings
from shared.constants import (
    BROADCAST_BUTTONS_MAX,
    BROADCAST_PHOTO_MAX_BYTES,
    AudienceKind,
    BroadcastMediaKind,
    BroadcastStatus,
    RecipientStatus,
)
from shared.models import Broadcast
from shared.schemas import BroadcastAudience, BroadcastCreate, BroadcastUpdate

logger = logging.getLogger(__name__)

router = page_router("/broadcasts")

LIST_PATH = f"{security.PANEL_PREFIX}/broadcasts"
# The upload's own path prefix: the request body limit (backend/api/limits.py) exempts it.
UPLOAD_PREFIX = f"{LIST_PATH}/media-upload/"
PAGE_SIZE = 50
RECIPIENTS_PAGE_SIZE = 50
MAX_BUTTONS = BROADCAST_BUTTONS_MAX
# The lessons and courses a button or an audience can name, in the composer's selects.
CHOICES_LIMIT = 500
# Telegram is asked for the bot's Star balance no longer than this (the planner is swapped in by HTMX).
STAR_BALANCE_TIMEOUT_SECONDS = 3.0
# Statuses whose figures still change: the broadcast's page polls its progress while in one of them.
LIVE = frozenset({BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING, BroadcastStatus.PAUSED})
# Only these change, as the service has it.
EDITABLE = broadcast_service.EDITABLE
BUTTON_KINDS = ("url", "lesson", "course")
# Which audience kinds name a lesson or a course (the composer shows that select for them only).
LESSON_KINDS = frozenset({AudienceKind.BOUGHT_LESSON})
COURSE_KINDS = frozenset({AudienceKind.BOUGHT_COURSE, AudienceKind.NOT_BOUGHT_COURSE})
StatusFilter = Literal["", "draft", "scheduled", "sending", "paused", "done", "cancelled", "failed"]
RecipientFilter = Literal["", "pending", "sending", "sent", "failed", "blocked"]


def broadcast_path(broadcast_id: int) -> str:
    return f"{LIST_PATH}/{broadcast_id}"


def _t(request: Request) -> Callable[..., str]:
    return panel_translator(language_of(request)).plain


# The list -----------------------------------------------------------------------------------------------


@router.get("")
async def read_broadcasts(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    status: StatusFilter = "",
    offset: Offset = 0,
) -> Response:
    found = await broadcast_service.get_all(
        session, status=BroadcastStatus(status) if status else None, limit=PAGE_SIZE, offset=offset
    )
    # Each row's figures from its counters, as loaded with the page (no second read per row).
    rows = [(broadcast, broadcast_service.describe(broadcast)) for broadcast in found.items]
    return render(
        request,
        "broadcasts/list.html",
        {
            "rows": rows,
            "total": found.total,
            "total_exact": found.total_exact,
            "offset": offset,
            "limit": PAGE_SIZE,
            "status": status,
            "statuses": [item.value for item in BroadcastStatus],
        },
    )


# The composer -------------------------------------------------------------------------------------------


def _blank_button() -> dict[str, str]:
    return {"text": "", "kind": "url", "url": "", "lesson_id": "", "course_id": ""}


def _values_of(broadcast: Broadcast | None) -> dict[str, Any]:
    """The composer's fields for a broadcast (or a new one), as the form shows them."""
    if broadcast is None:
        return {
            "text": "",
            "paid": False,
            "scheduled_at": "",
            "audience_kind": AudienceKind.ALL.value,
            "audience_lesson_id": "",
            "audience_course_id": "",
            "audience_language": "",
            "buttons": [_blank_button()],
        }
    audience = BroadcastAudience.model_validate(broadcast.audience)
    buttons = []
    for button in broadcast.buttons or []:
        row = _blank_button() | {"text": button["text"]}
        if button.get("lesson_id"):
            row |= {"kind": "lesson", "lesson_id": str(button["lesson_id"])}
        elif button.get("course_id"):
            row |= {"kind": "course", "course_id": str(button["course_id"])}
        else:
            row |= {"kind": "url", "url": button.get("url") or ""}
        buttons.append(row)
    scheduled = broadcast.scheduled_at
    return {
        "text": broadcast.text,
        "paid": broadcast.paid,
        "scheduled_at": scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if scheduled else "",
        "audience_kind": audience.kind.value,
        "audience_lesson_id": str(audience.lesson_id or ""),
        "audience_course_id": str(audience.course_id or ""),
        "audience_language": audience.language or "",
        "buttons": [*buttons, _blank_button()] if len(buttons) < MAX_BUTTONS else buttons,
    }


async def _posted_values(request: Request) -> dict[str, Any]:
    """The composer's posted fields (buttons as rows of their repeated fields), trimmed."""
    form = await request.form()

    def text(key: str) -> str:
        value = form.get(key)
        return value.strip() if isinstance(value, str) else ""

    def texts(key: str) -> list[str]:
        return [value.strip() if isinstance(value, str) else "" for value in form.getlist(key)]

    columns = {key: texts(f"button_{key}") for key in ("text", "kind", "url", "lesson_id", "course_id")}
    count = min(max((len(column) for column in columns.values()), default=0), MAX_BUTTONS + 1)
    buttons = [
        {key: column[index] if index < len(column) else "" for key, column in columns.items()}
        for index in range(count)
    ]
    return {
        "text": form.get("text") if isinstance(form.get("text"), str) else "",
        "paid": text("paid") == "true",
        "scheduled_at": text("scheduled_at"),
        "audience_kind": text("audience_kind"),
        "audience_lesson_id": text("audience_lesson_id"),
        "audience_course_id": text("audience_course_id"),
        "audience_language": text("audience_language"),
        "buttons": buttons or [_blank_button()],
        "action": text("action") or "save",
    }


def _id(value: str) -> int | str | None:
    # A number when it is one; otherwise the text, which the schema refuses with a message.
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) < 12 else value


def _audience_data(values: dict[str, Any]) -> dict[str, Any]:
    kind = values["audience_kind"]
    data: dict[str, Any] = {"kind": kind, "language": values["audience_language"] or None}
    # Both selects are always posted; only the one the kind names counts.
    if kind in LESSON_KINDS:
        data["lesson_id"] = _id(values["audience_lesson_id"])
    if kind in COURSE_KINDS:
        data["course_id"] = _id(values["audience_course_id"])
    return data


def _scheduled_at(value: str) -> datetime | str | None:
    """A datetime-local field's value, in UTC (the form says so); a bad one as is, for the schema's error."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _form_data(values: dict[str, Any], *, scheduled: bool) -> tuple[dict[str, Any], list[int]]:
    """The schema's input from the posted fields, and for each button given the form's row it came from
    (blank rows are left out, so the schema's indexes are not the form's)."""
    buttons, rows = [], []
    for index, row in enumerate(values["buttons"]):
        kind = row["kind"]
        target = row["url"] if kind == "url" else row.get(f"{kind}_id", "")
        if not row["text"] and not target:
            continue
        button: dict[str, Any] = {"text": row["text"]}
        if kind == "lesson":
            button["lesson_id"] = _id(row["lesson_id"])
        elif kind == "course":
            button["course_id"] = _id(row["course_id"])
        else:
            button["url"] = row["url"] or None
        buttons.append(button)
        rows.append(index)
    data: dict[str, Any] = {
        "text": values["text"],
        "buttons": buttons,
        "audience": _audience_data(values),
        "paid": values["paid"],
        "scheduled_at": _scheduled_at(values["scheduled_at"]) if scheduled else None,
    }
    return data, rows


def _form_errors(
    request: Request, error: ValidationError, values: dict[str, Any], rows: list[int]
) -> dict[str, str]:
    """The schema's errors under the form's field names (buttons.<schema index>.url -> button-<row>-target);
    a rule across fields (a button without a target, an audience without its lesson) beside the field
    that is missing."""
    t = _t(request)
    errors: dict[str, str] = {}
    for field, message in field_errors(request, error).items():
        parts = field.split(".")
        if parts[0] == "buttons" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
            row = rows[int(parts[1])]
            name = parts[2] if len(parts) > 2 else "target"
            if name in ("url", "lesson_id", "course_id"):
                name = "target"
            button = values["buttons"][row]
            if len(parts) == 2 and not (button["url"] or button["lesson_id"] or button["course_id"]):
                message = t("broadcasts-button-target-missing")
            errors.setdefault(f"button-{row}-{name}", message)
        elif parts[0] == "buttons":
            errors.setdefault("buttons", message)
        elif parts[0] == "audience" and len(parts) == 1:
            kind = values["audience_kind"]
            if kind in LESSON_KINDS and not values["audience_lesson_id"]:
                errors.setdefault("audience_lesson_id", t("form-error-missing"))
            elif kind in COURSE_KINDS and not values["audience_course_id"]:
                errors.setdefault("audience_course_id", t("form-error-missing"))
            else:
                errors.setdefault("audience_kind", message)
        elif parts[0] == "audience":
            errors.setdefault(f"audience_{parts[1]}", message)
        elif parts[0] == "scheduled_at" and "future" in message:
            errors.setdefault("scheduled_at", t("broadcasts-schedule-in-past"))
        else:
            errors.setdefault(parts[0], message)
    return errors


async def _choices(session: AsyncSession) -> dict[str, list[tuple[str, str]]]:
    lessons = await lesson_service.get_all(session, sort="title", limit=CHOICES_LIMIT, offset=0)
    courses = await course_service.get_all(session, sort="title", limit=CHOICES_LIMIT, offset=0)
    return {
        "lessons": [(str(lesson.id), lesson.title) for lesson in lessons.items],
        "courses": [(str(course.id), course.title) for course in courses.items],
    }


async def _star_balance(telegram: Telegram | None) -> int | None:
    if telegram is None:
        return None
    try:
        async with asyncio.timeout(STAR_BALANCE_TIMEOUT_SECONDS):
            return await telegram.get_star_balance()
    except (TimeoutError, TelegramUnavailable) as error:
        logger.warning("The bot's Star balance is unavailable: %s", error)
        return None


async def _planner(
    session: AsyncSession, telegram: Telegram | None, values: dict[str, Any]
) -> dict[str, Any]:
    """The planner's figures for the composer's audience: recipients, duration, cost beside the balance."""
    try:
        audience = BroadcastAudience.model_validate(_audience_data(values))
    except ValidationError:
        return {"count": None, "paid": values["paid"]}
    count = await broadcast_service.count_audience(session, audience)
    plan = broadcast_service.plan(count, paid=values["paid"], settings=get_settings())
    planner: dict[str, Any] = {
        "count": count,
        "paid": values["paid"],
        "duration": _duration(plan.duration_seconds),
        "cost": plan.cost_stars,
        "bot_on": telegram is not None,
    }
    if values["paid"]:
        planner["balance"] = await _star_balance(telegram)
    return planner


def _duration(seconds: int) -> dict[str, int]:
    return {"hours": seconds // 3600, "minutes": seconds % 3600 // 60, "seconds": seconds % 60}


async def _composer(
    request: Request,
    session: AsyncSession,
    telegram: Telegram | None,
    broadcast: Broadcast | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "broadcast": broadcast,
        "values": values,
        "errors": errors or {},
        "preview": preview_html(values["text"]),
        "planner": await _planner(session, telegram, values),
        "choices": await _choices(session),
        "kinds": [kind.value for kind in AudienceKind],
        "lesson_kinds": [kind.value for kind in LESSON_KINDS],
        "course_kinds": [kind.value for kind in COURSE_KINDS],
        "button_kinds": BUTTON_KINDS,
        "max_buttons": MAX_BUTTONS,
    }
    if broadcast is not None:
        context |= {
            "upload_url": f"{UPLOAD_PREFIX}{broadcast.id}",
            "photo_max_mb": BROADCAST_PHOTO_MAX_BYTES // media_service.MB,
            "video_max_mb": media_service.video_size_limit() // media_service.MB,
            "photo_max_bytes": BROADCAST_PHOTO_MAX_BYTES,
            "video_max_bytes": media_service.video_size_limit(),
        }
    return render(request, "broadcasts/form.html", context, status_code=status_code)


async def _save(
    request: Request,
    session: AsyncSession,
    auth: Any,
    telegram: Telegram | None,
    broadcast: Broadcast | None,
) -> Response:
    """The composer's submit, whichever button sent it (new broadcast when `broadcast` is None)."""
    values = await _posted_values(request)
    action = values["action"]
    data, rows = _form_data(values, scheduled=action in ("schedule", "test"))
    if action == "schedule" and data["scheduled_at"] is None:
        errors = {"scheduled_at": _t(request)("broadcasts-schedule-needs-time")}
        return await _composer(request, session, telegram, broadcast, values, errors, 422)
    try:
        checked = BroadcastCreate.model_validate(data)
    except ValidationError as error:
        errors = _form_errors(request, error, values, rows)
        return await _composer(request, session, telegram, broadcast, values, errors, 422)
    try:
        if broadcast is None:
            broadcast = await broadcast_service.create(session, checked, admin_id=auth.admin.id)
            flash = "flash-broadcast-created"
        else:
            changes = BroadcastUpdate.model_validate(checked.model_dump())
            await broadcast_service.update(session, broadcast, changes)
            flash = "flash-broadcast-saved"
    except RuleViolation as error:
        # A caption over Telegram's 1,024 characters, under the broadcast's photo or video.
        return await _composer(request, session, telegram, broadcast, values, {"text": error.message}, 422)
    except (LessonNotFound, CourseNotFound) as error:
        return await _composer(request, session, telegram, broadcast, values, {"__all__": error.message}, 422)
    if action == "schedule":
        flash = "flash-broadcast-scheduled"
    elif action == "start":
        return await _start(request, session, telegram, broadcast, confirmed=False)
    elif action == "test":
        return await _test_send(request, session, auth, telegram, broadcast)
    return redirect(broadcast_path(broadcast.id), flash=flash)


@router.get("/new")
async def new_broadcast(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep
) -> Response:
    return await _composer(request, session, telegram, None, _values_of(None))


@router.post("/new")
async def create_broadcast(
    request: Request, session: SessionDep, auth: ManagerSession, telegram: TelegramDep
) -> Response:
    return await _save(request, session, auth, telegram, None)


@router.post("/preview")
async def preview_broadcast(request: Request, _auth: ManagerSession) -> Response:
    """The text and buttons as Telegram will show them, for HTMX to swap in beside the form."""
    values = await _posted_values(request)
    return render(
        request, "broadcasts/preview.html", {"preview": preview_html(values["text"]), "values": values}
    )


@router.post("/plan")
async def plan_broadcast(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep
) -> Response:
    """The live recipient count and the planner for the composer's audience (HTMX, on every change)."""
    values = await _posted_values(request)
    return render(request, "broadcasts/planner.html", {"planner": await _planner(session, telegram, values)})


@router.get("/{broadcast_id}/edit")
async def edit_broadcast(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep, broadcast_id: IdPath
) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    if broadcast.status not in EDITABLE:
        return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-not-editable")
    return await _composer(request, session, telegram, broadcast, _values_of(broadcast))


@router.post("/{broadcast_id}/edit")
async def update_broadcast(
    request: Request, session: SessionDep, auth: ManagerSession, telegram: TelegramDep, broadcast_id: IdPath
) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    return await _save(request, session, auth, telegram, broadcast)


# The broadcast's page ----------------------------------------------------------------------------------


async def _audience_target(session: AsyncSession, audience: BroadcastAudience) -> str | None:
    """The title of the lesson or course the audience names (its id when it is gone)."""
    try:
        if audience.lesson_id is not None:
            return (await lesson_service.get(session, audience.lesson_id)).title
        if audience.course_id is not None:
            return (await course_service.get(session, audience.course_id)).title
    except (LessonNotFound, CourseNotFound):
        return f"#{audience.lesson_id or audience.course_id}"
    return None


def _progress_context(broadcast: Broadcast) -> dict[str, Any]:
    # The row was read by this request: its counters are the figures now.
    progress = broadcast_service.progress(broadcast)
    return {
        "broadcast": broadcast,
        "progress": progress,
        "live": broadcast.status in LIVE,
        "eta": _duration(progress.eta_seconds) if progress.eta_seconds is not None else None,
    }


@router.get("/{broadcast_id}")
async def read_broadcast(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    broadcast_id: IdPath,
    status: RecipientFilter = "",
    offset: Offset = 0,
) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    recipients = await broadcast_service.recipients(
        session,
        broadcast,
        status=RecipientStatus(status) if status else None,
        limit=RECIPIENTS_PAGE_SIZE,
        offset=offset,
    )
    context = _progress_context(broadcast)
    audience = BroadcastAudience.model_validate(broadcast.audience)
    # Before it starts, its recipients are the audience as it is now; after, the rows it created.
    editable = broadcast.status in EDITABLE
    planned = (
        await broadcast_service.count_audience(session, audience) if editable else context["progress"].total
    )
    plan = broadcast_service.plan(planned, paid=broadcast.paid, settings=get_settings())
    return render(
        request,
        "broadcasts/detail.html",
        context
        | {
            "preview": preview_html(broadcast.text),
            "buttons": broadcast.buttons or [],
            "audience": audience,
            "audience_target": await _audience_target(session, audience),
            "planned": planned,
            "plan": plan,
            "plan_duration": _duration(plan.duration_seconds),
            "recipients": recipients,
            "recipient_status": status,
            "recipient_statuses": [item.value for item in RecipientStatus],
            "offset": offset,
            "limit": RECIPIENTS_PAGE_SIZE,
            "editable": editable,
        },
    )


@router.get("/{broadcast_id}/progress")
async def read_progress(
    request: Request, session: SessionDep, _auth: ManagerSession, broadcast_id: IdPath
) -> Response:
    """The progress bar, counts, ETA and controls alone, polled by HTMX while the broadcast is live."""
    broadcast = await broadcast_service.get(session, broadcast_id)
    return render(request, "broadcasts/progress.html", _progress_context(broadcast))


async def _kick(request: Request, broadcast: Broadcast) -> None:
    """Enqueue the sending job, as the API does (without a queue, the periodic broadcasts.tick finds it)."""
    jobs = get_jobs(request)
    if jobs is None:
        logger.warning("No job queue: broadcast %s waits for the next broadcasts.tick", broadcast.id)
        return
    await jobs.kick(SEND_BROADCAST, broadcast_id=broadcast.id)


async def _start(
    request: Request,
    session: AsyncSession,
    telegram: Telegram | None,
    broadcast: Broadcast,
    *,
    confirmed: bool,
) -> Response:
    if broadcast.paid and not confirmed:
        # Paid: the cost in Stars beside the bot's balance first, and a button that really starts it.
        total = await broadcast_service.count_audience(
            session, BroadcastAudience.model_validate(broadcast.audience)
        )
        plan = broadcast_service.plan(total, paid=True, settings=get_settings())
        context = {
            "broadcast": broadcast,
            "count": total,
            "plan": plan,
            "duration": _duration(plan.duration_seconds),
            "balance": await _star_balance(telegram),
            "bot_on": telegram is not None,
        }
        return render(request, "broadcasts/confirm_start.html", context)
    await broadcast_service.start(session, broadcast)
    await _kick(request, broadcast)
    return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-started")


async def _confirmed(request: Request) -> bool:
    return (await request.form()).get("confirmed") == "true"


@router.post("/{broadcast_id}/start")
async def start_broadcast(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep, broadcast_id: IdPath
) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    return await _start(request, session, telegram, broadcast, confirmed=await _confirmed(request))


@router.post("/{broadcast_id}/pause")
async def pause_broadcast(session: SessionDep, _auth: ManagerSession, broadcast_id: IdPath) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    await broadcast_service.pause(session, broadcast)
    return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-paused")


@router.post("/{broadcast_id}/resume")
async def resume_broadcast(
    request: Request, session: SessionDep, _auth: ManagerSession, broadcast_id: IdPath
) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    await broadcast_service.resume(session, broadcast)
    await _kick(request, broadcast)
    return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-resumed")


@router.post("/{broadcast_id}/cancel")
async def cancel_broadcast(session: SessionDep, _auth: ManagerSession, broadcast_id: IdPath) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    await broadcast_service.cancel(session, broadcast)
    return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-cancelled")


async def _test_send(
    request: Request, session: AsyncSession, auth: Any, telegram: Telegram | None, broadcast: Broadcast
) -> Response:
    """Send the broadcast to the signed-in admin's own Telegram chat (only theirs)."""
    # Admin.telegram_id: the admin's own chat, linked on the account page (never anyone else's).
    chat_id = auth.admin.telegram_id
    # Sent after what this request wrote is committed: the message is the saved broadcast.
    await database.commit_now(session)
    try:
        await broadcast_service.send_test(broadcast, telegram=telegram, chat_id=chat_id)
    except (BotNotConfigured, TelegramNotLinked):
        context = {"broadcast": broadcast, "bot_on": telegram is not None}
        return render(request, "broadcasts/test_refused.html", context, status_code=409)
    except (TelegramUnavailable, MessageRefused, RecipientBlocked) as error:
        logger.info("Test of broadcast %s not sent: %s", broadcast.id, error)
        return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-test-failed")
    return redirect(broadcast_path(broadcast.id), flash="flash-broadcast-test-sent")


@router.post("/{broadcast_id}/test")
async def test_broadcast(
    request: Request, session: SessionDep, auth: ManagerSession, telegram: TelegramDep, broadcast_id: IdPath
) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    return await _test_send(request, session, auth, telegram, broadcast)


# The media ---------------------------------------------------------------------------------------------


def _media_kind(content_type: str | None) -> BroadcastMediaKind | None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type.startswith("image/"):
        return BroadcastMediaKind.PHOTO
    if media_type.startswith("video/"):
        return BroadcastMediaKind.VIDEO
    return None


def _upload_refused(request: Request, error: VideoRefused) -> JSONResponse:
    t = _t(request)
    if isinstance(error, VideoTooLarge):
        status_code = 413
        message = t("broadcasts-media-too-large", limit=error.limit_bytes // media_service.MB)
    elif isinstance(error, NotAVideo):
        status_code, message = 415, t("broadcasts-media-wrong-type")
    else:
        status_code, message = 400, t("broadcasts-media-failed")
    # The rest of the body is not read: the connection cannot carry another request.
    return JSONResponse({"error": message}, status_code=status_code, headers={"Connection": "close"})


@router.post(UPLOAD_PREFIX.removeprefix(LIST_PATH) + "{broadcast_id}")
async def upload_media(
    request: Request, session: SessionDep, _auth: ManagerSession, broadcast_id: IdPath
) -> Response:
    """The broadcast's photo or video: the request's body is the file (sent by static/broadcasts.js),
    streamed to MEDIA_DIR and checked as it arrives, as the lessons' videos are."""
    broadcast = await broadcast_service.get(session, broadcast_id)
    broadcast_service.check_editable(broadcast, "changed")
    kind = _media_kind(request.headers.get("content-type"))
    if kind is None:
        return _upload_refused(request, UnsupportedMedia("Not a photo or a video"))
    # Nothing of the unit of work may stay open while the file arrives (SQLite's writer lock).
    await session.commit()
    try:
        path = await media_service.save_broadcast_media(
            request.stream(),
            broadcast_id=broadcast.id,
            kind=kind.value,
            content_type=request.headers.get("content-type"),
        )
    except VideoRefused as error:
        logger.info("Media upload for broadcast %s refused: %s", broadcast_id, error.message)
        return _upload_refused(request, error)
    except ClientDisconnect:
        logger.info("Media upload for broadcast %s broken off by the browser", broadcast_id)
        return Response(status_code=400)
    try:
        replaced = await broadcast_service.set_media(session, broadcast, kind, path)
        await database.commit_now(session)
    except (RuleViolation, BroadcastStateConflict) as error:
        # A text over the 1,024 characters of a caption; or the broadcast started meanwhile.
        media_service.remove_broadcast_media(path)
        return JSONResponse(
            {"error": error.message}, status_code=409 if isinstance(error, BroadcastStateConflict) else 422
        )
    except BaseException:
        media_service.remove_broadcast_media(path)
        raise
    media_service.remove_broadcast_media(replaced)
    edit_path = f"{broadcast_path(broadcast.id)}/edit"
    response = JSONResponse({"redirect": edit_path})
    for name, value in redirect(edit_path, flash="flash-broadcast-media-saved").raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response


@router.post("/{broadcast_id}/media/delete")
async def delete_media(session: SessionDep, _auth: ManagerSession, broadcast_id: IdPath) -> Response:
    broadcast = await broadcast_service.get(session, broadcast_id)
    removed = await broadcast_service.clear_media(session, broadcast)
    await database.commit_now(session)
    media_service.remove_broadcast_media(removed)
    return redirect(f"{broadcast_path(broadcast.id)}/edit", flash="flash-broadcast-media-removed")
