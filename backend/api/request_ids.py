"""Every request gets an id, in its log lines and in the X-Request-ID response header: the client's own
(a proxy's) when it sends a sane one, a new one otherwise."""

import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs

HEADER = b"x-request-id"
# What a proxy's id looks like (a UUID, a hex or base64 token); anything else could forge log lines.
SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given.decode() if SANE_ID.fullmatch(given) else secrets.token_hex(8)
        token = logs.request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
