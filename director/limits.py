"""How often one director may inject: a sliding window, per connection."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class NoteRateLimit:
    """At most `limit` notes in any `window_s` seconds."""

    def __init__(
        self, limit: int = 10, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()

    def allow(self) -> bool:
        """Count a note if the window has room; False (not counted) otherwise."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self._window_s:
            self._sent.popleft()
        if len(self._sent) >= self._limit:
            return False
        self._sent.append(now)
        return True
