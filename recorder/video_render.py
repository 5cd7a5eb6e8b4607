"""The video podcast: the guest's camera placed on the interview clock, encoded with the mix.

The output runs at a constant frame rate from the interview's zero: each output frame shows
the latest camera frame due by its midpoint (so a frame lands within half a frame of its
timestamp), the last frame holds through gaps and after the camera stops, and a card (dark,
with the mix's waveform) stands in before the camera starts or when there is no camera. The
mix's AAC packets are copied in, interleaved with the video as it is encoded.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from recorder.ivf_reader import IvfInfo, read_ivf

logger = logging.getLogger(__name__)

FPS = 30
STILL_FPS = 5  # a card alone changes nothing: few frames keep it cheap
CARD_SIZE = (1280, 720)
X264_OPTIONS = {"crf": "23", "preset": "veryfast"}
KEY_FRAME_S = 2  # a key frame at least this often, for seeking
THUMBNAIL_AT = 0.1  # how far into the camera's span the thumbnail is taken
_BRIGHT_ENOUGH = 40.0  # mean luma (of 16-235) a thumbnail needs not to look black
_THUMBNAIL_TRIES = 300  # camera frames to look through for a bright one before settling
_AUDIO_LEAD_S = 0.1  # audio packets are written this far ahead of the video
_BACKGROUND = (np.array([24, 26, 36]), np.array([10, 11, 16]))  # card gradient, top to bottom
_ACCENT = np.array([236, 72, 96], dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class VideoSource:
    """The guest's camera file and where it starts on the interview clock."""

    path: Path
    start_ms: int
    info: IvfInfo

    @property
    def end_s(self) -> float:
        """When its last frame starts, in seconds from the interview's zero."""
        return self.start_ms / 1000 + float(self.info.last_pts * self.info.time_base)


@dataclass(frozen=True, slots=True)
class VideoResult:
    """What was encoded."""

    width: int
    height: int


def card(width: int, height: int, envelope_db: Sequence[float]) -> av.VideoFrame:
    """A dark card with the mix's waveform as bars: the picture when there is no camera."""
    shade = np.linspace(0.0, 1.0, height)[:, None]
    top, bottom = _BACKGROUND
    row = (top[None, :] * (1 - shade) + bottom[None, :] * shade).astype(np.uint8)
    image = np.repeat(row[:, None, :], width, axis=1)
    bars = 48
    levels = np.array([max(-60.0, level) for level in envelope_db] or [-60.0])
    edges = np.linspace(0, len(levels), bars + 1).astype(int)
    peaks = [levels[low : max(low + 1, high)].max() for low, high in itertools.pairwise(edges)]
    heights = np.clip((np.array(peaks) + 60) / 60, 0.04, 1.0) * height * 0.3
    pitch = width * 0.6 / bars
    left = width * 0.2
    for index, bar in enumerate(heights):
        x0 = int(left + index * pitch)
        x1 = max(x0 + 1, int(left + (index + 0.6) * pitch))
        y0, y1 = int(height / 2 - bar / 2), int(height / 2 + bar / 2) + 1
        image[y0:y1, x0:x1] = _ACCENT
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def write_jpeg(frame: av.VideoFrame, path: Path) -> None:
    """Save one frame as a JPEG (JFIF) file."""
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height = frame.width, frame.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    encoder.sample_aspect_ratio = Fraction(1, 1)  # makes the encoder write the JFIF header
    encoder.qscale = True
    encoder.global_quality = 3 * 118  # q 3 (FF_QP2LAMBDA = 118): high quality
    image = frame.reformat(format="yuvj420p")
    image.pts = 0
    packets = encoder.encode(image) + encoder.encode(None)
    path.write_bytes(b"".join(bytes(packet) for packet in packets))


def _luma(frame: av.VideoFrame) -> float:
    """Mean luma of a yuv420p frame."""
    return float(frame.to_ndarray()[: frame.height].mean())


