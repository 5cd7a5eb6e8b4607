"""Finalising an interview: its raw tracks made into the files a video podcast is published as.

`finalise` is synchronous and CPU-bound: run it in a worker thread or process, never on the
event loop. It reads the tracks the folder's manifest lists, places each at its start
offset on the interview clock, and writes into `final/`:

    mix.m4a           AAC-LC mono 48 kHz, 96 kb/s, moov first: the podcast's audio
    mix.flac          the same mix, lossless (16-bit)
    interview.mp4     H.264 (libx264 yuv420p, CRF 23, veryfast, 30 fps; a card at 5 fps
                      when there was no camera) + the mix's AAC, moov first
    thumbnail.jpg     a camera frame from 10 % in, or a card when there was no camera
    transcript.json   every line with role, speaker, text, start and end (ms)
    transcript.txt    "[mm:ss] Host: ..." paragraphs
    transcript.srt    captions
    transcript.vtt    captions

The mix levels each voice, normalises the sum to -16 LUFS integrated (EBU R128) and keeps
true peaks under -1 dBTP. Everything streams (audio a second at a time, video a frame at a
time). Damaged tracks are read up to the damage. Outputs are written under new temporary
names and linked to their final names at the end (`recorder/files.py`), so `final/` never
holds a half-written file under a final name and a published output is never replaced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recorder.audio_mix import AudioSource
from recorder.audio_render import render_mix
from recorder.files import RecordingExistsError, new_temporary, publish
from recorder.ivf_reader import scan_ivf
from recorder.loudness import SAMPLE_RATE
from recorder.manifest import FINAL_DIR, MANIFEST, Manifest, read_manifest
from recorder.transcript_export import (
    TranscriptLine,
    time_lines,
    to_json,
    to_srt,
    to_text,
    to_vtt,
)
from recorder.video_render import CARD_SIZE, FPS, STILL_FPS, VideoSource, render_video

__all__ = ["FinalOutputs", "NothingRecordedError", "TranscriptLine", "finalise"]

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5  # how often progress is reported while work goes on
# Seconds of work per second of interview, measured on 2 cores, to weigh the stages.
_AUDIO_COST = 0.027
_VIDEO_COST_PER_MEGAPIXEL_FRAME = 0.006
_FILES = {
    "mix": "mix.m4a",
    "mix_lossless": "mix.flac",
    "video": "interview.mp4",
    "thumbnail": "thumbnail.jpg",
    "transcript_json": "transcript.json",
    "transcript_text": "transcript.txt",
    "transcript_srt": "transcript.srt",
    "transcript_vtt": "transcript.vtt",
}


class NothingRecordedError(ValueError):
    """The folder's manifest lists no track that could be read: there is nothing to make."""


@dataclass(frozen=True, slots=True)
class FinalOutputs:
    """Where each output is (relative to the session folder) and what the mix measured."""

    mix: str
    mix_lossless: str
    video: str
    thumbnail: str
    transcript_json: str
    transcript_text: str
    transcript_srt: str
    transcript_vtt: str
    duration_ms: int
    loudness_lufs: float
    true_peak_dbtp: float
    camera: bool  # whether the video shows the guest's camera (else a card)
    video_width: int
    video_height: int

    def paths(self) -> dict[str, str]:
        """The outputs as the manifest's `outputs` lists them."""
        return {key: getattr(self, key) for key in _FILES}


class _Progress:
    """Turns stages' own fractions into one monotonic, throttled fraction of the whole."""

    def __init__(self, report: Callable[[float], None], weights: dict[str, float]) -> None:
        self._report = report
        total = sum(weights.values())
        self._starts: dict[str, float] = {}
        self._spans: dict[str, float] = {}
        position = 0.0
        for stage, weight in weights.items():
            self._starts[stage], self._spans[stage] = position, weight / total
            position += weight / total
        self._value = 0.0
        self._reported_at = time.monotonic()
        report(0.0)

    def stage(self, name: str) -> Callable[[float], None]:
        """A callback for one stage's fraction done (0 to 1)."""
        start, span = self._starts[name], self._spans[name]
        return lambda fraction: self._update(start + span * min(1.0, max(0.0, fraction)))

    def finish(self) -> None:
        """Everything is done."""
        self._value = 1.0
        self._report(1.0)

    def _update(self, value: float) -> None:
        now = time.monotonic()
        if value > self._value and now - self._reported_at >= PROGRESS_INTERVAL_S:
            self._value, self._reported_at = min(value, 0.999), now
            self._report(self._value)


