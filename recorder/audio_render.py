"""The podcast mix: each voice levelled, the sum normalised to -16 LUFS, true peaks limited.

Streaming passes over the decoded tracks (decoding Opus is cheap, an hour's mix in memory
is not): measure each track, measure the levelled mix, and render it through the limiter
into AAC (`.m4a`) and FLAC while measuring what comes out. When the limiter will hold
peaks down (peaky voices, such as synthesised ones), it also takes loudness off: passes
through the limiter alone first find the gain that still reaches the target.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from recorder.audio_mix import BLOCK, AudioSource, decode, mix
from recorder.loudness import (
    SAMPLE_RATE,
    Loudness,
    LoudnessMeter,
    Samples,
    TruePeakLimiter,
    decibels,
)

TARGET_LUFS = -16.0  # podcasts' integrated loudness
CEILING_DBTP = -1.5  # under the -1 dBTP ceiling, with margin for the peak estimate
LEVEL_RANGE_DB = 15.0  # the most one voice is moved towards the target before mixing
AAC_BIT_RATE = 96_000  # mono speech: transparent at this rate
LOUDNESS_TOLERANCE_LU = 0.3  # how far under the target limiting may leave the mix
MAX_LIMITING_DB = 6.0  # the most gain added to make up for what the limiter takes
FIT_PASSES = 3  # passes through the limiter to find that gain, at most
# Relative cost of the passes, for progress: measuring the tracks, measuring the mix,
# fitting the gain through the limiter (only when it has work to do), rendering.
_PASS_WEIGHTS = (0.12, 0.15, 0.23, 0.5)


@dataclass(frozen=True, slots=True)
class MixResult:
    """What the rendered mix is."""

    samples: int
    loudness: Loudness  # measured on the output
    track_gains_db: tuple[float, ...]
    mix_gain_db: float
    envelope_db: tuple[float, ...]  # peak level of each second, for a waveform picture


class AudioEncoder:
    """Encodes mono 48 kHz float blocks of any size into one file."""

    def __init__(
        self,
        path: Path,
        *,
        container_format: str,
        codec: str,
        sample_format: str,
        bit_rate: int | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        self._container = av.open(str(path), "w", format=container_format, options=options)
        stream = self._container.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        if not isinstance(stream, av.AudioStream):
            raise TypeError(f"{codec} is not an audio codec")
        stream.codec_context.format = av.AudioFormat(sample_format)
        if bit_rate is not None:
            stream.codec_context.bit_rate = bit_rate
        stream.codec_context.open()
        self._stream = stream
        self._format = sample_format
        self._frame_size = stream.codec_context.frame_size
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0

    def __enter__(self) -> AudioEncoder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._container.close()

    def write(self, samples: Samples) -> None:
        """Append samples."""
        self._pending = np.concatenate([self._pending, samples])
        whole = len(self._pending) // self._frame_size * self._frame_size
        for start in range(0, whole, self._frame_size):
            self._encode(self._pending[start : start + self._frame_size])
        self._pending = self._pending[whole:]

    def finish(self) -> None:
        """Encode what is left and drain the encoder (the file is complete on exit)."""
        if len(self._pending):
            self._encode(self._pending)
        for packet in self._stream.encode(None):
            self._container.mux(packet)

    def _encode(self, samples: Samples) -> None:
        if self._format == "s16":
            data = (np.clip(samples, -1.0, 1.0) * 32767).round().astype(np.int16)
        else:
            data = samples.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=self._format, layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._position
        self._position += len(samples)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)


def _level_gain_db(loudness: Loudness) -> float:
    """The gain that brings one voice towards the target, within the levelling range."""
    if loudness.silent:
        return 0.0
    return max(-LEVEL_RANGE_DB, min(LEVEL_RANGE_DB, TARGET_LUFS - loudness.integrated_lufs))


def _measure_tracks(
    sources: Sequence[AudioSource], progress: Callable[[float], None]
) -> tuple[list[float], int]:
    """Each track's levelling gain, and where the last track ends (samples)."""
    gains, end = [], 0
    for index, source in enumerate(sources):
        meter = LoudnessMeter(true_peak=False)

        def read(fraction: float, done: int = index) -> None:
            progress((done + fraction) / len(sources))

        for position, samples in decode(source.path, read):
            meter.add(samples)
            if position is not None:
                end = max(end, source.start + position + len(samples))
        gains.append(_level_gain_db(meter.result()))
    return gains, end


