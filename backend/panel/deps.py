"""The panel's dependencies: its unit of work, the signed-in admin (from the session cookie), CSRF."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from backend.api.deps import SessionDep
from backend.panel import security
from backend.services import admin_service, audit_service, panel_session_service
from backend.services.exceptions import InvalidToken
from shared.constants import AdminRole
from shared.models import AuthSession

LOGIN_PATH = f"{security.PANEL_PREFIX}/login"
LOGOUT_PATH = f"{security.PANEL_PREFIX}/logout"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginRequired(Exception):
    """The page needs a signed-in admin: the browser is sent to the login page."""


class CsrfRefused(Exception):
    """A state-changing request without the right CSRF token."""


@dataclass(frozen=True, slots=True)
class PanelUser:
    """Who is signed in, as plain values: error pages render it after the unit of work rolled back."""

    session_id: str
    admin_id: int
    username: str
    role: AdminRole
    language: str | None  # the admin's saved choice (None: the browser's)

    def may(self, roles: tuple[AdminRole, ...]) -> bool:
        """Whether a page or action for these roles is open to this admin (owners: everything)."""
        return self.role is AdminRole.OWNER or self.role in roles


async def get_optional_session(request: Request, session: SessionDep) -> AuthSession | None:
    """The live session of the browser's cookie; None without one (an ended or forged one included)."""
    cookie = request.cookies.get(security.SESSION_COOKIE)
    if not cookie:
        return None
    try:
        auth_session = await panel_session_service.authenticate(session, cookie)
    except InvalidToken:
        return None
    admin = auth_session.admin
    request.state.panel_user = PanelUser(
        auth_session.id, admin.id, admin.username, admin.role, admin.language
    )
    audit_service.set_actor(session, admin)
    return auth_session


OptionalPanelSession = Annotated[AuthSession | None, Depends(get_optional_session)]


async def get_current_session(auth_session: OptionalPanelSession) -> AuthSession:
    if auth_session is None:
        raise LoginRequired()
    return auth_session


CurrentPanelSession = Annotated[AuthSession, Depends(get_current_session)]


def allow(*roles: AdminRole) -> Any:
    """A page's dependency: the signed-in admin's session, if their role is one of these (owners may
    everything); a 403 page otherwise. The same rule as the API's role dependencies."""

    async def check(auth_session: CurrentPanelSession) -> AuthSession:
        admin_service.check_role(auth_session.admin, roles)
        return auth_session

    return Depends(check)


# Who may open what, as in the API: the team and the audit log are the owners'; the store (content,
# prices, promo codes, sales, refunds, grants) the managers'; tickets support's; students and purchases
# are read by both.
OWNER = ()
MANAGER = (AdminRole.MANAGER,)
SUPPORT = (AdminRole.SUPPORT,)
STAFF = (AdminRole.MANAGER, AdminRole.SUPPORT)
OwnerSession = Annotated[AuthSession, allow(*OWNER)]
ManagerSession = Annotated[AuthSession, allow(*MANAGER)]
SupportSession = Annotated[AuthSession, allow(*SUPPORT)]
StaffSession = Annotated[AuthSession, allow(*STAFF)]


async def _sent_token(request: Request) -> str | None:
    sent = request.headers.get(security.CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        # Parsed once: Starlette keeps the form for the route's own Form parameters.
        value = (await request.form()).get(security.CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent


async def check_csrf(request: Request, auth_session: OptionalPanelSession) -> None:
    """Refuse a state-changing request whose token is not the session's (or, without a session and on the
    login form, the login form's, bound to the browser's LOGIN_CSRF_COOKIE)."""
    if request.method in security.SAFE_METHODS:
        return
    if auth_session is None and request.url.path == LOGOUT_PATH:
        return  # signing out a session that has already ended changes nothing
    sent = await _sent_token(request)
    if auth_session is not None and security.tokens_match(sent, security.session_csrf_token(auth_session.id)):
        return
    # A signed-in browser may still post the login form of a tab opened before it signed in.
    pre_session = auth_session is None or request.url.path == LOGIN_PATH
    nonce = request.cookies.get(security.LOGIN_CSRF_COOKIE)
    if pre_session and nonce and security.tokens_match(sent, security.login_csrf_token(nonce)):
        return
    raise CsrfRefused()
