"""Reading finalised outputs back: decoded audio, click times, white-frame times, true peak."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from tests.recorder.synthetic import CLICK_HZ, CLICK_MS, RATE, Samples


def decode_audio(path: Path) -> Samples:
    """The file's first audio stream as mono 48 kHz float, each frame placed at its pts."""
    pieces: list[tuple[int, Samples]] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.rate == RATE
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                assert out.pts is not None and out.time_base is not None
                at = round(out.pts * out.time_base * RATE)
                pieces.append((at, out.to_ndarray()[0]))
    assert pieces and pieces[0][0] == 0, "audio must start at the zero"
    end = max(at + len(samples) for at, samples in pieces)
    audio = np.zeros(end, dtype=np.float32)
    for at, samples in pieces:
        audio[at : at + len(samples)] = samples
    return audio


def click_times_ms(audio: Samples) -> list[float]:
    """When each click (a burst at the click frequency) starts, by its envelope's half rise."""
    time = np.arange(len(audio)) / RATE
    baseband = audio * np.exp(-2j * np.pi * CLICK_HZ * time)
    window = CLICK_MS * RATE // 2000  # half a click: the envelope rises over it, centred
    envelope = np.abs(np.convolve(baseband, np.ones(window) / window, mode="same"))
    loud = envelope > 0.25 * envelope.max()
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    starts, ends = edges[::2] + 1, edges[1::2] + 1
    times = []
    for start, end in zip(starts, ends, strict=False):
        peak = envelope[start:end].max()
        onset = start
        while onset > 0 and envelope[onset - 1] >= peak / 2:
            onset -= 1
        while envelope[onset] < peak / 2:
            onset += 1
        times.append(onset * 1000 / RATE)
    return times


def tone_level(audio: Samples, hz: float, start_ms: int, end_ms: int) -> float:
    """The amplitude of the `hz` tone between two times."""
    start, end = start_ms * RATE // 1000, end_ms * RATE // 1000
    time = np.arange(start, end) / RATE
    return float(2 * np.abs(np.mean(audio[start:end] * np.exp(-2j * np.pi * hz * time))))


def white_frame_times_ms(path: Path) -> tuple[list[float], list[float]]:
    """When each run of white frames starts, and every frame's time (both in ms)."""
    flashes, frames = [], []
    bright_before = False
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            assert frame.time is not None
            luma = frame.to_ndarray(format="gray").mean()
            bright = bool(luma > 180)
            if bright and not bright_before:
                flashes.append(frame.time * 1000)
            bright_before = bright
            frames.append(frame.time * 1000)
    return flashes, frames


def true_peak_dbtp(audio: Samples, factor: int = 8) -> float:
    """The true peak, by ideal (FFT) oversampling, in dBTP."""
    signal: npt.NDArray[np.float64] = audio.astype(np.float64)
    spectrum = np.fft.rfft(signal)
    padded = np.zeros(len(signal) * factor // 2 + 1, dtype=complex)
    padded[: len(spectrum)] = spectrum
    oversampled = np.fft.irfft(padded, len(signal) * factor) * factor
    return float(20 * np.log10(np.abs(oversampled).max()))


def assert_times(found: list[float], expected: list[float], tolerance_ms: float) -> None:
    """Each expected time was found, in order, within the tolerance, and nothing else was."""
    assert len(found) == len(expected), f"found {found}, expected {expected}"
    errors = [round(a - e, 1) for a, e in zip(found, expected, strict=True)]
    assert all(abs(error) <= tolerance_ms for error in errors), f"errors (ms): {errors}"
