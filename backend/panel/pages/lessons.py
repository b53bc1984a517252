"""The panel's lessons pages: the list, the form (with a preview of the text as Telegram shows it and the
bot's deep link), deletion (or deactivation, for a lesson that was bought) and the video upload."""

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from backend.api.deps import IdPath, Offset, Search, SessionDep, TelegramDep
from backend.api.lessons import LessonSort
from backend.panel import security
from backend.panel.deps import ManagerSession
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.telegram_html import preview_html
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import lesson_service, media_service
from backend.services.exceptions import ItemInUse, NotAVideo, TelegramUnavailable, VideoRefused, VideoTooLarge
from backend.services.lesson_service import LessonKind
from backend.services.telegram import Telegram
from shared import database
from shared.config import get_settings
from shared.models import Lesson
from shared.schemas import LessonCreate, LessonUpdate

logger = logging.getLogger(__name__)

router = page_router("/lessons")

LIST_PATH = f"{security.PANEL_PREFIX}/lessons"
# The upload's own path prefix: the request body limit (backend/api/limits.py) exempts it and nothing else.
UPLOAD_PREFIX = f"{LIST_PATH}/video-upload/"
PAGE_SIZE = 50
WHOLE_NUMBER = re.compile(r"-?\d{1,12}")
YesNo = Literal["", "yes", "no"]
FLAGS = {"": None, "yes": True, "no": False}


def lesson_path(lesson_id: int) -> str:
    return f"{LIST_PATH}/{lesson_id}"


