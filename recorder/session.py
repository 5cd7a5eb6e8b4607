"""Records one interview: the guest's audio and video and the host's voice, each to its file.

Packets and frames are placed on the loop (cheap) and written by the process's recorder
thread once a second, so a killed process loses at most about a second of any track; the
manifest lists each file as soon as it exists, and `on_change` hears of each new version
(the catalog mirrors it for the other nodes, `media/catalog.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from recorder.files import claim_folder, create_new
from recorder.ivf import IvfWriter
from recorder.manifest import Manifest, TrackEntry, write_manifest
from recorder.ogg import OggOpusWriter
from recorder.tracks import OpusTrack, PcmTrack, Vp8Track
from recorder.wav import WavWriter

logger = logging.getLogger(__name__)

FLUSH_S = 1.0
# What libopus emits for 20 ms of digital silence (CELT, fullband, stereo): a 3-byte packet.
OPUS_SILENCE = bytes.fromhex("fcfffe")


@dataclass(slots=True)
class _Files:
    """The open files and writers, touched only by the recorder thread."""

    handles: list[BinaryIO] = field(default_factory=list)
    ogg: OggOpusWriter | None = None
    ivf: IvfWriter | None = None
    wav: WavWriter | None = None


class SessionRecorder:
    """Owns the three tracks of one interview and their files (`open` it first)."""

    def __init__(
        self,
        folder: Path,
        session_id: str,
        executor: Executor,
        *,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.folder = folder
        self._executor = executor
        self._on_change = on_change
        self._told_tracks = 0  # how many tracks `on_change` has heard of
        self.manifest = Manifest(session_id=session_id)
        self.guest_audio = OpusTrack(silence=OPUS_SILENCE)
        self.guest_video = Vp8Track()
        self.host_audio = PcmTrack()
        self._files = _Files()
        self._closed = False

    async def open(self) -> None:
        """Create the session's folder, once: `RecordingExistsError` if it already holds a
        recording (an interview is recorded once; nothing of it is ever written over)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, claim_folder, self.folder)

    def new_guest_stream(self) -> None:
        """A (re)joining guest's packets begin a new RTP stream."""
        self.guest_audio.new_stream()
        self.guest_video.new_stream()

    async def run(self) -> None:
        """Flush once a second until cancelled; `close` writes the rest."""
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        """Hand what the tracks collected to the recorder thread."""
        audio, video, host = (
            self.guest_audio.take(),
            self.guest_video.take(),
            self.host_audio.take(),
        )
        if audio or video or host:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._write, audio, video, host)
        if len(self.manifest.tracks) != self._told_tracks:  # a track file was opened
            await self._changed()

    async def close(self) -> None:
        """Write what is left, finish every file and mark the recording complete."""
        if self._closed:
            return
        self._closed = True
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._finish)
        if self.manifest.tracks:
            await self._changed()

    async def _changed(self) -> None:
        self._told_tracks = len(self.manifest.tracks)
        if self._on_change is not None:
            await self._on_change()

    # On the recorder thread

    def _write(
        self, audio: list[tuple[bytes, int]], video: list[tuple[int, bytes]], host: bytes
    ) -> None:
        files = self._files
        if audio:
            if files.ogg is None:
                files.ogg = OggOpusWriter(self._open("guest-audio", "audio", "opus", ".ogg"))
            files.ogg.write(audio)
        if video:
            if files.ivf is None:
                files.ivf = IvfWriter(self._open("guest-video", "video", "vp8", ".ivf"))
            for pts, frame in video:
                files.ivf.write(pts, frame)
        if host:
            if files.wav is None:
                handle = self._open("host-audio", "audio", "pcm_s16le", ".wav", role="host")
                files.wav = WavWriter(handle, self.host_audio.rate)
            files.wav.write(host)
        for handle in files.handles:
            handle.flush()

    def _open(
        self,
        name: str,
        kind: Literal["audio", "video"],
        codec: str,
        suffix: str,
        *,
        role: Literal["guest", "host"] = "guest",
    ) -> BinaryIO:
        handle = create_new(self.folder / f"{name}{suffix}")
        self._files.handles.append(handle)
        self.manifest.tracks.append(
            TrackEntry(
                name=name,
                kind=kind,
                role=role,
                codec=codec,
                file=f"{name}{suffix}",
                start_offset_ms=self._starts()[name],
            )
        )
        write_manifest(self.folder, self.manifest)
        return handle

    def _starts(self) -> dict[str, int]:
        return {
            "guest-audio": self.guest_audio.start_ms or 0,
            "guest-video": self.guest_video.start_ms or 0,
            "host-audio": self.host_audio.start_ms or 0,
        }

    def _finish(self) -> None:
        files = self._files
        durations = {
            "guest-audio": self.guest_audio.written * 1000 // 48_000,
            "guest-video": self.guest_video.last_pts // 90,
            "host-audio": self.host_audio.written * 1000 // self.host_audio.rate,
        }
        for writer in (files.ogg, files.ivf, files.wav):
            if writer is not None:
                writer.close()
        for handle in files.handles:
            handle.close()
        starts = self._starts()  # a guest track's start settles after its file is opened
        for entry in self.manifest.tracks:
            entry.start_offset_ms = starts[entry.name]
            entry.duration_ms = durations[entry.name]
            entry.state = "complete"
        if not self.manifest.tracks:
            return
        self.manifest.state = "complete"
        write_manifest(self.folder, self.manifest)
        if self.guest_audio.dropped:
            logger.warning("%d late guest packets were not recorded", self.guest_audio.dropped)
