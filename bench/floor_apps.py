"""The tiny apps that bench/floor.py loads: what Starlette and FastAPI cost with no database behind them."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query
from fastapi.security import OAuth2PasswordBearer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"status":"ok","database":"ok"}'


async def plain(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


starlette_app = Starlette(routes=[Route("/health", plain)])

fastapi_app = FastAPI()
bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def session() -> AsyncIterator[object]:
    # Where the app opens its database session.
    yield object()


async def admin(
    _session: Annotated[object, Depends(session)], token: Annotated[str | None, Depends(bearer)]
) -> str | None:
    # Where the app checks the token and looks its session up.
    return token


@fastapi_app.get("/health")
async def health() -> Response:
    return Response(BODY, media_type="application/json")


@fastapi_app.get("/users/{user_id}/p", dependencies=[Depends(admin)])
async def purchases_shaped(
    _session: Annotated[object, Depends(session)],
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    return Response(BODY, media_type="application/json")
