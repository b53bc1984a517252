"""A limit on the size of request bodies, enforced before the app reads them.

Without it, an anonymous client could send any amount of JSON to an endpoint that parses it (a 10 MB login
body took 45 s to refuse and held up every other request meanwhile).
"""

import logging
import re
from collections.abc import Iterable

from starlette import status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

# Routes that take big bodies and bound them themselves: path prefixes, relative to the app's root path.
# The admin panel's streamed uploads (POST /admin/lessons/video-upload/{id}, backend/panel/pages/lessons.py;
# POST /admin/broadcasts/media-upload/{id}, broadcasts.py) have these prefixes to themselves, and stop
# reading past the Bot API's file size limit.
UNLIMITED_BODY_PATHS: tuple[str, ...] = ("/admin/lessons/video-upload/", "/admin/broadcasts/media-upload/")
# The same, as whole paths: a broadcast's photo or video upload (PUT /api/broadcasts/{id}/media, which
# stops reading past the photo's or video's limit, backend/api/broadcasts.py).
UNLIMITED_BODY_PATTERNS: tuple[re.Pattern[str], ...] = (re.compile(r"/api/broadcasts/\d+/media"),)


class BodyTooLarge(Exception):
    """Raised in the app when it reads past the limit; the middleware answers 413 whatever the app does."""


class BodySizeLimit:
    """ASGI middleware: 413 for a request whose body is over max_bytes, at once when Content-Length says so,
    and as soon as a body of unknown length (chunked) grows past it, without reading further.

    Paths that start with one of exempt_prefixes are passed through unchecked."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        exempt_prefixes: Iterable[str] = (),
        exempt_patterns: Iterable[re.Pattern[str]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = tuple(exempt_prefixes)
        self.exempt_patterns = tuple(exempt_patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        too_large = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            # Whatever the app answers to a body cut short (FastAPI makes it a 400) gives way to the 413.
            if too_large and not response_started:
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if response_started:
                raise
        if too_large and not response_started:
            await self._refuse(scope, receive, send)

    def _is_exempt(self, scope: Scope) -> bool:
        if not self.exempt_prefixes and not self.exempt_patterns:
            return False
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        return path.startswith(self.exempt_prefixes) or any(p.fullmatch(path) for p in self.exempt_patterns)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        logger.info(
            "Refused a request body over %s bytes: %s %s", self.max_bytes, scope["method"], scope["path"]
        )
        response = JSONResponse(
            {"detail": f"Request body too large: the limit is {self.max_bytes} bytes"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            # The rest of the body is never read, so the connection cannot carry another request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server has refused a malformed one already; a body of unknown length is counted instead.
            return int(value) if value.isdigit() else None
    return None
