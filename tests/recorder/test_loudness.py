"""The loudness meter against known values, and the true-peak limiter's ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from recorder.loudness import LoudnessMeter, TruePeakLimiter
from tests.recorder.analysis import true_peak_dbtp
from tests.recorder.synthetic import RATE, Samples


def sine(amplitude: float, hz: float, seconds: float) -> Samples:
    """A sine tone."""
    time = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * time)).astype(np.float32)


def peaky_speech(seconds: float) -> Samples:
    """Band-limited noise (like speech, under 8 kHz) with loud bursts: a crest to limit."""
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * RATE)))
    spectrum[np.fft.rfftfreq(int(seconds * RATE), 1 / RATE) > 8_000] = 0
    noise = np.fft.irfft(spectrum, int(seconds * RATE))
    signal = 0.1 * noise / noise.std()
    for second in range(1, int(seconds)):
        signal[second * RATE : second * RATE + 2_400] *= 12
    return np.asarray(signal, dtype=np.float32)


def limit(limiter: TruePeakLimiter, signal: Samples, block: int) -> Samples:
    """Run a signal through the limiter in blocks of `block` samples."""
    pieces = [limiter.process(signal[at : at + block]) for at in range(0, len(signal), block)]
    return np.concatenate([*pieces, limiter.flush()])


def test_a_1khz_sine_reads_its_known_loudness_and_peak() -> None:
    meter = LoudnessMeter(true_peak=True)
    for block in np.array_split(sine(0.1, 1_000, 10), 7):
        meter.add(block)
    result = meter.result()
    assert result.integrated_lufs == pytest.approx(-23.0, abs=0.1)  # -20 dBFS peak: -23 LUFS
    assert result.true_peak_dbtp == pytest.approx(-20.0, abs=0.1)
    assert not result.silent


def test_silence_reads_as_silent_with_a_finite_peak() -> None:
    meter = LoudnessMeter(true_peak=True)
    meter.add(np.zeros(RATE * 3, dtype=np.float32))
    result = meter.result()
    assert result.silent
    assert result.true_peak_dbtp == -120.0


def test_the_limiter_keeps_true_peaks_under_its_ceiling() -> None:
    signal = peaky_speech(6)
    assert true_peak_dbtp(signal) > 10
    limited = limit(TruePeakLimiter(-1.5), signal, RATE)
    assert len(limited) == len(signal)
    assert true_peak_dbtp(limited) <= -1.4
    quiet = slice(int(1.5 * RATE), int(1.9 * RATE))  # far from any burst: untouched
    assert np.array_equal(limited[quiet], signal[quiet])


def test_the_limiter_does_not_depend_on_block_sizes() -> None:
    signal = peaky_speech(3)
    whole = limit(TruePeakLimiter(-1.5), signal, len(signal))
    for block in (777, 4_096, 100_000):
        assert np.allclose(limit(TruePeakLimiter(-1.5), signal, block), whole, atol=1e-6)


def test_the_limiter_leaves_a_signal_under_the_ceiling_alone() -> None:
    signal = sine(0.5, 440, 2)
    assert np.array_equal(limit(TruePeakLimiter(-1.5), signal, 10_000), signal)
