"""Request counts and latencies by handler (the endpoint that answered, e.g. lessons.read_lesson: one label
per route, not per id in the path), and the /metrics endpoint when METRICS_ENABLED."""

import time

from prometheus_client import make_asgi_app
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            handler = _handler(scope)
            method = scope["method"]
            metrics.http_requests.labels(method, handler, str(status)).inc()
            metrics.http_request_seconds.labels(method, handler).observe(time.perf_counter() - started)


def _handler(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        return "unmatched"
    endpoint = getattr(route, "endpoint", None)
    if endpoint is None:  # a mount (static files)
        return str(getattr(route, "name", None) or "unmatched")
    return f"{endpoint.__module__.rsplit('.', 1)[-1]}.{endpoint.__name__}"


def metrics_app() -> ASGIApp:
    """The Prometheus exposition of this process's metrics."""
    return make_asgi_app()
