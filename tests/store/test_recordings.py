"""The recordings store, on both databases: one row per session, replaced whole, gone with it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from config import Settings
from store.database import Database
from store.recordings import RecordingStore
from store.sessions import SessionStore
from store.users import UserStore

MANIFEST = {"session_id": "x", "state": "recording", "tracks": [{"name": "guest-audio"}]}


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = Database(Settings(database_url=database_url).resolved_database_url)
    try:
        yield opened
    finally:
        await opened.close()


async def new_session(database: Database) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, session id) of a new session."""
    user = await UserStore(database).create(
        email=f"{uuid.uuid4().hex}@example.com", password_hash="x", full_name=None
    )
    session = await SessionStore(database).create(
        user.id,
        vibe="The Jester",
        mode="Auto-Pilot",
        duration_minutes=5,
        video_url=None,
        metadata={},
    )
    return user.id, session.id


async def test_a_row_is_written_then_replaced_whole(database: Database) -> None:
    store = RecordingStore(database)
    _, session_id = await new_session(database)
    assert await store.get(session_id) is None
    assert await store.put(
        session_id, node_id="a", manifest=MANIFEST, files=["guest-audio.ogg"], mirrored=[]
    )
    first = await store.get(session_id)
    assert first is not None
    assert (first.node_id, first.manifest, first.files, first.mirrored) == (
        "a",
        MANIFEST,
        ["guest-audio.ogg"],
        [],
    )
    finalised = MANIFEST | {"state": "finalised", "outputs": {"video": "final/interview.mp4"}}
    files = ["final/interview.mp4", "guest-audio.ogg"]
    assert await store.put(session_id, node_id="b", manifest=finalised, files=files, mirrored=files)
    second = await store.get(session_id)
    assert second is not None
    assert (second.node_id, second.manifest, second.files, second.mirrored) == (
        "b",
        finalised,
        files,
        files,
    )
    assert second.updated_at >= first.updated_at
    assert second.updated_at.tzinfo is not None


async def test_a_deleted_session_takes_its_row_and_refuses_a_new_one(database: Database) -> None:
    store = RecordingStore(database)
    user_id, session_id = await new_session(database)
    await store.put(session_id, node_id="a", manifest=MANIFEST, files=[], mirrored=[])
    assert await SessionStore(database).delete_owned(session_id, user_id)
    assert await store.get(session_id) is None
    # A recorder still finishing the deleted session's files: nothing is listed, no error.
    assert not await store.put(session_id, node_id="a", manifest=MANIFEST, files=[], mirrored=[])
    assert await store.get(session_id) is None


async def test_listed_answers_for_many_sessions_at_once(database: Database) -> None:
    store = RecordingStore(database)
    sessions = [(await new_session(database))[1] for _ in range(3)]
    for session_id in sessions[:2]:
        await store.put(session_id, node_id="a", manifest=MANIFEST, files=[], mirrored=[])
    strangers = [uuid.uuid4() for _ in range(1200)]  # more than one `IN (...)` chunk
    assert await store.listed([*strangers, *sessions]) == set(sessions[:2])
    assert await store.listed([]) == set()
