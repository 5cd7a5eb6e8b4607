"""The media engine's Prometheus metrics: how fast the host answers, what guest audio is lost.

Process-wide, for dashboards and alerts; the host bridges keep their own
(`rtc.bridge.gemini.metrics`).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

VOICE_TO_VOICE = Histogram(
    "monumento_voice_to_voice_seconds",
    "From the end of the guest's turn (the VAD's end, VAD_HANGOVER_MS after their last "
    "voiced frame) to the first frame of the host's reply sent to them.",
    buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
GUEST_AUDIO_DROPPED = Counter(
    "monumento_guest_audio_dropped_frames",
    "20 ms frames of guest audio the engine dropped: the backlog held while the host "
    "connects was full. The Gemini bridge counts its own as "
    'monumento_gemini_guest_samples{fate="dropped"}.',
)
