"""The panel's promo codes pages: list, form, deactivation, the purchases of a code, roles and bad input."""

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from backend.tests.panel.conftest import csrf_of
from backend.tests.panel.test_pages import assert_no_inline_code
from shared.constants import AdminRole, PurchaseStatus
from shared.models import PromoCode

SignInAs = Callable[[AdminRole], Awaitable[httpx.AsyncClient]]


async def token(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/admin/promo-codes/new")).text)


async def stored(session: AsyncSession, code: str) -> PromoCode | None:
    return await session.scalar(
        select(PromoCode).where(PromoCode.code == code).execution_options(populate_existing=True)
    )


def form(csrf: str, **changes: str) -> dict[str, str]:
    values = {
        "csrf_token": csrf,
        "code": "spring25",
        "discount_kind": "percent",
        "discount": "25",
        "max_uses": "10",
        "expires_at": "2031-05-01T12:30",
        "is_active": "true",
    }
    return values | changes


async def test_list_promo_codes(signed_in: httpx.AsyncClient, session: AsyncSession):
    await create_promo_code(session, code="LIMITED", max_uses=10, current_uses=3)
    await create_promo_code(session, code="FLAT", discount_percent=0, discount_amount=40)
    await create_promo_code(session, code="OLD", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    await create_promo_code(session, code="OFF", is_active=False)

    page = await signed_in.get("/admin/promo-codes")
    assert page.status_code == 200
    assert_no_inline_code(page.text)
    rows = dict(re.findall(r"<code>(\w+)</code></a></td>(.*?)</tr>", page.text, re.S))
    assert set(rows) == {"LIMITED", "FLAT", "OLD", "OFF"}
    assert "3 / 10" in rows["LIMITED"]
    assert "10 %" in rows["LIMITED"]
    assert "Usable" in rows["LIMITED"]
    assert "40 ⭐" in rows["FLAT"]
    assert "0 / no limit" in rows["FLAT"]
    assert "2020-01-01 00:00 UTC" in rows["OLD"]
    assert "Expired" in rows["OLD"]
    assert "Deactivated" in rows["OFF"]

    active = await signed_in.get("/admin/promo-codes", params={"is_active": "false"})
    assert "<code>OFF</code>" in active.text
    assert "<code>FLAT</code>" not in active.text
    found = await signed_in.get("/admin/promo-codes", params={"q": "lim"})
    assert found.text.count('data-testid="promo-row"') == 1
    by_code = await signed_in.get("/admin/promo-codes", params={"sort": "code"})
    assert by_code.text.index("<code>FLAT</code>") < by_code.text.index("<code>OLD</code>")


async def test_list_promo_codes_pages(signed_in: httpx.AsyncClient, session: AsyncSession):
    for n in range(52):
        await create_promo_code(session, code=f"PAGE{n:02d}")
    second = await signed_in.get("/admin/promo-codes", params={"sort": "code", "offset": 50})
    assert second.text.count('data-testid="promo-row"') == 2
    assert "51–52 of 52" in second.text


@pytest.mark.parametrize("params", [{"sort": "discount"}, {"offset": "-5"}, {"is_active": "1"}])
async def test_list_promo_codes_bad_query_is_422(signed_in: httpx.AsyncClient, params: dict[str, str]):
    assert (await signed_in.get("/admin/promo-codes", params=params)).status_code == 422


async def test_create_promo_code(signed_in: httpx.AsyncClient, session: AsyncSession):
    response = await signed_in.post("/admin/promo-codes/new", data=form(await token(signed_in)))
    assert response.status_code == 303
    promo = await stored(session, "SPRING25")
    assert promo is not None
    assert (promo.discount_percent, promo.discount_amount, promo.max_uses, promo.is_active) == (
        25,
        None,
        10,
        True,
    )
    assert promo.expires_at is not None
    assert promo.expires_at.replace(tzinfo=UTC) == datetime(2031, 5, 1, 12, 30, tzinfo=UTC)
    assert response.headers["location"] == f"/admin/promo-codes/{promo.id}"
    page = await signed_in.get(response.headers["location"])
    assert "The promo code is created." in page.text
    assert "0 / 10" in page.text


async def test_create_promo_code_in_stars_without_limits(signed_in: httpx.AsyncClient, session: AsyncSession):
    data = form(
        await token(signed_in),
        code="FLAT50",
        discount_kind="amount",
        discount="50",
        max_uses="",
        expires_at="",
    )
    del data["is_active"]
    assert (await signed_in.post("/admin/promo-codes/new", data=data)).status_code == 303
    promo = await stored(session, "FLAT50")
    assert promo is not None
    assert (promo.discount_percent, promo.discount_amount, promo.max_uses, promo.expires_at) == (
        0,
        50,
        None,
        None,
    )
    assert promo.is_active is False


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"code": "a!"}, "code", None),
        ({"code": ""}, "code", None),
        ({"discount": ""}, "discount", "Enter a percentage from 1 to 100, or a number of Stars."),
        ({"discount": "0"}, "discount", "Enter a percentage from 1 to 100, or a number of Stars."),
        ({"discount": "150"}, "discount", "Enter a number of at most 100."),
        ({"discount": "ten"}, "discount", "Enter a whole number."),
        ({"discount_kind": "amount", "discount": "0"}, "discount", None),
        ({"discount_kind": "bogus"}, "discount_kind", None),
        ({"max_uses": "0"}, "max_uses", None),
        ({"max_uses": "lots"}, "max_uses", "Enter a whole number."),
        ({"expires_at": "next week"}, "expires_at", None),
    ],
)
async def test_create_promo_code_bad_input_beside_field(
    signed_in: httpx.AsyncClient,
    session: AsyncSession,
    changes: dict[str, str],
    field: str,
    message: str | None,
):
    data = form(await token(signed_in), **changes)
    response = await signed_in.post("/admin/promo-codes/new", data=data)
    assert response.status_code == 422
    error = re.search(rf'data-testid="error-{field}">([^<]+)<', response.text)
    assert error is not None, response.text
    if message is not None:
        assert error.group(1) == message
    for name in ("discount", "max_uses", "expires_at"):
        assert f'value="{data[name]}"' in response.text
    assert await session.scalar(select(PromoCode.id)) is None


