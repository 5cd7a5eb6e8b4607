"""The session recorder: it claims its folder once and never writes over a track file."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recorder.files import RecordingExistsError
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
