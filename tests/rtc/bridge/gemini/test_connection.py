"""The Gemini Live connection state machine, without sockets: events in, actions out."""

from __future__ import annotations

import pytest

from rtc.bridge.gemini.connection import (
    OVERLAP_REFUSED,
    REFUSED,
    Action,
    ArmDeadline,
    Connect,
    ConnectionMachine,
    GiveUp,
    Phase,
    Status,
    Switch,
)
from rtc.bridge.gemini.tuning import GeminiTuning

TUNING = GeminiTuning(rotation_margin_s=5.0, reconnect_attempts=4, backoff_initial_s=0.25)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def open_machine(tuning: GeminiTuning = TUNING) -> tuple[ConnectionMachine, Clock]:
    """A machine whose first connection (link 1) is open."""
    clock = Clock()
    machine = ConnectionMachine(tuning, clock)
    assert machine.start() == [Connect(1, None, 0.0)]
    assert phase(machine) is Phase.CONNECTING
    (switch,) = machine.connected(1)
    assert isinstance(switch, Switch) and switch.kind == "opened" and switch.held_since is None
    assert phase(machine) is Phase.OPEN and machine.sending and machine.taking_content
    return machine, clock


def phase(machine: ConnectionMachine) -> Phase:
    """The machine's phase (a call, so that type checkers do not pin it after a check)."""
    return machine.phase


def finished_turn(machine: ConnectionMachine, link: int, handle: str, mark: int) -> list[Action]:
    """The host speaks a turn on `link`, then the service offers `handle`."""
    machine.host_output(link)
    machine.turn_complete(link)
    return machine.handle_update(link, handle, mark)


def connect_of(actions: list[Action]) -> Connect:
    (connect,) = [a for a in actions if isinstance(a, Connect)]
    return connect


def test_go_away_at_a_resumable_point_rotates_at_once() -> None:
    machine, clock = open_machine()
    assert finished_turn(machine, 1, "h1", mark=2) == []
    clock.now += 3
    assert machine.go_away(1, "60s") == [Connect(2, "h1", 0.0, overlap=True)]
    assert phase(machine) is Phase.RESUMING
    assert not machine.sending and not machine.taking_content  # audio and notes are held
    clock.now += 0.1
    (switch,) = machine.connected(2)
    assert switch == Switch(
        link=2,
        kind="rotated",
        mark=2,
        held_since=103.0,
        go_away_at=103.0,
        forced=False,
        guest_active=False,
    )
    assert phase(machine) is Phase.OPEN and machine.active == 2


def test_go_away_mid_turn_waits_for_the_turn_boundary() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.host_output(1)  # the next turn is under way
    assert machine.go_away(1, "60s") == [ArmDeadline(1, 55.0)]
    assert phase(machine) is Phase.GOING_AWAY and machine.sending
    assert not machine.taking_content
    machine.turn_complete(1)
    assert machine.handle_update(1, "h2", mark=4) == [Connect(2, "h2", 0.0, overlap=True)]
    assert machine.deadline(1) == []  # too late: already rotating


def test_the_deadline_forces_a_rotation_with_the_newest_handle() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.host_output(1)
    assert machine.go_away(1, "4s") == [ArmDeadline(1, 2.0)]  # under the margin: half of it
    assert machine.deadline(1) == [Connect(2, "h1", 0.0, overlap=True)]
    (switch,) = machine.connected(2)
    assert isinstance(switch, Switch)
    assert switch.kind == "rotated" and switch.forced and switch.mark == 2


def test_a_handle_during_the_guests_barge_in_is_no_resumable_point() -> None:
    machine, _ = open_machine()
    machine.host_output(1)
    machine.guest_started()  # the guest speaks over the host
    machine.turn_complete(1)  # interrupted
    machine.handle_update(1, "h1", mark=1)
    assert machine.go_away(1, "60s") == [ArmDeadline(1, 55.0)]
    machine.guest_stopped()
    assert finished_turn(machine, 1, "h2", mark=3) == [Connect(2, "h2", 0.0, overlap=True)]


def test_a_handle_after_the_answer_is_a_resumable_point_even_if_the_hint_lags() -> None:
    machine, _ = open_machine()
    machine.guest_started()
    # The service's VAD ends the turn and answers before the engine's hang-over ends.
    assert finished_turn(machine, 1, "h1", mark=2) == []
    assert machine.go_away(1, "60s") == [Connect(2, "h1", 0.0, overlap=True)]


def test_content_sent_after_the_handle_makes_the_rotation_wait() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.content_sent(complete=False)
    assert machine.go_away(1, "60s") == [ArmDeadline(1, 55.0)]


