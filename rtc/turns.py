"""The interview's lifecycle and its turn-taking, as sans-I/O state machines.

They take typed inputs and say what changed, or what to do; the engine around them does the
I/O. An illegal transition raises `IllegalTransition`, naming the state and the input.

Turn-taking (`TurnTaking`) is told what the guest's VAD heard, what the host sent and how
much of the host's voice is left to play; it answers with effects for the engine to apply in
order: `ToHost` effects are bridge calls (awaited), `ToGuest` effects change what the guest
hears and what everyone watching sees (applied at once). The host's turn states:

- LISTENING: the host is silent; its next audio starts a turn (SPEAKING).
- SPEAKING: the host's voice is playing; the turn ends once its last audio has played out.
- INTERRUPTED: the guest barged in (or the host cut itself short while the guest spoke): the
  host's queued voice is dropped, and so is any late audio of the cut-off turn, until the
  guest's turn ends and the host has been told so.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rtc.bridge.base import HostAudio, Transcript
from rtc.vad import VadEvent

BACKLOG_FRAMES = 1500
"""Guest audio held while the host connects (20 ms frames): 30 s, far more than a connect
takes. When it is full the oldest frame is dropped."""


class IllegalTransition(RuntimeError):
    """An input that the current state does not accept."""


class InterviewPhase(enum.StrEnum):
    """Where the interview stands, as the `state` event reports it."""

    CONNECTING = "connecting"
    LIVE = "live"
    ENDING = "ending"
    ENDED = "ended"


class _Input(enum.Enum):
    MEDIA_FLOWING = "media_flowing"
    END = "end"
    TIME_UP = "time_up"
    FINISHED = "finished"


_NEXT_PHASE = {
    (InterviewPhase.CONNECTING, _Input.MEDIA_FLOWING): InterviewPhase.LIVE,
    (InterviewPhase.CONNECTING, _Input.END): InterviewPhase.ENDING,
    (InterviewPhase.LIVE, _Input.END): InterviewPhase.ENDING,
    (InterviewPhase.LIVE, _Input.TIME_UP): InterviewPhase.ENDING,
    (InterviewPhase.ENDING, _Input.FINISHED): InterviewPhase.ENDED,
    (InterviewPhase.CONNECTING, _Input.FINISHED): InterviewPhase.ENDED,
}
_IGNORED = {
    (InterviewPhase.LIVE, _Input.MEDIA_FLOWING),
    (InterviewPhase.ENDED, _Input.FINISHED),
} | {
    (phase, given)
    for phase in (InterviewPhase.ENDING, InterviewPhase.ENDED)
    for given in (_Input.END, _Input.TIME_UP, _Input.MEDIA_FLOWING)
}


class InterviewLifecycle:
    """connecting → live → ending → ended; `end` and `time_up` are idempotent once ending.

    Each input returns True if the phase changed."""

    def __init__(self) -> None:
        self.phase = InterviewPhase.CONNECTING

    def media_flowing(self) -> bool:
        """The guest's media arrived: the interview goes live (once)."""
        return self._take(_Input.MEDIA_FLOWING)

    def end(self) -> bool:
        """The interview is to end (the guest said so, left for good, the host failed)."""
        return self._take(_Input.END)

    def time_up(self) -> bool:
        """The interview's time ran out."""
        return self._take(_Input.TIME_UP)

    def finished(self) -> bool:
        """Everything is closed: the interview has ended."""
        return self._take(_Input.FINISHED)

    def _take(self, given: _Input) -> bool:
        if (self.phase, given) in _IGNORED:
            return False
        following = _NEXT_PHASE.get((self.phase, given))
        if following is None:
            raise IllegalTransition(f"interview is {self.phase}: cannot take {given.value!r}")
        self.phase = following
        return True


class HostTurn(enum.StrEnum):
    """What the AI host is doing, as the `host` event reports it (see the module docstring)."""

    LISTENING = "listening"
    SPEAKING = "speaking"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class SendAudio:
    """Send the host a 20 ms frame of the guest's audio."""

    chunk: bytes


@dataclass(frozen=True, slots=True)
class GuestStarted:
    """Tell the host the guest started a turn."""


@dataclass(frozen=True, slots=True)
class GuestStopped:
    """Tell the host the guest's turn ended; then call `TurnTaking.guest_stop_sent`."""


@dataclass(frozen=True, slots=True)
class PlayHost:
    """Queue a chunk of the host's voice behind what the guest has yet to hear."""

    audio: HostAudio


@dataclass(frozen=True, slots=True)
class FlushHost:
    """Drop the host's queued voice: its turn was cut short."""


@dataclass(frozen=True, slots=True)
class AnnounceTurn:
    """Tell everyone watching what the host is doing now (a `host` event)."""

    state: HostTurn


@dataclass(frozen=True, slots=True)
class HostReplied:
    """The host's reply started playing `after_ms` after the guest's turn ended (VAD end)."""

    after_ms: int


@dataclass(frozen=True, slots=True)
class GuestAudioDropped:
    """A frame of the guest's audio was lost: the backlog held for the host was full."""


@dataclass(frozen=True, slots=True)
class TranscriptAt:
    """A transcript line, placed on the interview clock at `offset_ms`."""

    line: Transcript
    offset_ms: int


ToHost = SendAudio | GuestStarted | GuestStopped
ToGuest = PlayHost | FlushHost | AnnounceTurn | TranscriptAt | HostReplied | GuestAudioDropped
Effect = ToHost | ToGuest


