"""Finalisation end to end on synthetic recordings: sync, loudness, formats, progress, damage.

The recordings (tests/recorder/synthetic.py) put every track at a different start offset,
with gaps in the guest's audio and video; the guest claps on camera (a click and a white
frame at the same moment) and the host's voice has clicks of its own. Every output is
decoded back and the events are found where the interview clock says they happened.
"""

from __future__ import annotations

import itertools
import json
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder import finalise as finalise_module
from recorder.finalise import FinalOutputs, NothingRecordedError, TranscriptLine, finalise
from recorder.loudness import LoudnessMeter
from recorder.manifest import Manifest, write_manifest
from tests.media.speech import speech_pcm
from tests.recorder.analysis import (
    assert_times,
    click_times_ms,
    decode_audio,
    tone_level,
    true_peak_dbtp,
    white_frame_times_ms,
)
from tests.recorder.synthetic import Plan, Recording, camera_frame, record, write_wav

PLAN = Plan()
CLICKS_MS = sorted(PLAN.claps_ms + PLAN.host_clicks_ms)
CLICK_TOLERANCE_MS = 20
FRAME_MS = 1000 / 30  # the output's frame duration
LONG_ANSWER = (
    "I started recording conversations with my grandparents years ago, and what began as a "
    "way to keep their stories turned into a habit of asking everyone I meet about the one "
    "decision that changed their lives."
)
TRANSCRIPT = [
    TranscriptLine("ai", "Welcome to the show. Tell us about yourself.", 1_500),
    TranscriptLine("user", LONG_ANSWER, 2_400),
    TranscriptLine("ai", "That is <wonderful> & rare.", 5_000, end_ms=5_600),
    TranscriptLine("user", "   ", 5_100),
    TranscriptLine("user", "Thank you!", 5_400),
    TranscriptLine("ai", "Thanks for coming.", 5_400),
]


@dataclass(frozen=True, slots=True)
class Finalised:
    """A finalised recording and what finalisation reported."""

    recording: Recording
    outputs: FinalOutputs
    progress: list[float]

    def path(self, relative: str) -> Path:
        """An output's absolute path."""
        return self.recording.folder / relative


