"""The interview's lifecycle and its turn-taking, without WebRTC: inputs in, effects out."""

from __future__ import annotations

import pytest

from rtc.bridge.base import HostAudio, Transcript
from rtc.turns import (
    AnnounceTurn,
    Effect,
    FlushHost,
    GuestAudioDropped,
    GuestStarted,
    GuestStopped,
    HostReplied,
    HostTurn,
    IllegalTransition,
    InterviewLifecycle,
    InterviewPhase,
    PlayHost,
    SendAudio,
    TranscriptAt,
    TurnTaking,
)
from rtc.vad import FRAME_BYTES, VadEvent

STARTED, ENDED = VadEvent.SPEECH_STARTED, VadEvent.SPEECH_ENDED
VOICE = HostAudio(b"\x01\x00" * 480, 24_000)
MORE_VOICE = HostAudio(b"\x02\x00" * 480, 24_000)


def test_lifecycle_runs_connecting_live_ending_ended() -> None:
    lifecycle = InterviewLifecycle()
    assert lifecycle.phase is InterviewPhase.CONNECTING
    assert lifecycle.media_flowing() and lifecycle.phase is InterviewPhase.LIVE
    assert not lifecycle.media_flowing()
    assert lifecycle.time_up() and lifecycle.phase is InterviewPhase.ENDING
    assert not lifecycle.end()  # already ending
    assert not lifecycle.time_up() and not lifecycle.media_flowing()
    assert lifecycle.finished() and lifecycle.phase is InterviewPhase.ENDED
    assert not lifecycle.finished() and not lifecycle.end()


def test_an_interview_can_end_before_it_went_live() -> None:
    lifecycle = InterviewLifecycle()
    assert lifecycle.end() and lifecycle.phase is InterviewPhase.ENDING


def test_an_interview_whose_guest_never_came_finishes_at_once() -> None:
    lifecycle = InterviewLifecycle()
    assert lifecycle.finished() and lifecycle.phase is InterviewPhase.ENDED


def test_illegal_transitions_name_the_state_and_the_input() -> None:
    lifecycle = InterviewLifecycle()
    with pytest.raises(IllegalTransition, match="connecting: cannot take 'time_up'"):
        lifecycle.time_up()
    lifecycle.media_flowing()
    with pytest.raises(IllegalTransition, match="live: cannot take 'finished'"):
        lifecycle.finished()


class Clock:
    """The interview clock, in ms, moved by hand."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def frame(n: int) -> bytes:
    """A 20 ms frame of the guest's audio, told apart by `n`."""
    return bytes([n]) * FRAME_BYTES


def drain(turns: TurnTaking) -> list[Effect]:
    """Start the host, as the engine does: take the backlog until there is none left."""
    sent: list[Effect] = []
    while effects := turns.host_started():
        sent += effects
    return sent


def started(clock: Clock | None = None) -> TurnTaking:
    """Turn-taking with the host started and nothing held."""
    turns = TurnTaking(clock or Clock())
    assert drain(turns) == [] and turns.host_ready
    return turns


def speaking(clock: Clock | None = None) -> TurnTaking:
    """Turn-taking with the host's voice playing."""
    turns = started(clock)
    turns.host_audio(VOICE)
    assert turns.host_turn is HostTurn.SPEAKING
    return turns


def test_guest_audio_is_held_until_the_host_has_started_then_sent_in_order() -> None:
    turns = TurnTaking(Clock())
    assert [turns.hear(frame(n), None) for n in range(3)] == [[], [], []]
    assert not turns.host_ready
    assert turns.host_started() == [SendAudio(frame(0))]
    # The guest goes on talking while the backlog is sent: it queues behind it.
    assert turns.hear(frame(3), None) == []
    assert drain(turns) == [SendAudio(frame(n)) for n in (1, 2, 3)]
    assert turns.host_ready
    assert turns.hear(frame(4), None) == [SendAudio(frame(4))]


def test_a_full_backlog_drops_the_oldest_audio_and_says_so() -> None:
    turns = TurnTaking(Clock(), backlog_frames=2)
    assert [turns.hear(frame(n), None) for n in range(3)] == [[], [], [GuestAudioDropped()]]
    assert drain(turns) == [SendAudio(frame(1)), SendAudio(frame(2))]


