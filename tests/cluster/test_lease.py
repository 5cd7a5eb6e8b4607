"""The lease's state machine, without a store: what each renewal answer does to it."""

from __future__ import annotations

from cluster.lease import LeaseMachine, LeaseState, LeaseToken, Renewal


def test_a_value_carries_the_node_and_the_fence_even_with_a_colon_in_the_node() -> None:
    token = LeaseToken("pod-a:8080", 42)
    assert token.encode() == "42:pod-a:8080"
    assert LeaseToken.decode(token.encode()) == token


def test_renewals_keep_it_held_and_an_unanswered_one_only_makes_it_uncertain() -> None:
    machine = LeaseMachine()
    assert machine.state is LeaseState.HELD
    machine.unanswered()
    assert machine.state is LeaseState.RENEWING
    assert not machine.renewed(Renewal.RETAKEN)
    assert machine.state is LeaseState.HELD
    assert not machine.renewed(Renewal.EXTENDED)
    assert machine.state is LeaseState.HELD


def test_another_value_loses_it_once_and_for_good() -> None:
    machine = LeaseMachine()
    machine.unanswered()
    assert machine.renewed(Renewal.TAKEN_BY_OTHER)
    assert machine.state is LeaseState.LOST
    assert not machine.renewed(Renewal.TAKEN_BY_OTHER)  # reported once
    assert not machine.renewed(Renewal.EXTENDED)  # never held again
    machine.unanswered()
    assert machine.state is LeaseState.LOST
    assert not machine.release()  # nothing of ours to delete
    assert machine.state is LeaseState.LOST


def test_release_asks_the_store_once() -> None:
    machine = LeaseMachine()
    assert machine.release()
    assert machine.state is LeaseState.RELEASED
    assert not machine.release()
    assert not machine.renewed(Renewal.TAKEN_BY_OTHER)
    assert machine.state is LeaseState.RELEASED
