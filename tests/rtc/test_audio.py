"""The outbound encoder: the host's voice as the Opus packets aiortc sends as they are."""

from __future__ import annotations

import av
import numpy as np

from rtc.audio import FRAME_SAMPLES, OUTBOUND_RATE, OUTBOUND_TIME_BASE, OutboundEncoder, rms


def test_each_frame_becomes_one_packet_stamped_with_its_time_that_decodes_to_the_voice() -> None:
    encoder = OutboundEncoder()
    t = np.arange(FRAME_SAMPLES * 50) / OUTBOUND_RATE
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    frames = tone.reshape(50, FRAME_SAMPLES)
    packets = [encoder.encode(frame, index * FRAME_SAMPLES) for index, frame in enumerate(frames)]
    assert [p.pts for p in packets] == [i * FRAME_SAMPLES for i in range(50)]
    assert all(p.time_base == OUTBOUND_TIME_BASE and 0 < p.size < 400 for p in packets)

    decoder = av.CodecContext.create("opus", "r")
    decoded = np.concatenate(
        [frame.to_ndarray()[0] for packet in packets for frame in decoder.decode(packet)]
    )
    assert decoded.size == FRAME_SAMPLES * 50
    level = rms((decoded[FRAME_SAMPLES * 10 :] * 32768).astype(np.int16))  # past the codec delay
    assert abs(level - rms(tone)) < 0.1 * rms(tone)


def test_silence_is_cheap_to_send() -> None:
    encoder = OutboundEncoder()
    packets = [encoder.encode(np.zeros(FRAME_SAMPLES, np.int16), i * 960) for i in range(20)]
    assert max(p.size for p in packets[5:]) < 20  # DTX-like: a few bytes each
