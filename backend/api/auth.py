"""Admin login, token refresh and logout; each admin's own password and settings (any role)."""

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from backend.api.deps import ClientAddress, CurrentAdmin, SessionDep
from backend.api.errors import FORBIDDEN, RULE_VIOLATION, TOO_MANY, UNAUTHORIZED
from backend.services import admin_service, auth_service
from backend.services.auth_service import IssuedTokens
from shared.schemas import (
    AdminRead,
    LoginRequest,
    OwnSettingsUpdate,
    PasswordChange,
    RefreshRequest,
    TokenPair,
)

router = APIRouter(prefix="/auth", tags=["auth"])


def _token_pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        refresh_expires_in=tokens.refresh_expires_in,
    )


@router.post(
    "/login",
    summary="Log in with a JSON body and get an access and a refresh token",
    responses={**UNAUTHORIZED, **TOO_MANY, **RULE_VIOLATION},
)
async def login(session: SessionDep, credentials: LoginRequest, client: ClientAddress) -> TokenPair:
    tokens = await auth_service.login(
        session,
        username=credentials.username,
        password=credentials.password,
        client=client,
    )
    return _token_pair(tokens)


@router.post(
    "/token",
    summary="Log in with an OAuth2 password form (used by Swagger's Authorize button)",
    responses={**UNAUTHORIZED, **TOO_MANY, **RULE_VIOLATION},
)
async def login_form(
    session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()], client: ClientAddress
) -> TokenPair:
    try:
        credentials = LoginRequest(username=form.username, password=form.password)
    except ValidationError as error:
        # Same 422 as the JSON login, with the form field named.
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_input=False, include_url=False)]
        ) from error
    tokens = await auth_service.login(
        session,
        username=credentials.username,
        password=credentials.password,
        client=client,
    )
    return _token_pair(tokens)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for a new token pair (the old refresh token stops working)",
    responses={**UNAUTHORIZED, **RULE_VIOLATION},
)
async def refresh(session: SessionDep, body: RefreshRequest) -> TokenPair:
    return _token_pair(await auth_service.refresh(session, body.refresh_token))


@router.post(
    "/logout",
    summary="End the session: its access and refresh tokens stop working at once",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAUTHORIZED},
)
async def logout(session: SessionDep, current: CurrentAdmin) -> None:
    await auth_service.revoke(session, current.id)


@router.get("/me", summary="The admin the access token belongs to", responses={**UNAUTHORIZED})
async def read_me(current: CurrentAdmin) -> AdminRead:
    return AdminRead.model_validate(current.admin)


@router.patch(
    "/me",
    summary="Change your own settings (the panel's language; null follows the browser)",
    responses={**UNAUTHORIZED, **RULE_VIOLATION},
)
async def update_me(session: SessionDep, current: CurrentAdmin, data: OwnSettingsUpdate) -> AdminRead:
    return AdminRead.model_validate(await admin_service.update_own(session, current.admin, data=data))


@router.post(
    "/password",
    summary="Change your own password (your other sessions end; this one goes on)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAUTHORIZED, **FORBIDDEN, **TOO_MANY, **RULE_VIOLATION},
)
async def change_password(
    session: SessionDep, current: CurrentAdmin, data: PasswordChange, client: ClientAddress
) -> None:
    await admin_service.change_password(
        session,
        current,
        current_password=data.current_password,
        new_password=data.new_password,
        client=client,
    )