def _span(progress: Callable[[float], None], start: float, end: float) -> Callable[[float], None]:
    """A progress callback for a part of the work, from `start` to `end` of the whole."""
    return lambda fraction: progress(start + (end - start) * fraction)


class _Mixer:
    """The levelled tracks mixed at a gain, pass after pass."""

    def __init__(
        self, sources: Sequence[AudioSource], track_gains_db: Sequence[float], length: int
    ) -> None:
        self._sources = sources
        self._track_gains_db = track_gains_db
        self._length = length
        self._blocks = max(1, math.ceil(length / BLOCK))

    def blocks(self, gain_db: float, progress: Callable[[float], None]) -> Iterator[Samples]:
        """One pass over the mix, every track at its levelling gain plus `gain_db`."""
        gains = [10 ** ((gain + gain_db) / 20) for gain in self._track_gains_db]
        for index, block in enumerate(mix(self._sources, gains, length=self._length)):
            yield block
            progress((index + 1) / self._blocks)

    def limited(self, gain_db: float, progress: Callable[[float], None]) -> Iterator[Samples]:
        """One pass over the mix at `gain_db`, through the true-peak limiter."""
        limiter = TruePeakLimiter(CEILING_DBTP)
        for block in self.blocks(gain_db, progress):
            yield limiter.process(block)
        yield limiter.flush()


def _loudness(blocks: Iterable[Samples], *, true_peak: bool) -> Loudness:
    """The loudness of one pass."""
    meter = LoudnessMeter(true_peak=true_peak)
    for block in blocks:
        meter.add(block)
    return meter.result()


def _fit_gain(mixer: _Mixer, gain_db: float, progress: Callable[[float], None]) -> float:
    """The gain whose output reaches the target through the limiter (which takes loudness
    off the peaks it holds down), within `LOUDNESS_TOLERANCE_LU`, `FIT_PASSES` at most."""
    fitted = gain_db
    for attempt in range(FIT_PASSES):
        part = _span(progress, attempt / FIT_PASSES, (attempt + 1) / FIT_PASSES)
        shortfall = (
            TARGET_LUFS - _loudness(mixer.limited(fitted, part), true_peak=False).integrated_lufs
        )
        louder = min(gain_db + MAX_LIMITING_DB, fitted + shortfall)
        if shortfall <= LOUDNESS_TOLERANCE_LU or louder <= fitted:
            break
        fitted = louder
    return fitted


def render_mix(
    sources: Sequence[AudioSource],
    *,
    min_samples: int,
    m4a: Path,
    flac: Path,
    on_progress: Callable[[float], None],
) -> MixResult:
    """Mix, normalise and encode the tracks; at least `min_samples` long (padded silence)."""
    levels_end, measure_end, fit_end = itertools.accumulate(_PASS_WEIGHTS[:3])
    track_gains_db, end = _measure_tracks(sources, _span(on_progress, 0, levels_end))
    length = max(end, min_samples)
    mixer = _Mixer(sources, track_gains_db, length)
    measured = _loudness(
        mixer.blocks(0.0, _span(on_progress, levels_end, measure_end)), true_peak=True
    )
    gain_db = 0.0 if measured.silent else TARGET_LUFS - measured.integrated_lufs
    if measured.true_peak_dbtp + gain_db > CEILING_DBTP:
        gain_db = _fit_gain(mixer, gain_db, _span(on_progress, measure_end, fit_end))

    meter = LoudnessMeter(true_peak=True)
    envelope: list[float] = []
    with (
        AudioEncoder(
            m4a,
            container_format="ipod",
            codec="aac",
            sample_format="fltp",
            bit_rate=AAC_BIT_RATE,
            options={"movflags": "+faststart"},
        ) as aac,
        AudioEncoder(flac, container_format="flac", codec="flac", sample_format="s16") as lossless,
    ):
        for samples in mixer.limited(gain_db, _span(on_progress, fit_end, 1.0)):
            aac.write(samples)
            lossless.write(samples)
            meter.add(samples)
            if len(samples):
                envelope.append(decibels(float(np.abs(samples).max())))
        aac.finish()
        lossless.finish()
    return MixResult(
        samples=length,
        loudness=meter.result(),
        track_gains_db=tuple(track_gains_db),
        mix_gain_db=gain_db,
        envelope_db=tuple(envelope),
    )
