"""The interview clock: one monotonic zero that every offset (messages, tracks) counts from."""

from __future__ import annotations

import time
from collections.abc import Callable


class InterviewClock:
    """Milliseconds since the interview's zero, from a monotonic source (never wall time)."""

    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._zero: float | None = None

    @property
    def started(self) -> bool:
        """Whether the zero has been set."""
        return self._zero is not None

    def start(self, ago_s: float = 0.0) -> None:
        """Set the zero now, or `ago_s` seconds ago (once; later calls keep the first zero,
        so a rejoin keeps time)."""
        if self._zero is None:
            self._zero = self._source() - ago_s

    def elapsed_ms(self) -> int:
        """Milliseconds since the zero (0 before it is set)."""
        if self._zero is None:
            return 0
        return int((self._source() - self._zero) * 1000)

    def elapsed_s(self) -> float:
        """Seconds since the zero (0 before it is set)."""
        return 0.0 if self._zero is None else self._source() - self._zero
