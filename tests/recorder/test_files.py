"""A recording is written once: files created exclusively, outputs published without replacing."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.files import (
    RecordingExistsError,
    claim_folder,
    create_new,
    new_temporary,
    publish,
)


def test_an_existing_file_is_never_opened_for_writing(tmp_path: Path) -> None:
    track = tmp_path / "guest-audio.ogg"
    track.write_bytes(b"the first interview")
    with pytest.raises(RecordingExistsError, match="never written over"):
        create_new(track)
    assert track.read_bytes() == b"the first interview"

    with create_new(tmp_path / "host-audio.wav") as file:
        file.write(b"RIFF")
    assert (tmp_path / "host-audio.wav").read_bytes() == b"RIFF"


def test_a_recording_folder_is_claimed_once(tmp_path: Path) -> None:
    folder = tmp_path / "media" / "session"
    claim_folder(folder)  # its parents are made too
    claim_folder(folder)  # still empty: an interview that never received media
    (folder / "manifest.json").write_text("{}")
    with pytest.raises(RecordingExistsError, match="already holds a recording"):
        claim_folder(folder)


def test_publishing_never_replaces_an_output(tmp_path: Path) -> None:
    target = tmp_path / "interview.mp4"
    first = new_temporary(target)
    assert first.name.startswith(".interview.mp4.") and first.read_bytes() == b""
    first.write_bytes(b"the finished video")
    publish(first, target)
    assert target.read_bytes() == b"the finished video"
    assert not first.exists()

    second = new_temporary(target)
    second.write_bytes(b"a second render")
    with pytest.raises(RecordingExistsError, match="never replaced"):
        publish(second, target)
    assert target.read_bytes() == b"the finished video"
    assert list(tmp_path.iterdir()) == [target], "the temporary file is left behind"
