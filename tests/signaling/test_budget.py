"""Offers and candidates per socket: token buckets on an injected clock."""

from __future__ import annotations

import pytest

from signaling.budget import (
    CANDIDATE_BURST,
    CANDIDATES_PER_SECOND,
    OFFER_BURST,
    SignalingBudget,
    TokenBucket,
)
from signaling.protocol import Candidate, Offer, Ping, ProtocolError
from tests.conftest import FakeClock


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.4  # 0.8 of a token: not yet
    assert not bucket.take()
    clock.now += 0.1
    assert bucket.take()
    assert not bucket.take()
    clock.now += 60.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_offers_over_the_budget_are_rate_limited_and_not_counted() -> None:
    clock = FakeClock()
    budget = SignalingBudget(clock)
    for _ in range(OFFER_BURST):
        budget.charge(Offer("v=0"))
    with pytest.raises(ProtocolError) as refused:
        budget.charge(Offer("v=0"))
    assert refused.value.code == "rate_limited"
    assert "offers a minute" in str(refused.value)
    budget.charge(Ping())  # other messages are free
    budget.charge(Candidate("", None, None))  # candidates have their own bucket
    clock.now += 6.0  # 10 a minute: one more
    budget.charge(Offer("v=0"))
    with pytest.raises(ProtocolError):
        budget.charge(Offer("v=0"))


def test_candidates_over_the_budget_are_rate_limited() -> None:
    clock = FakeClock()
    budget = SignalingBudget(clock)
    for _ in range(CANDIDATE_BURST):
        budget.charge(Candidate("", None, None))
    with pytest.raises(ProtocolError, match="ICE candidates a second"):
        budget.charge(Candidate("", None, None))
    clock.now += 1.0
    for _ in range(CANDIDATES_PER_SECOND):
        budget.charge(Candidate("", None, None))
    with pytest.raises(ProtocolError):
        budget.charge(Candidate("", None, None))