def _fit(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The frame at the output size and format, letterboxed if its shape differs."""
    if (frame.width, frame.height) == (width, height):
        return frame.reformat(format="yuv420p")
    scale = min(width / frame.width, height / frame.height)
    inner_w = min(width, max(2, round(frame.width * scale / 2) * 2))
    inner_h = min(height, max(2, round(frame.height * scale / 2) * 2))
    scaled = frame.reformat(inner_w, inner_h, "yuv420p")
    if (inner_w, inner_h) == (width, height):
        return scaled
    source = scaled.to_ndarray().ravel()
    canvas = np.empty(width * height * 3 // 2, dtype=np.uint8)
    canvas[: width * height] = 16  # black, in limited range
    canvas[width * height :] = 128
    offsets = [0, width * height, width * height * 5 // 4]
    inner_offsets = [0, inner_w * inner_h, inner_w * inner_h * 5 // 4]
    for plane, divisor in enumerate((1, 2, 2)):
        out_w, out_h, in_w, in_h = (v // divisor for v in (width, height, inner_w, inner_h))
        target = canvas[offsets[plane] : offsets[plane] + out_w * out_h].reshape(out_h, out_w)
        start = inner_offsets[plane]
        patch = source[start : start + in_w * in_h].reshape(in_h, in_w)
        top, left = (out_h - in_h) // 2, (out_w - in_w) // 2
        target[top : top + in_h, left : left + in_w] = patch
    return av.VideoFrame.from_ndarray(canvas.reshape(height * 3 // 2, width), format="yuv420p")


def _camera(source: VideoSource) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded camera frames with their time (s) on the interview clock, in file order."""
    decoder = av.CodecContext.create("vp8", "r")
    start_s, time_base = source.start_ms / 1000, source.info.time_base
    for pts, data in read_ivf(source.path):
        packet = av.Packet(data)
        packet.pts = pts
        try:
            frames = decoder.decode(packet)
        except av.FFmpegError as error:
            logger.warning("skipping a damaged frame of %s: %s", source.path, error)
            continue
        for frame in frames:
            assert isinstance(frame, av.VideoFrame)
            yield start_s + float((pts if frame.pts is None else frame.pts) * time_base), frame


class _Thumbnail:
    """Picks the first bright enough camera frame from 10 % into the camera's span."""

    def __init__(self, source: VideoSource) -> None:
        self._from_s = source.start_ms / 1000 + THUMBNAIL_AT * (
            source.end_s - source.start_ms / 1000
        )
        self._tries = 0
        self.frame: av.VideoFrame | None = None
        self._luma = -1.0

    @property
    def settled(self) -> bool:
        """Whether looking further is pointless."""
        return self._luma >= _BRIGHT_ENOUGH or self._tries >= _THUMBNAIL_TRIES

    def offer(self, time_s: float, frame: av.VideoFrame) -> None:
        """Consider a camera frame (at the output size) shown at `time_s`."""
        if time_s < self._from_s or self.settled:
            return
        self._tries += 1
        luma = _luma(frame)
        if luma > self._luma:
            self.frame, self._luma = frame, luma


def render_video(
    source: VideoSource | None,
    *,
    duration_s: float,
    audio: Path,
    output: Path,
    thumbnail: Path,
    envelope_db: Sequence[float],
    on_progress: Callable[[float], None],
) -> VideoResult:
    """Encode the interview's video with the mix's audio into an MP4 (moov first)."""
    if source is None:
        (width, height), fps = CARD_SIZE, STILL_FPS
    else:
        width, height, fps = source.info.width // 2 * 2, source.info.height // 2 * 2, FPS
    still = card(width, height, envelope_db)
    frames = max(1, math.ceil(duration_s * fps))
    time_base = Fraction(1, fps)
    picker = None if source is None else _Thumbnail(source)
    with (
        av.open(str(audio)) as mix,
        av.open(str(output), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        video = out.add_stream("libx264", rate=fps, options=X264_OPTIONS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = KEY_FRAME_S * fps
        audio_in = mix.streams.audio[0]
        audio_out = out.add_stream_from_template(audio_in)
        audio_base = audio_in.time_base or Fraction(1, audio_in.rate)
        packets = (packet for packet in mix.demux(audio_in) if packet.size)
        pending = next(packets, None)
        camera = iter(()) if source is None else _camera(source)
        upcoming = next(camera, None)
        shown: av.VideoFrame = still
        for index in range(frames):
            now = index / fps
            while pending is not None and (
                pending.pts is None or pending.pts * audio_base < now + _AUDIO_LEAD_S
            ):
                pending.stream = audio_out
                out.mux(pending)
                pending = next(packets, None)
            due = None
            while upcoming is not None and upcoming[0] <= now + 0.5 / fps:
                due, upcoming = upcoming[1], next(camera, None)
            if due is not None:
                shown = _fit(due, width, height)
                if picker is not None:
                    picker.offer(now, shown)
            shown.pts, shown.time_base = index, time_base
            out.mux(video.encode(shown))
            on_progress((index + 1) / frames)
        out.mux(video.encode(None))
        while pending is not None:
            pending.stream = audio_out
            out.mux(pending)
            pending = next(packets, None)
    chosen = still if picker is None or picker.frame is None else picker.frame
    write_jpeg(chosen, thumbnail)
    return VideoResult(width, height)
