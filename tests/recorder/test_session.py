"""The session recorder: it claims its folder once and never writes over a track file."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recorder.files import RecordingExistsError
from recorder.manifest import read_manifest
from recorder.session import OPUS_SILENCE, SessionRecorder


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1, thread_name_prefix="recorder") as pool:
        yield pool


async def test_a_folder_with_a_recording_is_not_recorded_into(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "guest-audio.ogg").write_bytes(b"OggS the first interview")
    recorder = SessionRecorder(folder, "session", executor)
    with pytest.raises(RecordingExistsError):
        await recorder.open()
    assert [path.name for path in folder.iterdir()] == ["guest-audio.ogg"]
    assert (folder / "guest-audio.ogg").read_bytes() == b"OggS the first interview"


async def test_an_existing_track_file_is_refused_not_truncated(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    recorder = SessionRecorder(tmp_path / "session", "session", executor)
    await recorder.open()
    track = recorder.folder / "guest-audio.ogg"
    track.write_bytes(b"OggS put there behind the recorder's back")
    for index in range(5):
        recorder.guest_audio.add(index * 960, OPUS_SILENCE, index * 0.02 + 0.02)
    with pytest.raises(RecordingExistsError):
        await recorder.flush()
    assert track.read_bytes() == b"OggS put there behind the recorder's back"


async def test_an_opened_recorder_writes_its_tracks(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    recorder = SessionRecorder(tmp_path / "session", "session", executor)
    await recorder.open()
    for index in range(5):
        recorder.guest_audio.add(index * 960, OPUS_SILENCE, index * 0.02 + 0.02)
    await recorder.close()
    assert recorder.manifest.state == "complete"
    assert (recorder.folder / "guest-audio.ogg").read_bytes().startswith(b"OggS")


async def test_on_change_hears_of_each_new_track_and_of_the_end(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    """The catalog republishes the manifest on each call, so every version must be told."""
    seen: list[tuple[str, list[str]]] = []

    async def changed() -> None:
        manifest = read_manifest(recorder.folder)
        assert manifest is not None  # on disk before anyone hears of it
        seen.append((manifest.state, [track.name for track in manifest.tracks]))

    recorder = SessionRecorder(tmp_path / "session", "session", executor, on_change=changed)
    await recorder.open()
    await recorder.flush()  # nothing recorded yet: nothing to tell
    assert seen == []
    recorder.guest_audio.add(0, OPUS_SILENCE, 0.02)
    await recorder.flush()
    recorder.guest_audio.add(960, OPUS_SILENCE, 0.04)
    await recorder.flush()  # the same track grew: the manifest did not change
    recorder.host_audio.add(bytes(1920), 0.04)
    await recorder.close()
    assert seen == [
        ("recording", ["guest-audio"]),
        ("recording", ["guest-audio", "host-audio"]),
        ("complete", ["guest-audio", "host-audio"]),
    ]
