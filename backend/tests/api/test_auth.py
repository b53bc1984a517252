"""/auth: login (JSON and OAuth2 form), throttling, refresh-token rotation, logout, /auth/me, bad tokens.

The login tests go through /auth/login for real (argon2 and all); the others start from `tokens` of a real
session opened without the slow password check (see backend/tests/api/__init__.py).
"""

import asyncio
import functools
import threading
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from backend.main import app, create_app
from backend.services import auth_service
from backend.tests.api import (
    bearer,
    count,
    fresh,
    issue_tokens,
)
from backend.tests.conftest import ADMIN_PASSWORD, login
from backend.tests.factories import create_lesson
from shared import database
from shared.config import get_settings
from shared.models import AuthSession, LoginThrottle
from shared.utils import utcnow

SECRET = get_settings().SECRET_KEY.get_secret_value()
ACCESS_TTL = 30 * 60


def session_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def forge(token: str, key: str = SECRET, algorithm: str = "HS256", **changes) -> str:
    """The token's claims, changed and signed again (with our key unless told otherwise)."""
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    claims = {name: value for name, value in claims.items() if value is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # our key is short for HS512
        return jwt.encode(claims, key, algorithm=algorithm)


def assert_unauthorized(response, detail: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    if detail is not None:
        assert response.json() == {"detail": detail}


# Login ---------------------------------------------------------------------------------------------------


async def test_login(client, session):
    response = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "refresh_expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ACCESS_TTL
    assert 7 * 86400 - 60 <= body["refresh_expires_in"] <= 7 * 86400
    assert body["access_token"] != body["refresh_token"]
    # One session in the database, shared by both tokens.
    assert session_id(body["access_token"]) == session_id(body["refresh_token"])
    stored = await fresh(session, AuthSession, session_id(body["access_token"]))
    assert stored is not None
    assert stored.revoked_at is None
    me = await client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200


async def test_login_twice_opens_separate_sessions(client, session):
    first = await login(client)
    second = await login(client)
    assert session_id(first["access_token"]) != session_id(second["access_token"])
    assert await count(session, AuthSession) == 2


async def test_login_wrong_password_and_unknown_user_identical(client, session):
    wrong_password = await client.post("/auth/login", json={"username": "admin", "password": "nope"})
    unknown_user = await client.post("/auth/login", json={"username": "nobody", "password": "nope"})
    assert_unauthorized(wrong_password, "Incorrect username or password")
    assert_unauthorized(unknown_user)
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.headers["www-authenticate"] == unknown_user.headers["www-authenticate"]
    assert await count(session, AuthSession) == 0
    # Both failures are counted, per username (known or not) and client address.
    assert (await fresh(session, LoginThrottle, ("admin", "127.0.0.1"))).failures == 1
    assert (await fresh(session, LoginThrottle, ("nobody", "127.0.0.1"))).failures == 1


async def test_login_locked_after_five_failures(client, session):
    for _ in range(5):
        response = await client.post("/auth/login", json={"username": "admin", "password": "wrong"})
        assert response.status_code == 401
    response = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60 + 1
    assert "too many failed login attempts" in response.json()["detail"].lower()
    # The form login is locked too, and no session was opened.
    form = await client.post("/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert form.status_code == 429
    assert "retry-after" in form.headers
    assert await count(session, AuthSession) == 0


async def test_login_lockout_is_per_username(client):
    for _ in range(5):
        await client.post("/auth/login", json={"username": "someone", "password": "wrong"})
    locked = await client.post("/auth/login", json={"username": "someone", "password": "wrong"})
    assert locked.status_code == 429
    assert (
        await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    ).is_success


async def test_login_success_resets_failures(client, session):
    key = ("admin", "127.0.0.1")
    for _ in range(4):
        await client.post("/auth/login", json={"username": "admin", "password": "wrong"})
    assert (await fresh(session, LoginThrottle, key)).failures == 4
    await login(client)
    assert (await fresh(session, LoginThrottle, key)).failures == 0
    # Counting starts again from zero.
    response = await client.post("/auth/login", json={"username": "admin", "password": "wrong"})
    assert response.status_code == 401
    assert (await fresh(session, LoginThrottle, key)).failures == 1


# Login throttling per client ------------------------------------------------------------------------------

ATTACKER = "198.51.100.66"
ADMIN_DESK = "203.0.113.10"


@pytest.fixture
def quick_checks(monkeypatch) -> None:
    """verify_password answering a (hash, password) pair it has seen at once: many failures, little argon2."""
    check = functools.lru_cache(maxsize=None)(auth_service.verify_password)
    monkeypatch.setattr(auth_service, "verify_password", check)


@asynccontextmanager
async def client_at(address: str, asgi_app: FastAPI = app) -> AsyncIterator[httpx.AsyncClient]:
    """A client connecting from that address."""
    transport = httpx.ASGITransport(app=asgi_app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def attempt(client: httpx.AsyncClient, password: str, **headers: str) -> httpx.Response:
    return await client.post("/auth/login", json={"username": "admin", "password": password}, headers=headers)


async def end_wait(client_address: str) -> None:
    """As if the client had waited as long as it was told to."""
    async with database.session_scope() as work_session:
        await work_session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.client == client_address)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )


async def test_login_bad_logins_do_not_hold_up_writes(client, admin_headers, monkeypatch):
    # More bad logins than SQLite's connection pool holds (10, and 10 more on overflow).
    logins = 24
    loop = asyncio.get_running_loop()
    checks: list[str] = []
    all_threads_checking = asyncio.Event()
    release = threading.Event()

    def held_check(_password_hash: str, password: str) -> bool:
        checks.append(password)
        if len(checks) == auth_service.PASSWORD_THREAD_COUNT:
            loop.call_soon_threadsafe(all_threads_checking.set)
        # Held like argon2 on a busy machine, until the admin's write is done.
        release.wait(30)
        return False

    monkeypatch.setattr(auth_service, "verify_password", held_check)
    bad_logins = [
        asyncio.create_task(
            client.post("/auth/login", json={"username": f"intruder-{n}", "password": "guess"})
        )
        for n in range(logins)
    ]
    try:
        async with asyncio.timeout(10):
            await all_threads_checking.wait()
        async with asyncio.timeout(10):
            created = await client.post(
                "/api/lessons/",
                json={"title": "Written meanwhile", "price": 10, "text_content": "Body"},
                headers=admin_headers,
            )
        logins_done = sum(task.done() for task in bad_logins)
    finally:
        release.set()
    responses = await asyncio.gather(*bad_logins)

    assert created.status_code == 201, created.text
    # The write was answered while every bad login was still at its password check (or queued for one).
    assert logins_done == 0
    assert [response.status_code for response in responses] == [401] * logins


@pytest.mark.usefixtures("quick_checks")
async def test_login_attacker_does_not_lock_out_admin_elsewhere():
    async with client_at(ATTACKER) as attacker:
        for _ in range(5):
            assert (await attempt(attacker, "guess")).status_code == 401
        for _ in range(5):
            assert (await attempt(attacker, "guess")).status_code == 429
        assert (await attempt(attacker, ADMIN_PASSWORD)).status_code == 429

    async with client_at(ADMIN_DESK) as admin:
        response = await attempt(admin, ADMIN_PASSWORD)

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("quick_checks")
async def test_login_known_client_gets_growing_waits(monkeypatch):
    monkeypatch.setattr(get_settings(), "LOGIN_KNOWN_CLIENT_DELAY_SECONDS", 30)
    async with client_at(ADMIN_DESK) as admin:
        assert (await attempt(admin, ADMIN_PASSWORD)).status_code == 200
        for _ in range(5):
            assert (await attempt(admin, "typo")).status_code == 401
        waits = []
        for _ in range(4):
            refused = await attempt(admin, ADMIN_PASSWORD)
            assert refused.status_code == 429
            waits.append(int(refused.headers["retry-after"]))
            await end_wait(ADMIN_DESK)
            assert (await attempt(admin, "typo")).status_code == 401
        # After the waits, the right password still gets in: no lockout.
        await end_wait(ADMIN_DESK)
        assert (await attempt(admin, ADMIN_PASSWORD)).status_code == 200

    expected = [30, 60, 120, 240]
    assert all(wait - 10 < got <= wait for got, wait in zip(waits, expected, strict=True)), waits
    # A client that never logged in waits the whole lockout after as many failures.
    async with client_at(ATTACKER) as attacker:
        for _ in range(5):
            await attempt(attacker, "typo")
        assert int((await attempt(attacker, ADMIN_PASSWORD)).headers["retry-after"]) > 14 * 60


@pytest.mark.usefixtures("quick_checks")
async def test_login_throttled_keeps_tokens_working(client, tokens):
    for _ in range(6):
        await attempt(client, "guess")
    assert (await attempt(client, ADMIN_PASSWORD)).status_code == 429

    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
    assert (await client.get("/api/users/", headers=bearer(tokens["access_token"]))).status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200


@pytest.mark.usefixtures("quick_checks")
async def test_login_forwarded_for_ignored_by_default(client, session):
    for n in range(5):
        await attempt(client, "guess", **{"X-Forwarded-For": f"192.0.2.{n}"})

    refused = await attempt(client, ADMIN_PASSWORD, **{"X-Forwarded-For": "203.0.113.99"})

    assert refused.status_code == 429
    clients = (
        await session.scalars(select(LoginThrottle.client).execution_options(populate_existing=True))
    ).all()
    assert clients == ["127.0.0.1"]


@pytest.mark.usefixtures("quick_checks")
async def test_login_forwarded_for_honoured_from_configured_proxy(monkeypatch, session):
    monkeypatch.setattr(get_settings(), "FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.2")
    proxied_app = create_app()

    async with client_at("10.0.0.2", proxied_app) as proxy:
        for _ in range(5):
            await attempt(proxy, "guess", **{"X-Forwarded-For": ATTACKER})
        refused = await attempt(proxy, ADMIN_PASSWORD, **{"X-Forwarded-For": ATTACKER})
        admitted = await attempt(proxy, ADMIN_PASSWORD, **{"X-Forwarded-For": ADMIN_DESK})
    # Anyone else's X-Forwarded-For is still ignored.
    async with client_at("192.0.2.50", proxied_app) as direct:
        await attempt(direct, "guess", **{"X-Forwarded-For": "203.0.113.77"})

    assert refused.status_code == 429
    assert admitted.status_code == 200, admitted.text
    await session.commit()
    clients = set(await session.scalars(select(LoginThrottle.client)))
    assert clients == {ATTACKER, ADMIN_DESK, "192.0.2.50"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"username": "admin"}, ["body", "password"]),
        ({"password": "x"}, ["body", "username"]),
        ({"username": "admin", "password": ""}, ["body", "password"]),
        ({"username": "a" * 65, "password": "x"}, ["body", "username"]),
        ({"username": "admin", "password": "x", "remember": True}, ["body", "remember"]),
        ({"username": "ad\x00min", "password": "x"}, ["body", "username"]),
        ({"username": 5, "password": "x"}, ["body", "username"]),
    ],
)
async def test_login_invalid_body(client, session, body, loc):
    response = await client.post("/auth/login", json=body)
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert await count(session, LoginThrottle) == 0