def _video_source(folder: Path, manifest: Manifest) -> VideoSource | None:
    """The guest's camera track, if it was recorded and has a readable frame."""
    entry = next(
        (track for track in manifest.tracks if track.kind == "video" and track.role == "guest"),
        None,
    )
    if entry is None:
        return None
    info = scan_ivf(folder / entry.file)
    if info is None:
        logger.warning("no readable frame in %s: finalising without video", entry.file)
        return None
    return VideoSource(folder / entry.file, entry.start_offset_ms, info)


def _audio_sources(folder: Path, manifest: Manifest) -> list[AudioSource]:
    """Every recorded audio track whose file exists."""
    sources = []
    for track in manifest.tracks:
        if track.kind != "audio":
            continue
        if (folder / track.file).is_file():
            sources.append(AudioSource(folder / track.file, track.start_offset_ms))
        else:
            logger.warning("%s is listed but missing", track.file)
    return sources


def _publish(temporary: Path, target: Path) -> None:
    """Publish one output. One already there was published whole by an earlier run over the
    same tracks (a restart cut it short): it is kept, never replaced."""
    try:
        publish(temporary, target)
    except RecordingExistsError:
        logger.warning("%s was already published: kept as it is", target)


def finalise(
    folder: Path, transcript: list[TranscriptLine], *, on_progress: Callable[[float], None]
) -> FinalOutputs:
    """Make the session's mix, video, thumbnail and transcripts in `folder/final/`."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(folder / MANIFEST)
    audio = _audio_sources(folder, manifest)
    camera = _video_source(folder, manifest)
    if not audio and camera is None:
        raise NothingRecordedError(f"no track to finalise in {folder}")

    # Seconds of work per second of interview for each stage, to weigh their progress.
    if camera is None:
        (width, height), fps = CARD_SIZE, STILL_FPS
    else:
        width, height, fps = camera.info.width, camera.info.height, FPS
    video_cost = _VIDEO_COST_PER_MEGAPIXEL_FRAME * fps * width * height / 1e6
    progress = _Progress(on_progress, {"audio": _AUDIO_COST, "video": video_cost})

    final = folder / FINAL_DIR
    final.mkdir(exist_ok=True)
    partial = {key: new_temporary(final / name) for key, name in _FILES.items()}
    try:
        video_end = 0 if camera is None else round((camera.end_s + 1 / FPS) * SAMPLE_RATE)
        mix = render_mix(
            audio,
            min_samples=video_end,
            m4a=partial["mix"],
            flac=partial["mix_lossless"],
            on_progress=progress.stage("audio"),
        )
        duration_ms = mix.samples * 1000 // SAMPLE_RATE
        if not duration_ms:
            raise NothingRecordedError(f"the tracks in {folder} hold nothing")
        video = render_video(
            camera,
            duration_s=mix.samples / SAMPLE_RATE,
            audio=partial["mix"],
            output=partial["video"],
            thumbnail=partial["thumbnail"],
            envelope_db=mix.envelope_db,
            on_progress=progress.stage("video"),
        )
        lines = time_lines(transcript, duration_ms=duration_ms)
        partial["transcript_json"].write_text(to_json(lines, duration_ms=duration_ms), "utf-8")
        partial["transcript_text"].write_text(to_text(lines), "utf-8")
        partial["transcript_srt"].write_text(to_srt(lines), "utf-8")
        partial["transcript_vtt"].write_text(to_vtt(lines), "utf-8")
        for key, name in _FILES.items():
            _publish(partial[key], final / name)
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)
    progress.finish()
    logger.info(
        "finalised %s: %d ms, voices moved %s dB, mix %+.1f dB to %.1f LUFS, %.1f dBTP",
        folder,
        duration_ms,
        ", ".join(f"{gain:+.1f}" for gain in mix.track_gains_db),
        mix.mix_gain_db,
        mix.loudness.integrated_lufs,
        mix.loudness.true_peak_dbtp,
    )
    where = {key: f"{FINAL_DIR}/{name}" for key, name in _FILES.items()}
    return FinalOutputs(
        mix=where["mix"],
        mix_lossless=where["mix_lossless"],
        video=where["video"],
        thumbnail=where["thumbnail"],
        transcript_json=where["transcript_json"],
        transcript_text=where["transcript_text"],
        transcript_srt=where["transcript_srt"],
        transcript_vtt=where["transcript_vtt"],
        duration_ms=duration_ms,
        loudness_lufs=mix.loudness.integrated_lufs,
        true_peak_dbtp=mix.loudness.true_peak_dbtp,
        camera=camera is not None,
        video_width=video.width,
        video_height=video.height,
    )
