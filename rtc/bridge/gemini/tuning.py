"""The knobs of the Gemini Live bridge's long-session behaviour, with production defaults.

One frozen dataclass, shared by the connection state machine, the audio uplink, the
conversation history and the shell. Tests shrink the times; nothing else needs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Rotation = Literal["make-before-break", "break-before-make"]


@dataclass(frozen=True, slots=True)
class GeminiTuning:
    """How the bridge keeps an hour-long interview on short-lived Gemini Live connections."""

    compression_trigger_tokens: int | None = None
    """Context size that triggers the sliding window (None: the service's default)."""
    compression_target_tokens: int | None = None
    """What the sliding window cuts the context down to (None: half the trigger)."""

    rotation: Rotation = "make-before-break"
    """How a goAway rotates: open the next connection before closing the old one (the
    shortest hold), or close the old one first. Make-before-break falls back to
    break-before-make, for the rest of the interview, the first time the service refuses
    a second socket of the same session (as the Gemini API does, with 1011)."""
    rotation_margin_s: float = 5.0
    """After a goAway, switch connections at once this long before the announced close if
    no turn boundary came first (half the time left, if that is less than twice this)."""
    connect_timeout_s: float = 10.0
    """How long one connection attempt (TLS, WebSocket, setup) may take."""
    close_timeout_s: float = 2.0
    """How long closing the old connection before opening the next one may take."""
    reconnect_attempts: int = 8
    """Consecutive failed attempts after which the bridge gives up (0: never reconnect)."""
    backoff_initial_s: float = 0.25
    """The wait before the second attempt (the first one is immediate); doubles each time."""
    backoff_max_s: float = 8.0
    handle_max_age_s: float = 2 * 3600.0
    """The service keeps a resumption handle about two hours; older ones are not tried."""

    backlog_s: float = 60.0
    """Guest audio held while no connection takes it; beyond that the oldest is dropped."""
    replay_margin_ms: int = 250
    """Audio sent just before a resumption handle arrived that is sent again to a session
    resumed from it: the handle may have been taken while that audio was in flight."""
    held_contents: int = 64
    """Client turns (notes, topics) held while no connection takes them; oldest dropped."""

    history_lines: int = 12
    """Transcript lines (both sides) kept to seed a fresh session or catch a resumed one up."""
    history_notes: int = 20
    """Director notes kept for the same purpose."""
    history_line_chars: int = 400
    """Longer lines are cut to this many characters in a summary."""

    cost_control: bool = True
    """Stop streaming the guest's silence (audioStreamEnd) until the engine hears speech."""
    silence_pause_s: float = 6.0
    """Silence, after the guest stopped speaking, streamed before the stream is ended."""
    preroll_ms: int = 400
    """Audio kept while paused and sent first when the guest speaks, so no onset is lost."""
