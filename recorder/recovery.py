"""After a crash: find recordings that were never finished, repair their files, close them.

Run at start-up, before any interview: each track left `recording` is cut after its last
complete page or frame, its header fixed, its duration measured, and it is marked
`repaired`, so finalisation can take it like any finished recording.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recorder.ivf import repair_ivf
from recorder.manifest import read_manifest, write_manifest
from recorder.ogg import repair_ogg
from recorder.wav import repair_wav

logger = logging.getLogger(__name__)


def repair_track(path: Path) -> int:
    """Repair one track file in place; returns its duration in ms."""
    if path.suffix == ".ogg":
        return repair_ogg(path)
    if path.suffix == ".ivf":
        return repair_ivf(path)[1] // 90
    if path.suffix == ".wav":
        return repair_wav(path)
    raise ValueError(f"no repair for {path.name}")


def recover_recordings(media_dir: Path) -> list[str]:
    """Repair every unfinished recording under `media_dir`; returns their session ids.

    Blocking file work: call it off the event loop.
    """
    recovered: list[str] = []
    if not media_dir.is_dir():
        return recovered
    for folder in sorted(path for path in media_dir.iterdir() if path.is_dir()):
        manifest = read_manifest(folder)
        if manifest is None or manifest.state != "recording":
            continue
        kept = []
        for entry in manifest.tracks:
            path = folder / entry.file
            if not path.exists():
                continue
            if entry.state == "recording":
                entry.duration_ms = repair_track(path)
                entry.state = "repaired"
            kept.append(entry)
        manifest.tracks = kept
        manifest.state = "repaired"
        write_manifest(folder, manifest)
        logger.warning("repaired the unfinished recording of session %s", manifest.session_id)
        recovered.append(manifest.session_id)
    return recovered
