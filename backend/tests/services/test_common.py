import pytest

from backend.services import common, user_service
from backend.tests.factories import create_user


@pytest.fixture
def count_limit(monkeypatch):
    """A total counted up to 3 rows past the offset, so that a handful of rows goes past it."""
    monkeypatch.setattr(common, "TOTAL_COUNT_LIMIT", 3)


@pytest.mark.usefixtures("count_limit")
@pytest.mark.parametrize(
    ("users", "offset", "expected"),
    [
        (3, 0, (3, True)),  # exactly at the limit: still exact
        (4, 0, (3, False)),  # one past it: a lower bound
        (7, 0, (3, False)),
        (7, 2, (5, False)),  # the limit counts from the offset, so later pages see further
        (7, 4, (7, True)),
        (7, 10, (7, True)),  # a page past the end still knows the total
    ],
)
async def test_paginate_counts_up_to_limit_past_offset(session, users, offset, expected):
    for _ in range(users):
        await create_user(session)

    page = await user_service.get_all(session, sort="id", limit=2, offset=offset)

    assert (page.total, page.total_exact) == expected
    assert len(page.items) == max(0, min(2, users - offset))


@pytest.mark.usefixtures("count_limit")
async def test_paginate_counts_only_matching_rows_up_to_limit(session):
    for n in range(6):
        await create_user(session, first_name="Anna" if n % 2 else "Boris")

    annas = await user_service.get_all(session, search="anna", sort="id", limit=10, offset=0)
    everyone = await user_service.get_all(session, sort="id", limit=10, offset=0)

    assert (annas.total, annas.total_exact, len(annas.items)) == (3, True, 3)
    assert (everyone.total, everyone.total_exact, len(everyone.items)) == (3, False, 6)
