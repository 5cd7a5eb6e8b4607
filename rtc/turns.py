"""The interview's lifecycle and the host's turn states, as sans-I/O state machines.

They take events and say what changed; the engine around them does the I/O. An illegal
transition raises `IllegalTransition`, naming the state and the event.
"""

from __future__ import annotations

import enum


class IllegalTransition(RuntimeError):
    """An event that the current state does not accept."""


class InterviewPhase(enum.StrEnum):
    """Where the interview stands, as the `state` event reports it."""

    CONNECTING = "connecting"
    LIVE = "live"
    ENDING = "ending"
    ENDED = "ended"


_NEXT_PHASE = {
    (InterviewPhase.CONNECTING, "media_flowing"): InterviewPhase.LIVE,
    (InterviewPhase.CONNECTING, "end"): InterviewPhase.ENDING,
    (InterviewPhase.LIVE, "end"): InterviewPhase.ENDING,
    (InterviewPhase.LIVE, "time_up"): InterviewPhase.ENDING,
    (InterviewPhase.ENDING, "finished"): InterviewPhase.ENDED,
    (InterviewPhase.CONNECTING, "finished"): InterviewPhase.ENDED,
}


class InterviewLifecycle:
    """connecting → live → ending → ended; `end` and `time_up` are idempotent once ending."""

    def __init__(self) -> None:
        self.phase = InterviewPhase.CONNECTING

    def on(self, event: str) -> bool:
        """Apply an event; True if the phase changed."""
        if self.phase in (InterviewPhase.ENDING, InterviewPhase.ENDED) and event in (
            "end",
            "time_up",
            "media_flowing",
        ):
            return False
        if self.phase is InterviewPhase.LIVE and event == "media_flowing":
            return False
        if self.phase is InterviewPhase.ENDED and event == "finished":
            return False
        following = _NEXT_PHASE.get((self.phase, event))
        if following is None:
            raise IllegalTransition(f"interview is {self.phase}: cannot take {event!r}")
        self.phase = following
        return True


class HostTurn(enum.StrEnum):
    """What the AI host is doing, as the `host` event reports it."""

    LISTENING = "listening"
    SPEAKING = "speaking"
    INTERRUPTED = "interrupted"


class HostTurnTracker:
    """Follows the host: speaking while its audio plays, interrupted by a barge-in."""

    def __init__(self) -> None:
        self.state = HostTurn.LISTENING

    @property
    def accepts_host_audio(self) -> bool:
        """False while interrupted: audio of the cut-off turn must not play after all."""
        return self.state is not HostTurn.INTERRUPTED

    def host_audio(self) -> bool:
        """Host audio is playing; True if the host just started speaking."""
        if self.state is not HostTurn.LISTENING:
            return False
        self.state = HostTurn.SPEAKING
        return True

    def playback_drained(self) -> bool:
        """All queued host audio has played; True if the host went back to listening."""
        if self.state is not HostTurn.SPEAKING:
            return False
        self.state = HostTurn.LISTENING
        return True

    def barge_in(self) -> bool:
        """The guest spoke over the host; True if that interrupted it."""
        if self.state is not HostTurn.SPEAKING:
            return False
        self.state = HostTurn.INTERRUPTED
        return True

    def host_cut_short(self, *, guest_speaking: bool) -> bool:
        """The bridge says the host stopped mid-turn; True if that interrupted it.

        With the guest speaking it is a barge-in: the host waits for the guest's turn to
        end. Otherwise the host cut itself short (a director's "now" note): no guest turn
        will end, so it listens again at once and its next turn plays.
        """
        interrupted = self.barge_in()
        if not guest_speaking:
            self.guest_turn_ended()
        return interrupted

    def guest_turn_ended(self) -> bool:
        """The guest finished; an interrupted host listens again. True if that changed."""
        if self.state is not HostTurn.INTERRUPTED:
            return False
        self.state = HostTurn.LISTENING
        return True
