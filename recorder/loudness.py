"""Loudness: measuring it (EBU R128) and keeping true peaks under a ceiling, both streaming.

`LoudnessMeter` feeds FFmpeg's `ebur128` filter (ITU-R BS.1770 integrated loudness with
gating, and 4x oversampled true peak) block by block, so an hour costs no more memory than
a block. `TruePeakLimiter` is a look-ahead brick-wall limiter on 4x interpolated peaks: its
gain is the windowed minimum of the gain each sample needs, smoothed by a moving average
that never rises above that need, so nothing it lets through exceeds the ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
SILENT_LUFS = -70.0  # BS.1770's absolute gate: nothing louder was measured
_PEAK_FLOOR = 1e-6  # -120 dB: what silence's peak reads as (finite, for JSON)

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Loudness:
    """What a meter measured."""

    integrated_lufs: float
    true_peak_dbtp: float

    @property
    def silent(self) -> bool:
        """Whether nothing passed the absolute gate (no gain can be derived from it)."""
        return self.integrated_lufs <= SILENT_LUFS


def decibels(linear: float) -> float:
    """A linear amplitude in dB (-inf dB for zero)."""
    return 20 * math.log10(linear) if linear > 0 else -math.inf


class LoudnessMeter:
    """Integrated loudness (and optionally true peak) of mono 48 kHz audio, fed in blocks."""

    def __init__(self, *, true_peak: bool) -> None:
        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(
            format="flt", sample_rate=SAMPLE_RATE, layout="mono", time_base=Fraction(1, 48_000)
        )
        meter = self._graph.add("ebur128", f"metadata=1:peak={'true' if true_peak else 'none'}")
        sink = self._graph.add("abuffersink")
        source.link_to(meter)
        meter.link_to(sink)
        self._graph.configure()
        self._samples = 0
        self._integrated = SILENT_LUFS
        self._peak = 0.0

    def add(self, samples: Samples) -> None:
        """Measure the next block."""
        if not len(samples):
            return
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples
        self._samples += len(samples)
        self._graph.push(frame)
        self._pull()

    def result(self) -> Loudness:
        """The measurement of everything added (the meter cannot be fed after this)."""
        self._graph.push(None)
        self._pull()
        return Loudness(self._integrated, decibels(max(self._peak, _PEAK_FLOOR)))

    def _pull(self) -> None:
        while True:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            metadata = frame.metadata
            if "lavfi.r128.I" in metadata:
                self._integrated = max(SILENT_LUFS, float(metadata["lavfi.r128.I"]))
            if "lavfi.r128.true_peak" in metadata:
                self._peak = max(self._peak, float(metadata["lavfi.r128.true_peak"]))


def _interpolators(taps: int = 12, phases: int = 4) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc kernels for the points between samples (1/phases apart)."""
    kernels = []
    for phase in range(1, phases):
        offsets = np.arange(taps) - (taps // 2 - 1) - phase / phases
        kernels.append(np.sinc(offsets) * np.kaiser(taps, 5.0))
    return np.array(kernels)


def _sliding_min(values: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    """`out[i] = min(values[i:i + width])` in O(n) (van Herk / Gil-Werman)."""
    count = len(values) - width + 1
    padded = np.pad(values, (0, (-len(values)) % width), constant_values=np.inf)
    blocks = padded.reshape(-1, width)
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:count], prefix[width - 1 : width - 1 + count])


class TruePeakLimiter:
    """Keeps 4x-oversampled peaks at or under `ceiling_db` with look-ahead; delay-free output.

    Output sample n is input sample n times a gain; the gain ramps down over `2 * attack`
    before a peak, holds `hold` samples after it and ramps back over `2 * attack`.
    """

    def __init__(self, ceiling_db: float, *, attack: int = 240, hold: int = 2400) -> None:
        self._ceiling = 10 ** (ceiling_db / 20)
        self._kernels = _interpolators()
        self._taps = self._kernels.shape[1]
        self._attack = attack
        self._before = attack + hold  # how far back a peak still pulls the gain down
        self._after = attack + 1  # how far ahead the gain starts to fall
        # Input needed either side of the samples being output (the edges are unreliable).
        self._context = self._before + 2 * attack + 2 + self._taps
        self._buffer = np.zeros(self._context, dtype=np.float32)  # history, then pending

    def process(self, samples: Samples) -> Samples:
        """Take the next block; returns as many limited samples as can be decided yet."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        return self._emit()

    def flush(self) -> Samples:
        """The rest, once the input has ended."""
        pending = len(self._buffer) - self._context
        self._buffer = np.concatenate([self._buffer, np.zeros(self._context, np.float32)])
        return self._emit()[:pending]

    def _emit(self) -> Samples:
        ready = len(self._buffer) - 2 * self._context
        if ready <= 0:
            return np.zeros(0, np.float32)
        gain = self._gain(self._buffer)[self._context : self._context + ready]
        output = (self._buffer[self._context : self._context + ready] * gain).astype(np.float32)
        self._buffer = self._buffer[ready:]
        return output

    def _gain(self, signal: Samples) -> npt.NDArray[np.float64]:
        peaks = np.abs(signal).astype(np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(signal.astype(np.float64), self._taps)
        between = np.abs(windows @ self._kernels[0])  # the peak just after each sample
        for kernel in self._kernels[1:]:
            np.maximum(between, np.abs(windows @ kernel), out=between)
        start = self._taps // 2 - 1
        peaks[start : start + len(between)] = np.maximum(
            peaks[start : start + len(between)], between
        )
        needed = np.minimum(1.0, self._ceiling / np.maximum(peaks, 1e-12))
        if needed.min() >= 1.0:
            return needed
        held = _sliding_min(
            np.pad(needed, (self._before, self._after), constant_values=1.0),
            self._before + self._after + 1,
        )
        width = 2 * self._attack + 1
        sums = np.cumsum(np.pad(held, (self._attack + 1, self._attack), constant_values=1.0))
        smoothed = (sums[width:] - sums[:-width]) / width
        smoothed[smoothed > 1 - 1e-9] = 1.0  # rounding in the sums must not touch the rest
        return smoothed