async def test_create_duplicate_promo_code_beside_field(signed_in: httpx.AsyncClient, session: AsyncSession):
    await create_promo_code(session, code="SPRING25")
    response = await signed_in.post(
        "/admin/promo-codes/new", data=form(await token(signed_in), code="Spring25")
    )
    assert response.status_code == 422
    assert re.search(r'data-testid="error-code">Another promo code already has this text', response.text)
    assert 'value="Spring25"' in response.text


async def test_edit_promo_code(signed_in: httpx.AsyncClient, session: AsyncSession):
    promo = await create_promo_code(session, code="EDITME", discount_percent=10, max_uses=5, current_uses=2)
    page = await signed_in.get(f"/admin/promo-codes/{promo.id}/edit")
    assert page.status_code == 200
    assert 'value="EDITME"' in page.text
    assert 'value="10"' in page.text
    response = await signed_in.post(
        f"/admin/promo-codes/{promo.id}/edit",
        data=form(csrf_of(page.text), code="edited", discount_kind="amount", discount="30", expires_at=""),
    )
    assert response.status_code == 303
    edited = await stored(session, "EDITED")
    assert edited is not None
    assert edited.id == promo.id
    assert (edited.discount_percent, edited.discount_amount, edited.max_uses, edited.expires_at) == (
        0,
        30,
        10,
        None,
    )


async def test_edit_promo_code_errors_beside_fields(signed_in: httpx.AsyncClient, session: AsyncSession):
    await create_promo_code(session, code="TAKEN")
    promo = await create_promo_code(session, code="MINE", max_uses=5, current_uses=4)
    csrf = await token(signed_in)
    duplicate = await signed_in.post(f"/admin/promo-codes/{promo.id}/edit", data=form(csrf, code="taken"))
    assert duplicate.status_code == 422
    assert 'data-testid="error-code"' in duplicate.text
    assert 'value="taken"' in duplicate.text
    below_uses = await signed_in.post(
        f"/admin/promo-codes/{promo.id}/edit", data=form(csrf, code="MINE", max_uses="3")
    )
    assert below_uses.status_code == 422
    assert re.search(
        r'data-testid="error-max_uses">max_uses cannot be lower than the 4 uses', below_uses.text
    )
    unchanged = await stored(session, "MINE")
    assert unchanged is not None
    assert unchanged.max_uses == 5
    assert unchanged.discount_percent == 10


