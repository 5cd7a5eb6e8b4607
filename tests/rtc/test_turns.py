"""The interview's lifecycle and the host's turn states."""

from __future__ import annotations

import pytest

from rtc.turns import (
    HostTurn,
    HostTurnTracker,
    IllegalTransition,
    InterviewLifecycle,
    InterviewPhase,
)


def test_lifecycle_runs_connecting_live_ending_ended() -> None:
    lifecycle = InterviewLifecycle()
    assert lifecycle.phase is InterviewPhase.CONNECTING
    assert lifecycle.on("media_flowing") and lifecycle.phase is InterviewPhase.LIVE
    assert not lifecycle.on("media_flowing")
    assert lifecycle.on("time_up") and lifecycle.phase is InterviewPhase.ENDING
    assert not lifecycle.on("end")  # already ending
    assert lifecycle.on("finished") and lifecycle.phase is InterviewPhase.ENDED
    assert not lifecycle.on("finished")


def test_an_interview_can_end_before_it_went_live() -> None:
    lifecycle = InterviewLifecycle()
    assert lifecycle.on("end") and lifecycle.phase is InterviewPhase.ENDING


def test_illegal_transitions_name_the_state_and_event() -> None:
    lifecycle = InterviewLifecycle()
    with pytest.raises(IllegalTransition, match="connecting: cannot take 'time_up'"):
        lifecycle.on("time_up")


def test_host_turns() -> None:
    turns = HostTurnTracker()
    assert not turns.playback_drained() and not turns.barge_in()
    assert turns.host_audio() and turns.state is HostTurn.SPEAKING
    assert not turns.host_audio()
    assert turns.barge_in() and turns.state is HostTurn.INTERRUPTED
    assert not turns.accepts_host_audio and not turns.host_audio()
    assert turns.guest_turn_ended() and turns.state is HostTurn.LISTENING
    assert turns.accepts_host_audio
    assert turns.host_audio() and turns.playback_drained()
    assert turns.state is HostTurn.LISTENING


def test_a_host_cut_short_waits_for_a_speaking_guest_but_not_for_a_silent_one() -> None:
    turns = HostTurnTracker()
    turns.host_audio()
    assert turns.host_cut_short(guest_speaking=True) and turns.state is HostTurn.INTERRUPTED
    turns.guest_turn_ended()
    turns.host_audio()
    # A director's "now" note: the guest is silent, so the host's next turn may play at once.
    assert turns.host_cut_short(guest_speaking=False) and turns.state is HostTurn.LISTENING
    assert turns.accepts_host_audio
    assert not turns.host_cut_short(guest_speaking=False)  # not speaking: nothing to cut