def run(folder: Path, plan: Plan = PLAN) -> Finalised:
    """Record synthetic tracks into `folder` and finalise them, keeping every progress report."""
    recording = record(folder, plan)
    progress: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finalise_module, "PROGRESS_INTERVAL_S", 0.0)
        outputs = finalise(folder, TRANSCRIPT, on_progress=progress.append)
    return Finalised(recording, outputs, progress)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Finalised:
    """The standard recording, finalised once for the module."""
    return run(tmp_path_factory.mktemp("finalise") / "session")


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types, in file order."""
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            size = struct.unpack_from(">Q", data, offset + 8)[0]
        boxes.append(kind.decode("ascii"))
        offset += size
    return boxes


def test_every_output_is_listed_and_written(done: Finalised) -> None:
    paths = done.outputs.paths()
    assert set(paths) == {
        "mix",
        "mix_lossless",
        "video",
        "thumbnail",
        "transcript_json",
        "transcript_text",
        "transcript_srt",
        "transcript_vtt",
    }
    for relative in paths.values():
        assert relative.startswith("final/")
        assert done.path(relative).stat().st_size > 0
    assert sorted(p.name for p in (done.recording.folder / "final").iterdir()) == sorted(
        Path(relative).name for relative in paths.values()
    ), "no temporary file is left behind"
    assert done.outputs.duration_ms == PLAN.duration_ms
    assert done.outputs.camera
    assert (done.outputs.video_width, done.outputs.video_height) == PLAN.size


def test_the_mp4_is_h264_and_aac_with_the_moov_first(done: Finalised) -> None:
    path = done.path(done.outputs.video)
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (video.codec_context.width, video.codec_context.height) == PLAN.size
        assert audio.codec_context.name == "aac"
        assert audio.rate == 48_000
        assert container.duration is not None
        assert container.duration / 1e6 >= PLAN.duration_ms / 1000
        assert video.duration is not None and video.time_base is not None
        assert float(video.duration * video.time_base) >= PLAN.duration_ms / 1000 - FRAME_MS / 1000


def test_video_frames_run_at_a_constant_rate_from_the_zero(done: Finalised) -> None:
    _, frames = white_frame_times_ms(done.path(done.outputs.video))
    assert frames[0] == 0
    assert np.allclose(np.diff(frames), FRAME_MS, atol=0.5)
    assert frames[-1] + FRAME_MS >= PLAN.duration_ms - 0.5


def test_a_card_shows_before_the_camera_and_its_last_frame_holds_through_a_gap(
    done: Finalised,
) -> None:
    with av.open(str(done.path(done.outputs.video))) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    camera = camera_frame(PLAN, 0, white=False)
    before = frames[round(0.5 * 30)]  # the camera starts at 1 s
    assert before.mean() < 40, "the dark card"
    gap_start, gap_end = PLAN.video_gap_ms
    last_before_gap = frames[round(gap_start / FRAME_MS) - 1]
    for time_ms in (gap_start + 200, gap_end - 200):
        held = frames[round(time_ms / FRAME_MS)]
        assert abs(held.mean() - camera.mean()) < 10
        assert np.abs(held.astype(int) - last_before_gap.astype(int)).mean() < 3


@pytest.mark.parametrize("output", ["mix", "mix_lossless", "video"])
def test_every_click_lands_on_time(done: Finalised, output: str) -> None:
    audio = decode_audio(done.path(done.outputs.paths()[output]))
    assert len(audio) >= PLAN.duration_ms * 48
    assert_times(click_times_ms(audio), [float(t) for t in CLICKS_MS], CLICK_TOLERANCE_MS)


def test_white_frames_land_on_time_and_with_their_clicks(done: Finalised) -> None:
    path = done.path(done.outputs.video)
    flashes, _ = white_frame_times_ms(path)
    assert_times(flashes, [float(t) for t in PLAN.claps_ms], FRAME_MS)
    clicks = click_times_ms(decode_audio(path))
    nearest = [min(clicks, key=lambda click: abs(click - flash)) for flash in flashes]
    assert_times(flashes, nearest, FRAME_MS)


def test_the_mix_is_at_podcast_loudness_under_the_peak_ceiling(done: Finalised) -> None:
    for output in (done.outputs.mix_lossless, done.outputs.mix):
        meter = LoudnessMeter(true_peak=False)
        meter.add(decode_audio(done.path(output)))
        assert meter.result().integrated_lufs == pytest.approx(-16.0, abs=1.0), output
    lossless = decode_audio(done.path(done.outputs.mix_lossless))
    assert true_peak_dbtp(lossless) <= -1.0
    assert done.outputs.loudness_lufs == pytest.approx(-16.0, abs=0.5)
    assert done.outputs.true_peak_dbtp <= -1.0


def test_a_peaky_synthesised_voice_is_limited_yet_reaches_the_target(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    recording = record(folder, Plan(video=False))
    pcm = speech_pcm("Welcome to the show. Today we talk about the art of listening.", 48_000)
    speech = (np.frombuffer(pcm, dtype="<i2") / 32768).astype(np.float32)
    write_wav(recording.files["host-audio"], speech)
    outputs = finalise(folder, TRANSCRIPT, on_progress=lambda _: None)
    lossless = decode_audio(folder / outputs.mix_lossless)
    meter = LoudnessMeter(true_peak=False)
    meter.add(lossless)
    assert meter.result().integrated_lufs == pytest.approx(-16.0, abs=0.5)
    assert true_peak_dbtp(lossless) <= -1.0


def test_the_thumbnail_is_a_camera_frame_as_jpeg(done: Finalised) -> None:
    path = done.path(done.outputs.thumbnail)
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    assert b"JFIF" in data[:32]
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == PLAN.size
    picture = frame.to_ndarray(format="rgb24").astype(int)
    expected = camera_frame(PLAN, 0, white=False).astype(int)
    assert abs(picture.mean() - expected.mean()) < 10, "a camera frame, not black or a flash"


def test_the_json_transcript_carries_every_line_with_its_times(done: Finalised) -> None:
    document = json.loads(done.path(done.outputs.transcript_json).read_text("utf-8"))
    assert document["duration_ms"] == PLAN.duration_ms
    lines = [
        (x["role"], x["speaker"], x["text"], x["start_ms"], x["end_ms"]) for x in document["lines"]
    ]
    assert lines[:3] == [
        ("ai", "Host", "Welcome to the show. Tell us about yourself.", 1_500, 2_400),
        ("user", "Guest", LONG_ANSWER, 2_400, 5_000),
        ("ai", "Host", "That is <wonderful> & rare.", 5_000, 5_600),
    ]
    assert sorted(lines[3:]) == [
        ("ai", "Host", "Thanks for coming.", 5_400, 6_600),  # 3 words: 1.2 s
        ("user", "Guest", "Thank you!", 5_400, 6_400),  # at least 1 s
    ]


def test_the_text_transcript_is_readable(done: Finalised) -> None:
    text = done.path(done.outputs.transcript_text).read_text("utf-8")
    paragraphs = text.strip().split("\n\n")
    assert paragraphs[0] == "[00:01] Host: Welcome to the show. Tell us about yourself."
    assert paragraphs[1] == f"[00:02] Guest: {LONG_ANSWER}"
    assert paragraphs[2] == "[00:05] Host: That is <wonderful> & rare."
    assert len(paragraphs) == 5


CUE_TIME = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


def parse_cues(text: str) -> list[tuple[int, int, str]]:
    """(start ms, end ms, rows joined by spaces) of every cue of an SRT or WebVTT file."""
    cues = []
    for block in text.strip().split("\n\n"):
        rows = block.split("\n")
        timing = next(index for index, row in enumerate(rows) if "-->" in row)
        match = re.fullmatch(f"{CUE_TIME} --> {CUE_TIME}", rows[timing])
        assert match, rows[timing]
        h1, m1, s1, f1, h2, m2, s2, f2 = (int(group) for group in match.groups())
        start = ((h1 * 60 + m1) * 60 + s1) * 1000 + f1
        end = ((h2 * 60 + m2) * 60 + s2) * 1000 + f2
        assert all(len(row) <= 42 for row in rows[timing + 1 :] if "<v " not in row)
        cues.append((start, end, " ".join(rows[timing + 1 :])))
    return cues


def check_cue_timing(cues: list[tuple[int, int, str]]) -> None:
    """Cues end after they start and never overlap."""
    for start, end, rows in cues:
        assert end > start and rows
    for (_, end, _), (start, _, _) in itertools.pairwise(cues):
        assert start >= end


def test_srt_captions_carry_every_line_without_overlap(done: Finalised) -> None:
    text = done.path(done.outputs.transcript_srt).read_text("utf-8")
    assert text.startswith("1\n00:00:01,500 --> ")
    cues = parse_cues(text)
    check_cue_timing(cues)
    assert cues[0] == (1_500, 2_400, "Host: Welcome to the show. Tell us about yourself.")
    answer = [cue for cue in cues if 2_400 <= cue[0] < 5_000]
    assert len(answer) > 1, "a long line is split"
    assert (answer[0][0], answer[-1][1]) == (2_400, 5_000)
    assert " ".join(text for _, _, text in answer) == f"Guest: {LONG_ANSWER}"
    assert cues[-2] == (5_000, 5_400, "Host: That is <wonderful> & rare.")
    assert cues[-1][:2] == (5_400, 6_600)
    assert cues[-1][2] in {
        "Guest: Thank you! Host: Thanks for coming.",
        "Host: Thanks for coming. Guest: Thank you!",
    }


def test_vtt_captions_carry_every_line_without_overlap(done: Finalised) -> None:
    text = done.path(done.outputs.transcript_vtt).read_text("utf-8")
    assert text.startswith("WEBVTT\n\n")
    cues = parse_cues(text.removeprefix("WEBVTT\n\n"))
    check_cue_timing(cues)
    assert cues[0] == (1_500, 2_400, "<v Host>Welcome to the show. Tell us about yourself.")
    assert cues[-2] == (5_000, 5_400, "<v Host>That is &lt;wonderful&gt; &amp; rare.")
    answer = [cue for cue in cues if 2_400 <= cue[0] < 5_000]
    spoken = " ".join(text.removeprefix("<v Guest>") for _, _, text in answer)
    assert spoken == LONG_ANSWER
    assert (answer[0][0], answer[-1][1]) == (2_400, 5_000)


def test_progress_rises_to_one(done: Finalised) -> None:
    progress = done.progress
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert len(progress) > 10
    assert all(later >= earlier for earlier, later in itertools.pairwise(progress))
    assert all(0.0 <= value <= 1.0 for value in progress)


def test_an_audio_only_session_gets_a_card_for_video(tmp_path: Path) -> None:
    result = run(tmp_path / "session", Plan(video=False))
    assert not result.outputs.camera
    assert (result.outputs.video_width, result.outputs.video_height) == (1280, 720)
    video = result.path(result.outputs.video)
    assert top_level_boxes(video).index("moov") < top_level_boxes(video).index("mdat")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None
        assert container.duration / 1e6 >= PLAN.duration_ms / 1000
        size = (stream.codec_context.width, stream.codec_context.height)
        frames = list(container.decode(stream))
    assert frames, "the card is a real video stream"
    with av.open(str(result.path(result.outputs.thumbnail))) as container:
        thumbnail = next(container.decode(video=0))
    assert (thumbnail.width, thumbnail.height) == size
    audio = decode_audio(result.path(result.outputs.mix))
    assert_times(click_times_ms(audio), [float(t) for t in CLICKS_MS], CLICK_TOLERANCE_MS)


def test_the_recorders_own_ogg_with_silence_and_dtx_packets(tmp_path: Path) -> None:
    result = run(tmp_path / "session", Plan(recorder_ogg=True, video=False))
    audio = decode_audio(result.path(result.outputs.mix_lossless))
    assert_times(click_times_ms(audio), [float(t) for t in CLICKS_MS], CLICK_TOLERANCE_MS)
    gap_start, gap_end = PLAN.audio_gap_ms
    guest_tone = tone_level(audio, 200, gap_end + 100, gap_end + 600)
    assert guest_tone > 0.05
    assert tone_level(audio, 200, gap_start + 50, gap_end - 50) < guest_tone / 20, "silent gap"


def test_a_truncated_ogg_is_finalised_up_to_the_cut(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    recording = record(folder)
    ogg = recording.files["guest-audio"]
    data = ogg.read_bytes()
    ogg.write_bytes(data[: len(data) // 2 + 7])  # mid-page: ends about 3.9 s in
    outputs = finalise(folder, TRANSCRIPT, on_progress=lambda _: None)
    assert outputs.duration_ms == PLAN.duration_ms  # the host's track still runs to the end
    audio = decode_audio(folder / outputs.mix)
    assert_times(click_times_ms(audio), [2_000.0, 2_600.0, 5_600.0], CLICK_TOLERANCE_MS)


def test_a_truncated_ivf_with_a_wrong_frame_count_is_finalised(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    recording = record(folder)
    ivf = recording.files["guest-video"]
    data = bytearray(ivf.read_bytes())
    struct.pack_into("<I", data, 24, 100_000)  # the count a crash left in the header
    ivf.write_bytes(bytes(data[:-200]))  # the last frame cut short
    outputs = finalise(folder, TRANSCRIPT, on_progress=lambda _: None)
    video = folder / outputs.video
    flashes, frames = white_frame_times_ms(video)
    assert_times(flashes, [float(t) for t in PLAN.claps_ms], FRAME_MS)
    assert frames[-1] + FRAME_MS >= PLAN.duration_ms - 0.5


def test_an_unrepaired_wav_header_is_read_to_the_end(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    recording = record(folder)
    with recording.files["host-audio"].open("r+b") as file:  # sizes as written before a crash
        file.seek(4)
        file.write(struct.pack("<I", 36))
        file.seek(40)
        file.write(struct.pack("<I", 0))
    outputs = finalise(folder, TRANSCRIPT, on_progress=lambda _: None)
    audio = decode_audio(folder / outputs.mix_lossless)
    assert_times(click_times_ms(audio), [float(t) for t in CLICKS_MS], CLICK_TOLERANCE_MS)


def test_a_camera_that_changes_shape_is_letterboxed(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    recording = record(folder, Plan(claps_ms=()))
    ivf = recording.files["guest-video"]
    with av.open(str(ivf), "w", format="ivf") as container:  # 320x240, then a square camera
        stream = container.add_stream("libvpx", rate=15, options={"deadline": "realtime"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 90_000)
        square = av.CodecContext.create("libvpx", "w")
        assert isinstance(square, av.VideoCodecContext)
        square.width, square.height, square.pix_fmt = 240, 240, "yuv420p"
        square.time_base = Fraction(1, 90_000)
        for index in range(60):
            encoder = stream.codec_context if index < 30 else square
            size = (320, 240) if index < 30 else (240, 240)
            frame = av.VideoFrame.from_ndarray(
                np.full((size[1], size[0], 3), 200, dtype=np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = index * 6_000, Fraction(1, 90_000)
            for packet in encoder.encode(frame):
                packet.stream = stream
                container.mux(packet)
        for encoder in (stream.codec_context, square):
            for packet in encoder.encode(None):
                packet.stream = stream
                container.mux(packet)
    outputs = finalise(folder, TRANSCRIPT, on_progress=lambda _: None)
    with av.open(str(folder / outputs.video)) as container:
        frames = list(container.decode(video=0))
    wide = frames[round(2.5 * 30)].to_ndarray(format="rgb24").astype(int)  # camera at 1.5 s
    square_frame = frames[round(4.5 * 30)].to_ndarray(format="rgb24").astype(int)
    assert wide.shape == square_frame.shape == (240, 320, 3)
    assert wide[:, :30].mean() > 150
    assert square_frame[:, :30].mean() < 30 and square_frame[:, -30:].mean() < 30
    assert square_frame[:, 60:260].mean() > 150


def test_a_folder_without_tracks_has_nothing_to_finalise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        finalise(tmp_path, TRANSCRIPT, on_progress=lambda _: None)
    write_manifest(tmp_path, Manifest(session_id="empty", state="complete"))
    with pytest.raises(NothingRecordedError):
        finalise(tmp_path, TRANSCRIPT, on_progress=lambda _: None)


def test_finalising_again_never_replaces_a_published_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = run(tmp_path / "session", Plan(video=False))
    published = {key: first.path(path).read_bytes() for key, path in first.outputs.paths().items()}
    other = [TranscriptLine("ai", "A transcript the first run never had.", 1_000)]
    again = finalise(first.recording.folder, other, on_progress=lambda _: None)
    assert again.paths() == first.outputs.paths()
    for key, path in again.paths().items():
        assert first.path(path).read_bytes() == published[key], key
    assert "already published: kept as it is" in caplog.text
    final = first.recording.folder / "final"
    assert not [entry.name for entry in final.iterdir() if entry.name.startswith(".")]
