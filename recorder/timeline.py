"""Placing media on the interview clock: RTP timestamps for precision, arrival for truth.

RTP timestamps place packets exactly relative to each other, but the sender's clock drifts
from ours (tens of ppm: over 100 ms an hour) and restarts on a rejoin. `ClockAligner`
follows the RTP clock and, once per window, compares it with arrival times: when even the
earliest arrival of the window disagrees by more than the tolerance, it shifts the mapping by
one step. The anchor (when the first packet arrived) settles over the first window: a first
packet that came late (a busy loop, a burst after the handshake) would otherwise put the
whole track late by its delay, beyond the tolerance's reach. Sans-I/O and O(1) per packet.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ClockAligner:
    """Maps a media clock (`rate` Hz) onto positions counted from the track's first packet."""

    rate: int
    tolerance: int  # in media clock units
    step: int
    window: int  # packets per drift check
    _base: int | None = None
    _start_arrival: float = 0.0
    _adjust: int = 0
    _window_min: float = float("inf")
    _window_count: int = 0
    _settling: bool = False

    @property
    def started(self) -> bool:
        """Whether a first packet has anchored the mapping."""
        return self._base is not None

    @property
    def start_s(self) -> float:
        """When position 0 arrived: the first packet's arrival, less its delay once known."""
        return self._start_arrival

    def start(self, timestamp: int, arrival_s: float) -> None:
        """Anchor: this timestamp is position 0, and arrived at `arrival_s`."""
        self._base = timestamp
        self._start_arrival = arrival_s
        self._settling = True

    def place(self, timestamp: int, arrival_s: float) -> int:
        """The position (media clock units from the first packet) of a packet."""
        if self._base is None:
            self.start(timestamp, arrival_s)
        assert self._base is not None
        position = timestamp - self._base + self._adjust
        late_by = (arrival_s - self._start_arrival) * self.rate - position
        if self._settling and late_by < -1:
            # Earlier than the anchor allows: the first packet was delayed by at least this
            # much (over one window, clock drift is far smaller). Positions do not move.
            self._start_arrival += late_by / self.rate
            late_by = 0.0
        self._window_min = min(self._window_min, late_by)
        self._window_count += 1
        if self._window_count >= self.window:
            self._settling = False
            if self._window_min > self.tolerance:
                self._adjust += self.step  # our clock ran ahead: move the media later
            elif self._window_min < -self.tolerance:
                self._adjust -= self.step  # the sender's clock ran ahead
            self._window_min, self._window_count = float("inf"), 0
        return position

    def resume(self, timestamp: int, arrival_s: float) -> None:
        """A new stream (a rejoin): continue the mapping from where arrival time says."""
        assert self._base is not None
        elapsed = round((arrival_s - self._start_arrival) * self.rate)
        self._adjust = elapsed - (timestamp - self._base)
        self._window_min, self._window_count = float("inf"), 0
        self._settling = False  # the track's start is settled: earlier data sits by it