def test_an_unplanned_loss_reconnects_with_backoff_and_resumes() -> None:
    machine, clock = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    actions = machine.lost(1, "1011 Internal error encountered.")
    assert actions == [
        Status("reconnecting", "1011 Internal error encountered."),
        Connect(2, "h1", 0.0, overlap=False),  # the lost one is closed first
    ]
    assert phase(machine) is Phase.RESUMING
    delays = []
    for link in (2, 3, 4):
        (connect,) = machine.connect_failed(link, None, "OSError()")  # no second status
        assert isinstance(connect, Connect) and connect.handle == "h1"
        delays.append(connect.delay)
    assert delays == [0.25, 0.5, 1.0]
    machine.guest_started()  # the guest speaks during the outage
    clock.now += 2
    switch, status = machine.connected(5)
    assert status == Status("resumed")
    assert isinstance(switch, Switch)
    assert switch.kind == "resumed" and switch.mark == 2 and switch.guest_active
    assert switch.held_since == 100.0 and switch.go_away_at is None


def test_a_refused_handle_starts_a_fresh_session() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.lost(1, "1011 Internal error encountered.")
    assert machine.connect_failed(2, REFUSED, "1007 Invalid handle") == [Connect(3, None, 0.0)]
    assert phase(machine) is Phase.RESTARTING and machine.handle is None
    switch, status = machine.connected(3)
    assert status == Status("restarted")
    assert isinstance(switch, Switch) and switch.kind == "restarted" and switch.mark is None


def test_a_loss_before_any_handle_restarts() -> None:
    machine, _ = open_machine()
    _, connect = machine.lost(1, "1006 Abnormal closure.")
    assert connect == Connect(2, None, 0.0)
    assert phase(machine) is Phase.RESTARTING


def test_an_expired_handle_is_not_tried() -> None:
    machine, clock = open_machine(GeminiTuning(handle_max_age_s=60.0))
    finished_turn(machine, 1, "h1", mark=2)
    clock.now += 61
    assert connect_of(machine.lost(1, "1011")) == Connect(2, None, 0.0)


def test_a_refused_rotation_restarts_and_says_so() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.go_away(1, "60s")
    # A fresh session is another session: it may open beside the old socket.
    assert machine.connect_failed(2, REFUSED, "1007") == [Connect(3, None, 0.0, overlap=True)]
    switch, status = machine.connected(3)
    assert isinstance(switch, Switch) and switch.kind == "restarted" and not switch.forced
    assert status == Status("restarted")


def test_a_rotation_that_cannot_connect_becomes_a_reconnection() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.go_away(1, "60s")
    assert machine.lost(1, "1000 Connection lifetime reached.") == []  # expected by now
    status, connect = machine.connect_failed(2, None, "OSError()")
    assert status == Status("reconnecting", "OSError()") and connect == Connect(3, "h1", 0.0)
    switch, resumed = machine.connected(3)
    assert isinstance(switch, Switch) and switch.kind == "resumed" and resumed == Status("resumed")


def test_an_early_close_after_go_away_is_a_forced_rotation_without_status() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.host_output(1)
    machine.go_away(1, "60s")
    assert machine.lost(1, "1000") == [Connect(2, "h1", 0.0)]
    (switch,) = machine.connected(2)
    assert isinstance(switch, Switch) and switch.forced


def test_it_gives_up_after_the_last_attempt() -> None:
    machine, _ = open_machine(GeminiTuning(reconnect_attempts=2))
    finished_turn(machine, 1, "h1", mark=2)
    machine.lost(1, "1011")
    machine.connect_failed(2, None, "first")
    assert machine.connect_failed(3, None, "second") == [GiveUp("second")]
    assert phase(machine) is Phase.CLOSED and not machine.sending


def test_without_reconnection_a_loss_gives_up_at_once() -> None:
    machine, _ = open_machine(GeminiTuning(reconnect_attempts=0))
    assert machine.lost(1, "1000 Done.") == [GiveUp("1000 Done.")]


def test_the_first_connection_failing_gives_up() -> None:
    machine = ConnectionMachine(TUNING, Clock())
    machine.start()
    assert machine.connect_failed(1, 1011, "down") == [GiveUp("down")]


@pytest.mark.parametrize("attempts", [5, 6, 7])
def test_backoff_is_capped(attempts: int) -> None:
    tuning = GeminiTuning(reconnect_attempts=10, backoff_initial_s=1.0, backoff_max_s=4.0)
    machine, _ = open_machine(tuning)
    actions = machine.lost(1, "1011")
    for link in range(2, attempts + 1):
        actions = machine.connect_failed(link, None, "down")
    assert connect_of(actions).delay == 4.0


def test_events_of_old_or_unknown_links_are_ignored() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.go_away(1, "60s")
    machine.connected(2)
    assert machine.lost(1, "1000") == []
    assert machine.go_away(1, "1s") == []
    assert machine.handle_update(1, "old", mark=9) == []
    assert machine.connected(7) == [] and machine.connect_failed(7, None, "x") == []
    assert machine.handle == "h1"


def test_close_stops_everything() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.lost(1, "1011")
    machine.close()
    assert machine.connected(2) == [] and machine.lost(1, "x") == []
    assert phase(machine) is Phase.CLOSED


