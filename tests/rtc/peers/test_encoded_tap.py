"""The encoded-frame tap: it fits aiortc's receiver and says how long frames were held."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from rtc.peers.encoded_tap import _ARRIVALS_KEPT, TapError, _TappedQueue, tap_receiver

Seen = list[tuple[str, int, bytes, float]]


def _frame(timestamp: int) -> tuple[Any, Any]:
    return SimpleNamespace(mimeType="audio/opus"), SimpleNamespace(timestamp=timestamp, data=b"x")


async def test_the_tap_fits_the_receivers_of_this_aiortc() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        tap_receiver(receiver, lambda *frame: None, decode=True)
        # An aiortc that moved the queue: a loud error, not a recorder that records nothing.
        other = pc.addTransceiver("video").receiver
        other._RTCRtpReceiver__jitter_buffer = None  # type: ignore[attr-defined]
        with pytest.raises(TapError):
            tap_receiver(other, lambda *frame: None, decode=False)
    finally:
        await pc.close()


def test_a_frame_held_by_the_jitter_buffer_says_when_its_first_packet_came() -> None:
    seen: Seen = []
    now_ms = [1000]
    tapped = _TappedQueue(lambda *frame: seen.append(frame), decode=False, now_ms=lambda: now_ms[0])
    tapped.arrived(RtpPacket(timestamp=960))
    now_ms[0] += 80
    tapped.arrived(RtpPacket(timestamp=960))  # a later packet of the same frame
    now_ms[0] += 40
    tapped.released(960)
    tapped.put(_frame(0))  # aiortc rebases the timestamps it puts
    tapped.put(_frame(960))  # never seen arriving: taken as just arrived
    assert [(codec, ts) for codec, ts, _, _ in seen] == [("audio/opus", 0), ("audio/opus", 960)]
    assert seen[0][3] == 0.12 and seen[1][3] == 0
    assert tapped.qsize() == 0  # video is not decoded


def test_arrivals_of_frames_never_let_out_are_forgotten() -> None:
    tapped = _TappedQueue(lambda *frame: None, decode=True)
    for timestamp in range(_ARRIVALS_KEPT * 3):
        tapped.arrived(RtpPacket(timestamp=timestamp))
    assert len(tapped._arrivals) == _ARRIVALS_KEPT
    tapped.put(_frame(0))
    assert tapped.qsize() == 1  # audio goes on to the decoder