# Login with the OAuth2 form (Swagger's Authorize button) ---------------------------------------------------


async def test_login_form(client):
    response = await client.post(
        "/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD, "grant_type": "password"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ACCESS_TTL
    users = await client.get("/api/users/", headers=bearer(body["access_token"]))
    assert users.status_code == 200
    assert users.json()["total"] == 0


async def test_login_form_without_grant_type(client):
    response = await client.post("/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200


async def test_login_form_wrong_password(client):
    response = await client.post("/auth/token", data={"username": "admin", "password": "wrong"})
    assert_unauthorized(response, "Incorrect username or password")


async def test_login_form_wrong_grant_type(client):
    response = await client.post(
        "/auth/token",
        data={"username": "admin", "password": ADMIN_PASSWORD, "grant_type": "client_credentials"},
    )
    assert response.status_code == 422
    assert ["body", "grant_type"] in [error["loc"] for error in response.json()["detail"]]


async def test_login_form_missing_password(client):
    response = await client.post("/auth/token", data={"username": "admin"})
    assert response.status_code == 422
    assert ["body", "password"] in [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize("username", ["a" * 65, "ad\x00min"])
async def test_login_form_invalid_username(lenient_client, username):
    response = await lenient_client.post("/auth/token", data={"username": username, "password": "x"})
    assert response.status_code == 422, response.text


# /auth/me ------------------------------------------------------------------------------------------------


async def test_read_me(client, admin_headers):
    response = await client.get("/auth/me", headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "username",
        "role",
        "is_active",
        "language",
        "password_changed_at",
        "telegram_id",
        "notify_support",
        "created_at",
        "updated_at",
    }
    assert (body["telegram_id"], body["notify_support"]) == (None, False)
    assert body["username"] == "admin"
    assert body["is_active"] is True
    assert body["role"] == "owner"  # ADMIN_USERNAME bootstraps the first owner


async def test_read_me_without_token(client):
    assert_unauthorized(await client.get("/auth/me"), "Not authenticated")


# Refresh -------------------------------------------------------------------------------------------------


async def test_refresh_rotates_tokens(client, tokens, session):
    response = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["token_type"] == "bearer"
    assert new["expires_in"] == ACCESS_TTL
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    # Same session, new pair: both work, and the old access token keeps working until it expires.
    assert session_id(new["access_token"]) == session_id(tokens["access_token"])
    assert (await client.get("/auth/me", headers=bearer(new["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
    again = await client.post("/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 200
    assert await count(session, AuthSession) == 1


async def test_refresh_reused_token_revokes_session(client, tokens, session):
    rotated = (await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    reuse = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_unauthorized(reuse, "Refresh token was already used; the session has been revoked")
    # The reuse means the token leaked: the whole session ends, the new tokens included.
    assert_unauthorized(await client.get("/auth/me", headers=bearer(rotated["access_token"])))
    assert_unauthorized(await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}))
    stored = await fresh(session, AuthSession, session_id(tokens["access_token"]))
    assert stored.revoked_at is not None


async def test_refresh_concurrent_same_token_only_one_wins(client, tokens):
    body = {"refresh_token": tokens["refresh_token"]}
    responses = await asyncio.gather(*(client.post("/auth/refresh", json=body) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 401]


async def test_refresh_other_sessions_unaffected_by_reuse(client, tokens):
    other = await issue_tokens()
    await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 200


async def test_refresh_with_access_token(client, tokens):
    response = await client.post("/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert_unauthorized(response)
    # The session survives a wrong-type token.
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_refresh_token_as_bearer(client, tokens):
    assert_unauthorized(await client.get("/auth/me", headers=bearer(tokens["refresh_token"])))
    assert_unauthorized(await client.get("/api/users/", headers=bearer(tokens["refresh_token"])))


@pytest.mark.parametrize("refresh_token", ["garbage", "a.b.c"])
async def test_refresh_garbage_token(client, refresh_token):
    assert_unauthorized(await client.post("/auth/refresh", json={"refresh_token": refresh_token}))


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": ""}, {"refresh_token": None}, {"refresh_token": "x", "extra": 1}]
)
async def test_refresh_invalid_body(client, body):
    assert (await client.post("/auth/refresh", json=body)).status_code == 422


async def test_refresh_expired_session(client, tokens, session):
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id(tokens["refresh_token"]))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    assert_unauthorized(
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        "Session has ended; log in again",
    )
    assert_unauthorized(await client.get("/auth/me", headers=bearer(tokens["access_token"])))


# Logout --------------------------------------------------------------------------------------------------


async def test_logout(client, tokens, session):
    response = await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    assert response.content == b""
    assert_unauthorized(await client.get("/auth/me", headers=bearer(tokens["access_token"])))
    assert_unauthorized(await client.get("/api/users/", headers=bearer(tokens["access_token"])))
    assert_unauthorized(await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}))
    assert (await fresh(session, AuthSession, session_id(tokens["access_token"]))).revoked_at is not None


async def test_logout_twice(client, tokens):
    assert (await client.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
    assert_unauthorized(await client.post("/auth/logout", headers=bearer(tokens["access_token"])))


async def test_logout_keeps_other_sessions(client, tokens):
    other = await issue_tokens()
    await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 200


async def test_logout_without_token(client):
    assert_unauthorized(await client.post("/auth/logout"), "Not authenticated")


# Bad tokens ----------------------------------------------------------------------------------------------


def _bad_tokens(access_token: str) -> dict[str, str]:
    return {
        "garbage": "not-a-jwt",
        "empty_segments": "..",
        "alg_none": forge(access_token, key="", algorithm="none"),
        "wrong_key": forge(access_token, key="another-secret-key-that-is-long-enough-000000"),
        "hs512": forge(access_token, algorithm="HS512"),
        "expired": forge(access_token, exp=int((utcnow() - timedelta(minutes=1)).timestamp())),
        "without_sid": forge(access_token, sid=None),
        "without_exp": forge(access_token, exp=None),
        "unknown_session": forge(access_token, sid=uuid.uuid4().hex),
        "refresh_type": forge(access_token, type="refresh"),
        "tampered": access_token[:-2] + ("AA" if not access_token.endswith("AA") else "BB"),
    }


BAD_TOKEN_KINDS = list(_bad_tokens(jwt.encode({"sid": "x"}, SECRET)).keys())


@pytest.mark.parametrize("kind", BAD_TOKEN_KINDS)
async def test_read_me_bad_token(client, tokens, kind):
    token = _bad_tokens(tokens["access_token"])[kind]
    assert_unauthorized(await client.get("/auth/me", headers=bearer(token)))


async def test_read_me_expired_token_says_expired(client, tokens):
    token = _bad_tokens(tokens["access_token"])["expired"]
    assert_unauthorized(await client.get("/auth/me", headers=bearer(token)), "Token has expired")


async def test_forged_token_still_valid_when_resigned_with_our_key(client, tokens):
    # Guard for the forge() helper itself: unchanged claims signed with our key are accepted.
    assert (await client.get("/auth/me", headers=bearer(forge(tokens["access_token"])))).status_code == 200


def retyped(value: object, kind: str) -> object:
    """The claim's value turned into another JSON type."""
    return {"str": str(value), "list": [value], "dict": {"value": value}, "int": 1, "bool": True}[kind]


# Each claim in a JSON type the token never carries, signed with our key: the signature holds, the token
# does not (PyJWT takes "exp": "9999999999" and any iat int() accepts, and leaves sid to us).
WRONG_TYPES = [
    ("exp", "str"),
    ("exp", "list"),
    ("exp", "bool"),
    ("iat", "str"),
    ("iat", "dict"),
    ("iat", "bool"),
    ("sid", "list"),
    ("sid", "int"),
    ("sid", "dict"),
    ("sub", "int"),
    ("sub", "list"),
    ("jti", "int"),
    ("jti", "list"),
    ("type", "list"),
    ("type", "int"),
]


@pytest.mark.parametrize(("claim", "kind"), WRONG_TYPES)
async def test_read_me_claim_of_wrong_type(lenient_client, tokens, claim, kind):
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    token = forge(tokens["access_token"], **{claim: retyped(claims[claim], kind)})
    assert_unauthorized(await lenient_client.get("/auth/me", headers=bearer(token)))


@pytest.mark.parametrize(("claim", "kind"), [("exp", "str"), ("sid", "list"), ("jti", "dict")])
async def test_refresh_claim_of_wrong_type(lenient_client, tokens, session, claim, kind):
    claims = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})
    token = forge(tokens["refresh_token"], **{claim: retyped(claims[claim], kind)})
    assert_unauthorized(await lenient_client.post("/auth/refresh", json={"refresh_token": token}))
    # Refused before it could rotate anything: the session's refresh token still works.
    stored = await fresh(session, AuthSession, claims["sid"])
    assert stored.current_refresh_jti == claims["jti"]
    assert stored.revoked_at is None


@pytest.mark.parametrize("path", ["/api/lessons/", "/api/courses/", "/api/lessons/{id}", "/api/courses/{id}"])
@pytest.mark.parametrize("kind", ["garbage", "expired", "alg_none"])
async def test_read_catalog_wrong_token_refused(client, session, tokens, path, kind):
    lesson = await create_lesson(session)
    token = _bad_tokens(tokens["access_token"])[kind]
    response = await client.get(path.format(id=lesson.id), headers=bearer(token))
    # Not silently served as anonymous: the caller meant to be an admin.
    assert_unauthorized(response)


async def test_read_catalog_revoked_token_refused(client, tokens):
    await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert_unauthorized(await client.get("/api/lessons/", headers=bearer(tokens["access_token"])))


async def test_read_users_non_bearer_scheme(client):
    response = await client.get("/api/users/", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert_unauthorized(response, "Not authenticated")
