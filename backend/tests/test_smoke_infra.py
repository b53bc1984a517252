from backend.tests.factories import create_lesson


async def test_read_lessons_anonymous_hides_content(client, session):
    await create_lesson(session, title="Paid", text_content="secret")
    response = await client.get("/api/lessons/")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    assert "text_content" not in body["items"][0]


async def test_read_users_as_admin(client, admin_headers):
    response = await client.get("/api/users/", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["total"] == 0
