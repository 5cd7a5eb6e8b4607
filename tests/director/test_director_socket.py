"""Director mode end to end: a live interview, directors steering it, on one node or two."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monumento.app import create_app
from store.database import Database
from store.director_notes import DirectorNoteStore
from store.users import UserStore
from tests.conftest import REDIS_URL, make_settings, register
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive
from tests.fakes.tls import local_tls
from tests.live_server import LiveServer, serve
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import new_session, socket_url

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NOTE = "Ask about the day she opened her bakery"


def director_url(server: LiveServer, session_id: str, token: str) -> str:
    return f"{server.ws}/api/v1/sessions/{session_id}/director?token={token}"


def server_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Any:
    return make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        interview_minute_seconds=12.0,
        **overrides,
    )


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    async with serve(create_app(server_settings(tmp_path, database_url))) as live:
        yield live


async def live_interview(server: LiveServer, **session: Any) -> tuple[GuestClient, str, str]:
    """A guest whose interview is live; returns (guest, token, session id)."""
    token, _, session_id = await new_session(server, mode="Director Mode", **session)
    guest = GuestClient(socket_url(server, session_id, token))
    await guest.join()
    await guest.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
    return guest, token, session_id


async def test_a_director_steers_the_offline_host_at_once(
    server: LiveServer, tmp_path: Path
) -> None:
    guest, token, session_id = await live_interview(server)
    director = GuestClient(director_url(server, session_id, token))
    try:
        await director.connect()
        so_far = await director.wait_for(lambda e: e["type"] == "transcript")
        assert so_far["role"] == "ai" and so_far["final"]  # the transcript so far, on connect
        await director.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        before = len(guest.events)
        await director.send({"type": "inject", "text": NOTE, "id": "note-1", "now": True})
        ack = await director.wait_for(lambda e: e["type"] == "ack")
        assert ack == {"type": "ack", "id": "note-1"}
        said = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "ai" and NOTE in e["text"],
            after=before,
        )
        mirrored = await director.wait_for(
            lambda e: e["type"] == "transcript" and NOTE in e["text"]
        )
        assert mirrored["relativeOffset"] == said["relativeOffset"]
        await director.send({"type": "topics", "topics": ["her apprenticeship"], "id": "t-1"})
        assert (await director.wait_for(lambda e: e.get("id") == "t-1"))["type"] == "ack"
        await guest.send({"type": "end"})
        await director.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
        await director.wait_for(lambda e: e["type"] == "_closed")
        assert director.close_code == 1000
    finally:
        await director.close()
        await guest.close()
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/monumento.db")
    try:
        notes = await DirectorNoteStore(database).all(uuid.UUID(session_id))
    finally:
        await database.close()
    assert [(note.kind, note.text, note.now) for note in notes] == [
        ("inject", NOTE, True),
        ("topics", "her apprenticeship", False),
    ]
    assert 0 < notes[0].relative_offset_ms <= said["relativeOffset"]


async def test_several_directors_watch_and_each_gets_only_its_own_acks(
    server: LiveServer,
) -> None:
    guest, token, session_id = await live_interview(server)
    first = GuestClient(director_url(server, session_id, token))
    second = GuestClient(director_url(server, session_id, token))
    try:
        await first.connect()
        await second.connect()
        for director in (first, second):
            await director.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        await first.send({"type": "inject", "text": NOTE, "id": "mine", "now": True})
        await first.wait_for(lambda e: e == {"type": "ack", "id": "mine"})
        for director in (first, second):
            await director.wait_for(lambda e: e["type"] == "transcript" and NOTE in e["text"])
        assert not [e for e in second.events if e["type"] == "ack"]
    finally:
        await first.close()
        await second.close()
        await guest.close()


async def test_bad_notes_and_bursts_are_refused_and_change_nothing(server: LiveServer) -> None:
    guest, token, session_id = await live_interview(server)
    director = GuestClient(director_url(server, session_id, token))
    try:
        await director.connect()
        cases = [
            ({"type": "inject", "text": "", "id": "a"}, "invalid_message"),
            ({"type": "inject", "text": "x" * 4001, "id": "b"}, "note_too_long"),
            ({"type": "inject", "text": "x", "now": "yes"}, "invalid_message"),
            ({"type": "topics", "topics": "one"}, "invalid_message"),
            ({"type": "shout"}, "unknown_type"),
        ]
        for message, code in cases:
            before = len(director.events)
            await director.send(message)
            error = await director.wait_for(lambda e: e["type"] == "error", after=before)
            assert error["code"] == code
        for n in range(11):
            await director.send({"type": "inject", "text": f"note {n}", "id": f"n{n}"})
        refused = await director.wait_for(lambda e: e.get("code") == "rate_limited")
        assert refused["id"] == "n10"
        acks = [e for e in director.events if e["type"] == "ack"]
        for n in range(10):
            await director.wait_for(lambda e, n=n: e == {"type": "ack", "id": f"n{n}"})
        assert len(acks) <= 10
        before = len(director.events)
        await director.send({"type": "ping"})
        await director.wait_for(lambda e: e["type"] == "pong", after=before)
    finally:
        await director.close()
        await guest.close()


async def test_who_may_direct(server: LiveServer, tmp_path: Path) -> None:
    guest, _, session_id = await live_interview(server)
    try:
        async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
            stranger = await register(http, "stranger@example.com")
            boss = await register(http, "boss@example.com")
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/monumento.db")
        try:
            assert await UserStore(database).set_role("boss@example.com", "director")
        finally:
            await database.close()
        async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
            boss = (
                await http.post(
                    "/auth/login",
                    json={"email": "boss@example.com", "password": "correct horse battery"},
                )
            ).json()
        for token, code, close in (
            (stranger["accessToken"], "not_found", 4404),
            ("bad-token", "unauthorized", 4401),
        ):
            refused = GuestClient(director_url(server, session_id, token))
            try:
                await refused.connect()
                assert (await refused.wait_for(lambda e: e["type"] == "error"))["code"] == code
                await refused.wait_for(lambda e: e["type"] == "_closed")
                assert refused.close_code == close
            finally:
                await refused.close()
        allowed = GuestClient(director_url(server, session_id, boss["accessToken"]))
        try:
            await allowed.connect()
            await allowed.wait_for(lambda e: e["type"] == "state")
        finally:
            await allowed.close()
    finally:
        await guest.close()


async def test_an_interview_that_is_not_live_cannot_be_directed(server: LiveServer) -> None:
    token, _, session_id = await new_session(server, mode="Director Mode")
    director = GuestClient(director_url(server, session_id, token))
    try:
        await director.connect()
        assert (await director.wait_for(lambda e: e["type"] == "error"))["code"] == "not_live"
        await director.wait_for(lambda e: e["type"] == "_closed")
        assert director.close_code == 4409
    finally:
        await director.close()


async def test_a_director_on_another_node_steers_through_redis(
    tmp_path: Path, database_url: str
) -> None:
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": prefix}
    node_a = create_app(server_settings(tmp_path, database_url, node_id="a", **shared))
    node_b = create_app(server_settings(tmp_path, database_url, node_id="b", **shared))
    async with serve(node_a) as a, serve(node_b) as b:
        guest, token, session_id = await live_interview(a)
        director = GuestClient(director_url(b, session_id, token))
        try:
            await director.connect()
            await director.wait_for(lambda e: e["type"] == "host")
            before = len(guest.events)
            await director.send({"type": "inject", "text": NOTE, "id": "far", "now": True})
            assert (await director.wait_for(lambda e: e["type"] == "ack")) == {
                "type": "ack",
                "id": "far",
            }
            await guest.wait_for(
                lambda e: e["type"] == "transcript" and NOTE in e["text"], after=before
            )
            await director.wait_for(lambda e: e["type"] == "transcript" and NOTE in e["text"])
            ticks = [e["elapsedMs"] for e in director.events if e["type"] == "state"]
            assert ticks == sorted(ticks) and len(ticks) >= 2  # in order across nodes
            await guest.send({"type": "end"})
            await director.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
        finally:
            await director.close()
            await guest.close()


async def test_a_note_reaches_the_gemini_host_as_client_content(
    tmp_path: Path, database_url: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(local_tls().cert_pem)
    async with FakeGeminiLive(FakeGeminiConfig(reply_seconds=1.0)) as gemini:
        settings = server_settings(
            tmp_path,
            database_url,
            gemini_api_key="test-key",
            gemini_base_url=gemini.base_url,
            gemini_ca_file=ca_file,
        )
        async with serve(create_app(settings)) as server:
            guest, token, session_id = await live_interview(server)
            director = GuestClient(director_url(server, session_id, token))
            try:
                await director.connect()
                await director.wait_for(lambda e: e["type"] == "state")
                before = len(guest.events)
                await director.send({"type": "inject", "text": NOTE, "id": "g", "now": True})
                await director.wait_for(lambda e: e["type"] == "ack")
                # The host's next words reflect the note (the fake appends it to its reply).
                await guest.wait_for(
                    lambda e: (
                        e["type"] == "transcript"
                        and e["role"] == "ai"
                        and e["final"]
                        and NOTE in e["text"]
                    ),
                    after=before,
                )
                contents = json.dumps(gemini.connections[0].client_contents)
                assert f"[Director] {NOTE}" in contents
            finally:
                await director.close()
                await guest.close()
