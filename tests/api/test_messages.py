"""`/sessions/{id}/messages` on both databases."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.api.test_sessions import create
from tests.conftest import bearer, register

MESSAGE_KEYS = {
    "id",
    "sessionId",
    "role",
    "text",
    "timestamp",
    "relativeOffset",
    "audioUrl",
    "metadata",
}


@pytest.fixture
async def session_url(client: httpx.AsyncClient, guest_headers: dict[str, str]) -> str:
    return f"/sessions/{(await create(client, guest_headers))['id']}"


async def post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(f"{url}/messages", json=body, headers=headers)
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    return message


async def test_post_returns_the_message_and_keeps_its_metadata(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_url: str
) -> None:
    before = int(time.time() * 1000)
    message = await post(
        client,
        session_url,
        guest_headers,
        role="ai",
        text="Tell me about your first day.",
        relativeOffset=1500,
        audioUrl="https://cdn.example/a.ogg",
        metadata={"confidence": 0.9, "speaker": "host"},
    )
    assert set(message) == MESSAGE_KEYS
    assert message["sessionId"] == session_url.rsplit("/", 1)[1]
    assert (message["role"], message["text"], message["relativeOffset"]) == (
        "ai",
        "Tell me about your first day.",
        1500,
    )
    assert message["metadata"] == {"confidence": 0.9, "speaker": "host"}
    assert isinstance(message["timestamp"], int)
    assert before - 1000 <= message["timestamp"] <= int(time.time() * 1000) + 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "host", "text": "x"}, "role"),
        ({"role": "user"}, "text"),
        ({"role": "user", "text": ""}, "text"),
        ({"role": "user", "text": "x", "relativeOffset": -5}, "relativeOffset"),
        ({"role": "user", "text": "x", "relativeOffset": "soon"}, "relativeOffset"),
        ({"role": "user", "text": "x", "metadata": "flat"}, "metadata"),
    ],
)
async def test_post_rejects_bad_fields(
    client: httpx.AsyncClient,
    guest_headers: dict[str, str],
    session_url: str,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(f"{session_url}/messages", json=body, headers=guest_headers)
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_list_is_oldest_first_and_pages_on_request(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_url: str
) -> None:
    texts = [f"line {n}" for n in range(5)]
    for n, text in enumerate(texts):
        await post(
            client,
            session_url,
            guest_headers,
            role="user" if n % 2 else "ai",
            text=text,
            relativeOffset=n * 1000,
        )
    listed = (await client.get(f"{session_url}/messages", headers=guest_headers)).json()
    assert [message["text"] for message in listed] == texts
    assert [message["relativeOffset"] for message in listed] == [0, 1000, 2000, 3000, 4000]
    page = (
        await client.get(
            f"{session_url}/messages",
            params={"paged": "true", "page": 1, "size": 2},
            headers=guest_headers,
        )
    ).json()
    assert [message["text"] for message in page["content"]] == texts[2:4]
    assert (page["totalElements"], page["totalPages"], page["number"]) == (5, 3, 1)


async def test_put_applies_only_non_null_fields(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_url: str
) -> None:
    message = await post(
        client,
        session_url,
        guest_headers,
        role="user",
        text="helo",
        relativeOffset=10,
        metadata={"a": 1},
    )
    url = f"{session_url}/messages/{message['id']}"
    response = await client.put(
        url,
        json={"text": "hello", "relativeOffset": None, "metadata": {"b": 2}},
        headers=guest_headers,
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["text"], updated["relativeOffset"], updated["metadata"]) == (
        "hello",
        10,
        {"b": 2},
    )
    assert updated["timestamp"] == message["timestamp"]
    unchanged = await client.put(url, json={}, headers=guest_headers)
    assert unchanged.json() == updated


async def test_a_message_of_another_session_is_404(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_url: str
) -> None:
    other_session = f"/sessions/{(await create(client, guest_headers))['id']}"
    message = await post(client, other_session, guest_headers, role="user", text="elsewhere")
    for url in (
        f"{session_url}/messages/{message['id']}",
        f"{session_url}/messages/{uuid.uuid4()}",
        f"{session_url}/messages/not-a-uuid",
    ):
        put = await client.put(url, json={"text": "x"}, headers=guest_headers)
        assert put.status_code == 404
        assert put.json()["code"] == "not_found"
        assert (await client.delete(url, headers=guest_headers)).status_code == 404


async def test_delete_removes_the_message(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_url: str
) -> None:
    message = await post(client, session_url, guest_headers, role="ai", text="bye")
    response = await client.delete(f"{session_url}/messages/{message['id']}", headers=guest_headers)
    assert response.status_code == 200
    assert "message" in response.json()
    assert (await client.get(f"{session_url}/messages", headers=guest_headers)).json() == []


async def test_another_user_cannot_touch_the_messages(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_url: str
) -> None:
    message = await post(client, session_url, guest_headers, role="ai", text="private")
    other = bearer(await register(client))
    url = f"{session_url}/messages/{message['id']}"
    assert (await client.put(url, json={"text": "x"}, headers=other)).status_code == 404
    assert (await client.delete(url, headers=other)).status_code == 404
    listed = (await client.get(f"{session_url}/messages", headers=guest_headers)).json()
    assert [m["text"] for m in listed] == ["private"]