class TurnTaking:
    """Decides who has the floor, and when each side's turn starts (see the module docstring).

    Until the host has started, the guest's audio is held (`BACKLOG_FRAMES`), and what the
    VAD heard meanwhile is not told to it. Offsets are ms on the interview clock (`clock`):
    a guest's turn starts with its pre-roll, a host's when its voice starts playing.
    """

    def __init__(self, clock: Callable[[], int], backlog_frames: int = BACKLOG_FRAMES) -> None:
        """Listening, with the host not started; `clock` gives the interview's ms."""
        self._clock = clock
        self.host_turn = HostTurn.LISTENING
        self._backlog: deque[bytes] = deque(maxlen=backlog_frames)
        self._host_ready = False
        self._guest_speaking = False
        self._guest_turn_ms = 0
        self._host_turn_ms = 0
        self._voice_unheard = False
        self._host_turn_complete = False
        self._guest_ended_ms: int | None = None

    @property
    def host_ready(self) -> bool:
        """Whether the host has started and heard everything the guest said before."""
        return self._host_ready

    def host_started(self) -> list[Effect]:
        """The host is connected: send it the oldest frame held, or, with none left, nothing.

        Call it again after each frame is sent, until it returns nothing: audio heard
        meanwhile is held too, so the host hears everything in order. Then it is ready.
        """
        if self._backlog:
            return [SendAudio(self._backlog.popleft())]
        self._host_ready = True
        return []

    def hear(self, chunk: bytes, event: VadEvent | None, *, preroll_ms: int = 0) -> list[Effect]:
        """A 20 ms frame of the guest's audio and what the VAD made of it.

        `preroll_ms`: with `SPEECH_STARTED`, how much audio before the start is the turn's.
        A guest starting to speak over the host interrupts it.
        """
        if event is not None:
            self._guest_speaking = event is VadEvent.SPEECH_STARTED
            # A reply is timed from the end of a turn the host did not talk over.
            ended = event is VadEvent.SPEECH_ENDED and self.host_turn is not HostTurn.SPEAKING
            self._guest_ended_ms = self._clock() if ended else None
        if not self._host_ready:
            full = len(self._backlog) == self._backlog.maxlen
            self._backlog.append(chunk)
            return [GuestAudioDropped()] if full else []
        effects: list[Effect] = []
        if event is VadEvent.SPEECH_STARTED:
            self._guest_turn_ms = max(0, self._clock() - preroll_ms)
            if self.host_turn is HostTurn.SPEAKING:
                effects += [FlushHost(), *self._become(HostTurn.INTERRUPTED)]
            effects.append(GuestStarted())
        effects.append(SendAudio(chunk))
        if event is VadEvent.SPEECH_ENDED:
            effects.append(GuestStopped())
        return effects

    def guest_stop_sent(self) -> list[ToGuest]:
        """The host has been told the guest's turn ended: an interrupted host listens again.

        Not before: audio that reaches the engine until then is of the cut-off turn.
        """
        if self.host_turn is not HostTurn.INTERRUPTED:
            return []
        return self._become(HostTurn.LISTENING)

    def host_audio(self, audio: HostAudio) -> list[ToGuest]:
        """The host sent some of its voice: play it, unless its turn was cut off."""
        if self.host_turn is HostTurn.INTERRUPTED:
            return []
        self._host_turn_complete = False
        effects: list[ToGuest] = [PlayHost(audio)]
        if self.host_turn is HostTurn.LISTENING:
            self._host_turn_ms = self._clock()  # until its first frame goes out
            self._voice_unheard = True
            effects += self._become(HostTurn.SPEAKING)
        return effects

    def host_turn_complete(self) -> None:
        """The host sent all its audio for the turn; it ends once that has played out."""
        self._host_turn_complete = True

    def host_interrupted(self) -> list[ToGuest]:
        """The bridge says the host stopped mid-turn: drop its queued voice.

        With the guest speaking it is a barge-in: the host waits for the guest's turn to
        end. Otherwise the host cut itself short (a director's "now" note): no guest turn
        will end, so it listens again at once and its next turn plays.
        """
        effects: list[ToGuest] = [FlushHost()]
        if self.host_turn is HostTurn.SPEAKING:
            effects += self._become(HostTurn.INTERRUPTED)
        if not self._guest_speaking and self.host_turn is HostTurn.INTERRUPTED:
            self.host_turn = HostTurn.LISTENING
        return effects

    def outbound_frame(self, had_host_audio: bool, host_pending_samples: int) -> list[ToGuest]:
        """A 20 ms frame went to the guest: the first of a turn with the host's voice is where
        its turn starts (where the recording has it, however late the pacer runs), and, after
        the guest's turn, the voice-to-voice time (`HostReplied`); a complete turn played
        out means listening."""
        effects: list[ToGuest] = []
        if had_host_audio and self._voice_unheard:
            self._voice_unheard = False
            self._host_turn_ms = self._clock()
        if had_host_audio and self._guest_ended_ms is not None:
            effects.append(HostReplied(self._clock() - self._guest_ended_ms))
            self._guest_ended_ms = None
        if (
            had_host_audio
            or not self._host_turn_complete
            or host_pending_samples
            or self.host_turn is not HostTurn.SPEAKING
        ):
            return effects
        return effects + self._become(HostTurn.LISTENING)

    def transcript(self, line: Transcript) -> list[ToGuest]:
        """A transcript line: placed at its turn's start (a host line that comes before its
        voice plays, when it comes)."""
        if line.role == "user":
            offset = self._guest_turn_ms
        elif self.host_turn is HostTurn.SPEAKING:
            offset = self._host_turn_ms
        else:
            offset = self._clock()
        return [TranscriptAt(line, offset)]

    def _become(self, state: HostTurn) -> list[ToGuest]:
        self.host_turn = state
        return [AnnounceTurn(state)]