def test_the_reply_is_timed_from_the_end_of_the_guest_turn_to_its_first_frame_out() -> None:
    clock = Clock()
    turns = started(clock)
    clock.now = 1_000
    turns.hear(frame(0), STARTED)
    clock.now = 3_000
    turns.hear(frame(1), ENDED)
    assert turns.outbound_frame(False, 0) == []  # silence: no reply yet
    clock.now = 3_400
    turns.host_audio(VOICE)
    clock.now = 3_650  # the pacer sends its first frame
    assert turns.outbound_frame(True, 480) == [HostReplied(650)]
    assert turns.outbound_frame(True, 0) == []  # once per guest turn


def test_no_reply_is_timed_when_the_guest_speaks_again_or_the_host_talked_over_them() -> None:
    clock = Clock()
    turns = started(clock)
    turns.hear(frame(0), STARTED)
    turns.hear(frame(1), ENDED)
    turns.hear(frame(2), STARTED)  # the guest goes on before the host answers
    turns.host_audio(VOICE)
    assert turns.outbound_frame(True, 0) == []
    turns.hear(frame(3), ENDED)  # the host's voice was playing as the guest stopped
    assert turns.outbound_frame(True, 0) == []


def test_what_the_vad_heard_before_the_host_started_is_not_told_to_it() -> None:
    turns = TurnTaking(Clock())
    assert turns.hear(frame(0), STARTED, preroll_ms=200) == []
    assert drain(turns) == [SendAudio(frame(0))]
    assert turns.hear(frame(1), ENDED) == [SendAudio(frame(1)), GuestStopped()]


def test_a_guest_turn_is_told_to_the_host_around_its_audio() -> None:
    turns = started()
    assert turns.hear(frame(0), STARTED) == [GuestStarted(), SendAudio(frame(0))]
    assert turns.hear(frame(1), None) == [SendAudio(frame(1))]
    assert turns.hear(frame(2), ENDED) == [SendAudio(frame(2)), GuestStopped()]
    assert turns.guest_stop_sent() == []  # the host was listening all along


def test_a_guest_line_is_placed_at_the_start_of_speech_including_the_preroll() -> None:
    clock = Clock()
    turns = started(clock)
    line = Transcript("user", "Hello there.", final=True)
    assert turns.transcript(line) == [TranscriptAt(line, 0)]  # no turn yet
    clock.now = 12_340
    turns.hear(frame(0), STARTED, preroll_ms=200)
    clock.now = 15_000
    assert turns.transcript(line) == [TranscriptAt(line, 12_140)]
    turns.hear(frame(1), ENDED)
    clock.now = 100
    turns.hear(frame(2), STARTED, preroll_ms=200)  # the pre-roll reaches back past zero
    assert turns.transcript(line) == [TranscriptAt(line, 0)]


def test_a_host_turn_starts_when_its_voice_starts_playing() -> None:
    clock = Clock()
    turns = started(clock)
    line = Transcript("ai", "Welcome!", final=False)
    clock.now = 4_000
    assert turns.transcript(line) == [TranscriptAt(line, 4_000)]  # before its voice plays
    clock.now = 5_000
    assert turns.host_audio(VOICE) == [PlayHost(VOICE), AnnounceTurn(HostTurn.SPEAKING)]
    clock.now = 6_000
    assert turns.host_audio(MORE_VOICE) == [PlayHost(MORE_VOICE)]
    assert turns.transcript(line) == [TranscriptAt(line, 5_000)]


def test_a_host_turn_starts_when_its_first_frame_goes_out_however_late() -> None:
    clock = Clock()
    turns = started(clock)
    line = Transcript("ai", "Welcome!", final=True)
    clock.now = 5_000
    turns.host_audio(VOICE)
    clock.now = 5_150  # a busy loop: the pacer sends the frame 150 ms late
    assert turns.outbound_frame(True, 480) == []
    clock.now = 5_170
    assert turns.outbound_frame(True, 0) == []
    assert turns.transcript(line) == [TranscriptAt(line, 5_150)]  # where the recording has it


