"""The Content-Type of each kind of file a recording holds, independent of the host's MIME table."""

from __future__ import annotations

from pathlib import PurePosixPath

# `mimetypes` depends on the machine's /etc/mime.types and misses IVF, SRT and M4A on many.
_TYPES = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".webm": "video/webm",
    ".ivf": "video/x-ivf",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".json": "application/json",
    ".srt": "application/x-subrip; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
FALLBACK = "application/octet-stream"


def content_type(name: str) -> str:
    """The Content-Type to serve (or store) a media file under, by its extension."""
    return _TYPES.get(PurePosixPath(name).suffix.lower(), FALLBACK)
