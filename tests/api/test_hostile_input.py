"""Hostile bodies on both databases: each gets a 4xx naming the problem, nothing is stored,
and the user's lists stay readable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Message

from api.bodies import MAX_BODY_BYTES, read_capped_body
from api.errors import ApiError
from api.schemas import MAX_METADATA_BYTES, MAX_SAFE_INTEGER
from tests.api.test_media import context
from tests.api.test_sessions import NEW_SESSION, create

JSON = {"Content-Type": "application/json"}


def deep(levels: int) -> Any:
    document: Any = 1
    for _ in range(levels):
        document = {"a": document}
    return document


async def test_deep_nesting_on_login_is_400_not_a_recursion_error(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"email": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await client.post("/auth/login", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "json_too_deep"


async def test_nan_and_nul_are_refused_before_the_database_sees_them(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    for value in (b"NaN", b'"a\\u0000b"', b'"\\ud800"'):
        body = b'{"vibe": "The Jester", "mode": "Auto-Pilot", "durationMinutes": 5, '
        body += b'"metadata": {"x": ' + value + b"}}"
        response = await client.post("/sessions", content=body, headers=guest_headers | JSON)
        assert response.status_code == 400, value
        assert response.json()["code"] == "invalid_json_value"
    listed = await client.get("/sessions", headers=guest_headers)
    assert listed.json()["totalElements"] == 0


async def test_deep_session_metadata_is_refused_and_nothing_is_saved(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/sessions", json={**NEW_SESSION, "metadata": deep(900)}, headers=guest_headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "json_too_deep"
    listed = await client.get("/sessions", headers=guest_headers)
    assert listed.status_code == 200
    assert listed.json()["totalElements"] == 0


async def test_deep_metadata_in_an_update_or_a_message_is_400_and_changes_nothing(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    response = await client.put(
        f"/sessions/{session['id']}", json={"metadata": deep(40)}, headers=guest_headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "json_too_deep"
    kept = await client.get(f"/sessions/{session['id']}", headers=guest_headers)
    assert kept.json()["metadata"] == NEW_SESSION["metadata"]
    message = await client.post(
        f"/sessions/{session['id']}/messages",
        json={"role": "user", "text": "hi", "metadata": deep(40)},
        headers=guest_headers,
    )
    assert message.status_code == 400
    assert (
        await client.get(f"/sessions/{session['id']}/messages", headers=guest_headers)
    ).json() == []


async def test_oversized_metadata_is_400_and_a_merge_cannot_grow_it_past_the_limit(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    too_big = {"blob": "x" * MAX_METADATA_BYTES}
    refused = await client.post(
        "/sessions", json={**NEW_SESSION, "metadata": too_big}, headers=guest_headers
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "metadata"
    session = await create(client, guest_headers, metadata={})
    half = "x" * (MAX_METADATA_BYTES // 2)
    path = f"/sessions/{session['id']}/metadata"
    first = await client.patch(path, json={"a": half}, headers=guest_headers)
    assert first.status_code == 200
    second = await client.patch(path, json={"b": half}, headers=guest_headers)
    assert second.status_code == 400
    assert second.json()["code"] == "metadata_too_large"
    kept = await client.get(f"/sessions/{session['id']}", headers=guest_headers)
    assert set(kept.json()["metadata"]) == {"a"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("relativeOffset", 10**30), ("relativeOffset", MAX_SAFE_INTEGER + 1), ("relativeOffset", -1)],
)
async def test_integers_past_the_bounds_are_400(
    client: httpx.AsyncClient, guest_headers: dict[str, str], field: str, value: int
) -> None:
    session = await create(client, guest_headers)
    response = await client.post(
        f"/sessions/{session['id']}/messages",
        json={"role": "user", "text": "hi", field: value},
        headers=guest_headers,
    )
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_the_largest_safe_offset_is_stored_and_read_back(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    response = await client.post(
        f"/sessions/{session['id']}/messages",
        json={"role": "user", "text": "hi", "relativeOffset": MAX_SAFE_INTEGER},
        headers=guest_headers,
    )
    assert response.status_code == 201
    assert response.json()["relativeOffset"] == MAX_SAFE_INTEGER


@pytest.mark.parametrize("page", ["100000000000000000000", "1000001", "-1", "1e3"])
async def test_a_page_past_the_bound_is_400(
    client: httpx.AsyncClient, guest_headers: dict[str, str], page: str
) -> None:
    response = await client.get("/sessions", params={"page": page}, headers=guest_headers)
    assert response.status_code == 400
    assert response.json()["field"] == "page"


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("videoUrl", "javascript:alert(1)"),
        ("transcriptUrl", "file:///etc/passwd"),
        ("videoUrl", "data:text/html,<script>alert(1)</script>"),
        ("videoUrl", "/relative/path.mp4"),
        ("videoUrl", "https:no-host"),
    ],
)
async def test_url_fields_take_only_http_and_https(
    client: httpx.AsyncClient, guest_headers: dict[str, str], field: str, url: str
) -> None:
    session = await create(client, guest_headers)
    response = await client.put(
        f"/sessions/{session['id']}", json={field: url}, headers=guest_headers
    )
    assert response.status_code == 400
    assert response.json()["field"] == field
    created = await client.post(
        "/sessions", json={**NEW_SESSION, "videoUrl": "javascript:1"}, headers=guest_headers
    )
    assert created.status_code == 400


async def test_a_row_stored_before_the_limits_does_not_fail_the_list(
    app: Starlette, client: httpx.AsyncClient, guest: dict[str, Any], guest_headers: dict[str, str]
) -> None:
    user_id = uuid.UUID(guest["user"]["id"])
    sessions = context(app).sessions
    await create(client, guest_headers)
    await sessions.create(
        user_id,
        vibe="The Jester",
        mode="Auto-Pilot",
        duration_minutes=5,
        video_url=None,
        metadata=deep(600),
    )
    listed = await client.get("/sessions", headers=guest_headers)
    assert listed.status_code == 200
    assert listed.json()["totalElements"] == 2
    assert sorted(len(row["metadata"]) for row in listed.json()["content"]) == [0, 2]


async def test_a_declared_content_length_over_the_cap_is_refused_before_a_byte_is_read() -> None:
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x", "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-length", str(100 * 1024 * 1024).encode())],
    }
    with pytest.raises(ApiError) as refused:
        await read_capped_body(Request(scope, receive))
    assert refused.value.status_code == 413
    assert reads == 0


async def test_a_chunked_body_stops_being_read_at_the_cap(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"email": "'
        for _ in range(100):  # 100 MiB if it were all read
            sent += 1
            yield b"a" * (1 << 20)

    response = await client.post("/auth/login", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert sent <= MAX_BODY_BYTES // (1 << 20) + 2
