"""A setup mistake found at startup fails it with one line, not a traceback (pure ASGI middleware).

Under the ASGI lifespan protocol an app fails its startup by sending `lifespan.startup.failed` with a
message, which the server (uvicorn) logs before it exits. Starlette always sends the traceback as that
message; for a SetupError this middleware sends the error's one line instead.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.setup_checks import SetupError


class SetupErrorsInOneLine:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        failure: list[Message] = []

        async def send_or_hold_failure(message: Message) -> None:
            # Held until we see the exception, which Starlette raises right after sending this.
            if message["type"] == "lifespan.startup.failed":
                failure.append(message)
            else:
                await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_or_hold_failure)
        except BaseException as raised:
            error = raised
            raise
        finally:
            if failure:
                message = failure[0]
                if isinstance(error, SetupError):
                    message = {**message, "message": str(error)}
                await send(message)
