"""How many sockets one user, and one session's director console, may hold open.

Counted per node, in memory: a deployment of N nodes lets a user hold up to N times as many.
That bounds what one account can pin on a node (tasks, bus subscriptions, buffers).
"""

from __future__ import annotations

import uuid
from collections import Counter
from types import TracebackType


class TooManySockets(Exception):
    """Over a cap; the message says which and what to do."""

    code = "too_many_sockets"


class SocketQuota:
    """`per_user` sockets of both kinds per user, `directors_per_session` consoles a session."""

    def __init__(self, *, per_user: int, directors_per_session: int) -> None:
        self._per_user = per_user
        self._directors_per_session = directors_per_session
        self._users: Counter[uuid.UUID] = Counter()
        self._consoles: Counter[uuid.UUID] = Counter()

    def claim(self, user_id: uuid.UUID, directing: uuid.UUID | None = None) -> SocketClaim:
        """A place for one more socket (a director's console of `directing`), or TooManySockets."""
        if self._users[user_id] >= self._per_user:
            raise TooManySockets(
                f"You already have {self._per_user} sockets open on this server: "
                "close one (another tab or device) and try again"
            )
        if directing is not None and self._consoles[directing] >= self._directors_per_session:
            raise TooManySockets(
                f"{self._directors_per_session} directors already have this session's console "
                "open: close one and try again"
            )
        self._users[user_id] += 1
        if directing is not None:
            self._consoles[directing] += 1
        return SocketClaim(self, user_id, directing)

    def _release(self, user_id: uuid.UUID, directing: uuid.UUID | None) -> None:
        self._users[user_id] -= 1
        if self._users[user_id] <= 0:
            del self._users[user_id]
        if directing is not None:
            self._consoles[directing] -= 1
            if self._consoles[directing] <= 0:
                del self._consoles[directing]


class SocketClaim:
    """Held while the socket is open (`with claim:`); gives its place back once, on exit."""

    def __init__(self, quota: SocketQuota, user_id: uuid.UUID, directing: uuid.UUID | None):
        self._quota = quota
        self._user_id = user_id
        self._directing = directing
        self._held = True

    def __enter__(self) -> SocketClaim:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._held:
            self._held = False
            self._quota._release(self._user_id, self._directing)
