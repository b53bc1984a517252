"""The panel's browser-facing protections: cookies, CSRF tokens and security headers.

CSRF uses synchronizer tokens: a signed-in page carries an HMAC of its session id (so a token is only good
for the session it was made for, and dies with it); the login form, before there is a session, carries an
HMAC of a random value kept in an HttpOnly cookie (double submit, signed, so a value planted in the cookie
by another site is useless without the key).
"""

import hashlib
import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.config import get_settings
from shared.constants import Environment

PANEL_PREFIX = "/admin"
STATIC_PREFIX = f"{PANEL_PREFIX}/static"
SESSION_COOKIE = "panel_session"
LOGIN_CSRF_COOKIE = "panel_login_csrf"
LANGUAGE_COOKIE = "panel_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline scripts anywhere, and no <style> elements (htmx is told not to add its indicator style); data:
# images for the stylesheet's icons. Style attributes are let through (style-src-attr): the vendored
# libraries set them at run time (SortableJS on the element it drags and its copies, Chart.js on its
# canvas, which htmx copies when it settles a swap). An attribute can neither run script nor select
# elements, and images load from this site only; the templates themselves write none (a test checks).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
COMMON_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Asset URLs carry a hash of their content (templating.static_url), so a versioned one never changes.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"
NO_STORE = "no-store"


def secure_cookies() -> bool:
    """Cookies are Secure in production (served over HTTPS); development runs on plain http://."""
    return get_settings().ENVIRONMENT is Environment.PRODUCTION


def _mac(purpose: bytes, value: str) -> str:
    key = get_settings().SECRET_KEY.get_secret_value().encode()
    return hmac.new(key, purpose + b"\0" + value.encode(), hashlib.sha256).hexdigest()


def session_csrf_token(session_id: str) -> str:
    """The CSRF token of a signed-in session."""
    return _mac(b"panel-csrf", session_id)


def login_csrf_token(nonce: str) -> str:
    """The CSRF token of the login form for the nonce in the browser's LOGIN_CSRF_COOKIE."""
    return _mac(b"panel-login-csrf", nonce)


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(sent: str | None, expected: str | None) -> bool:
    """Constant-time comparison; nothing sent or nothing expected never matches."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def is_panel_path(path: str) -> bool:
    return path == PANEL_PREFIX or path.startswith(PANEL_PREFIX + "/")


def panel_headers(path: str, query_string: str) -> dict[str, str]:
    """The security and caching headers of a panel response."""
    if path.startswith(STATIC_PREFIX + "/"):
        cache = IMMUTABLE if "v=" in query_string else REVALIDATE
    else:
        # Pages show store data and carry CSRF tokens: never kept by the browser or a proxy.
        cache = NO_STORE
    return {**COMMON_HEADERS, "Cache-Control": cache}


class PanelHeaders:
    """ASGI middleware: the panel's security and caching headers on every response under /admin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_panel_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        extra = panel_headers(scope["path"], scope.get("query_string", b"").decode("latin-1"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
                if extra["Cache-Control"] == NO_STORE:
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)
