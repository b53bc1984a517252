"""Rendering the panel's pages: Jinja2 with autoescaping, texts from shared/locales/<language>/panel.ftl."""

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from backend.panel import security
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, PANEL_CATALOG, Translator, translator

PANEL_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PANEL_DIR / "templates"
STATIC_DIR = PANEL_DIR / "static"
# An Accept-Language header is a short list; anything longer is not worth parsing.
ACCEPT_LANGUAGE_MAX_ITEMS = 20
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str  # the panel.ftl message id of its label
    path: str | None  # None: the page is not built yet


# The panel's pages, in the order of the navigation.
NAVIGATION = (
    NavItem("nav-dashboard", security.PANEL_PREFIX),
    NavItem("nav-lessons", None),
    NavItem("nav-courses", None),
    NavItem("nav-promo-codes", None),
    NavItem("nav-students", None),
    NavItem("nav-purchases", None),
    NavItem("nav-support", None),
    NavItem("nav-team", None),
    NavItem("nav-audit-log", None),
)

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    # Every value is escaped, translations included: a text is never markup.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@lru_cache(maxsize=64)
def _asset_version(path: str) -> str:
    file = (STATIC_DIR / path).resolve()
    if not file.is_relative_to(STATIC_DIR) or not file.is_file():
        raise ValueError(f"No panel asset {path!r}")
    return hashlib.sha256(file.read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    """The URL of a file in backend/panel/static, versioned by its content (so it can be cached forever)."""
    return f"{security.STATIC_PREFIX}/{path}?v={_asset_version(path)}"


def language_from_accept(header: str | None) -> str:
    """The best of our languages for an Accept-Language header (English when none fits)."""
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for item in (header or "").split(",")[:ACCEPT_LANGUAGE_MAX_ITEMS]:
        tag, _, params = item.strip().partition(";")
        language = tag.strip().split("-")[0].lower()
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if language in LANGUAGES and quality > best_quality:
            best, best_quality = language, quality
    return best


def language_of(request: Request) -> str:
    """The panel's language: the signed-in admin's choice, else this browser's (a cookie), else its
    Accept-Language."""
    user = getattr(request.state, "panel_user", None)
    if user is not None and user.language in LANGUAGES:
        return str(user.language)
    chosen = request.cookies.get(security.LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return language_from_accept(request.headers.get("accept-language"))


def panel_translator(language: str) -> Translator:
    return translator(language, PANEL_CATALOG)


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page: the session's when signed in, else the login form's (a new
    random value is set in its cookie by render() when the browser has none)."""
    signed_in = getattr(request.state, "panel_user", None)
    if signed_in is not None:
        return security.session_csrf_token(signed_in.session_id)
    nonce = request.cookies.get(security.LOGIN_CSRF_COOKIE) or getattr(request.state, "new_nonce", None)
    if nonce is None:
        nonce = request.state.new_nonce = security.new_nonce()
    return security.login_csrf_token(nonce)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page (or an HTMX partial) of the panel in the browser's language."""
    language = language_of(request)
    t = panel_translator(language)
    page = {
        "request": request,
        "t": t.plain,
        "lang": language,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "panel_user": getattr(request.state, "panel_user", None),
        "navigation": NAVIGATION,
        "current_path": request.url.path,
        "static_url": static_url,
        "csrf_field": security.CSRF_FIELD,
        "csrf_token": csrf_token(request),
        **(context or {}),
    }
    body = _environment.get_template(template).render(page)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    new_nonce = getattr(request.state, "new_nonce", None)
    if new_nonce is not None:
        response.set_cookie(
            security.LOGIN_CSRF_COOKIE,
            new_nonce,
            path=security.PANEL_PREFIX,
            httponly=True,
            samesite="strict",
            secure=security.secure_cookies(),
        )
    return response
