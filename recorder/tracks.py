"""Per-track placement on the loop: what each track will append at the next flush.

Each track collects a second or so of data in memory and hands it to the writer thread at
every flush; nothing here blocks. Gaps become silence (audio) or timestamps (video).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recorder.ogg import opus_samples
from recorder.timeline import ClockAligner

OPUS_RATE = 48_000
OPUS_FRAME = 960  # 20 ms
VIDEO_RATE = 90_000
# A writer stalled this long (a dead disk) makes the track drop data rather than grow memory.
MAX_PENDING_S = 30


@dataclass(slots=True)
class RtpPlacement:
    """Anchors a track's RTP stream on the interview clock: at its first packet, and again
    at each rejoin (a new stream, with a new timestamp base)."""

    aligner: ClockAligner
    _new_stream: bool = False

    @property
    def start_ms(self) -> int | None:
        """Where the track starts on the interview clock (settles over the first window)."""
        return int(self.aligner.start_s * 1000) if self.aligner.started else None

    def new_stream(self) -> None:
        """The guest rejoined: their next packet starts a new RTP stream."""
        self._new_stream = self.aligner.started

    def place(self, timestamp: int, arrival_s: float) -> int:
        """The packet's position, in media clock units from the track's start."""
        if not self.aligner.started:
            self.aligner.start(timestamp, arrival_s)
        elif self._new_stream:
            self.aligner.resume(timestamp, arrival_s)
            self._new_stream = False
        return self.aligner.place(timestamp, arrival_s)


@dataclass(slots=True)
class OpusTrack:
    """The guest's Opus packets, as (packet, granule at its end), silence in the gaps."""

    silence: bytes
    written: int = 0
    dropped: int = 0
    pending: list[tuple[bytes, int]] = field(default_factory=list)
    placement: RtpPlacement = field(
        default_factory=lambda: RtpPlacement(
            ClockAligner(OPUS_RATE, tolerance=1440, step=OPUS_FRAME, window=250)
        )
    )

    @property
    def start_ms(self) -> int | None:
        """Where the track starts on the interview clock."""
        return self.placement.start_ms

    def new_stream(self) -> None:
        """The guest rejoined."""
        self.placement.new_stream()

    def add(self, timestamp: int, packet: bytes, arrival_s: float) -> None:
        """Place one packet that arrived `arrival_s` into the interview. Its timestamp is
        its first sample's, but it could only leave once its last was captured: it is
        placed as if it arrived its own duration earlier, as a video frame is (sent once
        captured, and encoded)."""
        samples = opus_samples(packet)
        if not samples:  # an empty payload: 20 ms of nothing, written as real silence
            packet, samples = self.silence, OPUS_FRAME
        position = self.placement.place(timestamp, arrival_s - samples / OPUS_RATE)
        if position < self.written - OPUS_FRAME or len(self.pending) > MAX_PENDING_S * 50:
            self.dropped += 1  # late, duplicated, or the writer is stuck
            return
        while position >= self.written + OPUS_FRAME:
            self.written += OPUS_FRAME
            self.pending.append((self.silence, self.written))
        self.written += samples
        self.pending.append((packet, self.written))

    def take(self) -> list[tuple[bytes, int]]:
        """What to append now."""
        pending, self.pending = self.pending, []
        return pending


@dataclass(slots=True)
class Vp8Track:
    """The guest's VP8 frames with their pts (90 kHz) from the track's start."""

    last_pts: int = 0
    pending: list[tuple[int, bytes]] = field(default_factory=list)
    placement: RtpPlacement = field(
        default_factory=lambda: RtpPlacement(
            ClockAligner(VIDEO_RATE, tolerance=2700, step=900, window=90)
        )
    )

    @property
    def start_ms(self) -> int | None:
        """Where the track starts on the interview clock."""
        return self.placement.start_ms

    def new_stream(self) -> None:
        """The guest rejoined."""
        self.placement.new_stream()

    def add(self, timestamp: int, frame: bytes, arrival_s: float) -> None:
        """Place one frame."""
        pts = self.placement.place(timestamp, arrival_s)
        if pts < self.last_pts or len(self.pending) > MAX_PENDING_S * 30:
            return  # frames must not go back in time
        self.last_pts = pts
        self.pending.append((pts, frame))

    def take(self) -> list[tuple[int, bytes]]:
        """What to append now."""
        pending, self.pending = self.pending, []
        return pending


@dataclass(slots=True)
class PcmTrack:
    """The host's voice as played, 48 kHz mono s16le, continuous from its first frame."""

    rate: int = 48_000
    start_s: float | None = None
    written: int = 0
    pending: bytearray = field(default_factory=bytearray)

    @property
    def start_ms(self) -> int | None:
        """Where the track starts on the interview clock."""
        return None if self.start_s is None else int(self.start_s * 1000)

    def add(self, pcm: bytes, at_s: float) -> None:
        """Place a frame that played at `at_s` (pads silence after a gap, e.g. a rejoin)."""
        if self.start_s is None:
            self.start_s = at_s
        expected = round((at_s - self.start_s) * self.rate)
        tolerance = self.rate * 60 // 1000
        if expected > self.written + tolerance:
            self._append(bytes(2 * (expected - self.written)))
        elif expected < self.written - tolerance:
            return
        if len(self.pending) < MAX_PENDING_S * self.rate * 2:
            self._append(pcm)

    def take(self) -> bytes:
        """What to append now."""
        pending, self.pending = bytes(self.pending), bytearray()
        return pending

    def _append(self, pcm: bytes) -> None:
        self.pending += pcm
        self.written += len(pcm) // 2
