"""A session's recording manifest: which track files exist, where they start, their state.

`manifest.json` sits in the session's media folder beside the track files and is rewritten
atomically (temporary file + rename) whenever a track starts or finishes, so after a crash
it always describes files that exist. Layout of a session folder:

    {DATA_DIR}/media/{session_id}/
        manifest.json
        guest-audio.ogg     Opus in Ogg, the guest's packets as sent (no re-encoding)
        guest-video.ivf     VP8 in IVF, the guest's frames as sent (no re-encoding)
        host-audio.wav      the host's voice as the guest heard it, 48 kHz mono s16
        final/              what finalisation makes (mix, MP4, thumbnail, transcripts)

Every track file starts at `start_offset_ms` on the interview clock (the zero of messages'
`relativeOffset`) and runs continuously from there: gaps (loss, a muted camera, a rejoin)
are kept as silence (audio) or as timestamps (video), never squeezed out.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

MANIFEST = "manifest.json"
FINAL_DIR = "final"

TrackState = Literal["recording", "complete", "repaired"]
RecordingState = Literal["recording", "complete", "repaired", "finalising", "finalised", "failed"]


@dataclass(slots=True)
class TrackEntry:
    """One recorded track."""

    name: str  # file stem and id: guest-audio, guest-video, host-audio
    kind: Literal["audio", "video"]
    role: Literal["guest", "host"]
    codec: str  # opus, vp8, pcm_s16le
    file: str
    start_offset_ms: int
    duration_ms: int | None = None
    state: TrackState = "recording"


@dataclass(slots=True)
class Manifest:
    """The recording of one session."""

    session_id: str
    state: RecordingState = "recording"
    tracks: list[TrackEntry] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # e.g. {"video": "final/x.mp4"}
    progress: float = 0.0  # finalisation, 0 to 1
    error: str | None = None

    def track(self, name: str) -> TrackEntry | None:
        """The entry of the named track, if it was recorded."""
        return next((entry for entry in self.tracks if entry.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The manifest as stored (snake_case, as in this module)."""
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Manifest:
        """A manifest read back from disk."""
        tracks = [TrackEntry(**entry) for entry in document.get("tracks", [])]
        return cls(
            session_id=document["session_id"],
            state=document.get("state", "recording"),
            tracks=tracks,
            outputs=dict(document.get("outputs", {})),
            progress=float(document.get("progress", 0.0)),
            error=document.get("error"),
        )


def session_media_dir(data_dir: Path, session_id: uuid.UUID | str) -> Path:
    """Where a session's tracks and outputs live."""
    return data_dir / "media" / str(session_id)


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None if nothing was recorded there."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    return Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Replace the folder's manifest atomically (blocking: call it off the event loop)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(manifest.to_json(), file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, folder / MANIFEST)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
