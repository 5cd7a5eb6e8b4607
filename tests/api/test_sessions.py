"""`/sessions` on both databases: shapes, paging, validation, updates and isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import bearer, register

NEW_SESSION = {
    "vibe": "The Historian",
    "mode": "Director Mode",
    "durationMinutes": 20,
    "metadata": {"topics": ["childhood", "first job"], "guestName": "Ada"},
}
SESSION_KEYS = {
    "id",
    "userId",
    "vibe",
    "mode",
    "durationMinutes",
    "duration",
    "status",
    "videoUrl",
    "transcriptUrl",
    "summary",
    "summaryGeneratedAt",
    "metadata",
    "createdAt",
    "updatedAt",
    "progress",
}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **changes: Any
) -> dict[str, Any]:
    response = await client.post("/sessions", json={**NEW_SESSION, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_returns_the_session_in_the_contracts_shape(
    client: httpx.AsyncClient, guest: dict[str, Any], guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers, videoUrl="https://cdn.example/v.mp4")
    assert set(session) == SESSION_KEYS
    assert session["userId"] == guest["user"]["id"]
    assert session["vibe"] == "The Historian"
    assert session["mode"] == "Director Mode"
    assert session["durationMinutes"] == session["duration"] == 20
    assert session["status"] == "created"
    assert session["videoUrl"] == "https://cdn.example/v.mp4"
    assert session["metadata"] == NEW_SESSION["metadata"]
    assert session["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    "vibe",
    ["The Historian", "The Celebrator", "The Journalist", "The Jester", "The Roast Master"],
)
async def test_every_vibe_is_accepted(
    client: httpx.AsyncClient, guest_headers: dict[str, str], vibe: str
) -> None:
    assert (await create(client, guest_headers, vibe=vibe))["vibe"] == vibe


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vibe": "The Poet"}, "vibe"),
        ({"vibe": None}, "vibe"),
        ({"mode": "Manual"}, "mode"),
        ({"durationMinutes": 15}, "durationMinutes"),
        ({"durationMinutes": "20"}, "durationMinutes"),
        ({"durationMinutes": True}, "durationMinutes"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"videoUrl": 5}, "videoUrl"),
    ],
)
async def test_create_rejects_bad_values_naming_the_field(
    client: httpx.AsyncClient, guest_headers: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/sessions", json={**NEW_SESSION, **changes}, headers=guest_headers
    )
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["code"] == "validation_error"


async def test_create_needs_vibe_mode_and_duration(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    response = await client.post("/sessions", json={}, headers=guest_headers)
    assert response.status_code == 400
    assert {problem["field"] for problem in response.json()["fields"]} == {
        "vibe",
        "mode",
        "durationMinutes",
    }


async def test_sessions_need_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/sessions")).status_code == 401
    assert (await client.post("/sessions", json=NEW_SESSION)).status_code == 401


async def test_list_is_a_spring_page_newest_first(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    ids = [(await create(client, guest_headers))["id"] for _ in range(3)]
    response = await client.get("/sessions", params={"page": 0, "size": 2}, headers=guest_headers)
    assert response.status_code == 200
    page = response.json()
    assert [session["id"] for session in page["content"]] == ids[::-1][:2]
    assert page["pageable"] == {
        "pageNumber": 0,
        "pageSize": 2,
        "offset": 0,
        "paged": True,
        "unpaged": False,
        "sort": {"empty": True, "sorted": False, "unsorted": True},
    }
    assert page["totalElements"] == 3
    assert page["totalPages"] == 2
    assert (page["first"], page["last"], page["empty"]) == (True, False, False)
    assert (page["number"], page["size"], page["numberOfElements"]) == (0, 2, 2)
    assert page["sort"] == {"empty": True, "sorted": False, "unsorted": True}
    second = (
        await client.get("/sessions", params={"page": 1, "size": 2}, headers=guest_headers)
    ).json()
    assert [session["id"] for session in second["content"]] == [ids[0]]
    assert (second["first"], second["last"], second["numberOfElements"]) == (False, True, 1)


async def test_list_defaults_to_page_zero_of_ten(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    page = (await client.get("/sessions", headers=guest_headers)).json()
    assert (page["number"], page["size"], page["empty"], page["totalPages"]) == (0, 10, True, 0)
    assert page["content"] == []


@pytest.mark.parametrize(
    ("params", "field"), [({"page": -1}, "page"), ({"size": 0}, "size"), ({"size": "x"}, "size")]
)
async def test_list_rejects_bad_paging(
    client: httpx.AsyncClient, guest_headers: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = await client.get("/sessions", params=params, headers=guest_headers)
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_get_put_and_patch(client: httpx.AsyncClient, guest_headers: dict[str, str]) -> None:
    session = await create(client, guest_headers)
    url = f"/sessions/{session['id']}"
    assert (await client.get(url, headers=guest_headers)).json() == session

    put = await client.put(
        url,
        json={"vibe": "The Jester", "durationMinutes": 60, "metadata": {"topics": ["jokes"]}},
        headers=guest_headers,
    )
    assert put.status_code == 200
    updated = put.json()
    assert (updated["vibe"], updated["duration"], updated["mode"]) == (
        "The Jester",
        60,
        "Director Mode",
    )
    assert updated["metadata"] == {"topics": ["jokes"]}  # PUT replaces the metadata
    assert updated["updatedAt"] >= session["updatedAt"]

    patch = await client.patch(
        url,
        json={"mode": "Auto-Pilot", "vibe": None, "summary": "A fine chat"},
        headers=guest_headers,
    )
    assert patch.status_code == 200
    assert (patch.json()["mode"], patch.json()["vibe"], patch.json()["summary"]) == (
        "Auto-Pilot",
        "The Jester",
        "A fine chat",
    )
    bad = await client.patch(url, json={"durationMinutes": 30}, headers=guest_headers)
    assert bad.status_code == 400
    assert bad.json()["field"] == "durationMinutes"
    bad_status = await client.put(url, json={"status": "paused"}, headers=guest_headers)
    assert bad_status.json()["field"] == "status"


async def test_metadata_patch_merges_at_the_top_level(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    response = await client.patch(
        f"/sessions/{session['id']}/metadata",
        json={"topics": ["new"], "context": {"tone": "warm"}},
        headers=guest_headers,
    )
    assert response.status_code == 200
    assert response.json()["metadata"] == {
        "topics": ["new"],
        "guestName": "Ada",
        "context": {"tone": "warm"},
    }
    not_object = await client.patch(
        f"/sessions/{session['id']}/metadata", json=["x"], headers=guest_headers
    )
    assert not_object.status_code == 400


async def test_delete_removes_the_session_and_its_messages(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    url = f"/sessions/{session['id']}"
    await client.post(f"{url}/messages", json={"role": "ai", "text": "Hi"}, headers=guest_headers)
    response = await client.delete(url, headers=guest_headers)
    assert response.status_code == 200
    assert "message" in response.json()
    assert (await client.get(url, headers=guest_headers)).status_code == 404
    assert (await client.get(f"{url}/messages", headers=guest_headers)).status_code == 404
    assert (await client.delete(url, headers=guest_headers)).status_code == 404


async def test_another_users_session_is_not_found_for_every_verb(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    other = bearer(await register(client))
    url = f"/sessions/{session['id']}"
    calls = [
        client.get(url, headers=other),
        client.put(url, json={"vibe": "The Jester"}, headers=other),
        client.patch(url, json={"vibe": "The Jester"}, headers=other),
        client.patch(f"{url}/metadata", json={"x": 1}, headers=other),
        client.delete(url, headers=other),
        client.get(f"{url}/messages", headers=other),
        client.post(f"{url}/messages", json={"role": "user", "text": "x"}, headers=other),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 404
        assert response.json() == {"error": "Session not found", "code": "not_found"}
    listed = (await client.get("/sessions", headers=other)).json()
    assert listed["totalElements"] == 0
    owner_view = (await client.get(url, headers=guest_headers)).json()
    assert owner_view == session


@pytest.mark.parametrize("session_id", ["not-a-uuid", str(uuid.uuid4())])
async def test_unknown_session_ids_are_404(
    client: httpx.AsyncClient, guest_headers: dict[str, str], session_id: str
) -> None:
    response = await client.get(f"/sessions/{session_id}", headers=guest_headers)
    assert response.status_code == 404


async def started(app: Starlette, session_id: str, status: str, **columns: Any) -> None:
    """What the engine does when an interview starts (and later moves it along)."""
    sessions = app.state.api.sessions
    assert await sessions.claim_start(uuid.UUID(session_id))
    await sessions.set_status(uuid.UUID(session_id), status, **columns)


async def test_a_ready_session_cannot_be_reopened_and_its_urls_stay(
    app: Starlette, client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    url = f"/sessions/{session['id']}"
    video, transcript = "https://media.example/v.mp4", "https://media.example/t.json"
    await started(app, session["id"], "ready", video_url=video, transcript_url=transcript)

    put = await client.put(
        url,
        json={
            "status": "created",
            "videoUrl": "https://evil.example/v.mp4",
            "transcriptUrl": "https://evil.example/t.json",
            "vibe": "The Jester",
        },
        headers=guest_headers,
    )
    assert put.status_code == 200
    body = put.json()
    assert (body["status"], body["videoUrl"], body["transcriptUrl"]) == ("ready", video, transcript)
    assert body["vibe"] == "The Jester"  # the other fields of the request still apply
    assert (await client.get(url, headers=guest_headers)).json() == body


async def test_a_live_sessions_video_url_is_the_servers(
    app: Starlette, client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers, videoUrl="https://cdn.example/mine.mp4")
    await started(app, session["id"], "live")
    patch = await client.patch(
        f"/sessions/{session['id']}",
        json={"videoUrl": "https://cdn.example/other.mp4", "status": "ready", "summary": "So far"},
        headers=guest_headers,
    )
    assert patch.status_code == 200
    body = patch.json()
    assert (body["status"], body["videoUrl"]) == ("live", "https://cdn.example/mine.mp4")
    assert body["summary"] == "So far"


async def test_before_the_interview_the_client_still_sets_status_and_urls(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    session = await create(client, guest_headers)
    url = f"/sessions/{session['id']}"
    changes = {
        "status": "ready",
        "videoUrl": "https://cdn.example/v.mp4",
        "transcriptUrl": "https://cdn.example/t.json",
    }
    put = await client.put(url, json=changes, headers=guest_headers)
    assert put.status_code == 200
    assert {key: put.json()[key] for key in changes} == changes
    back = await client.patch(url, json={"status": "created"}, headers=guest_headers)
    assert back.json()["status"] == "created"
