"""Lesson videos on this server's disk (MEDIA_DIR): uploads streamed to a file under a generated name, checked
(size, type, first bytes) while they arrive; replaced files removed."""

import asyncio
import logging
import os
import re
import secrets
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from backend.services.exceptions import MediaTooLarge, NotAVideo, UnsupportedMedia, VideoTooLarge
from shared.config import get_settings
from shared.constants import BROADCAST_PHOTO_MAX_BYTES

logger = logging.getLogger(__name__)

# Uploaded videos go here, under MEDIA_DIR; a lesson's video_path is relative to MEDIA_DIR.
VIDEO_FOLDER = "videos"
PUBLIC_BOT_API_HOST = "api.telegram.org"
MB = 1024 * 1024
# What a bot may upload: 50 MB to Telegram's public Bot API server, 2000 MB through a local one.
PUBLIC_API_VIDEO_LIMIT = 50 * MB
LOCAL_API_VIDEO_LIMIT = 2000 * MB
# Chunks are gathered up to this size before a write (in a thread, not to hold up the event loop).
WRITE_SIZE = MB
# MP4/MOV start with a box whose type "ftyp" is at offset 4; WebM/MKV with the EBML magic number.
SNIFF_SIZE = 8
# The first bytes of an upload kept to tell its type (a WebP photo says so at bytes 8-12).
HEAD_SIZE = 16
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EXTENSIONS = {"video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv"}
UPLOADED_NAME = re.compile(r"lesson-\d+-[0-9a-f]{16}\.(mp4|mov|webm|mkv)")


def video_size_limit() -> int:
    """The largest video the bot can send, in bytes: it follows the Bot API server in use."""
    host = urlsplit(get_settings().TELEGRAM_API_URL).hostname
    return PUBLIC_API_VIDEO_LIMIT if host == PUBLIC_BOT_API_HOST else LOCAL_API_VIDEO_LIMIT


def media_dir() -> Path:
    return Path(get_settings().MEDIA_DIR)