@router.get("")
async def read_lessons(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    q: Search = None,
    active: YesNo = "",
    free: YesNo = "",
    kind: Annotated[LessonKind | Literal[""], Query()] = "",
    sort: LessonSort = "-created_at",
    offset: Offset = 0,
) -> Response:
    found = await lesson_service.get_all(
        session,
        is_active=FLAGS[active],
        is_free=FLAGS[free],
        kind=kind or None,
        search=q,
        sort=sort,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render(
        request,
        "lessons/list.html",
        {
            "lessons": found.items,
            "total": found.total,
            "total_exact": found.total_exact,
            "offset": offset,
            "limit": PAGE_SIZE,
            "filters": {"q": q or "", "active": active, "free": free, "kind": kind},
            "sort": sort,
        },
    )


def _text(values: dict[str, Any], key: str) -> str:
    value = values.get(key)
    return value if isinstance(value, str) else ""


def _form_data(values: dict[str, Any]) -> dict[str, Any]:
    """The posted form as the schema's input: checkboxes as flags, the price as a number when it is one
    (otherwise the schema says "enter a whole number"), a free lesson's price 0 (its field is disabled)."""
    is_free = values.get("is_free") == "true"
    data: dict[str, Any] = {
        "title": _text(values, "title"),
        "description": _text(values, "description"),
        "is_free": is_free,
        "is_active": values.get("is_active") == "true",
        "text_content": _text(values, "text_content") or None,
    }
    if not data["title"]:
        del data["title"]  # "this field is required", rather than "at least 1 character"
    price = _text(values, "price")
    if is_free:
        data["price"] = 0
    elif price:
        data["price"] = int(price) if WHOLE_NUMBER.fullmatch(price) else price
    return data


def _form_values(lesson: Lesson | None) -> dict[str, Any]:
    if lesson is None:
        return {
            "title": "",
            "description": "",
            "is_free": False,
            "price": "",
            "text_content": "",
            "is_active": True,
        }
    return {
        "title": lesson.title,
        "description": lesson.description,
        "is_free": lesson.is_free,
        "price": "" if lesson.is_free else lesson.price,
        "text_content": lesson.text_content or "",
        "is_active": lesson.is_active,
    }


async def _bot_link(telegram: Telegram | None, lesson_id: int) -> dict[str, Any]:
    start = f"lesson_{lesson_id}"
    username = await telegram.bot_username() if telegram is not None else None
    return {
        "start": start,
        "url": f"https://t.me/{username}?start={start}" if username else None,
        "bot_on": telegram is not None,
    }


async def _form_page(
    request: Request,
    telegram: Telegram | None,
    lesson: Lesson | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "lesson": lesson,
        "values": values,
        "errors": errors or {},
        "preview": _preview(values.get("title", ""), values.get("text_content") or ""),
    }
    if lesson is not None:
        limit = media_service.video_size_limit()
        context |= {
            "link": await _bot_link(telegram, lesson.id),
            "upload_url": f"{UPLOAD_PREFIX}{lesson.id}",
            "max_bytes": limit,
            "max_mb": limit // media_service.MB,
            "video_name": Path(lesson.video_path).name if lesson.video_path else None,
        }
    return render(request, "lessons/form.html", context, status_code=status_code)


def _preview(title: str, text_content: str) -> Markup:
    # The bot sends the title in bold above the text (bot/delivery.py).
    title_html = Markup("<b>{}</b>").format(title) if title else Markup("")
    body = preview_html(text_content)
    return title_html + Markup("\n\n") + body if title and text_content else title_html + body


@router.get("/new")
async def new_lesson(request: Request, _auth: ManagerSession, telegram: TelegramDep) -> Response:
    return await _form_page(request, telegram, None, _form_values(None))


@router.post("/new")
async def create_lesson(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep
) -> Response:
    values = await posted(request)
    data = _form_data(values)
    try:
        lesson_data = LessonCreate.model_validate(data)
    except ValidationError as error:
        shown = data | {key: _text(values, key) for key in ("title", "price", "text_content")}
        return await _form_page(request, telegram, None, shown, field_errors(request, error), 422)
    lesson = await lesson_service.create(session, data=lesson_data)
    return redirect(lesson_path(lesson.id), flash="flash-lesson-created")


@router.post("/preview")
async def preview_lesson(request: Request, _auth: ManagerSession) -> Response:
    """The text as Telegram will show it, for HTMX to swap in beside the form."""
    values = await posted(request)
    return render(
        request,
        "lessons/preview.html",
        {"preview": _preview(_text(values, "title"), _text(values, "text_content"))},
    )


@router.get("/{lesson_id}")
async def read_lesson(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep, lesson_id: IdPath
) -> Response:
    lesson = await lesson_service.get(session, lesson_id)
    return await _form_page(request, telegram, lesson, _form_values(lesson))


@router.post("/{lesson_id}")
async def update_lesson(
    request: Request, session: SessionDep, _auth: ManagerSession, telegram: TelegramDep, lesson_id: IdPath
) -> Response:
    lesson = await lesson_service.get(session, lesson_id)
    values = await posted(request)
    data = _form_data(values)
    try:
        # The create schema: it holds the rule between is_free and price.
        checked = LessonCreate.model_validate(data)
    except ValidationError as error:
        shown = data | {key: _text(values, key) for key in ("title", "price", "text_content")}
        return await _form_page(request, telegram, lesson, shown, field_errors(request, error), 422)
    changes = LessonUpdate(**checked.model_dump(exclude={"video_path"}))
    await lesson_service.update(session, lesson, data=changes)
    return redirect(lesson_path(lesson.id), flash="flash-lesson-saved")


@router.post("/{lesson_id}/delete")
async def delete_lesson(
    request: Request, session: SessionDep, _auth: ManagerSession, lesson_id: IdPath
) -> Response:
    lesson = await lesson_service.get(session, lesson_id)
    video_path = lesson.video_path
    try:
        await lesson_service.delete(session, lesson)
    except ItemInUse:
        purchases = await lesson_service.count_purchases(session, lesson)
        context = {"lesson": lesson, "purchases": purchases}
        return render(request, "lessons/delete_refused.html", context, status_code=409)
    await database.commit_now(session)
    media_service.remove_uploaded(video_path)
    return redirect(LIST_PATH, flash="flash-lesson-deleted")


@router.post("/{lesson_id}/deactivate")
async def deactivate_lesson(session: SessionDep, _auth: ManagerSession, lesson_id: IdPath) -> Response:
    lesson = await lesson_service.get(session, lesson_id)
    await lesson_service.update(session, lesson, data=LessonUpdate(is_active=False))
    return redirect(lesson_path(lesson.id), flash="flash-lesson-deactivated")


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _upload_refused(request: Request, error: VideoRefused) -> JSONResponse:
    t = panel_translator(language_of(request)).plain
    if isinstance(error, VideoTooLarge):
        status_code, message = 413, t("lessons-video-too-large", limit=error.limit_bytes // media_service.MB)
    elif isinstance(error, NotAVideo):
        status_code, message = 415, t("lessons-video-not-video")
    else:
        status_code, message = 400, t("lessons-video-failed")
    # The rest of the body is not read: the connection cannot carry another request.
    return JSONResponse({"error": message}, status_code=status_code, headers={"Connection": "close"})


@router.post(UPLOAD_PREFIX.removeprefix(LIST_PATH) + "{lesson_id}")
async def upload_video(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    telegram: TelegramDep,
    background: BackgroundTasks,
    lesson_id: IdPath,
) -> Response:
    """The lesson's new video: the request's body is the file (sent by static/lessons.js), streamed to
    MEDIA_DIR and checked as it arrives; the old video's file goes once the new one is the lesson's."""
    lesson = await lesson_service.get(session, lesson_id)
    # Nothing of the unit of work may stay open while the file arrives (minutes for a big one): the
    # session's last-seen write would hold SQLite's writer lock all that time.
    await session.commit()
    try:
        video_path = await media_service.save_video(
            request.stream(),
            lesson_id=lesson.id,
            content_type=request.headers.get("content-type"),
            content_length=_content_length(request),
        )
    except VideoRefused as error:
        logger.info("Video upload for lesson %s refused: %s", lesson_id, error.message)
        return _upload_refused(request, error)
    except ClientDisconnect:
        logger.info("Video upload for lesson %s broken off by the browser", lesson_id)
        return Response(status_code=400)
    old_path = lesson.video_path
    try:
        await lesson_service.update(session, lesson, data=LessonUpdate(video_path=video_path))
        await database.commit_now(session)
    except BaseException:
        media_service.remove_uploaded(video_path)
        raise
    if old_path != video_path:
        media_service.remove_uploaded(old_path)
    media_chat = get_settings().MEDIA_CHAT_ID
    if telegram is not None and media_chat:
        # After the response: the upload to Telegram may take minutes, and holds no transaction.
        background.add_task(post_to_media_chat, telegram, media_chat, lesson.id, video_path)
    response = JSONResponse({"redirect": lesson_path(lesson.id)})
    for name, value in redirect(lesson_path(lesson.id), flash="flash-lesson-video-saved").raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response


async def post_to_media_chat(telegram: Telegram, chat_id: str, lesson_id: int, video_path: str) -> None:
    """Post a new video to MEDIA_CHAT_ID once and keep Telegram's file id with the lesson, so that its
    buyers get it at once. A failure leaves the lesson as it was: its first delivery uploads the file."""
    try:
        file_id = await telegram.post_video(chat_id=chat_id, path=media_service.video_file(video_path))
    except TelegramUnavailable as error:
        logger.warning("Video of lesson %s not posted to the media chat: %s", lesson_id, error.message)
        return
    except Exception:
        logger.exception("Video of lesson %s not posted to the media chat", lesson_id)
        return
    try:
        async with database.session_scope() as session:
            lesson = await lesson_service.get(session, lesson_id)
            if lesson.video_path == video_path:  # not replaced meanwhile
                await lesson_service.set_video_file_id(session, lesson, file_id)
    except Exception:
        logger.exception("Telegram's file id of lesson %s's video not stored", lesson_id)