@pytest.mark.parametrize(("time_left", "deadline"), [("0.5s", 0.25), ("12s", 11.75), ("?", 0.0)])
def test_the_deadline_comes_from_the_time_left(time_left: str, deadline: float) -> None:
    machine, _ = open_machine(GeminiTuning(rotation_margin_s=0.25))
    machine.host_output(1)
    assert machine.go_away(1, time_left) == [ArmDeadline(1, deadline)]


def test_a_refused_overlap_closes_the_old_socket_and_resumes_once_more() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    assert machine.go_away(1, "60s") == [Connect(2, "h1", 0.0, overlap=True)]
    # The service refuses a second socket of the session: break before make, at once.
    refused = machine.connect_failed(2, OVERLAP_REFUSED, "1011 Internal error encountered.")
    assert refused == [Connect(3, "h1", 0.0, overlap=False)]
    assert machine.overlaps_refused == 1 and phase(machine) is Phase.RESUMING
    (switch,) = machine.connected(3)
    assert isinstance(switch, Switch) and switch.kind == "rotated" and not switch.forced
    # Every later rotation breaks first: no second refusal, no retry loop.
    finished_turn(machine, 3, "h2", mark=4)
    assert machine.go_away(3, "60s") == [Connect(4, "h2", 0.0, overlap=False)]
    assert machine.overlaps_refused == 1


def test_a_1011_without_an_overlap_is_an_ordinary_failure() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.lost(1, "1006")
    (connect,) = machine.connect_failed(2, OVERLAP_REFUSED, "1011")  # a retry, with backoff
    assert connect == Connect(3, "h1", 0.25, overlap=False)
    assert machine.overlaps_refused == 0


def test_the_break_before_make_setting_never_overlaps() -> None:
    machine, _ = open_machine(GeminiTuning(rotation="break-before-make"))
    finished_turn(machine, 1, "h1", mark=2)
    assert machine.go_away(1, "60s") == [Connect(2, "h1", 0.0, overlap=False)]


def test_a_forced_switch_mid_utterance_says_the_utterance_is_unanswered() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.guest_started()
    assert machine.guest_unanswered
    assert machine.handle_update(1, "h2", mark=2) == []  # mid-utterance: not resumable
    machine.go_away(1, "4s")  # the deadline is now
    connect_of(machine.deadline(1))
    (switch,) = machine.connected(2)
    assert isinstance(switch, Switch) and switch.forced
    assert switch.guest_unanswered and switch.guest_active  # the shell replays the utterance


def test_a_switch_after_the_answer_began_has_nothing_unanswered() -> None:
    machine, _ = open_machine()
    machine.guest_started()
    machine.guest_stopped()
    machine.host_output(1)  # the host answers...
    (_, connect) = machine.lost(1, "1006")  # ...and the line drops mid-answer
    assert isinstance(connect, Connect)
    (switch, _) = machine.connected(connect.link)
    assert isinstance(switch, Switch) and not switch.guest_unanswered


def test_a_host_turn_for_a_director_note_does_not_answer_the_guest() -> None:
    machine, _ = open_machine()
    machine.content_sent(complete=True)  # a "now" note...
    machine.guest_started()  # ...and the guest starts speaking as the host answers it
    machine.host_output(1)
    machine.turn_complete(1)
    assert machine.guest_unanswered
    assert machine.handle_update(1, "h1", mark=1) == []
    assert machine.go_away(1, "60s") == [ArmDeadline(1, 55.0)]  # wait for the answer
    machine.host_output(1)  # the host answers the guest
    assert not machine.guest_unanswered


def test_a_go_away_with_less_time_than_twice_the_margin_waits_half_of_it() -> None:
    machine, _ = open_machine(GeminiTuning(rotation_margin_s=5.0))
    machine.host_output(1)  # the host is answering: give it a chance to finish
    assert machine.go_away(1, "3s") == [ArmDeadline(1, 1.5)]


def test_the_vad_hang_over_after_the_answer_began_does_not_hold_the_host_back() -> None:
    machine, _ = open_machine()
    finished_turn(machine, 1, "h1", mark=2)
    machine.guest_started()
    machine.host_output(1)  # the service answers before the engine's hang-over ends
    machine.go_away(1, "3s")
    connect_of(machine.deadline(1))  # the reply is cut
    (switch,) = machine.connected(2)
    assert isinstance(switch, Switch) and switch.forced
    assert not switch.guest_active and not switch.guest_unanswered  # the catch-up completes


def test_the_guest_continues_their_turn_until_the_host_begins_one() -> None:
    machine, _ = open_machine()
    assert not machine.guest_continues
    machine.guest_started()
    machine.guest_stopped()
    assert machine.guest_continues  # speech now adds to the same unanswered turn
    machine.content_sent(complete=True)
    machine.host_output(1)  # the host answers the note, not the guest...
    assert machine.guest_unanswered and not machine.guest_continues  # ...but it spoke
    machine.turn_complete(1)
    machine.guest_started()
    machine.host_output(1)
    assert not machine.guest_unanswered and not machine.guest_continues