def video_file(video_path: str) -> Path:
    """Where a lesson's video lies on this server: absolute, or relative to MEDIA_DIR."""
    path = Path(video_path)
    return path if path.is_absolute() else media_dir() / path


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first bytes are those of an MP4/MOV or a WebM/MKV file."""
    return head[4:8] == b"ftyp" or head[:4] == EBML_MAGIC


def check_upload(content_type: str | None, content_length: int | None) -> None:
    """Refuse an upload before reading it: NotAVideo unless its declared type is video/*, VideoTooLarge when
    its declared length is over the limit."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if not media_type.startswith("video/"):
        raise NotAVideo(f"Only video files can be uploaded, not {media_type or 'an undeclared type'}")
    limit = video_size_limit()
    if content_length is not None and content_length > limit:
        raise VideoTooLarge(limit)


def _extension(content_type: str | None, head: bytes) -> str:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if head[:4] == EBML_MAGIC:
        return ".webm" if media_type == "video/webm" else ".mkv"
    return ".mov" if media_type == "video/quicktime" else ".mp4"


async def save_video(
    chunks: AsyncIterable[bytes], *, lesson_id: int, content_type: str | None, content_length: int | None
) -> str:
    """Stream an uploaded video to a new file under MEDIA_DIR/videos (a temporary file, renamed once it is
    whole); its video_path (relative to MEDIA_DIR). Reading stops at the first refusal (NotAVideo,
    VideoTooLarge), and nothing is left on disk then, nor when the upload breaks off."""
    check_upload(content_type, content_length)
    limit = video_size_limit()

    def refuse_early(head: bytes) -> None:
        if not looks_like_video(head):
            raise NotAVideo("The file is not an MP4, MOV, WebM or MKV video")

    def extension(head: bytes) -> str:
        if not looks_like_video(head):
            raise NotAVideo("The file is empty or not an MP4, MOV, WebM or MKV video")
        return _extension(content_type, head)

    path, received = await _save_stream(
        chunks,
        folder=VIDEO_FOLDER,
        stem=f"lesson-{lesson_id}-{secrets.token_hex(8)}",
        limit=limit,
        too_large=lambda: VideoTooLarge(limit),
        extension=extension,
        refuse_early=refuse_early,
    )
    logger.info("Saved a video of %s bytes for lesson %s as %s", received, lesson_id, path)
    return path


async def _save_stream(
    chunks: AsyncIterable[bytes],
    *,
    folder: str,
    stem: str,
    limit: int,
    too_large: Callable[[], Exception],
    extension: Callable[[bytes], str],
    refuse_early: Callable[[bytes], None] | None = None,
) -> tuple[str, int]:
    """Stream an upload to MEDIA_DIR/folder/stem+extension through a temporary file, renamed once it is
    whole: its path relative to MEDIA_DIR and its size. `refuse_early` sees the file's first HEAD_SIZE bytes
    as soon as they came; `extension` sees them at the end and names the file (or refuses it). Reading stops
    at the first refusal, and nothing is left on disk then, nor when the upload breaks off."""
    directory = media_dir() / folder
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    partial = directory / f".{stem}.part"
    file: BinaryIO = await asyncio.to_thread(open, partial, "xb")
    received = 0
    head = b""
    pending = bytearray()
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise too_large()
            if len(head) < HEAD_SIZE:
                head += chunk[: HEAD_SIZE - len(head)]
                if len(head) == HEAD_SIZE and refuse_early is not None:
                    refuse_early(head)
            pending += chunk
            if len(pending) >= WRITE_SIZE:
                await asyncio.to_thread(file.write, bytes(pending))
                pending.clear()
        name = stem + extension(head)
        await asyncio.to_thread(_finish, file, bytes(pending))
        await asyncio.to_thread(os.replace, partial, directory / name)
    except BaseException:
        # Refused, broken off or cancelled: the partial file goes.
        file.close()
        partial.unlink(missing_ok=True)
        raise
    return f"{folder}/{name}", received


def _finish(file: BinaryIO, rest: bytes) -> None:
    file.write(rest)
    file.flush()
    os.fsync(file.fileno())
    file.close()


def remove_uploaded(video_path: str | None) -> None:
    """Delete a video file this service saved (one named by it, in MEDIA_DIR/videos); files an operator put
    under MEDIA_DIR by hand are left alone (another lesson may use them)."""
    if not video_path:
        return
    path = Path(video_path)
    if path.parent != Path(VIDEO_FOLDER) or UPLOADED_NAME.fullmatch(path.name) is None:
        return
    try:
        (media_dir() / path).unlink(missing_ok=True)
    except OSError as error:
        logger.warning("Could not delete the replaced video %s: %s", video_path, error)


# Broadcast media -----------------------------------------------------------------------------------------

# A broadcast's photo or video goes here, under MEDIA_DIR.
BROADCAST_FOLDER = "broadcasts"
BROADCAST_MEDIA_NAME = re.compile(r"broadcast-\d+-[0-9a-f]{16}\.(jpg|png|webp|mp4|mov|webm|mkv)")
PHOTO_MAGIC = {b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png"}


def photo_extension(head: bytes) -> str | None:
    """The extension of a JPEG, PNG or WebP file by its first bytes (None: not one of them)."""
    for magic, extension in PHOTO_MAGIC.items():
        if head.startswith(magic):
            return extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return None


def broadcast_media_limit(kind: str) -> int:
    """The largest photo (Telegram's 10 MB) or video (as for lessons) a broadcast can carry, in bytes."""
    return BROADCAST_PHOTO_MAX_BYTES if kind == "photo" else video_size_limit()


async def save_broadcast_media(
    chunks: AsyncIterable[bytes], *, broadcast_id: int, kind: str, content_type: str | None
) -> str:
    """Stream a broadcast's photo or video to a new file under MEDIA_DIR/broadcasts; its path relative to
    MEDIA_DIR. UnsupportedMedia unless it is a JPEG/PNG/WebP photo or an MP4/MOV/WebM/MKV video (by its
    declared type and its first bytes), MediaTooLarge over the limit; nothing is left on disk then."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if not media_type.startswith("image/" if kind == "photo" else "video/"):
        raise UnsupportedMedia(f"A {kind} must be uploaded as {'image' if kind == 'photo' else 'video'}/*")
    limit = broadcast_media_limit(kind)

    def extension(head: bytes) -> str:
        if kind == "photo":
            found = photo_extension(head)
            if found is None:
                raise UnsupportedMedia("The photo is not a JPEG, PNG or WebP image")
            return found
        if not looks_like_video(head):
            raise UnsupportedMedia("The file is empty or not an MP4, MOV, WebM or MKV video")
        return _extension(content_type, head)

    path, received = await _save_stream(
        chunks,
        folder=BROADCAST_FOLDER,
        stem=f"broadcast-{broadcast_id}-{secrets.token_hex(8)}",
        limit=limit,
        too_large=lambda: MediaTooLarge(limit, kind),
        extension=extension,
    )
    logger.info("Saved a %s of %s bytes for broadcast %s as %s", kind, received, broadcast_id, path)
    return path


def remove_broadcast_media(path: str | None) -> None:
    """Delete a broadcast's file this service saved (others under MEDIA_DIR are left alone)."""
    if not path:
        return
    relative = Path(path)
    if relative.parent != Path(BROADCAST_FOLDER) or BROADCAST_MEDIA_NAME.fullmatch(relative.name) is None:
        return
    try:
        (media_dir() / relative).unlink(missing_ok=True)
    except OSError as error:
        logger.warning("Could not delete the broadcast's replaced file %s: %s", path, error)
