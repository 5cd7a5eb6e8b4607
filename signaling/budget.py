"""How fast one guest socket may send offers and ICE candidates: token buckets, no I/O.

Each offer costs an SDP parse and a peer connection, each candidate an ICE check list entry;
other messages cost next to nothing and are not counted.
"""

from __future__ import annotations

from collections.abc import Callable

from signaling.protocol import Candidate, ClientMessage, Offer, ProtocolError

OFFERS_PER_MINUTE = 10
OFFER_BURST = 5
CANDIDATES_PER_SECOND = 100
CANDIDATE_BURST = 200


class TokenBucket:
    """`burst` at once, refilled at `per_second`; time comes from `clock` (seconds)."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float]) -> None:
        self._per_second = per_second
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        """Spend one token if there is one; False (nothing spent) otherwise."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._per_second)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class SignalingBudget:
    """One socket's budget; a message over it is a `rate_limited` ProtocolError."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._offers = TokenBucket(OFFERS_PER_MINUTE / 60.0, OFFER_BURST, clock)
        self._candidates = TokenBucket(CANDIDATES_PER_SECOND, CANDIDATE_BURST, clock)

    def charge(self, message: ClientMessage) -> None:
        """Count `message`, or refuse it (not counted) when its bucket is empty."""
        if isinstance(message, Offer) and not self._offers.take():
            raise ProtocolError(
                "rate_limited", f"More than {OFFERS_PER_MINUTE} offers a minute: wait, then offer"
            )
        if isinstance(message, Candidate) and not self._candidates.take():
            raise ProtocolError(
                "rate_limited",
                f"More than {CANDIDATES_PER_SECOND} ICE candidates a second: this one was dropped",
            )
