"""Decoding recorded audio tracks and mixing them on the interview clock, a block at a time.

Each track is decoded to mono 48 kHz float and every decoded frame is placed at its own
timestamp plus the track's start offset: silence fills what no frame covers (before the
track starts, in gaps, after it ends), and a frame that starts before the end of the one
before it loses its overlapping start. A file cut short by a crash is read up to the cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from recorder.loudness import SAMPLE_RATE, Samples

logger = logging.getLogger(__name__)

BLOCK = SAMPLE_RATE  # samples per mixed block: one second


@dataclass(frozen=True, slots=True)
class AudioSource:
    """An audio track's file and where it starts on the interview clock."""

    path: Path
    start_ms: int

    @property
    def start(self) -> int:
        """The start, in samples from the interview's zero."""
        return self.start_ms * SAMPLE_RATE // 1000


def decode(
    path: Path, on_progress: Callable[[float], None] | None = None
) -> Iterator[tuple[int | None, Samples]]:
    """Mono float frames with their first sample's position in the file (None if unknown).

    A packet that does not decode is skipped; the file ends at the first damage to the
    container (a cut), keeping what came before. `on_progress` hears the fraction read.
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        logger.warning("cannot open %s: %s", path, error)
        return
    with container:
        if not container.streams.audio:
            logger.warning("%s has no audio stream", path)
            return
        size = max(1, path.stat().st_size)
        resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
        packets = container.demux(container.streams.audio[0])
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as error:
                logger.warning("%s is damaged, keeping what came before: %s", path, error)
                break
            try:
                frames = packet.decode()
            except av.FFmpegError as error:
                logger.warning("skipping a packet of %s that does not decode: %s", path, error)
                continue
            for frame in frames:
                yield from _placed(resampler.resample(frame))
            if on_progress is not None and packet.pos is not None and packet.pos >= 0:
                on_progress(packet.pos / size)
        yield from _placed(resampler.resample(None))


def _placed(frames: list[av.AudioFrame]) -> Iterator[tuple[int | None, Samples]]:
    """Each frame's position in samples (None if unknown) and its channels' mean."""
    for frame in frames:
        position = None
        if frame.pts is not None and frame.time_base is not None:
            position = round(frame.pts * frame.time_base * SAMPLE_RATE)
        yield position, frame.to_ndarray().mean(axis=0, dtype=np.float32)


class _Cursor:
    """One track's samples for consecutive blocks of the timeline."""

    def __init__(self, source: AudioSource) -> None:
        self._frames = decode(source.path)
        self._start = source.start
        self._chunk: tuple[int, Samples] | None = None
        self._end = self._start  # the timeline position after the last sample placed
        self._done = False

    def add_into(self, block: Samples, position: int, gain: float) -> None:
        """Add this track's samples for `block` (which starts at `position`) times `gain`."""
        block_end = position + len(block)
        while not self._done:
            if self._chunk is None:
                self._chunk = self._next()
                continue
            at, samples = self._chunk
            if at >= block_end:
                return
            low, high = max(at, position), min(at + len(samples), block_end)
            if high > low:
                block[low - position : high - position] += gain * samples[low - at : high - at]
            if at + len(samples) > block_end:
                return
            self._chunk = None

    def _next(self) -> tuple[int, Samples] | None:
        for offset, samples in self._frames:
            at = self._end if offset is None else self._start + offset
            if at < self._end:  # overlaps what was placed: keep only the new part
                samples, at = samples[self._end - at :], self._end
            if len(samples):
                self._end = at + len(samples)
                return at, samples
        self._done = True
        return None


def mix(
    sources: Sequence[AudioSource], gains: Sequence[float], *, length: int
) -> Iterator[Samples]:
    """The tracks times their gains, summed, in blocks from the interview's zero: `length`
    samples in all, silence where no track has any."""
    cursors = [_Cursor(source) for source in sources]
    for position in range(0, length, BLOCK):
        block = np.zeros(min(BLOCK, length - position), dtype=np.float32)
        for cursor, gain in zip(cursors, gains, strict=True):
            cursor.add_into(block, position, gain)
        yield block
