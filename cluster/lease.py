"""One node's lease on one interview, as a state machine (sans-I/O).

A lease names its holder and carries a fencing token: the session's counter, raised by every
take, so two holds of one session (two nodes, or one node twice) never share a value.

Phases: `HELD` (the last renewal extended it), `RENEWING` (the store did not answer: the
lease may still be ours, and the interview goes on), `LOST` (the store holds another value:
another node owns the interview now), `RELEASED` (given back). `LOST` and `RELEASED` are final.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LeaseState(enum.Enum):
    """Where a held lease stands."""

    HELD = "held"
    RENEWING = "renewing"
    LOST = "lost"
    RELEASED = "released"


class Renewal(enum.Enum):
    """The store's answer to a renewal."""

    EXTENDED = "extended"  # still ours: its time to live starts again
    RETAKEN = "retaken"  # the key had vanished (Redis restarted): taken again, same value
    TAKEN_BY_OTHER = "taken_by_other"  # another value is there: the lease is lost


@dataclass(frozen=True, slots=True)
class LeaseToken:
    """A lease's value: the holding node and the fencing token of this hold."""

    node: str
    fence: int

    def encode(self) -> str:
        """As stored: `<fence>:<node>` (the fence first, since a node id may hold a colon)."""
        return f"{self.fence}:{self.node}"

    @classmethod
    def decode(cls, value: str) -> LeaseToken:
        """A stored value read back."""
        fence, _, node = value.partition(":")
        return cls(node=node, fence=int(fence))


class LeaseMachine:
    """The state of one held lease, moved by what its renewals answer."""

    def __init__(self) -> None:
        self.state = LeaseState.HELD

    @property
    def ended(self) -> bool:
        """Whether the lease is no longer ours (lost or released): nothing more to renew."""
        return self.state in (LeaseState.LOST, LeaseState.RELEASED)

    def renewed(self, answer: Renewal) -> bool:
        """A renewal's answer; True when it is the one that lost the lease."""
        if self.ended:
            return False
        if answer is Renewal.TAKEN_BY_OTHER:
            self.state = LeaseState.LOST
            return True
        self.state = LeaseState.HELD
        return False

    def unanswered(self) -> None:
        """A renewal got no answer (the store is unreachable): ours until it says otherwise."""
        if not self.ended:
            self.state = LeaseState.RENEWING

    def release(self) -> bool:
        """Give the lease back; True when the store still needs telling (it was not lost)."""
        if self.ended:
            return False
        self.state = LeaseState.RELEASED
        return True