async def test_deactivate_promo_code(signed_in: httpx.AsyncClient, session: AsyncSession):
    promo = await create_promo_code(session, code="STOPME")
    page = await signed_in.get(f"/admin/promo-codes/{promo.id}")
    assert 'data-confirm="Deactivate the promo code STOPME?' in page.text
    response = await signed_in.post(
        f"/admin/promo-codes/{promo.id}/deactivate", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    deactivated = await stored(session, "STOPME")
    assert deactivated is not None
    assert deactivated.is_active is False
    after = await signed_in.get(f"/admin/promo-codes/{promo.id}")
    assert 'data-testid="deactivate"' not in after.text
    assert "Deactivated" in after.text


async def test_promo_code_page_lists_its_purchases(signed_in: httpx.AsyncClient, session: AsyncSession):
    promo, other = await create_promo_code(session, code="USED"), await create_promo_code(session)
    student = await create_user(session)
    lesson = await create_lesson(session, title="Lesson <one>")
    course = await create_course(session, title="Course two")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    await create_purchase(session, student, lesson, promo_code_id=promo.id, amount=90, created_at=base)
    await create_purchase(
        session,
        student,
        course,
        promo_code_id=promo.id,
        amount=450,
        status=PurchaseStatus.REFUNDED,
        created_at=base + timedelta(days=1),
    )
    await create_purchase(
        session, student, await create_lesson(session, title="Not this"), promo_code_id=other.id
    )

    page = await signed_in.get(f"/admin/promo-codes/{promo.id}")
    assert page.status_code == 200
    assert_no_inline_code(page.text)
    rows = re.findall(r'<tr data-testid="promo-purchase">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 2
    assert "Course two" in rows[0]
    assert "450 ⭐" in rows[0]
    assert "Refunded" in rows[0]
    assert "Lesson &lt;one&gt;" in rows[1]
    assert "90 ⭐" in rows[1]
    assert "Completed" in rows[1]
    assert f'href="/admin/students/{student.id}"' in rows[0]
    assert "Not this" not in page.text


async def test_promo_code_purchases_pages(signed_in: httpx.AsyncClient, session: AsyncSession):
    promo = await create_promo_code(session)
    student, lesson = await create_user(session), await create_lesson(session)
    for _ in range(51):
        await create_purchase(session, student, lesson, promo_code_id=promo.id)
    first = await signed_in.get(f"/admin/promo-codes/{promo.id}")
    assert first.text.count('data-testid="promo-purchase"') == 50
    second = await signed_in.get(f"/admin/promo-codes/{promo.id}", params={"offset": 50})
    assert second.text.count('data-testid="promo-purchase"') == 1
    assert "51–51 of 51" in second.text


ROUTES = [
    ("GET", "/admin/promo-codes"),
    ("GET", "/admin/promo-codes/new"),
    ("POST", "/admin/promo-codes/new"),
    ("GET", "/admin/promo-codes/{id}"),
    ("GET", "/admin/promo-codes/{id}/edit"),
    ("POST", "/admin/promo-codes/{id}/edit"),
    ("POST", "/admin/promo-codes/{id}/deactivate"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_support_cannot_use_promo_codes(
    signed_in_as: SignInAs, session: AsyncSession, method: str, path: str
):
    promo = await create_promo_code(session, code="GUARDED")
    client = await signed_in_as(AdminRole.SUPPORT)
    csrf = csrf_of((await client.get("/admin")).text)
    response = await client.request(
        method, path.format(id=promo.id), data=form(csrf, code="HACKED") if method == "POST" else None
    )
    assert response.status_code == 403
    unchanged = await stored(session, "GUARDED")
    assert unchanged is not None
    assert unchanged.is_active is True
    assert await stored(session, "HACKED") is None


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]])
async def test_unknown_promo_code_is_404(signed_in: httpx.AsyncClient, method: str, path: str):
    csrf = await token(signed_in)
    for promo_id in ("99999", "abc", "-1"):
        url = path.format(id=promo_id)
        response = await signed_in.request(method, url, data=form(csrf) if method == "POST" else None)
        assert response.status_code == 404, url
        assert "Page not found" in response.text


async def test_promo_code_detail_bad_offset_is_422(signed_in: httpx.AsyncClient, session: AsyncSession):
    promo = await create_promo_code(session)
    assert (await signed_in.get(f"/admin/promo-codes/{promo.id}", params={"offset": "x"})).status_code == 422


async def test_promo_codes_in_russian(signed_in: httpx.AsyncClient, session: AsyncSession):
    await create_promo_code(session, max_uses=3)
    page = await signed_in.get("/admin/promo-codes", headers={"Accept-Language": "ru"})
    assert "Промокоды" in page.text
    assert "0 / 3" in page.text