def test_the_host_listens_again_once_a_complete_turn_has_played_out() -> None:
    turns = speaking()
    assert turns.outbound_frame(False, 0) == []  # the host has more to say
    turns.host_turn_complete()
    assert turns.outbound_frame(True, 0) == []  # this frame still played some
    assert turns.outbound_frame(False, 480) == []  # and some is still queued
    assert turns.outbound_frame(False, 0) == [AnnounceTurn(HostTurn.LISTENING)]
    assert turns.host_turn is HostTurn.LISTENING
    assert turns.outbound_frame(False, 0) == []


def test_audio_after_a_turn_complete_keeps_the_host_speaking() -> None:
    turns = speaking()
    turns.host_turn_complete()
    assert turns.host_audio(MORE_VOICE) == [PlayHost(MORE_VOICE)]
    assert turns.outbound_frame(False, 0) == []
    assert turns.host_turn is HostTurn.SPEAKING


def test_a_barge_in_flushes_the_host_and_drops_its_turn_until_the_guest_has_finished() -> None:
    turns = speaking()
    assert turns.hear(frame(0), STARTED) == [
        FlushHost(),
        AnnounceTurn(HostTurn.INTERRUPTED),
        GuestStarted(),
        SendAudio(frame(0)),
    ]
    assert turns.host_audio(MORE_VOICE) == []  # late audio of the cut-off turn
    # The bridge confirms: the queue is flushed again, the host still waits for the guest.
    assert turns.host_interrupted() == [FlushHost()]
    assert turns.host_turn is HostTurn.INTERRUPTED
    turns.host_turn_complete()
    assert turns.outbound_frame(False, 0) == []
    assert turns.hear(frame(1), ENDED) == [SendAudio(frame(1)), GuestStopped()]
    assert turns.host_audio(MORE_VOICE) == []  # the host has not been told yet
    assert turns.guest_stop_sent() == [AnnounceTurn(HostTurn.LISTENING)]
    assert turns.host_audio(VOICE) == [PlayHost(VOICE), AnnounceTurn(HostTurn.SPEAKING)]


def test_a_guest_starting_to_speak_while_the_host_listens_interrupts_nothing() -> None:
    turns = started()
    assert turns.hear(frame(0), STARTED) == [GuestStarted(), SendAudio(frame(0))]
    assert turns.host_turn is HostTurn.LISTENING


def test_a_host_cut_short_by_a_director_note_listens_again_at_once() -> None:
    turns = speaking()
    assert turns.host_interrupted() == [FlushHost(), AnnounceTurn(HostTurn.INTERRUPTED)]
    assert turns.host_turn is HostTurn.LISTENING
    assert turns.host_audio(MORE_VOICE) == [PlayHost(MORE_VOICE), AnnounceTurn(HostTurn.SPEAKING)]


def test_a_host_cut_short_while_the_guest_speaks_waits_for_the_guest() -> None:
    turns = started()
    turns.hear(frame(0), STARTED)
    turns.host_audio(VOICE)  # the host talks over the guest
    assert turns.host_interrupted() == [FlushHost(), AnnounceTurn(HostTurn.INTERRUPTED)]
    assert turns.host_turn is HostTurn.INTERRUPTED
    turns.hear(frame(1), ENDED)
    assert turns.guest_stop_sent() == [AnnounceTurn(HostTurn.LISTENING)]


def test_the_guest_speaking_counts_from_what_the_vad_heard_before_the_host_started() -> None:
    turns = TurnTaking(Clock())
    turns.hear(frame(0), STARTED)
    drain(turns)
    turns.host_audio(VOICE)
    turns.host_interrupted()
    assert turns.host_turn is HostTurn.INTERRUPTED  # the guest is still speaking


def test_interrupting_a_listening_host_only_flushes() -> None:
    turns = started()
    assert turns.host_interrupted() == [FlushHost()]
    assert turns.host_turn is HostTurn.LISTENING


def test_a_host_line_while_interrupted_is_placed_when_it_comes() -> None:
    clock = Clock()
    turns = speaking(clock)
    turns.hear(frame(0), STARTED)
    clock.now = 9_000
    line = Transcript("ai", "As I was saying", final=True)
    assert turns.transcript(line) == [TranscriptAt(line, 9_000)]
