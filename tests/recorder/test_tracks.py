"""Placing packets on the interview clock: gaps kept, late packets dropped, drift corrected."""

from __future__ import annotations

from recorder.session import OPUS_SILENCE
from recorder.tracks import OpusTrack, PcmTrack, Vp8Track

PACKET = bytes([(31 << 3), 0xAA])  # a 20 ms CELT packet (mono), content irrelevant here


def test_consecutive_packets_follow_each_other() -> None:
    track = OpusTrack(silence=OPUS_SILENCE)
    for n in range(3):  # each leaves once its 20 ms were captured
        track.add(n * 960, PACKET, 1.02 + n * 0.02)
    assert track.start_ms == 1000  # when its first sample was
    assert track.take() == [(PACKET, 960), (PACKET, 1920), (PACKET, 2880)]
    assert track.take() == []


def test_lost_packets_become_silence_and_late_ones_are_dropped() -> None:
    track = OpusTrack(silence=OPUS_SILENCE)
    track.add(0, PACKET, 0.0)
    track.add(6 * 960, PACKET, 0.12)  # five packets lost
    track.add(2 * 960, PACKET, 0.13)  # one of them arrives far too late
    placed = track.take()
    assert [packet for packet, _ in placed] == [PACKET] + [OPUS_SILENCE] * 5 + [PACKET]
    assert placed[-1][1] == 7 * 960
    assert track.dropped == 1


def test_a_sender_clock_running_slow_is_caught_up_by_arrival_time() -> None:
    track = OpusTrack(silence=OPUS_SILENCE)
    padded = 0
    # The sender's 20 ms are 20.02 ms of ours (1000 ppm slow, far worse than real clocks).
    for n in range(50 * 120):  # two minutes, flushed once a second
        track.add(n * 960, PACKET, n * 0.02002)
        if n % 50 == 0:
            padded += sum(packet == OPUS_SILENCE for packet, _ in track.take())
    arrival_samples = 50 * 120 * 0.02002 * 48_000
    drift_ms = abs(track.written - arrival_samples) / 48
    assert drift_ms <= 40, drift_ms
    assert padded >= 3  # 120 ms of drift caught up by 20 ms of silence at a time


def test_a_stuck_writer_makes_the_track_drop_rather_than_grow() -> None:
    track = OpusTrack(silence=OPUS_SILENCE)
    for n in range(50 * 40):  # 40 s never flushed
        track.add(n * 960, PACKET, n * 0.02)
    assert len(track.take()) <= 30 * 50 + 1
    assert track.dropped >= 9 * 50


def test_a_rejoin_continues_at_the_time_it_arrives() -> None:
    track = OpusTrack(silence=OPUS_SILENCE)
    for n in range(50):
        track.add(123_456 + n * 960, PACKET, n * 0.02)
    track.take()
    track.new_stream()
    track.add(0, PACKET, 3.0)  # a new RTP stream, two seconds after the last packet
    placed = track.take()
    assert abs(placed[-1][1] - 3.02 * 48_000) <= 960
    assert sum(packet == OPUS_SILENCE for packet, _ in placed) >= 95


def test_a_late_first_packet_does_not_put_the_track_late() -> None:
    track = OpusTrack(silence=OPUS_SILENCE)
    track.add(0, PACKET, 1.065)  # 45 ms on the way (a busy loop); the rest on time
    for n in range(1, 300):
        track.add(n * 960, PACKET, 1.02 + n * 0.02)
    assert track.start_ms == 1000
    placed = track.take()
    assert [position for _, position in placed] == [(n + 1) * 960 for n in range(300)]
    track.add(300 * 960, PACKET, 1.02 + 300 * 0.02 - 0.01)  # settled: drift is the aligner's
    assert track.start_ms == 1000


def test_a_late_keyframe_does_not_put_the_video_late() -> None:
    track = Vp8Track()
    track.add(90_000, b"key", 0.52)  # many packets: it arrived 20 ms after its time
    track.add(93_000, b"delta", 0.5 + 1 / 30)
    assert track.start_ms == 500
    assert track.take() == [(0, b"key"), (3000, b"delta")]


def test_video_pts_never_go_back() -> None:
    track = Vp8Track()
    track.add(90_000, b"key", 0.5)
    track.add(93_000, b"delta", 0.54)
    track.add(91_000, b"late", 0.6)
    assert track.take() == [(0, b"key"), (3000, b"delta")]
    assert track.start_ms == 500


def test_host_pcm_pads_a_gap_and_skips_a_repeat() -> None:
    track = PcmTrack()
    frame = bytes(1920)
    track.add(frame, 2.0)
    track.add(frame, 2.02)
    track.add(frame, 3.0)  # nothing played for ~1 s (the guest was away)
    assert track.start_ms == 2000
    assert track.written == 48_000 + 960
    track.add(frame, 2.5)  # out of order: already covered
    assert track.written == 48_000 + 960
    assert len(track.take()) == 2 * (48_000 + 960)
