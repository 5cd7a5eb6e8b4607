"""Response bodies of the recording endpoint, camelCase on the wire like the rest of the API."""

from __future__ import annotations

import uuid

from pydantic import Field

from api.schemas import CamelModel


def _absent(value: object) -> bool:
    return value is None


def _url(description: str) -> str | None:
    """A URL field left out of the body when the file does not exist."""
    field: str | None = Field(default=None, description=description, exclude_if=_absent)
    return field


class RecordingTrackOut(CamelModel):
    """One recorded track, placed on the interview clock."""

    name: str = Field(description="guest-audio, guest-video or host-audio")
    kind: str = Field(description="audio or video")
    role: str = Field(description="guest or host")
    codec: str = Field(description="opus, vp8 or pcm_s16le")
    start_offset_ms: int = Field(description="Where the track starts on the interview clock")
    duration_ms: int | None = Field(description="Known once the track is complete")
    state: str = Field(description="recording, complete or repaired")
    url: str | None = Field(
        description="Signed or presigned, time-limited; null while still recording"
    )


class TranscriptFilesOut(CamelModel):
    """The transcript in each format finalisation writes."""

    json_file: str | None = Field(
        default=None, alias="json", description="Every line with timing", exclude_if=_absent
    )
    txt: str | None = _url("Readable text")
    srt: str | None = _url("SubRip captions")
    vtt: str | None = _url("WebVTT captions")


class RecordingOutputsOut(CamelModel):
    """What finalisation made; each only once it exists."""

    video: str | None = _url("The interview as MP4 (H.264 + AAC)")
    audio: str | None = _url("The podcast mix as M4A (AAC)")
    thumbnail: str | None = _url("A JPEG frame")
    transcript: TranscriptFilesOut | None = Field(default=None, exclude_if=_absent)


class RecordingOut(CamelModel):
    """A session's recording as its manifest describes it."""

    session_id: uuid.UUID
    state: str = Field(description="recording, complete, repaired, finalising, finalised or failed")
    progress: float = Field(description="Finalisation, 0 to 1")
    tracks: list[RecordingTrackOut]
    outputs: RecordingOutputsOut
