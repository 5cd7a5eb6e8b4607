"""The outbound mixer: host queue, barge-in flush, bounded buffer, clipping-safe sources."""

from __future__ import annotations

import numpy as np

from rtc.audio import FRAME_SAMPLES, OUTBOUND_RATE
from rtc.mixer import OneShotSource, OutboundMixer


def tone(samples: int, level: int = 10_000) -> np.ndarray:
    return np.full(samples, level, np.int16)


def test_idle_mixer_plays_silence() -> None:
    frame, had_host = OutboundMixer().next_frame()
    assert frame.shape == (FRAME_SAMPLES,) and not frame.any() and not had_host


def test_host_audio_plays_in_order_across_chunk_boundaries() -> None:
    mixer = OutboundMixer()
    mixer.push_host(np.arange(0, 700, dtype=np.int16))
    mixer.push_host(np.arange(700, 2000, dtype=np.int16))
    first, _ = mixer.next_frame()
    second, had_host = mixer.next_frame()
    assert had_host
    assert np.array_equal(np.concatenate([first, second])[:1920], np.arange(1920))
    third, had_host = mixer.next_frame()
    assert had_host and np.array_equal(third[:80], np.arange(1920, 2000)) and not third[80:].any()
    assert mixer.host_pending_samples == 0
    assert not mixer.next_frame()[1]


def test_flush_drops_everything_queued_at_once() -> None:
    mixer = OutboundMixer()
    mixer.push_host(tone(OUTBOUND_RATE * 5))
    mixer.next_frame()
    assert mixer.flush_host() == OUTBOUND_RATE * 5 - FRAME_SAMPLES
    frame, had_host = mixer.next_frame()
    assert not had_host and not frame.any()


def test_the_host_queue_is_bounded_and_drops_the_oldest() -> None:
    mixer = OutboundMixer(max_host_buffer_s=1.0)
    mixer.push_host(tone(OUTBOUND_RATE, level=1))
    mixer.push_host(tone(OUTBOUND_RATE // 2, level=2))
    assert mixer.host_pending_samples <= OUTBOUND_RATE
    assert mixer.dropped_samples == OUTBOUND_RATE
    assert mixer.next_frame()[0][0] == 2


def test_sources_mix_under_the_host_without_wrapping_around() -> None:
    sting = OneShotSource(tone(FRAME_SAMPLES * 2, level=30_000))
    mixer = OutboundMixer([sting])
    mixer.push_host(tone(FRAME_SAMPLES, level=30_000))
    frame, had_host = mixer.next_frame()
    assert had_host and frame.max() == 32767  # clipped, not wrapped to negative
    frame, had_host = mixer.next_frame()
    assert not had_host and frame.max() == 30_000
    assert not mixer.next_frame()[0].any()  # the sting has finished and is gone


def test_a_source_gain_scales_it() -> None:
    frame, _ = OutboundMixer([OneShotSource(tone(FRAME_SAMPLES), gain=0.5)]).next_frame()
    assert frame.max() == 5_000
