"""Rendering the panel's pages: Jinja2 with autoescaping, texts from shared/locales/<language>/panel.ftl."""

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import URL

from backend.panel import security
from backend.panel.deps import MANAGER, OWNER, STAFF, SUPPORT
from shared.constants import AdminRole
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, PANEL_CATALOG, Translator, translator

PANEL_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PANEL_DIR / "templates"
STATIC_DIR = PANEL_DIR / "static"
# An Accept-Language header is a short list; anything longer is not worth parsing.
ACCEPT_LANGUAGE_MAX_ITEMS = 20
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
# A message shown once on the next page (after a form's redirect): a translation key, kept in a cookie.
FLASH_COOKIE = "panel_flash"
FLASH_KEY = re.compile(r"flash-[a-z0-9-]{1,60}")


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str  # the panel.ftl message id of its label
    path: str
    roles: tuple[AdminRole, ...]  # who sees it besides the owners (the page's own dependency decides)


# The panel's pages, in the order of the navigation.
NAVIGATION = (
    NavItem("nav-dashboard", security.PANEL_PREFIX, STAFF),
    NavItem("nav-lessons", f"{security.PANEL_PREFIX}/lessons", MANAGER),
    NavItem("nav-courses", f"{security.PANEL_PREFIX}/courses", MANAGER),
    NavItem("nav-promo-codes", f"{security.PANEL_PREFIX}/promo-codes", MANAGER),
    NavItem("nav-broadcasts", f"{security.PANEL_PREFIX}/broadcasts", MANAGER),
    NavItem("nav-students", f"{security.PANEL_PREFIX}/students", STAFF),
    NavItem("nav-purchases", f"{security.PANEL_PREFIX}/purchases", STAFF),
    NavItem("nav-support", f"{security.PANEL_PREFIX}/support", SUPPORT),
    NavItem("nav-team", f"{security.PANEL_PREFIX}/team", OWNER),
    NavItem("nav-audit-log", f"{security.PANEL_PREFIX}/audit-log", OWNER),
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


def url_with(request: Request, **changes: object) -> str:
    """This page's URL (path and query) with some query parameters changed; None or "" removes one. Lists
    use it for their paging, sorting and filter links, so that each keeps the others."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key not in changes]
    params += [(key, str(value)) for key, value in changes.items() if value not in (None, "")]
    return str(URL(request.url.path).include_query_params(**dict(params)))


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    """See another page after a form is handled (303), with a message to show there once (a flash-* key
    of the catalogs: "flash-lesson-saved")."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        if FLASH_KEY.fullmatch(flash) is None:
            raise ValueError(f"Not a flash message key: {flash!r}")
        response.set_cookie(
            FLASH_COOKIE,
            flash,
            path=security.PANEL_PREFIX,
            httponly=True,
            samesite="strict",
            secure=security.secure_cookies(),
        )
    return response


def _flash_of(request: Request) -> str | None:
    """The message a redirect left for this page (only on a whole page: an HTMX partial leaves it)."""
    if request.headers.get("hx-request"):
        return None
    key = request.cookies.get(FLASH_COOKIE)
    return key if key is not None and FLASH_KEY.fullmatch(key) else None


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
        "url_with": lambda **changes: url_with(request, **changes),
        "flash": _flash_of(request),
        **(context or {}),
    }
    body = _environment.get_template(template).render(page)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    if page["flash"] is not None and not request.headers.get("hx-request"):
        response.delete_cookie(FLASH_COOKIE, path=security.PANEL_PREFIX, httponly=True)
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
