"""Stills of the guest's VP8 video: the backlog, the pacer and the decoder, without asyncio."""

from __future__ import annotations

from rtc.video import (
    KEYFRAME_RETRY_FRAMES,
    EncodedFrame,
    FrameBacklog,
    Pacer,
    SnapshotDecoder,
    is_vp8_keyframe,
    still_size,
)
from tests.media.vp8 import Vp8Stream, jpeg_size, level_of, mean_luma


def encoded(frames: list[bytes]) -> list[EncodedFrame]:
    return [EncodedFrame(i, data, is_vp8_keyframe(data)) for i, data in enumerate(frames)]


def test_a_stream_starts_with_its_only_keyframe_unless_one_is_asked_for() -> None:
    stream = Vp8Stream()
    assert [is_vp8_keyframe(frame) for frame in stream.frames(5)] == [True] + [False] * 4
    assert is_vp8_keyframe(stream.next(keyframe=True))
    assert not is_vp8_keyframe(b"")


def test_the_backlog_refuses_frames_until_a_keyframe_and_asks_for_one() -> None:
    stream = Vp8Stream()
    stream.next()  # the keyframe is lost
    backlog = FrameBacklog(limit=10)
    asks = [backlog.push(i, frame) for i, frame in enumerate(stream.frames(KEYFRAME_RETRY_FRAMES))]
    assert asks[0] and not any(asks[1:])  # asked at once, then not for every frame
    assert backlog.push(99, stream.next())  # asked again: a PLI may have been lost
    assert len(backlog) == 0 and backlog.waiting_for_keyframe
    assert backlog.dropped == KEYFRAME_RETRY_FRAMES + 1

    assert not backlog.push(100, stream.next(keyframe=True))
    assert not backlog.push(101, stream.next())
    assert [frame.timestamp for frame in backlog.take()] == [100, 101]
    assert not backlog.waiting_for_keyframe


def test_a_full_backlog_is_emptied_and_waits_for_the_next_keyframe() -> None:
    stream = Vp8Stream()
    backlog = FrameBacklog(limit=10)
    for i, frame in enumerate(stream.frames(10)):
        assert not backlog.push(i, frame)
    assert len(backlog) == 10
    assert backlog.push(10, stream.next())  # one too many: start again from a keyframe
    assert len(backlog) == 0 and backlog.dropped == 11
    for i in range(11, 40):
        backlog.push(i, stream.next())
        assert len(backlog) == 0  # never more than the limit, nothing kept without its keyframe
    backlog.push(40, stream.next(keyframe=True))
    assert [frame.timestamp for frame in backlog.take()] == [40]


def test_a_keyframe_makes_the_frames_before_it_useless() -> None:
    stream = Vp8Stream()
    backlog = FrameBacklog(limit=10)
    for i, frame in enumerate(stream.frames(4)):
        backlog.push(i, frame)
    backlog.push(4, stream.next(keyframe=True))
    assert [frame.timestamp for frame in backlog.take()] == [4]
    assert backlog.dropped == 4


def test_a_resync_drops_what_waits_since_it_depends_on_the_hole() -> None:
    stream = Vp8Stream()
    backlog = FrameBacklog(limit=10)
    for i, frame in enumerate(stream.frames(3)):
        backlog.push(i, frame)
    backlog.resync()
    assert len(backlog) == 0 and backlog.waiting_for_keyframe and backlog.dropped == 3
    assert backlog.push(3, stream.next())


def test_the_pacer_allows_one_event_per_interval() -> None:
    now = [100.0]
    pacer = Pacer(1.0, clock=lambda: now[0])
    assert pacer.due() and pacer.wait_s() == 0
    pacer.mark()
    now[0] = 100.4
    assert not pacer.due() and abs(pacer.wait_s() - 0.6) < 1e-9
    now[0] = 101.0
    assert pacer.due()


def test_every_frame_is_decoded_and_the_newest_becomes_a_jpeg() -> None:
    stream = Vp8Stream()
    decoder = SnapshotDecoder()
    first = decoder.decode(encoded(stream.frames(10)), still=False)
    assert (first.frames, first.jpeg, first.failed) == (10, None, False)
    second = decoder.decode(encoded(stream.frames(10)), still=True)
    assert second.frames == 10 and second.jpeg is not None and not second.failed
    assert second.jpeg.startswith(b"\xff\xd8")
    assert jpeg_size(second.jpeg) == (320, 240)  # small pictures are not scaled up
    assert abs(mean_luma(second.jpeg) - level_of(19)) < 4  # the newest frame, not an older one


def test_a_large_picture_is_scaled_to_768_pixels_on_its_long_side() -> None:
    stream = Vp8Stream(1280, 720)
    decoded = SnapshotDecoder().decode(encoded(stream.frames(2)), still=True)
    assert decoded.jpeg is not None and jpeg_size(decoded.jpeg) == (768, 432)
    assert still_size(480, 640) == (480, 640)
    assert still_size(1080, 1920) == (432, 768)
    assert still_size(1001, 333, max_side=500) == (500, 166)


def test_a_frame_that_cannot_be_decoded_stops_the_batch() -> None:
    stream = Vp8Stream()
    stream.next()  # the decoder never sees the keyframe
    decoded = SnapshotDecoder().decode(encoded(stream.frames(3)), still=True)
    assert decoded.failed and decoded.frames == 0 and decoded.jpeg is None
