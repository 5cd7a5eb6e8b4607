"""The recording catalog on both databases: a node publishes its recording, any node finds it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config import Settings
from media.catalog import RecordingCatalog
from recorder.manifest import read_manifest, session_media_dir
from store.database import Database
from store.recordings import RecordingStore
from tests.media.test_storage import local_storage, make_recording
from tests.store.test_recordings import new_session

FINISHED = {  # make_recording's finished tracks and listed outputs (not the growing video)
    "guest-audio.ogg",
    "host-audio.wav",
    "final/interview.mp4",
    "final/mix.m4a",
}


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = Database(Settings(database_url=database_url).resolved_database_url)
    try:
        yield opened
    finally:
        await opened.close()


def node(database: Database, data_dir: Path, node_id: str) -> RecordingCatalog:
    return RecordingCatalog(RecordingStore(database), local_storage(data_dir), node_id)


async def test_another_node_finds_what_the_recording_node_published(
    database: Database, tmp_path: Path
) -> None:
    a, b = node(database, tmp_path / "a", "a"), node(database, tmp_path / "b", "b")
    _, session_id = await new_session(database)
    folder = make_recording(tmp_path / "a", session_id)
    assert await b.find(session_id) is None  # not published yet

    await a.publish(session_id)
    there = await b.find(session_id)
    assert there is not None
    assert there.manifest == read_manifest(folder)
    assert (there.files, there.mirrored, there.node_id) == (FINISHED, frozenset(), "a")
    here = await a.find(session_id)  # the recording node reads its own disk
    assert here is not None
    assert (here.manifest, here.files, here.node_id) == (there.manifest, FINISHED, None)


async def test_a_folder_without_a_recording_is_not_published(
    database: Database, tmp_path: Path
) -> None:
    a, b = node(database, tmp_path / "a", "a"), node(database, tmp_path / "b", "b")
    _, session_id = await new_session(database)
    session_media_dir(tmp_path / "a", session_id).mkdir(parents=True)  # claimed, nothing yet
    await a.publish(session_id)
    assert await a.find(session_id) is None
    assert await b.find(session_id) is None


async def test_backfill_publishes_the_recordings_made_before_the_catalog(
    database: Database, tmp_path: Path
) -> None:
    a, b = node(database, tmp_path / "a", "a"), node(database, tmp_path / "b", "b")
    old = [(await new_session(database))[1] for _ in range(2)]
    for session_id in old:
        make_recording(tmp_path / "a", session_id)
    (tmp_path / "a" / "media" / "not-a-session").mkdir()
    assert await b.find(old[0]) is None
    assert await a.backfill(tmp_path / "a" / "media") == 2
    for session_id in old:
        found = await b.find(session_id)
        assert found is not None and found.files == FINISHED
    assert await a.backfill(tmp_path / "a" / "media") == 0  # listed once, not at every start
    assert await b.backfill(tmp_path / "b" / "media") == 0  # no folder at all


async def test_a_database_that_does_not_answer_never_stops_a_recording(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        catalog = node(unreachable, tmp_path, "a")
        session_id = uuid.uuid4()
        make_recording(tmp_path, session_id)
        with caplog.at_level(logging.ERROR, logger="media.catalog"):
            await catalog.publish(session_id)  # no exception
        assert f"the recording of {session_id} is not listed" in caplog.text
        found = await catalog.find(session_id)  # this node still reads its own disk
        assert found is not None and found.files == FINISHED
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="media.catalog"):
            assert await catalog.backfill(tmp_path / "media") == 0  # the node still starts
        assert "were not checked for listing" in caplog.text
    finally:
        await unreachable.close()
